"""One-class MNIST: aekit's models against the outlier detectors people use, side by side.

Usage::

    .venv/bin/pip install pyod        # for the PyOD rows only; never an aekit dependency
    .venv/bin/python bench/one_class_mnist.py --data-dir ../shared/data/mnist
    .venv/bin/python bench/one_class_mnist.py --data-dir ../shared/data/mnist \\
        --digits 0 --max-train 1000   # a quick check of the mechanics, not a result

The protocol of Ruff et al. (ICML 2018, "Deep One-Class Classification"): for each
digit c, train on the official training images of c only (about 6000), score all
10000 test images, and report the AUROC of "is c" against the scores (higher =
more normal). Every detector sees the same pixels in [0, 1], flattened for the
non-convolutional ones. One CPU thread everywhere (torch and the BLAS/OpenMP pools),
and every fit starts from seed 0, so a second run gives the same AUROCs.

aekit's rows run with aekit's defaults (d = 16; the conv AE 10 epochs): ``PCA(16)``
scored by its PPCA log-likelihood and by minus the reconstruction error,
``Autoencoder(16)``, ``Autoencoder(16, architecture="conv", epochs=10)``,
``DenoisingAutoencoder(16)`` and ``VAE(16)`` (ELBO).

Each peer has two rows: scikit-learn's ``IsolationForest`` and ``OneClassSVM``, and
PyOD's ``AutoEncoder`` and ``DeepSVDD`` (the published method's family; PyOD's rows are
skipped, and said, when PyOD is not installed).

(a) Defaults: the constructor as the library ships it, including PyOD's per-pixel
standardisation (``preprocessing=True``) and OneClassSVM's ``nu=0.5``. The only
arguments passed set no method parameter: ``random_state=0`` for IsolationForest
(its default draws a fresh seed; PyOD's AutoEncoder seeds itself with 42),
``verbose=0`` for PyOD, and DeepSVDD's required ``n_features=784``.

(b) Tuned on a validation split of the training class only. One knob per peer, a
small grid, and one rule; neither the test images nor any other digit's images or
labels are used:

1. Hold out 20% of the class's training images (seeded). Fit each setting on the
   other 80%, put a threshold at the score that rejects 5% of those images, and
   count the share of held-out images of the class it rejects (the false-rejection
   rate, FRR). A setting *generalises* when its held-out FRR is within two binomial
   standard errors of 5% (6.3% for the ~1200 held-out images of a full class).
2. Where the knob orders the settings from a loose to a tight description of the
   class, take the tightest setting that generalises; the grid is searched from the
   tight end down and stops at the first that generalises:

   - OneClassSVM: ``gamma`` in ``scale`` x {0.25, 0.5, 1, 2, 4, 8} (a wider kernel
     is a looser boundary), ``nu`` kept at 0.5;
   - IsolationForest: ``max_samples`` in {256 (the default), 1024, all} (trees grown
     on more images partition the class more finely).

   Where the knob has no such order (PyOD's ``preprocessing``, True or False):

   - AutoEncoder: the lower held-out mean squared reconstruction error in pixels, a
     unit both settings share (the standardised model's output is mapped back to
     pixels). This measures the held-out fit itself, so the FRR is only reported;
   - DeepSVDD: its distances live in two different learned spaces, so it keeps the
     library's default if that generalises, else the other setting if that does,
     else whichever has the lower held-out FRR.

   On the ordered knobs, if no setting generalises, the lowest held-out FRR wins.
3. Refit the chosen setting on all the class's training images; the row's seconds
   are the whole selection plus that fit and the test scoring (when the chosen
   setting is the default, the defaults row's fit is reused and its seconds counted).

Why this rule. A one-class training set has no outliers, so nothing computed from
it can measure detection directly; what it can measure is whether a detector's
description of the training images carries over to new images of the same class,
and how tight that description is. This is Tax and Duin's criterion for one-class
classifiers (JMLR 2001: the smallest accepted volume at a fixed rejection rate of
the target class) with the volume ordered by the knob instead of estimated from
uniform samples, which in 784 dimensions all fall outside any description. Two
simpler rules were rejected: OneClassSVM's margin grows as ``gamma`` goes to 0, where
every image maps to nearly the same point, so it always picks the grid's widest
kernel (on 800 training images of digit 0: 0.06 at 8*scale, 0.60 at scale, 0.99 at
0.01*scale); and a held-out reconstruction error or likelihood exists only for
the AutoEncoder. ``nu`` is not tuned because the rule cannot see it: at any
``gamma`` that generalises, the held-out rejection rate is about ``nu`` at the
model's own boundary and about 5% at the 5% threshold, whatever ``nu`` is, and
nothing orders one ``nu`` as tighter than another. Using the other digits'
training images as validation outliers would probably pick settings that score
better on the test set, since those digits are the very outliers the test holds;
but that is outlier exposure, not one-class learning, aekit's rows get no such
help, and it is not done here. Label-free selection is known to be weak (Ma,
Zhao, Zhang and Akoglu, arXiv:2104.01422, found such strategies chose models no
better than a random choice or IsolationForest with its defaults), so a tuned row
that trails its defaults row is a possible outcome, not a bug.

``--max-train N`` trains on a seeded sample of N images of each digit, for a quick
check of the mechanics: the held-out share is then small (200 images at N = 1000,
where a setting generalises up to an FRR of 8.1%) and small classes overfit sooner,
so its choices and AUROCs are not the benchmark's. Seconds are fit plus test
scoring per class, and for a tuned row the selection as well.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.svm import OneClassSVM
from threadpoolctl import threadpool_limits

import aekit
from aekit.data import load_idx_dataset

SEED = 0
HELD_OUT = 0.2  # share of the class's training images held out to choose a setting
REJECT = 0.05  # the threshold rejects this share of the images a setting was fitted on

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (train, test) -> test scores


def seed_everything() -> None:
    """Every fit starts from the same state (PyOD draws from torch's and numpy's
    global generators)."""
    torch.manual_seed(SEED)
    np.random.seed(SEED)  # noqa: NPY002 (DeepSVDD shuffles with np.random)


def aekit_scorer(make: Callable[[], object], images: bool = False, recon: bool = False) -> Scorer:
    def score(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        shape = (-1, 1, 28, 28) if images else (len(train), -1)
        model = make().fit(train.reshape(shape))
        test = test.reshape((-1, 1, 28, 28) if images else (len(test), -1))
        return -model.reconstruction_errors(test) if recon else model.score_samples(test)

    return score


def aekit_rows() -> dict[str, Scorer]:
    return {
        "aekit pca16 (PPCA log-likelihood)": aekit_scorer(lambda: aekit.PCA(16)),
        "aekit pca16-recon": aekit_scorer(lambda: aekit.PCA(16), recon=True),
        "aekit ae (MLP)": aekit_scorer(lambda: aekit.Autoencoder(16, random_state=0)),
        "aekit ae (conv, 10 epochs)": aekit_scorer(
            lambda: aekit.Autoencoder(16, architecture="conv", epochs=10, random_state=0),
            images=True,
        ),
        "aekit dae": aekit_scorer(lambda: aekit.DenoisingAutoencoder(16, random_state=0)),
        "aekit vae (ELBO)": aekit_scorer(lambda: aekit.VAE(16, random_state=0)),
    }


@dataclass(frozen=True)
class Peer:
    """A peer detector: its defaults, and the one knob its tuned row chooses."""

    name: str
    defaults: str  # the defaults row's label: every setting that matters, as shipped
    knob: str
    default: object  # the library's value of the knob
    grid: tuple  # the values tried; loosest description first when ``ordered``
    ordered: bool
    build: Callable[[object, np.ndarray], object]  # (knob value, fit images) -> detector
    normality: Callable[[object, np.ndarray], np.ndarray]  # higher = more normal
    show: Callable[[object], str] = str
    fixed: str = ""  # settings the tuned row keeps from the defaults, named in its label
    held_out_error: Callable[[object, np.ndarray], float] | None = None


def svm_gamma(multiple: float, X: np.ndarray) -> float | str:
    """``multiple`` times scikit-learn's ``gamma="scale"``, 1 / (n_features * X.var())."""
    return "scale" if multiple == 1 else multiple / (X.shape[1] * X.astype(np.float64).var())


