"""Data sources: bundled digits, MNIST, Fashion-MNIST and the user's own files.

:func:`load_data` turns a source name or a path into a :class:`DataBundle` of
train, validation and test splits, reproducibly for a given ``random_state``.
Images are float32 ``(n, C, H, W)`` in [0, 1]; vectors are ``(n, D)``; the splits of a
mixed table (a CSV with text or missing cells) are DataFrames of its columns.
"""

from __future__ import annotations

import contextlib
import numbers
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from aekit.data.files import as_examples, read_user_data
from aekit.data.idx import KNOWN_FILES, download, mirrors, read_idx_with_digest
from aekit.errors import DataError

__all__ = [
    "DATASETS",
    "DataBundle",
    "Split",
    "DataSpec",
    "load_data",
    "load_idx_dataset",
    "resolve_data_dir",
]

DATASETS = ("digits", "mnist", "fashion-mnist")
SPLITS = ("train", "val", "test")
IDX_DATASETS = ("mnist", "fashion-mnist")
_SPLIT_SIZES = {"train": 60000, "test": 10000}
_MIN_SPLIT = 3


@dataclass(frozen=True)
class Split:
    """One split of a dataset.

    Attributes
    ----------
    X : ndarray of float32, shape (n, *sample_shape), or DataFrame
        The examples; images are scaled to [0, 1]; a mixed table's as a DataFrame.
    y : ndarray of int64, shape (n,), or None
        The labels, when the source has them.
    """

    X: np.ndarray
    y: np.ndarray | None


