"""The evaluation protocol of ``aekit evaluate``, ``train`` and ``report``, callable
from Python: one model on one split, beside the best linear code of its size.

Every metric is per value (MSE, PSNR) or per example in nats (``score`` for PCA
and the VAE, the ELBO's parts, the importance-sampled log-likelihood). A model
trained with dynamic binarisation is evaluated on a fixed binarisation of each
split, drawn with the seeds :data:`BINARIZATION_SEEDS`, so that every evaluation
of a run sees the same binary data; a model trained with uniform dequantisation, on
a fixed dequantisation drawn with the same seeds, and its log-likelihoods are also
given in bits per dimension (:func:`bits_per_dim`).

Examples
--------
>>> from aekit import PCA
>>> from aekit.data.sources import load_data
>>> data = load_data("digits")
>>> pca = PCA(4).fit(data.train.X)
>>> metrics = evaluate(pca, data, "test")
>>> metrics["mse"] >= metrics["eckart_young_bound_mse"]
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aekit.data.sources import SPLITS, DataBundle
from aekit.data.values import (
    BINARIZATION_SEEDS,
    binarize,
    bits_per_dim,
    dequantize,
    in_unit_interval,
)
from aekit.errors import AekitError
from aekit.models.estimator import AutoencoderEstimator
from aekit.models.pca import PCA
from aekit.runs.class_grid import is_conditional, split_labels
from aekit.runs.table_reference import OneHotPCA

__all__ = [
    "BINARIZATION_SEEDS",
    "SPLITS",
    "bits_per_dim",
    "evaluate",
    "evaluation_data",
    "linear_reference",
    "table_evaluation",
]


def evaluation_data(
    bundle: DataBundle, split: str, *, binarized: bool = False, dequantized: bool = False
) -> np.ndarray:
    """The examples of ``split``, as evaluation sees them: a fixed binarisation
    (seed ``BINARIZATION_SEEDS[split]``) for a dynamically binarised model, a fixed
    dequantisation (same seeds) for a dequantised one."""
    if split not in SPLITS:
        raise AekitError(f"split must be one of {', '.join(SPLITS)}; got {split!r}.")
    X = getattr(bundle, split).X
    if binarized:
        return binarize(X, seed=BINARIZATION_SEEDS[split])
    return dequantize(X, seed=BINARIZATION_SEEDS[split]) if dequantized else X


def evaluate(
    model: AutoencoderEstimator,
    bundle: DataBundle,
    split: str = "test",
    *,
    binarized: bool = False,
    nll_samples: int = 0,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Metrics of ``model`` on ``split`` of ``bundle``.

    Parameters
    ----------
    model : fitted aekit estimator
    bundle : DataBundle
        The data (:func:`aekit.data.sources.load_data`); the linear reference is fitted on
        its training split.
    split : {"train", "val", "test"}, default="test"
    binarized : bool, default=False
        Evaluate on the fixed binarisation of the data (and fit the linear
        reference to the binarised training split, the representation it is
        compared with).
    nll_samples : int, default=0
        VAE only: importance samples K of the log-likelihood (0: skip it). The
        estimate rises with K towards log p(x); see ``log_likelihood_rise_nats``.
    progress : bool, optional
        A progress bar over the log-likelihood (default: when stderr is a terminal).

    Returns
    -------
    dict
        ``kind``, ``data``, ``split``, ``n``, ``mse``, ``psnr_db`` (for values in
        [0, 1], whose peak is 1; not for unbounded tables), ``score``; the
        linear reference (``latent_dim``, ``eckart_young_bound_mse``, ``pca_mse``);
        for a VAE the ELBO's parts in nats and, with ``nll_samples`` = K,
        ``log_likelihood_nats``, the importance-sampled estimate: a stochastic lower
        bound on log p(x), biased low. Beside it its standard error over examples
        (``log_likelihood_stderr``), its Monte-Carlo standard error
        (``log_likelihood_mc_stderr``: its spread between draws of the samples, not
        an error bar on log p(x), since it misses the bias), and the estimate from the
        first K/10 of the same samples (``log_likelihood_tenth_nats``) with the rise
        from there to K (``log_likelihood_rise_nats``): a rise well above the
        Monte-Carlo error says the bound is still climbing
        (:class:`aekit.models.importance.ImportanceEstimate`). A mixed table:
        :func:`table_evaluation`; a conditional model:
        :func:`conditional_evaluation`.
    """
    if bundle.is_table or getattr(model, "table_", None) is not None:
        return table_evaluation(model, bundle, split, nll_samples=nll_samples)
    dequantized = model.dequantized_data
    X = evaluation_data(bundle, split, binarized=binarized, dequantized=dequantized)
    if len(X) == 0:
        raise AekitError(f"the {split} split of {bundle.name} is empty.")
    if is_conditional(model):  # every example at its label
        X_train = evaluation_data(bundle, "train", binarized=binarized, dequantized=dequantized)
        return conditional_evaluation(
            model, bundle, split, X, X_train, nll_samples=nll_samples, progress=progress
        )
    metrics = reconstruction_metrics(model, bundle.name, split, X, model.reconstruction_error(X))
    metrics["score"] = float(model.score(X))
    metrics["score_measures"] = model.score_measure
    X_train = evaluation_data(bundle, "train", binarized=binarized, dequantized=dequantized)
    # PCA of the scaled training data, fitted once for both comparisons that use it
    scaled_pca = _scaled_pca(model, X_train)
    metrics.update(linear_reference(model, X_train, X, scaled_pca=scaled_pca))
    if not model.feature_scaling.is_identity:  # also in the units the model trained in
        metrics.update(_scaled_errors(model, X, scaled_pca))
    metrics.update(model.evaluation_metrics(X, nll_samples=nll_samples, progress=progress))
    return metrics


