"""The strict IDX reader and the verified downloader (loopback server only)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import shutil
import struct
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aekit.data import idx, load_idx_dataset
from aekit.data.idx import KNOWN_FILES, download, read_idx, read_idx_with_digest, sha256_file
from aekit.errors import DataError

CODES = {np.dtype(k): v for v, k in idx.IDX_DTYPES.items()}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as IDX, independently of the reader."""
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    code = CODES[dtype]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Any attempt to reach a host other than 127.0.0.1 fails the test."""
    real = urllib.request.urlopen

    def guarded(url, *args, **kwargs):
        host = urllib.parse.urlsplit(url if isinstance(url, str) else url.full_url).hostname
        assert host == "127.0.0.1", f"test tried to reach {url}"
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", guarded)


@pytest.fixture
def serve():
    """serve(folder) -> base URL of a loopback HTTP server for that folder."""
    servers = []

    def start(folder: Path) -> str:
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- real MNIST


def test_real_mnist_files(mnist_dir):
    images = read_idx(mnist_dir / "train-images-idx3-ubyte.gz")
    labels = read_idx(mnist_dir / "train-labels-idx1-ubyte.gz")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.max() == 9
    assert np.bincount(labels)[:3].tolist() == [5923, 6742, 5958]
    assert images.mean() / 255 == pytest.approx(0.1307, abs=1e-4)


def test_mnist_content_checksums(mnist_dir):
    for name, known in KNOWN_FILES["mnist"].items():
        _, digest = read_idx_with_digest(mnist_dir / name)
        assert digest == known.content_sha256, name


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("gz", [False, True])
def test_round_trip_every_type(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    out = read_idx(write(tmp_path / "a", idx_bytes(array), gz))
    assert out.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(out, array)


def test_empty_dimension_is_consistent(tmp_path):
    out = read_idx(write(tmp_path / "a", idx_bytes(np.zeros((0, 28, 28), np.uint8))))
    assert out.shape == (0, 28, 28)


# --------------------------------------------------------------------------- strictness

GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "data, message",
    [
        (GOOD[:-1], "truncated"),
        (GOOD + b"\x00", "trailing"),
        (b"\x01" + GOOD[1:], "not an IDX file"),
        (GOOD[:2] + b"\x07" + GOOD[3:], "unknown IDX type code 0x07"),
        (GOOD[:3] + b"\x02" + GOOD[4:], "trailing"),  # 2 dims read: 2x3, 4 + data left
        (GOOD[:3] + b"\x04" + GOOD[4:], "truncated"),  # 4 dims: 2x3x4x(data) huge
        (GOOD[:3] + b"\x00", "no dimensions"),
        (GOOD[:9], "truncated inside its IDX header"),
        (b"\x00\x00", "too short"),
        (b"", "too short"),
    ],
)
def test_malformed_files_are_refused(tmp_path, data, message, gz):
    path = write(tmp_path / "bad.idx", data, gz)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_absurd_header_is_refused_without_allocating(tmp_path):
    # Three dims of 2**32 - 1 claim ~8e28 bytes; the file holds 24.
    absurd = bytes([0, 0, 8, 3]) + b"\xff" * 12 + bytes(24)
    for gz in (False, True):
        with pytest.raises(DataError, match="truncated"):
            read_idx(write(tmp_path / f"absurd{gz}", absurd, gz))


def test_size_limit(tmp_path):
    path = write(tmp_path / "big.gz", GOOD, gz=True)
    with pytest.raises(DataError, match="more than the limit"):
        read_idx(path, max_bytes=10)
    assert read_idx(path, max_bytes=24).shape == (2, 3, 4)


def test_corrupted_gzip_is_refused(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(4000, dtype=np.uint8)))
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    crc = bytearray(data)
    crc[-8] ^= 0x01  # the CRC-32 in the trailer
    cases = {"flipped": bytes(flipped), "crc": bytes(crc), "cut": data[:-5], "half": data[:40]}
    for name, blob in cases.items():
        path = tmp_path / f"{name}.gz"
        path.write_bytes(blob)
        with pytest.raises(DataError, match="gzip|truncated|trailing") as info:
            read_idx(path)
        assert str(path) in str(info.value), name


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "nope.gz")


def _consistent(data: bytes, array: np.ndarray) -> None:
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    assert array.shape == dims
    assert array.dtype == idx.IDX_DTYPES[data[2]].newbyteorder("=")
    assert 4 + 4 * ndim + array.nbytes == len(data)


header_like = st.builds(
    lambda code, dims, payload: (
        bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload
    ),
    st.sampled_from([8, 9, 11, 12, 13, 14, 7]),
    st.lists(st.integers(0, 6) | st.integers(0, 2**32 - 1), max_size=4),
    st.binary(max_size=300),
)


@settings(
    max_examples=300,
    deadline=1000,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.binary(max_size=200) | header_like, gz=st.booleans())
def test_arbitrary_bytes_only_raise_data_error(tmp_path, data, gz):
    path = write(tmp_path / "fuzz", data, gz)
    try:
        array = read_idx(path)
    except DataError:
        return
    _consistent(data, array)


@settings(
    max_examples=150,
    deadline=1000,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=header_like, cut=st.integers(1, 400))
def test_arbitrary_gzip_damage_only_raises_data_error(tmp_path, data, cut):
    blob = gzip.compress(data)
    path = tmp_path / "fuzz.gz"
    path.write_bytes(blob[: max(0, len(blob) - cut)] + blob[len(blob) - cut + 1 :])
    try:
        array = read_idx(path)
    except DataError:
        return
    _consistent(gzip.decompress(path.read_bytes()), array)


# --------------------------------------------------------------------------- downloads


def test_download_good_file(tmp_path, serve):
    (tmp_path / "srv").mkdir()
    payload = b"hello aekit" * 1000
    (tmp_path / "srv" / "f.bin").write_bytes(payload)
    base = serve(tmp_path / "srv")
    dest = tmp_path / "out" / "sub" / "f.bin"
    assert download(base + "f.bin", dest, hashlib.sha256(payload).hexdigest()) == dest
    assert dest.read_bytes() == payload
    assert sorted(p.name for p in dest.parent.iterdir()) == ["f.bin"]


def test_download_tampered_file_leaves_nothing(tmp_path, serve):
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "f.bin").write_bytes(b"tampered")
    base = serve(tmp_path / "srv")
    out = tmp_path / "out"
    with pytest.raises(DataError, match="failed verification"):
        download(base + "f.bin", out / "f.bin", hashlib.sha256(b"original").hexdigest())
    assert list(out.iterdir()) == []
    # an existing file is not replaced by a refused download
    (out / "f.bin").write_bytes(b"original")
    with pytest.raises(DataError):
        download(base + "f.bin", out / "f.bin", hashlib.sha256(b"original").hexdigest())
    assert (out / "f.bin").read_bytes() == b"original"
    assert [p.name for p in out.iterdir()] == ["f.bin"]


def test_download_errors_leave_nothing(tmp_path, serve):
    base = serve(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(DataError, match="could not download"):
        download(base + "missing.gz", out / "m.gz", "0" * 64, timeout=5)
    with pytest.raises(DataError, match="only http"):
        download("ftp://127.0.0.1/x", out / "x", "0" * 64)
    assert list(out.iterdir()) == []


def test_download_too_large_or_cut_short(tmp_path, serve):
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "f.bin").write_bytes(bytes(5000))
    base = serve(tmp_path / "srv")
    out = tmp_path / "out"
    with pytest.raises(DataError, match="larger than 100 bytes"):
        download(base + "f.bin", out / "f.bin", "0" * 64, max_bytes=100)

    class Liar(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only a few bytes")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Liar)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/f.bin"
        with pytest.raises(DataError, match="could not download"):
            download(url, out / "f.bin", "0" * 64, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert list(out.iterdir()) == []


def test_download_accepts_same_content_recompressed(tmp_path, serve, mnist_dir):
    # The shared copy is gzipped differently from the mirrors but has the same content.
    base = serve(mnist_dir)
    name = "t10k-labels-idx1-ubyte.gz"
    known = KNOWN_FILES["mnist"][name]
    assert sha256_file(mnist_dir / name) != known.gz_sha256
    dest = download(
        base + name, tmp_path / name, known.gz_sha256, content_sha256=known.content_sha256
    )
    assert read_idx(dest).shape == (10000,)


def test_load_idx_dataset_downloads_from_mirror(tmp_path, serve, mnist_dir, monkeypatch):
    base = serve(mnist_dir)
    monkeypatch.setenv("AEKIT_MNIST_MIRROR", f"{base}missing/,{base}")
    X, y = load_idx_dataset("mnist", "test", data_dir=tmp_path)
    assert X.shape == (10000, 1, 28, 28) and y.shape == (10000,)
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]


def test_load_idx_dataset_refuses_tampered_mirror(tmp_path, serve, mnist_dir, monkeypatch):
    srv = tmp_path / "srv"
    srv.mkdir()
    shutil.copy(mnist_dir / "t10k-images-idx3-ubyte.gz", srv)
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz").copy()
    labels[0] = (labels[0] + 1) % 10  # one wrong label: still a valid IDX file
    write(srv / "t10k-labels-idx1-ubyte.gz", idx_bytes(labels), gz=True)
    monkeypatch.setenv("AEKIT_MNIST_MIRROR", serve(srv))
    with pytest.raises(DataError, match="could not be downloaded.*failed verification"):
        load_idx_dataset("mnist", "test", data_dir=tmp_path / "data")
    assert [p.name for p in (tmp_path / "data" / "mnist").iterdir()] == [
        "t10k-images-idx3-ubyte.gz"
    ]


def test_mirror_environment_variable(monkeypatch):
    monkeypatch.delenv("AEKIT_MNIST_MIRROR", raising=False)
    assert idx.mirrors("mnist") == idx.MIRRORS["mnist"]
    monkeypatch.setenv("AEKIT_MNIST_MIRROR", "http://127.0.0.1:1/a/, http://127.0.0.1:1/b/")
    assert idx.mirrors("mnist") == ("http://127.0.0.1:1/a/", "http://127.0.0.1:1/b/")


def test_empty_but_unrepresentable_shape(tmp_path):
    data = bytes([0, 0, 0x0E, 3]) + struct.pack(">3I", 0, 2**30, 2**30)
    with pytest.raises(DataError, match="numpy cannot hold"):
        read_idx(write(tmp_path / "a", data))


def test_a_failed_download_leaves_no_empty_folder_it_made(tmp_path, serve, monkeypatch):
    empty = tmp_path / "mirror"
    empty.mkdir()
    monkeypatch.setenv("AEKIT_FASHION_MNIST_MIRROR", serve(empty))
    data = tmp_path / "user-data"
    data.mkdir()
    with pytest.raises(DataError, match="could not be downloaded"):
        load_idx_dataset("fashion-mnist", "test", data_dir=data)
    assert list(data.iterdir()) == []  # the user's folder stays, as it was
    with pytest.raises(DataError, match="could not be downloaded"):
        load_idx_dataset("fashion-mnist", "test", data_dir=tmp_path / "new" / "data")
    assert not (tmp_path / "new").exists()
