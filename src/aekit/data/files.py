"""Readers for the user's own data: ``.npy``, ``.npz``, ``.csv`` and image folders.

Each reader returns the raw examples (as stored: a memory map for ``.npy``,
``uint8`` for images) and the labels (``int64``) or ``None``; :func:`as_examples`
turns raw examples into the float32 arrays the estimators take. Every problem
with a file is a :class:`~aekit.errors.DataError` naming it (and, for a CSV, the
line); no reader unpickles anything or allocates more than the file holds.
"""

from __future__ import annotations

import csv
import io
import math
import os
import struct
import tokenize
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from aekit.data.image_folder import read_image_folder
from aekit.data.tables import _cells, is_table, refuse_stray_text
from aekit.errors import DataError, DataNote, one_line
from aekit.validation import check_data

X_KEYS = ("X", "x", "data", "images")
Y_KEYS = ("y", "labels")
LABEL_COLUMNS = ("label", "labels", "y", "target")

Raw = tuple[np.ndarray, "np.ndarray | None"]

# What numpy and zipfile raise on damaged .npy/.npz files (DataError is caught first).
_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    struct.error,
    KeyError,
    OverflowError,
    SyntaxError,  # numpy tokenizes old-style .npy headers
    tokenize.TokenError,
    TypeError,
)


def read_user_data(
    path: str | os.PathLike,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    label_column: str | None = None,
    as_table: bool = False,
) -> Raw:
    """Read examples and optional labels from a file or a folder of images.

    Parameters
    ----------
    path : str or path-like
        A ``.npy``, ``.npz`` or ``.csv`` file, or a folder of PNG/JPEG/BMP images.
    image_size : (int, int), optional
        ``(H, W)`` the images of a folder are resized to (see
        :func:`~aekit.data.image_folder.read_image_folder`).
    channels : {1, 3}, optional
        Image folders: read every image as greyscale (1) or RGB (3).
    label_column : str, optional
        A CSV's label column, by its header name (default: one named ``label``,
        ``labels``, ``y`` or ``target``).
    as_table : bool, default=False
        Read a CSV as a mixed table (a DataFrame, :func:`read_csv_frame`) even if
        every cell is a number. A CSV that the numeric reader refuses for a cell
        that pandas reads as text or as missing is one anyway.

    Returns
    -------
    X : ndarray or DataFrame
        The examples as stored (not yet scaled; see :func:`as_examples`), or the
        DataFrame of a mixed table.
    y : ndarray of int64 or None
        The labels, if the source has them.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = p.write_text("a,b,label\\n1,2,0\\n3,4,1\\n")
    >>> X, y = read_user_data(p)
    >>> X.tolist(), y.tolist()
    ([[1.0, 2.0], [3.0, 4.0]], [0, 1])
    """
    path = Path(path).expanduser()
    if path.is_dir():
        return read_image_folder(path, image_size, channels)
    if not path.exists():
        raise DataError(f"{path} does not exist.")
    if not path.is_file():  # checked before opening: reading a FIFO would wait forever
        raise DataError(f"{path} is not a regular file (a FIFO, socket or device).")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return read_npy(path), None
    if suffix == ".npz":
        return read_npz(path)
    if suffix == ".csv":
        return _read_csv(path, label_column, as_table)
    raise DataError(
        f"{path} has an unsupported type {suffix or '(no suffix)'!r}; aekit reads .npy, "
        ".npz and .csv files and folders of images."
    )


def as_examples(raw: np.ndarray, what: str) -> np.ndarray:
    """Return raw examples as a finite float32 array of vectors or (n, C, H, W) images.

    ``uint8`` arrays are 8-bit levels and are divided by 255 (as
    :func:`~aekit.validation.check_data` does for every caller); other arrays keep
    their values. ``(n, H, W)`` becomes ``(n, 1, H, W)``; a
    4-D array whose last axis is 1 or 3 and whose second is not is taken as
    ``(n, H, W, C)`` and transposed.

    Examples
    --------
    >>> as_examples(np.full((2, 4, 4, 3), 255, dtype=np.uint8), "x").shape
    (2, 3, 4, 4)
    """
    if raw.ndim == 4 and raw.shape[-1] in (1, 3) and raw.shape[1] not in (1, 3):
        raw = raw.transpose(0, 3, 1, 2)
    X = check_data(raw, what=what)
    if X.ndim == 3:
        X = X[:, None]
    return X