@dataclass(frozen=True)
class DataBundle:
    """A dataset split three ways, as returned by :func:`load_data`.

    Attributes
    ----------
    name : str
        The source: a dataset name or the path given.
    train, val, test : Split
        Disjoint splits.
    sample_shape : tuple of int
        The shape of one example: ``(C, H, W)`` for images, ``(D,)`` for vectors.
    is_image : bool
        Whether the examples are images.
    is_table : bool
        Whether the examples are a mixed table (DataFrames).
    """

    name: str
    train: Split
    val: Split
    test: Split
    sample_shape: tuple[int, ...]
    is_image: bool
    is_table: bool = False


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the folder for downloaded datasets.

    ``data_dir`` if given, else the environment variable ``AEKIT_DATA``, else
    ``~/.cache/aekit``.

    Examples
    --------
    >>> resolve_data_dir("/tmp/d")
    PosixPath('/tmp/d')
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get("AEKIT_DATA", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "aekit"


def load_idx_dataset(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load the official train or test split of MNIST or Fashion-MNIST.

    The IDX files (``.gz`` or uncompressed) are looked for in
    ``data_dir/<name>/`` and then directly in ``data_dir`` (see
    :func:`resolve_data_dir`); missing files are downloaded into
    ``data_dir/<name>/`` and verified by SHA-256 when ``download`` is true.
    MNIST files are checked against the published content checksums; every
    file is checked for IDX structure, shape and label range.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    split : {"train", "test"}, default="train"
    data_dir : str or path-like, optional
    download : bool, default=True

    Returns
    -------
    X : ndarray of float32, shape (n, 1, 28, 28)
        Pixels in [0, 1]; n is 60000 for train and 10000 for test.
    y : ndarray of int64, shape (n,)
        Labels 0-9.

    Examples
    --------
    >>> X, y = load_idx_dataset("mnist", "test", data_dir="data/mnist")  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((10000, 1, 28, 28), (10000,))
    """
    images, labels = _load_idx_raw(name, split, data_dir, download)
    X = images.reshape(len(images), 1, 28, 28).astype(np.float32)
    X /= 255.0
    return X, labels


def _load_idx_raw(
    name: str, split: str, data_dir: str | os.PathLike | None, allow_download: bool
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, 28, 28) and int64 labels of one official split."""
    if name not in IDX_DATASETS:
        raise DataError(f"unknown IDX dataset {name!r}; choose one of {', '.join(IDX_DATASETS)}.")
    if split not in _SPLIT_SIZES:
        raise DataError(f"split must be 'train' or 'test', got {split!r}.")
    base = resolve_data_dir(data_dir)
    prefix = "train" if split == "train" else "t10k"
    n = _SPLIT_SIZES[split]
    images = _idx_file(name, f"{prefix}-images-idx3-ubyte.gz", base, allow_download, (n, 28, 28))
    labels = _idx_file(name, f"{prefix}-labels-idx1-ubyte.gz", base, allow_download, (n,))
    if labels.max() > 9:
        raise DataError(f"the {name} {split} labels hold values above 9; the file is corrupted.")
    return images, labels.astype(np.int64)


def _idx_file(
    name: str, filename: str, base: Path, allow_download: bool, shape: tuple[int, ...]
) -> np.ndarray:
    """Find (or download), read and verify one IDX file of dataset ``name``."""
    folders = [base / name, base]
    foreign = {
        k.content_sha256 for ds, files in KNOWN_FILES.items() if ds != name for k in files.values()
    }
    skipped = None
    for path in (folder / f for folder in folders for f in (filename, filename[:-3])):
        if path.is_file():
            array, digest = read_idx_with_digest(path)
            if digest in foreign:  # e.g. MNIST's files directly in data_dir, asked for Fashion
                skipped = path
                continue
            return _verified(name, filename, path, array, digest, shape)
    if not allow_download:
        note = f" ({skipped} belongs to another dataset)" if skipped else ""
        raise DataError(
            f"{name} file {filename} was not found in {folders[0]} or {folders[1]}{note}; put "
            "the IDX files there, point AEKIT_DATA or --data-dir at their folder, or allow "
            "downloading."
        )
    path = _download(name, filename, folders[0])
    return _verified(name, filename, path, *read_idx_with_digest(path), shape)


def _verified(
    name: str, filename: str, path: Path, array: np.ndarray, digest: str, shape: tuple[int, ...]
) -> np.ndarray:
    """Check a file's content checksum (where published) and its shape."""
    known = KNOWN_FILES[name][filename]
    if known.content_sha256 is not None and digest != known.content_sha256:
        raise DataError(
            f"{path} does not match the published {name} {filename} (its SHA-256 differs): it is "
            "corrupted, tampered with or from another dataset; delete it to download a fresh copy."
        )
    if array.shape != shape or array.dtype != np.uint8:
        raise DataError(
            f"{path} holds {array.dtype} data of shape {array.shape}, but {name} {filename} "
            f"must be uint8 of shape {shape}."
        )
    return array


def _download(name: str, filename: str, folder: Path) -> Path:
    """Download one file into ``folder``; when every mirror fails, the folders
    this call created are removed again if they are still empty (a verified file
    downloaded earlier stays: it is a good copy)."""
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        return _download_from_mirrors(name, filename, folder)
    except DataError:
        for path in created:
            with contextlib.suppress(OSError):  # not empty, or not ours to remove
                path.rmdir()
        raise


def _download_from_mirrors(name: str, filename: str, folder: Path) -> Path:
    known = KNOWN_FILES[name][filename]
    errors = []
    for base_url in mirrors(name):
        url = base_url.rstrip("/") + "/" + filename
        try:
            return download(
                url, folder / filename, known.gz_sha256, content_sha256=known.content_sha256
            )
        except DataError as exc:
            errors.append(str(exc).rstrip("."))
    raise DataError(
        f"{name} file {filename} could not be downloaded from any of {len(errors)} mirror(s) "
        f"(last error: {errors[-1] if errors else 'no mirrors'}); put the file in {folder} by hand."
    )


def load_data(
    source: str,
    *,
    data_dir: str | os.PathLike | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    random_state: int | None = 0,
    download: bool = True,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    label_column: str | None = None,
    as_table: bool = False,
) -> DataBundle:
    """Load a dataset or a user file and split it into train, validation and test sets.

    Parameters
    ----------
    source : str
        ``"digits"`` (scikit-learn's 8x8 digits, offline), ``"mnist"``,
        ``"fashion-mnist"``, or the path of a ``.npy``, ``.npz`` or ``.csv``
        file or of a folder of images.
    data_dir : str or path-like, optional
        Where MNIST and Fashion-MNIST live (see :func:`resolve_data_dir`).
    val_fraction : float, default=0.1
        Share of the examples for validation; for MNIST and Fashion-MNIST, a
        share of the official training set.
    test_fraction : float, default=0.2
        Share of the examples for testing; MNIST and Fashion-MNIST use their
        official test sets instead.
    random_state : int or None, default=0
        Seed of the (stratified, when labels allow) random split.
    download : bool, default=True
        Whether MNIST and Fashion-MNIST may be downloaded when absent.
    image_size : (int, int), optional
        ``(H, W)`` the images of a folder are resized to; without it a folder
        of images of several sizes is refused.
    channels : {1, 3}, optional
        Read every image of a folder as greyscale (1) or RGB (3); by default 1
        when every image is greyscale, else 3.
    label_column, as_table
        A CSV's label column by name, and whether to read it as a mixed table
        though all its cells are numbers (:func:`aekit.data.files.read_user_data`).

    Returns
    -------
    DataBundle

    Raises
    ------
    DataError
        For an unknown source, an unreadable file, bad values, or too few
        examples for three splits of at least 3.

    Examples
    --------
    >>> bundle = load_data("digits")
    >>> bundle.sample_shape, bundle.is_image
    ((1, 8, 8), True)
    >>> len(bundle.train.X) + len(bundle.val.X) + len(bundle.test.X)
    1797
    """
    _check_fraction(val_fraction, "val_fraction")
    _check_fraction(test_fraction, "test_fraction")
    if val_fraction + test_fraction >= 1:
        raise DataError(
            f"val_fraction + test_fraction must be below 1, got {val_fraction + test_fraction:g}."
        )
    rng = np.random.RandomState(random_state)
    if source in IDX_DATASETS:
        images, y = _load_idx_raw(source, "train", data_dir, download)
        n_val = round(val_fraction * len(y))
        _check_sizes(f"the {source} training set", len(y), len(y) - n_val, n_val, _MIN_SPLIT)
        train, val = _split_off(np.arange(len(y)), y, n_val, rng)
        test_images, test_y = _load_idx_raw(source, "test", data_dir, download)
        splits = [(images, y, train), (images, y, val), (test_images, test_y, None)]
        return _bundle(source, splits, source)
    raw, y, what = _read_source(source, image_size, channels, label_column, as_table)
    n = len(raw)
    n_test, n_val = round(test_fraction * n), round(val_fraction * n)
    _check_sizes(what, n, n - n_test - n_val, n_val, n_test)
    rest, test = _split_off(np.arange(n), y, n_test, rng)
    train, val = _split_off(rest, y, n_val, rng)
    return _bundle(source, [(raw, y, train), (raw, y, val), (raw, y, test)], what)


def load_examples(
    source: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    label_column: str | None = None,
    as_table: bool = False,
) -> Any:
    """Every example of a source, unsplit, in its own order, as float32 arrays
    (MNIST and Fashion-MNIST: the official training set, then the test set), or
    the DataFrame of a mixed table.

    Examples
    --------
    >>> load_examples("digits").shape
    (1797, 1, 8, 8)
    """
    if source in IDX_DATASETS:
        parts = [_load_idx_raw(source, split, data_dir, download)[0] for split in ("train", "test")]
        return as_examples(np.concatenate(parts), source)
    raw, _, what = _read_source(source, image_size, channels, label_column, as_table)
    return raw if _is_frame(raw) else as_examples(np.asarray(raw), what)


def _is_frame(raw: Any) -> bool:
    return hasattr(raw, "iloc")


def _read_source(
    source: str,
    image_size: tuple[int, int] | None,
    channels: int | None = None,
    label_column: str | None = None,
    as_table: bool = False,
) -> tuple:
    """(raw examples, labels or None, a name for messages) of digits or a user path;
    the raw examples of a mixed table are a DataFrame."""
    if source == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        raw, y, what = (digits.images / 16.0).astype(np.float32), digits.target, "digits"
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise DataError(
                f"unknown data source {source!r}: use one of {', '.join(DATASETS)} or the path "
                "of an existing .npy, .npz or .csv file or image folder."
            )
        raw, y = read_user_data(path, image_size, channels, label_column, as_table)
        what = str(path)
        if _is_frame(raw):
            return raw, y, what
    if raw.ndim not in (2, 3, 4):
        raise DataError(
            f"{what} must hold an array of shape (n, features), (n, H, W) or (n, C, H, W), "
            f"but its shape is {raw.shape}."
        )
    return raw, y, what


def _check_fraction(value: float, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise DataError(f"{name} must be a number between 0 and 1 (exclusive), got {value!r}.")


def _check_sizes(what: str, n: int, n_train: int, n_val: int, n_test: int) -> None:
    if min(n_train, n_val, n_test) < _MIN_SPLIT:
        raise DataError(
            f"{what} has {n} examples, too few to split into train ({n_train}), validation "
            f"({n_val}) and test ({n_test}) sets of at least {_MIN_SPLIT} each."
        )


def _split_off(
    idx: np.ndarray, y: np.ndarray | None, k: int, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (rest, k taken), stratified by ``y`` when possible; both sorted."""
    from sklearn.model_selection import train_test_split

    seed = rng.randint(np.iinfo(np.int32).max)
    stratify = None if y is None else y[idx]
    try:
        rest, taken = train_test_split(idx, test_size=k, random_state=seed, stratify=stratify)
    except ValueError:  # a class too small to stratify
        rest, taken = train_test_split(idx, test_size=k, random_state=seed)
    return np.sort(rest), np.sort(taken)


def _bundle(name: str, splits: list, what: str) -> DataBundle:
    """Convert each (raw, y, indices or None for all) to a Split and wrap them."""
    out = []
    for (raw, y, idx), label in zip(splits, ("train", "validation", "test"), strict=True):
        if _is_frame(raw):  # a mixed table: its rows, as they are
            X = raw if idx is None else raw.iloc[idx]
        else:
            part = raw if idx is None else raw[idx]
            X = as_examples(np.asarray(part), f"{what} ({label} split)")
        if len(X) < _MIN_SPLIT:
            raise DataError(
                f"the {label} split of {what} has {len(X)} examples; at least 3 needed."
            )
        labels = None if y is None else (y if idx is None else y[idx]).astype(np.int64)
        out.append(Split(X, labels))
    sample_shape = tuple(int(s) for s in out[0].X.shape[1:])
    table = _is_frame(out[0].X)
    image = len(sample_shape) == 3
    return DataBundle(name, *out, sample_shape=sample_shape, is_image=image, is_table=table)


@dataclass
class DataSpec:
    """How to get a run's data back: the source and its split."""

    source: str = "digits"
    data_dir: str | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    split_seed: int = 0
    binarize: bool = False  # evaluate on a fixed seeded binarisation (Bernoulli VAE)
    image_size: tuple[int, int] | None = None  # (H, W) an image folder is resized to
    channels: int | None = None  # 1 or 3: an image folder read as greyscale or RGB
    label_column: str | None = None  # a CSV's label column, by name (else by LABEL_COLUMNS)
    as_table: bool = False  # a CSV read as a mixed table though all its cells are numbers
    # whether MNIST-like data may be fetched into data_dir; not saved: a folder named
    # by a run's file rather than by the user is read, never created
    download: bool = True

    def __post_init__(self) -> None:
        if self.image_size is not None:  # JSON gives a list back
            self.image_size = tuple(int(v) for v in self.image_size)

    def anywhere(self) -> DataSpec:
        """This spec with a path source and ``data_dir`` made absolute, so that it
        reads the same data from any working folder.

        A run records its data this way: absolute rather than relative to the run
        folder, because a run folder is copied and moved without its data far more
        often than with it (``--data`` names the data when both have moved).
        Dataset names stay as they are.
        """
        source = self.source
        if source not in DATASETS and Path(source).expanduser().exists():
            source = str(Path(source).expanduser().resolve())
        data_dir = self.data_dir
        if data_dir is not None and str(data_dir) != "":
            data_dir = str(Path(data_dir).expanduser().resolve())
        return replace(self, source=source, data_dir=data_dir)

    def load(self) -> DataBundle:
        """The data, split as when the run was trained."""
        return load_data(
            self.source,
            data_dir=self.data_dir,
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            random_state=self.split_seed,
            download=self.download,
            image_size=self.image_size,
            channels=self.channels,
            label_column=self.label_column,
            as_table=self.as_table,
        )

    def examples(self) -> Any:
        """Every example of the source, unsplit, in its own order."""
        return load_examples(
            self.source,
            data_dir=self.data_dir,
            download=self.download,
            image_size=self.image_size,
            channels=self.channels,
            label_column=self.label_column,
            as_table=self.as_table,
        )