def forest_samples(value: object, X: np.ndarray) -> object:
    return value if value in ("auto", 1.0) else min(int(value), len(X))


def sklearn_normality(model: object, X: np.ndarray) -> np.ndarray:
    return model.score_samples(X)


def pyod_normality(model: object, X: np.ndarray) -> np.ndarray:
    return -model.decision_function(X)  # PyOD: higher = outlier


def autoencoder_pixel_error(model: object, X: np.ndarray) -> float:
    """Mean squared reconstruction error in pixels, whatever the model's preprocessing.

    PyOD's AutoEncoder reconstructs ``(x - mean) / (std + 1e-8)`` when it standardises
    (``TorchDataset``'s eps); its output is mapped back with the same mean and std.
    """
    scale = model.X_std + 1e-8 if model.preprocessing else 1.0
    shift = model.X_mean if model.preprocessing else 0.0
    model.model.eval()
    with torch.no_grad():
        inputs = torch.as_tensor((X - shift) / scale, dtype=torch.float32)
        out = model.model(inputs).double().numpy() * scale + shift
    return float(np.mean((out - X) ** 2))


def peers() -> list[Peer]:
    out = [
        Peer(
            "sklearn IsolationForest",
            "defaults: n_estimators=100, max_samples=auto (256); random_state=0",
            knob="max_samples",
            default="auto",
            grid=("auto", 1024, 1.0),
            ordered=True,
            build=lambda v, X: IsolationForest(max_samples=forest_samples(v, X), random_state=SEED),
            normality=sklearn_normality,
            show=lambda v: {"auto": "256", 1.0: "all"}.get(v, str(v)),
        ),
        Peer(
            "sklearn OneClassSVM",
            "defaults: nu=0.5, gamma=scale",
            knob="gamma",
            default=1,
            grid=(0.25, 0.5, 1, 2, 4, 8),
            ordered=True,
            build=lambda v, X: OneClassSVM(gamma=svm_gamma(v, X)),
            normality=sklearn_normality,
            show=lambda v: "scale" if v == 1 else f"{v:g}*scale",
            fixed="nu=0.5, ",
        ),
    ]
    try:
        from pyod.models.auto_encoder import AutoEncoder
        from pyod.models.deep_svdd import DeepSVDD
    except ImportError:
        print("PyOD is not installed: its rows are skipped (pip install pyod)", flush=True)
        return out
    from pyod.utils.stat_models import pairwise_distances_no_broadcast

    # numba compiles the AutoEncoder's score on its first call (3-5 s): pay it here,
    # not in the first row that happens to score
    pairwise_distances_no_broadcast(*np.zeros((2, 2, 2), dtype=np.float32))
    out += [
        Peer(
            "PyOD AutoEncoder",
            "defaults: preprocessing=True, hidden [64, 32], 10 epochs; verbose=0",
            knob="preprocessing",
            default=True,
            grid=(True, False),
            ordered=False,
            build=lambda v, X: AutoEncoder(preprocessing=v, verbose=0),
            normality=pyod_normality,
            held_out_error=autoencoder_pixel_error,
        ),
        Peer(
            "PyOD DeepSVDD",
            "defaults: preprocessing=True, hidden [64, 32], 100 epochs; verbose=0",
            knob="preprocessing",
            default=True,
            grid=(True, False),
            ordered=False,
            build=lambda v, X: DeepSVDD(n_features=X.shape[1], preprocessing=v, verbose=0),
            normality=pyod_normality,
        ),
    ]
    return out