def conditional_evaluation(
    model: Any,
    bundle: Any,
    split: str,
    X: np.ndarray,
    X_train: np.ndarray,
    *,
    nll_samples: int = 0,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Metrics of a conditional ``model`` on the examples ``X`` of ``split`` (as
    evaluation sees them), each encoded and decoded at its label: ``mse``,
    ``psnr_db`` (values in [0, 1]), ``n_classes``, the best linear code of the
    same size fitted to ``X_train`` (which knows no labels), and for a VAE its
    ELBO at each label as its ``score`` and, with ``nll_samples`` = K, the
    importance-sampled log p(x | y) (:meth:`aekit.VAE.evaluation_metrics`)."""
    y = split_labels(bundle, split)
    X_hat = model.inverse_transform(model.transform(X, y=y), y=y)
    mse = np.mean((X_hat.astype(np.float64) - X) ** 2)
    metrics = reconstruction_metrics(model, bundle.name, split, X, mse)
    metrics["n_classes"] = model.n_classes_
    metrics.update(linear_reference(model, X_train, X))
    nats = model.evaluation_metrics(X, y=y, nll_samples=nll_samples, progress=progress)
    if "elbo_nats" in nats:  # a VAE: its score is the ELBO, here at each label
        metrics["score"] = nats["elbo_nats"]
        metrics["score_measures"] = f"{model.score_measure_}, at each example's label"
    metrics.update(nats)
    return metrics


def reconstruction_metrics(
    model: AutoencoderEstimator, data: str, split: str, X: np.ndarray, mse: float
) -> dict[str, Any]:
    """The first metrics of every evaluation: what was evaluated on what, the ``mse``,
    and for values in [0, 1] the PSNR."""
    mse = float(mse)
    metrics: dict[str, Any] = {
        "kind": model.kind,
        "data": data,
        "split": split,
        "n": int(len(X)),
        "mse": mse,
    }
    if in_unit_interval(X):  # a peak signal of 1: images and other values in [0, 1]
        metrics["psnr_db"] = float(10 * np.log10(1.0 / mse)) if mse > 0 else float("inf")
    return metrics


def _scaled(model: Any, A: np.ndarray) -> np.ndarray:
    """``A`` in the model's scaled units, one row per example."""
    return model.feature_scaling.apply(A.reshape(len(A), *model.input_shape_)).reshape(len(A), -1)


def _scaled_pca(model: Any, X_train: np.ndarray) -> PCA | None:
    """PCA of the model's code size fitted to the scaled training data (None for a
    model without a scaling, or a code size the data cannot have)."""
    d = model.code_size
    if model.is_pca or model.feature_scaling.is_identity or d >= min(len(X_train), X_train[0].size):
        return None
    return PCA(d).fit(_scaled(model, X_train))


def _scaled_errors(model: Any, X: np.ndarray, scaled_pca: PCA | None) -> dict[str, Any]:
    """The model's MSE and PCA's, both in the model's scaled units."""
    X_scaled = _scaled(model, X)
    X_hat_scaled = _scaled(model, model.reconstruct(X))
    out: dict[str, Any] = {"scale": model.scale_}
    out["mse_scaled"] = float(np.mean((X_scaled - X_hat_scaled) ** 2, dtype=np.float64))
    if scaled_pca is not None:
        out["pca_mse_scaled"] = scaled_pca.reconstruction_error(X_scaled)
    return out


def linear_reference(
    model: AutoencoderEstimator,
    X_train: np.ndarray,
    X: np.ndarray,
    *,
    scaled_pca: PCA | None = None,
) -> dict[str, float]:
    """What the best linear codes of the model's size achieve on ``X``.

    ``eckart_young_bound_mse``: the least MSE any rank-d linear reconstruction of
    ``X`` can have (PCA fitted to ``X`` itself; the sum of its discarded
    eigenvalues per value). ``pca_mse``: PCA with d components fitted on
    ``X_train`` under the model's own preprocessing (its feature scaling), its
    error in the same units as the model's ``mse`` (``scaled_pca``: that PCA, when
    already fitted). Empty when d is not below the data's rank bound.
    """
    d = model.code_size
    flat_train = X_train.reshape(len(X_train), -1)
    flat = X.reshape(len(X), -1)
    if d >= min(flat.shape) or d >= min(flat_train.shape):
        return {}
    bound = float(PCA(d).fit(flat).reconstruction_error_bound())
    scaling = model.feature_scaling
    if model.is_pca:
        pca_mse = model.reconstruction_error(X)
    elif scaling.is_identity:
        pca_mse = PCA(d).fit(flat_train).reconstruction_error(flat)
    else:  # the same preprocessing as the model: PCA of the scaled data, back in X's units
        reference = scaled_pca if scaled_pca is not None else _scaled_pca(model, X_train)
        codes = reference.transform(_scaled(model, X))
        X_hat = scaling.undo(reference.inverse_transform(codes).reshape(-1, *model.input_shape_))
        pca_mse = float(np.mean((X_hat.reshape(len(X), -1) - flat) ** 2, dtype=np.float64))
    return {"latent_dim": int(d), "eckart_young_bound_mse": bound, "pca_mse": pca_mse}


def table_evaluation(
    model: AutoencoderEstimator, bundle: DataBundle, split: str = "test", *, nll_samples: int = 0
) -> dict[str, Any]:
    """Metrics of a model fitted on a mixed table, on ``split`` of ``bundle`` (whose
    splits are DataFrames), per column of the table, over its observed cells:
    ``accuracy`` of the reconstruction (the likeliest level given the row's code) of
    a categorical or binary column beside ``majority_accuracy`` (the training split's
    most frequent level), the ``mse`` of a numeric or count column in its own units
    beside ``mean_mse`` (the training split's mean), both beside ``pca_accuracy`` /
    ``pca_mse``, PCA with the model's code size on the standardised one-hot training
    table (:mod:`aekit.runs.table_reference`), and ``nll_nats``, the mean of
    ``−log p(x_j | z)`` at the mean code; over the rows, ``nll_nats`` (their sum,
    the outlier score that ``feature_scores`` splits) and ``score``. A VAE adds its
    ELBO's parts and, with ``nll_samples``, the importance-sampled ``log p(x)``."""
    table = getattr(model, "table_", None)
    if table is None or not bundle.is_table:
        raise AekitError(
            f"{bundle.name} and this {model.kind} model do not match: a model fitted on a "
            "mixed table evaluates on one, and a model of numbers on numbers."
        )
    X = getattr(bundle, split).X
    if len(X) == 0:
        raise AekitError(f"the {split} split of {bundle.name} is empty.")
    C = len(table.columns)
    truth, fitted = table.encode(X), table.encode(model.reconstruct(X))
    train = table.encode(bundle.train.X)
    linear = OneHotPCA(table, model.latent_dim).fit(train).reconstruct(truth)
    nll = -model.column_log_likelihoods(X).to_numpy()
    columns: dict[str, Any] = {}
    for j, col in enumerate(table.columns):
        seen, seen_train = truth[:, C + j] > 0.5, train[:, C + j] > 0.5
        out: dict[str, Any] = {"kind": col.kind, "n_observed": int(seen.sum())}
        t, p = truth[seen, j].astype(np.float64), fitted[seen, j].astype(np.float64)
        lin = linear[seen, j]
        if col.kind in ("categorical", "binary"):
            majority = np.bincount(train[seen_train, j].astype(int)).argmax()
            out["accuracy"] = float(np.mean(t == p)) if seen.any() else None
            out["majority_accuracy"] = float(np.mean(t == majority)) if seen.any() else None
            out["pca_accuracy"] = float(np.mean(t == lin)) if seen.any() else None
        else:
            units = col.scale if col.kind == "numeric" else 1.0  # counts are stored as is
            mean = float(train[seen_train, j].mean())
            for key, guess in (("mse", p), ("mean_mse", mean), ("pca_mse", lin)):
                out[key] = float(np.mean((units * (t - guess)) ** 2)) if seen.any() else None
        out["nll_nats"] = float(nll[seen, j].mean()) if seen.any() else None
        columns[col.name] = out
    metrics: dict[str, Any] = {"kind": model.kind, "data": bundle.name, "split": split}
    metrics.update({"n": int(len(X)), "nll_nats": float(nll.sum(axis=1).mean())})
    metrics["score"] = float(model.score(X))
    metrics["score_measures"] = model.score_measure_
    metrics["columns"] = columns
    if hasattr(model, "elbo_parts"):
        metrics.update({f"{k}_nats": v for k, v in model.elbo_parts(X).items()})
        if nll_samples:
            estimate = model.importance_estimate(X, nll_samples).metrics()
            estimate.pop("nll_nats")  # a table's nll_nats is its columns' sum, above
            metrics.update(estimate)
    return metrics
