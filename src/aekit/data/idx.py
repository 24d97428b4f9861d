"""Strict IDX files (the MNIST format) and verified downloads.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian 32-bit size per dimension, then exactly the product
of the sizes of big-endian values. :func:`read_idx` checks every part of that
and refuses anything else (truncated data, trailing bytes, a corrupted gzip
stream) with a :class:`~aekit.errors.DataError` naming the file; it never
allocates more memory than the file really holds.

:func:`download` fetches a URL into a temporary file beside the destination,
checks its SHA-256 and only then renames it into place, so a failed or tampered
download leaves nothing behind. :data:`KNOWN_FILES` and :func:`mirrors` give
the published checksums and download locations of MNIST and Fashion-MNIST.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from aekit.errors import DataError

# IDX type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: Largest decompressed payload :func:`read_idx` reads by default (4 GiB).
MAX_IDX_BYTES = 1 << 32

_CHUNK = 1 << 20


@dataclass(frozen=True)
class KnownFile:
    """A published dataset file.

    Attributes
    ----------
    gz_sha256 : str
        SHA-256 of the ``.gz`` file as the mirrors serve it.
    content_sha256 : str or None
        SHA-256 of the decompressed IDX bytes, when known; it identifies the
        content whatever gzip settings a copy was compressed with.
    """

    gz_sha256: str
    content_sha256: str | None = None


# MNIST: the .gz checksums are the published ones (PyTorch's and TensorFlow's
# mirrors serve these bytes); the content checksums were computed from the copy
# in the shared data folder and agree with the published SHA-256 of the
# decompressed files. Fashion-MNIST: the published .gz checksums (Zalando's S3
# bucket, the same values used by several independent loaders); the
# decompressed checksums are not recorded, so a re-compressed copy is checked
# by its IDX structure, shapes and labels only.
KNOWN_FILES: dict[str, dict[str, KnownFile]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": KnownFile(
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        "train-labels-idx1-ubyte.gz": KnownFile(
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        "t10k-images-idx3-ubyte.gz": KnownFile(
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        "t10k-labels-idx1-ubyte.gz": KnownFile(
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": KnownFile(
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        "train-labels-idx1-ubyte.gz": KnownFile(
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        "t10k-images-idx3-ubyte.gz": KnownFile(
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        "t10k-labels-idx1-ubyte.gz": KnownFile(
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
        ),
    },
}

# Base URLs tried in order; the checksums, not the transport, make them safe.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}

#: Environment variables that replace a dataset's mirrors (comma-separated base URLs).
MIRROR_ENV = {"mnist": "AEKIT_MNIST_MIRROR", "fashion-mnist": "AEKIT_FASHION_MNIST_MIRROR"}


def mirrors(dataset: str) -> tuple[str, ...]:
    """Return the base URLs to download ``dataset`` from, in the order to try them.

    The environment variable named in :data:`MIRROR_ENV` (``AEKIT_MNIST_MIRROR``
    for MNIST), when set, replaces the built-in list.

    Examples
    --------
    >>> mirrors("mnist")[0].startswith("http")
    True
    """
    env = os.environ.get(MIRROR_ENV[dataset], "").strip()
    if env:
        return tuple(base.strip() for base in env.split(",") if base.strip())
    return MIRRORS[dataset]


def sha256_file(path: str | os.PathLike) -> str:
    """Return the hexadecimal SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def read_idx(path: str | os.PathLike, *, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not, checking it strictly.

    Parameters
    ----------
    path : str or path-like
        The file; gzip compression is recognised from its first bytes.
    max_bytes : int, default=MAX_IDX_BYTES
        The largest data payload accepted.

    Returns
    -------
    ndarray
        An array in native byte order with the dtype and shape the header declares.

    Raises
    ------
    DataError
        If the file is missing, is not IDX, has an unknown type code, holds fewer
        or more data bytes than its header declares, is a corrupted or truncated
        gzip stream, or is larger than ``max_bytes``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.idx"
    >>> _ = p.write_bytes(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6)))
    >>> read_idx(p)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    return read_idx_with_digest(path, max_bytes=max_bytes)[0]