def fitted(peer: Peer, value: object, X: np.ndarray) -> object:
    seed_everything()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # IsolationForest: max_samples > n
        return peer.build(value, X).fit(X)


def select(peer: Peer, train: np.ndarray) -> tuple[object, list[dict]]:
    """The knob's value chosen on a held-out share of ``train`` (module docstring,
    rule 1-2), and what was measured for each value tried."""
    order = np.random.default_rng(SEED).permutation(len(train))
    n_held = max(1, round(HELD_OUT * len(train)))
    held, fit_part = train[order[:n_held]], train[order[n_held:]]
    limit = REJECT + 2 * math.sqrt(REJECT * (1 - REJECT) / n_held)
    tried = []
    for value in reversed(peer.grid) if peer.ordered else peer.grid:
        model = fitted(peer, value, fit_part)
        threshold = np.quantile(peer.normality(model, fit_part), REJECT)
        frr = float(np.mean(peer.normality(model, held) < threshold))
        entry = {"value": value, "frr": frr, "generalises": frr <= limit}
        tried.append(entry)
        if peer.held_out_error is not None:
            entry["pixel_mse"] = peer.held_out_error(model, held)
        elif entry["generalises"] and (peer.ordered or value == peer.default):
            break  # the tightest that generalises; or the default, when it does
    if peer.held_out_error is not None:  # a unit the settings share: it decides
        chosen = min(tried, key=lambda e: e["pixel_mse"])
    else:
        passing = [e for e in tried if e["generalises"]]
        chosen = passing[0] if passing else min(tried, key=lambda e: e["frr"])
    for entry in tried:
        entry["chosen"] = entry is chosen
    return chosen["value"], tried


