"""Shared fixtures: offline data locations and small datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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


@pytest.fixture(scope="session")
def adult_csv() -> Path:
    """The UCI Adult table (``tables/adult.csv`` under $AEKIT_DATA or ../shared/data);
    tests that need it are skipped, with the reason, where it is not at hand."""
    roots = [Path(os.environ["AEKIT_DATA"])] if os.environ.get("AEKIT_DATA") else []
    roots.append(REPO.parent / "shared" / "data")
    for root in roots:
        if (root / "tables" / "adult.csv").exists():
            return (root / "tables" / "adult.csv").resolve()
    pytest.skip("adult.csv not found in $AEKIT_DATA/tables or ../shared/data/tables.")