def read_npy(path: Path) -> np.ndarray:
    """Memory-map a ``.npy`` file (no pickles); rows are read only when indexed."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except _READ_ERRORS as exc:
        raise DataError(f"{path} could not be read as a .npy array ({one_line(exc)}).") from None
    if not isinstance(array, np.ndarray):
        getattr(array, "close", lambda: None)()
        raise DataError(f"{path} is an .npz archive, not a .npy array; rename it to .npz.")
    return array


def read_npz(path: Path) -> Raw:
    """Read the data (key X, x, data, images or the only array) and labels (y, labels)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = {
                (name[:-4] if name.endswith(".npy") else name): name for name in archive.namelist()
            }
            x_key = next((k for k in X_KEYS if k in members), None)
            if x_key is None:
                others = [k for k in members if k not in Y_KEYS]
                if len(others) != 1:
                    found = ", ".join(sorted(members)) or "none"
                    raise DataError(
                        f"{path} must hold one array or an array named X, x, data or "
                        f"images; it holds: {found}."
                    )
                x_key = others[0]
            y_key = next((k for k in Y_KEYS if k in members), None)
            X = _read_member(archive, members[x_key], path)
            y = _read_member(archive, members[y_key], path) if y_key else None
    except DataError:
        raise
    except _READ_ERRORS as exc:
        raise DataError(f"{path} is not a readable .npz archive ({one_line(exc)}).") from None
    return X, (None if y is None else labels_from(y, len(X), path))


