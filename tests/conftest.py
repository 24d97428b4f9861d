"""Shared fixtures: offline data locations and small datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Under pytest-xdist, each worker computes with its share of the CPUs.

    torch starts one thread per core in every worker, so ``-n 2`` on two cores ran four
    OpenMP threads whose barriers waited on each other: the MNIST linear autoencoder
    took 327 s in the suite against 44 s alone on one thread. The share also goes to
    the commands tests start (``OMP_NUM_THREADS``), unless a test sets its own.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers:
        import torch

        from aekit.training.threads import available_cpus

        share = max(1, available_cpus() // workers)
        os.environ["OMP_NUM_THREADS"] = str(share)
        torch.set_num_threads(share)


def _mnist_dir() -> Path:
    given = ("AEKIT_TEST_MNIST", "AEKIT_DATA")
    candidates = [Path(os.environ[name]) for name in given if os.environ.get(name)]
    candidates += [path / "mnist" for path in candidates]
    candidates += [
        REPO.parent / "shared" / "data" / "mnist",
        REPO / ".." / ".." / "shared" / "data" / "mnist",
    ]
    for path in candidates:
        if (path / "train-images-idx3-ubyte.gz").exists():
            return path.resolve()
    raise FileNotFoundError(
        "MNIST IDX files not found in $AEKIT_DATA, $AEKIT_TEST_MNIST or ../shared/data/mnist."
    )


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Folder holding the four MNIST IDX .gz files (never downloaded by tests); tests
    that need it are skipped, with the reason, where the files are not at hand."""
    try:
        return _mnist_dir()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