def describe_selection(peer: Peer, tried: list[dict]) -> str:
    parts = []
    for e in tried:
        text = f"{peer.show(e['value'])}: FRR {e['frr']:.3f}"
        if "pixel_mse" in e:
            text += f", pixel MSE {e['pixel_mse']:.4g}"
        text += "" if e["generalises"] else " (does not generalise)"
        parts.append(text + (" <- chosen" if e["chosen"] else ""))
    return f"{peer.knob}: " + "; ".join(parts)


def run_peer(
    peer: Peer, train: np.ndarray, test: np.ndarray
) -> tuple[tuple[np.ndarray, float], tuple[np.ndarray, float, object, list[dict]]]:
    """(scores, seconds) of the defaults row, and (scores, seconds, value, tried) of
    the tuned row."""
    start = time.perf_counter()
    scores = peer.normality(fitted(peer, peer.default, train), test)
    default_seconds = time.perf_counter() - start
    start = time.perf_counter()
    value, tried = select(peer, train)
    if value == peer.default:  # the same fit, from the same seed: reuse it
        tuned_scores, tuned_seconds = scores, time.perf_counter() - start + default_seconds
    else:
        tuned_scores = peer.normality(fitted(peer, value, train), test)
        tuned_seconds = time.perf_counter() - start
    return (scores, default_seconds), (tuned_scores, tuned_seconds, value, tried)


def markdown(summary: dict[str, dict], digits: list[int]) -> str:
    head = "| detector | " + " | ".join(map(str, digits)) + " | mean | fit+score s/class |"
    lines = [head, "|---" * (len(digits) + 3) + "|"]
    for row in sorted(summary.values(), key=lambda row: -row["mean_auroc"]):
        cells = " | ".join(f"{row['auroc'][c]:.3f}" for c in digits)
        lines.append(
            f"| {row['label']} | {cells} | **{row['mean_auroc']:.3f}** "
            f"| {row['mean_seconds']:.1f} |"
        )
    return "\n".join(lines)