def _read_member(archive: zipfile.ZipFile, name: str, path: Path) -> np.ndarray:
    """Read one ``.npy`` member after checking its header against its stored size."""
    info = archive.getinfo(name)
    stored = info.compress_type == zipfile.ZIP_STORED
    if (
        info.compress_size > path.stat().st_size
        or (stored and info.file_size != info.compress_size)
        or info.file_size > 1100 * info.compress_size + 4096  # beyond deflate's ratio
    ):
        raise DataError(f"{path} is corrupted: member {name} has impossible sizes.")
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise DataError(f"{path}: member {name} has unsupported .npy version {version}.")
        if dtype.hasobject:
            raise DataError(f"{path}: member {name} holds Python objects, which aekit never loads.")
        nbytes = math.prod(shape) * dtype.itemsize
        if f.tell() + nbytes != info.file_size:
            raise DataError(
                f"{path}: member {name} declares shape {shape} but holds a different "
                "amount of data."
            )
        data = f.read(nbytes)
        if len(data) != nbytes or f.read(1):
            raise DataError(f"{path}: member {name} is truncated.")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def labels_from(y: np.ndarray, n: int, source: object) -> np.ndarray:
    """Return labels as int64 of length ``n``; text labels become indices in sorted order."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"the labels in {source} have shape {y.shape}, but there are {n} examples.")
    if y.dtype.kind in "US":
        return np.unique(y, return_inverse=True)[1].astype(np.int64)
    if y.dtype.kind not in "biuf":
        raise DataError(f"the labels in {source} must be integers, not {y.dtype}.")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise DataError(f"the labels in {source} must be whole numbers.")
    return y.astype(np.int64)


def _read_csv(path: Path, label_column: str | None, as_table: bool) -> Raw:
    """``(X, y)`` of a CSV: numbers as :func:`read_csv_table` takes them, or a
    DataFrame (:func:`read_csv_frame`) for a file read ``as_table`` or refused by
    that reader for a cell that pandas reads as text or as missing."""
    if as_table:
        return read_csv_frame(path, label_column)
    try:
        return read_csv(path, label_column)
    except DataError as refused:
        try:
            frame, y = read_csv_frame(path, label_column)
        except DataError:
            raise refused from None
        # a table has a header (its first line is not all numbers) and columns of text,
        # not numbers with a stray cell of text (a typo, 1_000): those stay refused
        first = next(line for line in path.read_text(encoding="utf-8-sig").splitlines() if line)
        if not is_table(frame) or all(_is_number(c) for c in first.split(_delimiter(first))):
            raise refused from None
        for name in frame.columns:
            cells = _cells(frame[name])
            if cells.dtype.kind not in "iufb":  # text (object, or pandas' str dtype)
                refuse_stray_text(name, cells[cells.notna()])
        return frame, y


def read_csv(path: Path, label_column: str | None = None) -> Raw:
    """``(X, y)`` of :func:`read_csv_table`."""
    X, y, _ = read_csv_table(path, label_column)
    return X, y


def read_csv_table(
    path: Path, label_column: str | None = None
) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Read a numeric CSV with an optional header: ``(X, y, names)``, the labels ``y``
    from a label column, ``names`` the header's names of the columns of ``X``.

    The delimiter (comma, semicolon or tab) is detected from the start of the file.
    The first line is a header if any of its cells is not a number; a header
    column named ``label``, ``labels``, ``y`` or ``target`` (or ``label_column``)
    holds the labels (integers or text). An unnamed first column holding 0, 1, …, n − 1 is the
    index pandas writes with ``to_csv`` (in any order, as after ``df.sample()``): it
    is dropped, with a :class:`DataNote`. Digit separators (``1_000``) are refused,
    as pandas does not read them either. Blank lines are skipped.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a UTF-8 text file.") from None
    except OSError as exc:
        raise DataError(f"{path} could not be read ({exc.strerror or exc}).") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    ncols, first_line, label_col, header = None, 0, None, None
    rows: list[np.ndarray] = []
    labels: list[str] = []
    try:
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if ncols is None:
                ncols, first_line = len(row), line
                if not all(_is_number(cell) for cell in row):
                    header = [cell.strip() for cell in row]
                    label_col = _label_column(header, path, label_column)
                    continue
                if label_column is not None:
                    raise DataError(f"{path} has no header, so no column {label_column!r}.")
            if len(row) != ncols:
                raise DataError(
                    f"{path} line {line} has {len(row)} values, but line {first_line} has {ncols}."
                )
            if label_col is not None:
                labels.append(row.pop(label_col).strip())
                if not labels[-1]:
                    raise DataError(f"{path} line {line} has an empty label.")
            rows.append(_parse_row(row, path, line, label_col, header))
    except csv.Error as exc:
        raise DataError(f"{path} line {reader.line_num} is not valid CSV ({exc}).") from None
    if not rows or not rows[0].size:
        raise DataError(f"{path} holds no numeric data.")
    X = np.stack(rows)
    names = None if header is None else [h for j, h in enumerate(header) if j != label_col]
    if header is not None and header[0] == "" and label_col != 0 and X.shape[1] > 1:
        if np.array_equal(np.sort(X[:, 0]), np.arange(len(X))):  # df.sample() shuffles it
            warnings.warn(
                f"{path}: dropped the first column, an unnamed index of 0 to {len(X) - 1} "
                "(as pandas writes it).",
                DataNote,
                stacklevel=2,
            )
            X, names = X[:, 1:], names[1:]
    y = None
    if label_col is not None:
        y = np.array(labels)
        try:
            y = y.astype(np.float64)
        except ValueError:
            pass  # text labels
        y = labels_from(y, len(rows), path)
    return X, y, names


def _delimiter(text: str) -> str:
    """The delimiter of a CSV text: comma, semicolon or tab, whichever the first
    lines use consistently (comma when they do not tell)."""
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _label_column(header: list[str], path: Path, asked: str | None = None) -> int | None:
    if asked is not None:
        if asked not in header:
            shown = ", ".join(header[:8]) + (", ..." if len(header) > 8 else "")
            raise DataError(f"{path} has no column {asked!r}; its columns are {shown}.")
        return header.index(asked)
    found = [i for i, name in enumerate(header) if name.lower() in LABEL_COLUMNS]
    if len(found) > 1:
        names = ", ".join(header[i] for i in found)
        raise DataError(f"{path} has several label columns ({names}); keep one.")
    return found[0] if found else None


def _parse_row(
    row: list[str], path: Path, line: int, label_col: int | None, header: list[str] | None
) -> np.ndarray:
    try:
        if any("_" in cell for cell in row):  # float() reads "1_000" as 1000; pandas does not
            raise ValueError
        values = np.array(row, dtype=np.float64)
    except ValueError:
        for j, cell in enumerate(row):
            if "_" in cell or not _is_number(cell):
                column = j + (label_col is not None and j >= label_col)
                name = f" in column {header[column]!r}" if header and header[column] else ""
                raise DataError(
                    f"{path} line {line}, column {column + 1}: {cell.strip()!r} is not a "
                    f"number{name}; aekit reads numeric columns only."
                ) from None
        raise DataError(f"{path} line {line} holds a value that is not a number.") from None
    if not np.isfinite(values).all():
        raise DataError(f"{path} line {line} holds a NaN or infinite value.")
    return values


def read_csv_frame(path: Path, label_column: str | None = None) -> tuple[Any, np.ndarray | None]:
    """A CSV as the table it is: ``(frame, y)``, a DataFrame of every column but the
    labels (pandas' reading: numbers, text, and missing cells where a cell is empty,
    ``?``, ``NA`` or ``NaN``; spaces after a delimiter ignored) and the labels as
    :func:`read_csv_table` takes them. An unnamed first column holding 0, …, n − 1
    (the index pandas writes) is dropped with a :class:`DataNote`."""
    import pandas as pd

    try:
        text = path.read_text(encoding="utf-8-sig")
        frame = pd.read_csv(
            io.StringIO(text), sep=_delimiter(text), skipinitialspace=True, na_values=["?"]
        )
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a UTF-8 text file.") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path} could not be read as a table ({one_line(exc)}).") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    first = frame.columns[0] if len(frame.columns) > 1 else None
    if first is not None and (first == "" or first.startswith("Unnamed: 0")):
        values = pd.to_numeric(frame[first], errors="coerce").to_numpy()
        if np.array_equal(np.sort(values), np.arange(len(frame))):
            warnings.warn(
                f"{path}: dropped the first column, an unnamed index of 0 to {len(frame) - 1} "
                "(as pandas writes it).",
                DataNote,
                stacklevel=2,
            )
            frame = frame.drop(columns=first)
    label = _label_column(list(frame.columns), path, label_column)
    if label is None:
        return frame, None
    name = frame.columns[label]
    labels = frame.pop(name)
    if labels.isna().any():
        row = int(np.flatnonzero(labels.isna().to_numpy())[0]) + 1
        raise DataError(f"{path} has an empty label in data row {row}.")
    y = labels.to_numpy()
    if y.dtype == object:
        y = y.astype(str)
    return frame, labels_from(y, len(frame), path)