def read_idx_with_digest(
    path: str | os.PathLike, *, max_bytes: int = MAX_IDX_BYTES
) -> tuple[np.ndarray, str]:
    """Like :func:`read_idx`, also returning the SHA-256 of the decompressed IDX bytes."""
    path = Path(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path} does not exist.") from None
    except OSError as exc:
        raise DataError(f"{path} could not be opened ({exc.strerror or exc}).") from None
    with f:
        compressed = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        if not compressed:
            return _read_stream(f, path, os.fstat(f.fileno()).st_size, max_bytes)
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") as gz:
                return _read_stream(gz, path, None, max_bytes)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"{path} is not a valid gzip file: it is truncated or corrupted ({exc})."
            ) from None


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    parts, left = [], n
    while left > 0:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _read_stream(
    stream: BinaryIO, path: Path, file_size: int | None, max_bytes: int
) -> tuple[np.ndarray, str]:
    """Parse one IDX stream; ``file_size`` is known for uncompressed files."""
    digest = hashlib.sha256()
    magic = _read_exact(stream, 4)
    if len(magic) < 4:
        raise DataError(f"{path} is too short to be an IDX file ({len(magic)} bytes).")
    if magic[0] != 0 or magic[1] != 0:
        raise DataError(f"{path} is not an IDX file: its magic number is {magic.hex()}.")
    dtype = IDX_DTYPES.get(magic[2])
    if dtype is None:
        raise DataError(f"{path} has an unknown IDX type code 0x{magic[2]:02x}.")
    ndim = magic[3]
    if ndim == 0:
        raise DataError(f"{path} is an IDX file that declares no dimensions.")
    raw_dims = _read_exact(stream, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataError(f"{path} is truncated inside its IDX header.")
    digest.update(magic + raw_dims)
    dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    declared = dtype.itemsize * int(np.prod(dims, dtype=object))
    header = 4 + 4 * ndim

    if file_size is not None and file_size - header != declared:
        raise _size_error(path, dims, declared, file_size - header)
    if declared > max_bytes:
        # Count, without keeping, what is really there, to say which is wrong.
        actual = _count(stream, max_bytes + 1)
        if actual <= max_bytes:  # the stream ended before the limit: it is truncated
            raise _size_error(path, dims, declared, actual)
        raise DataError(
            f"{path} declares {declared} bytes of data, more than the limit of {max_bytes}."
        )
    data = bytearray()
    while len(data) <= declared:  # one read past the end proves there is no more
        chunk = stream.read(min(_CHUNK, declared + 1 - len(data)))
        if not chunk:
            break
        data += chunk
    if len(data) != declared:
        raise _size_error(path, dims, declared, len(data))
    digest.update(data)
    try:
        array = np.frombuffer(data, dtype=dtype).reshape(dims)
    except ValueError:  # e.g. (0, 2**31, 2**31): empty, yet too large a shape for numpy
        raise DataError(f"{path} declares a shape numpy cannot hold: {dims}.") from None
    return array.astype(dtype.newbyteorder("="), copy=False), digest.hexdigest()


def _count(stream: BinaryIO, limit: int) -> int:
    total = 0
    while total < limit and (chunk := stream.read(min(_CHUNK, limit - total))):
        total += len(chunk)
    return total


def _size_error(path: Path, dims: tuple[int, ...], declared: int, actual: int) -> DataError:
    shape = "x".join(map(str, dims))
    if actual > declared:
        return DataError(
            f"{path} has trailing bytes after the {declared} data bytes its header "
            f"declares (shape {shape})."
        )
    return DataError(
        f"{path} is truncated: its header declares {declared} data bytes (shape {shape}) "
        f"but it holds {actual}."
    )


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str,
    *,
    timeout: float = 60,
    content_sha256: str | None = None,
    max_bytes: int = MAX_IDX_BYTES,
) -> Path:
    """Download ``url`` to ``dest``, verified by SHA-256, atomically.

    The body goes to a temporary file in ``dest``'s folder; only when its
    SHA-256 equals ``sha256`` (or, for a gzip file, when the SHA-256 of its
    decompressed bytes equals ``content_sha256``) is it renamed to ``dest``.
    Otherwise the temporary file is removed and nothing is left behind.

    Parameters
    ----------
    url : str
        An ``http``, ``https`` or ``file`` URL.
    dest : str or path-like
        Where the verified file goes; its folder is created if needed.
    sha256 : str
        The expected hexadecimal SHA-256 of the downloaded bytes.
    timeout : float, default=60
        Seconds to wait for the server on each network operation.
    content_sha256 : str, optional
        Also accept a gzip file whose decompressed bytes have this SHA-256 (a
        mirror that compressed the same content differently).
    max_bytes : int, default=MAX_IDX_BYTES
        The largest body accepted.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DataError
        If the download fails, is too large or its checksum does not match.

    Examples
    --------
    >>> download("https://example.org/f.gz", "f.gz", "ab12...")  # doctest: +SKIP
    """
    dest = Path(dest)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https", "file"):
        raise DataError(f"cannot download {url!r}: only http, https and file URLs are supported.")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise DataError(f"cannot write to {dest.parent} ({exc.strerror or exc}).") from None
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    size = 0
                    while chunk := response.read(_CHUNK):
                        size += len(chunk)
                        if size > max_bytes:
                            raise DataError(f"{url} is larger than {max_bytes} bytes; refused.")
                        digest.update(chunk)
                        out.write(chunk)
                    length = response.headers.get("Content-Length")
                    if length and length.isdigit() and int(length) != size:
                        raise DataError(
                            f"could not download {url}: the connection closed after {size} "
                            f"of {length} bytes."
                        )
            except DataError:
                raise
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise DataError(f"could not download {url} ({reason}).") from None
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != sha256.lower() and not _content_matches(tmp, content_sha256):
            raise DataError(
                f"{url} failed verification: its SHA-256 is {actual}, expected {sha256}; "
                "the file was not kept."
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _content_matches(path: Path, content_sha256: str | None) -> bool:
    if not content_sha256:
        return False
    try:
        _, digest = read_idx_with_digest(path)
    except DataError:
        return False
    return digest == content_sha256.lower()
