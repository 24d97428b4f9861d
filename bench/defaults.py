"""Every model kind with its defaults, on images and on a table: test error against PCA's.

Usage::

    .venv/bin/python bench/defaults.py [--kinds pca linear ae dae vae] [--out F]

For each data set, ``digits`` (8x8 images in [0, 1]) and scikit-learn's bundled
breast-cancer table (569 rows, 30 features in their own units, written as a
pandas CSV with its index and a semicolon delimiter, as users have them), each
kind is trained by ``aekit train KIND --data D --quiet`` with no tuning flag and
evaluated by ``aekit evaluate``. Reported: the test MSE and that of PCA with
the same code size fitted on the training split (in the user's units and, for a
scaled model, in its standardised units), the VAE's KL in nats, and the wall
seconds of ``train`` (including Python's and torch's start, about 4 s).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

KINDS = ("pca", "linear", "ae", "dae", "vae")


def breast_cancer_csv(folder: Path) -> Path:
    from sklearn.datasets import load_breast_cancer

    path = folder / "breast-cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(path, sep=";")
    return path


def aekit(*args: str) -> str:
    command = [sys.executable, "-m", "aekit", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def measure(kind: str, data: str, folder: Path) -> dict:
    run = folder / f"{kind}-{Path(data).stem}"
    start = time.perf_counter()
    aekit("train", kind, "--data", data, "--out", str(run), "--quiet", "--overwrite")
    seconds = time.perf_counter() - start
    metrics = json.loads(aekit("evaluate", str(run)))
    row = {"kind": kind, "data": Path(data).stem, "seconds": round(seconds, 1)}
    for key in ("mse", "pca_mse", "mse_scaled", "pca_mse_scaled", "kl_nats", "scale"):
        if key in metrics:
            row[key] = metrics[key]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--out", default="bench/out/defaults.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for data in ("digits", str(breast_cancer_csv(folder))):
            for kind in args.kinds:
                rows.append(measure(kind, data, folder))
                print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