def label(peer: Peer, tuned: bool, chosen: dict[int, object]) -> str:
    if not tuned:
        return f"{peer.name} ({peer.defaults})"
    grid = "{" + ", ".join(peer.show(v) for v in peer.grid) + "}"
    values = set(chosen.values())
    which = (
        f"{peer.knob}={peer.show(values.pop())} on every digit"
        if len(values) == 1
        else f"{peer.knob} per digit: "
        + ", ".join(f"{c}: {peer.show(v)}" for c, v in sorted(chosen.items()))
    )
    return f"{peer.name} (tuned on class validation split: {peer.fixed}{which}; grid {grid})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("AEKIT_DATA"))
    parser.add_argument(
        "--digits", "--classes", type=int, nargs="+", default=list(range(10)), dest="digits"
    )
    parser.add_argument(
        "--max-train",
        type=int,
        help="train on at most this many images of the digit (a seeded sample): quick checks",
    )
    parser.add_argument("--only", nargs="+", help="detector names containing these words")
    parser.add_argument("--out", default="bench/out/one_class_mnist.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    threadpool_limits(1)  # BLAS and OpenMP pools of numpy, scikit-learn and scipy
    X, y = load_idx_dataset("mnist", "train", data_dir=args.data_dir, download=False)
    X_test, y_test = load_idx_dataset("mnist", "test", data_dir=args.data_dir, download=False)
    X, X_test = X.reshape(len(X), -1), X_test.reshape(len(X_test), -1)

    def wanted(name: str) -> bool:
        return not args.only or any(w in name for w in args.only)

    ours = {k: v for k, v in aekit_rows().items() if wanted(k)}
    theirs = [p for p in peers() if wanted(p.name)]
    rows: dict[str, dict] = {}

    def record(key: str, text: str, c: int, scores: np.ndarray, seconds: float) -> None:
        auroc = float(roc_auc_score(y_test == c, scores))
        row = rows.setdefault(key, {"label": text, "auroc": {}, "seconds": {}})
        row["auroc"][c], row["seconds"][c] = auroc, seconds
        print(f"digit {c}  {key:<36} AUROC {auroc:.4f}  {seconds:6.1f} s", flush=True)

    for c in args.digits:
        train = X[y == c]
        if args.max_train and args.max_train < len(train):
            keep = np.random.default_rng(SEED).choice(len(train), args.max_train, replace=False)
            train = train[np.sort(keep)]
        for name, score in ours.items():
            seed_everything()
            start = time.perf_counter()
            scores = score(train, X_test)
            record(name, name, c, scores, time.perf_counter() - start)
        for peer in theirs:
            (scores, seconds), (tuned, tuned_seconds, value, tried) = run_peer(peer, train, X_test)
            record(f"{peer.name} (defaults)", label(peer, False, {}), c, scores, seconds)
            record(f"{peer.name} (tuned)", "", c, tuned, tuned_seconds)
            row = rows[f"{peer.name} (tuned)"]
            row.setdefault("chosen", {})[c] = value
            row.setdefault("selection", {})[c] = tried
            print(f"    {describe_selection(peer, tried)}", flush=True)
    for peer in theirs:
        row = rows[f"{peer.name} (tuned)"]
        row["label"] = label(peer, True, row["chosen"])
    summary = {
        name: {
            **row,
            "mean_auroc": float(np.mean(list(row["auroc"].values()))),
            "mean_seconds": float(np.mean(list(row["seconds"].values()))),
        }
        for name, row in rows.items()
    }
    print()
    print(markdown(summary, args.digits))
    machine = (
        f"{platform.machine()}, torch threads {torch.get_num_threads()}, "
        f"torch {torch.__version__}, max_train {args.max_train}"
    )
    print(f"\n{machine}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"machine": machine, "digits": args.digits, "rows": summary},
            default=lambda v: v.item() if hasattr(v, "item") else str(v),
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
