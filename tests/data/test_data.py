"""Data sources: digits, MNIST from local IDX files, and the user's own files."""

from __future__ import annotations

import gzip
import io
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.datasets import load_digits

import aekit
import aekit.models.registry
from aekit.data import (
    DATASETS,
    DataBundle,
    Split,
    load_data,
    load_idx_dataset,
    resolve_data_dir,
)
from aekit.data.files import as_examples, read_csv, read_npy, read_npz, read_user_data
from aekit.errors import DataError, DataNote

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FUZZ = settings(
    max_examples=200,
    deadline=1000,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """These tests never download: any URL opened is a failure."""

    def refuse(*args, **kwargs):
        raise AssertionError("test tried to use the network")

    monkeypatch.setattr("urllib.request.urlopen", refuse)


def rows_sorted(X: np.ndarray) -> np.ndarray:
    flat = X.reshape(len(X), -1)
    return flat[np.lexsort(flat.T[::-1])]


def all_rows(bundle: DataBundle) -> np.ndarray:
    return np.concatenate([bundle.train.X, bundle.val.X, bundle.test.X])


# --------------------------------------------------------------------------- data dir


def test_resolve_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("AEKIT_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("AEKIT_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_data_dir() == tmp_path / ".cache" / "aekit"


# --------------------------------------------------------------------------- MNIST


@pytest.fixture(scope="module")
def mnist_bundle(mnist_dir):
    return load_data("mnist", data_dir=mnist_dir, download=False, random_state=0)


def test_mnist_bundle(mnist_bundle):
    b = mnist_bundle
    assert (len(b.train.X), len(b.val.X), len(b.test.X)) == (54000, 6000, 10000)
    assert b.sample_shape == (1, 28, 28) and b.is_image and b.name == "mnist"
    for split in (b.train, b.val, b.test):
        assert split.X.dtype == np.float32 and split.y.dtype == np.int64
        assert split.X.min() == 0.0 and split.X.max() == 1.0
    train_counts = np.bincount(b.train.y) + np.bincount(b.val.y)
    assert train_counts.tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(b.test.y).tolist() == MNIST_TEST_COUNTS
    # the validation set is stratified: every class within 1 of 10%
    assert np.abs(np.bincount(b.val.y) - np.array(MNIST_TRAIN_COUNTS) / 10).max() <= 1
    mean = (b.train.X.sum(dtype=np.float64) + b.val.X.sum(dtype=np.float64)) / (60000 * 784)
    assert mean == pytest.approx(0.1307, abs=1e-4)


def test_load_idx_dataset_test_split(mnist_dir):
    X, y = load_idx_dataset("mnist", "test", data_dir=mnist_dir, download=False)
    assert X.shape == (10000, 1, 28, 28) and X.dtype == np.float32
    assert y.dtype == np.int64 and np.bincount(y).tolist() == MNIST_TEST_COUNTS
    assert X.mean(dtype=np.float64) == pytest.approx(0.1325, abs=1e-4)


def test_idx_files_in_named_subfolder(mnist_dir, tmp_path):
    (tmp_path / "mnist").mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(mnist_dir / name, tmp_path / "mnist")
    X, _ = load_idx_dataset("mnist", "test", data_dir=tmp_path, download=False)
    assert X.shape == (10000, 1, 28, 28)


def test_idx_missing_files_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("AEKIT_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"not found in .*mnist or .*AEKIT_DATA"):
        load_idx_dataset("mnist", download=False)
    with pytest.raises(DataError, match="unknown IDX dataset"):
        load_idx_dataset("cifar", download=False)
    with pytest.raises(DataError, match="split"):
        load_idx_dataset("mnist", "val", download=False)


def test_idx_tampered_local_file(mnist_dir, tmp_path):
    shutil.copy(mnist_dir / "t10k-images-idx3-ubyte.gz", tmp_path)
    raw = bytearray(gzip.decompress((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[8] = (raw[8] + 1) % 10
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="does not match the published mnist"):
        load_idx_dataset("mnist", "test", data_dir=tmp_path, download=False)


def test_mnist_is_not_taken_for_fashion(mnist_dir):
    with pytest.raises(DataError, match=r"not found .*belongs to another dataset"):
        load_idx_dataset("fashion-mnist", "test", data_dir=mnist_dir, download=False)


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), compresslevel=1)


def test_fashion_checked_by_structure(tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    images = np.zeros((10000, 28, 28), np.uint8)
    images[:, 0, 0] = 255
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(_idx(images))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(_idx(np.arange(10000) % 10))
    X, y = load_idx_dataset("fashion-mnist", "test", data_dir=tmp_path, download=False)
    assert X[:, 0, 0, 0].min() == 1.0 and np.bincount(y).tolist() == [1000] * 10
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(_idx(np.arange(10000) % 11))
    with pytest.raises(DataError, match="above 9"):
        load_idx_dataset("fashion-mnist", "test", data_dir=tmp_path, download=False)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(_idx(images[:5]))
    with pytest.raises(DataError, match=r"shape \(5, 28, 28\).*\(10000, 28, 28\)"):
        load_idx_dataset("fashion-mnist", "test", data_dir=tmp_path, download=False)


# --------------------------------------------------------------------------- digits & splits


def test_digits():
    b = load_data("digits")
    assert isinstance(b.train, Split) and b.sample_shape == (1, 8, 8) and b.is_image
    assert (len(b.train.X), len(b.val.X), len(b.test.X)) == (1258, 180, 359)
    assert all_rows(b).min() == 0.0 and all_rows(b).max() == 1.0
    from sklearn.datasets import load_digits

    expected = load_digits().images[:, None].astype(np.float32) / 16
    np.testing.assert_array_equal(rows_sorted(all_rows(b)), rows_sorted(expected))
    # stratified: each class is 20% of the test set, to within one example
    per_class = np.bincount(load_digits().target)
    assert np.abs(np.bincount(b.test.y) - per_class * 0.2).max() <= 1


def test_splits_are_reproducible():
    a, b, c = (load_data("digits", random_state=s) for s in (3, 3, 4))
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, name).X, getattr(b, name).X)
        np.testing.assert_array_equal(getattr(a, name).y, getattr(b, name).y)
    assert not np.array_equal(a.test.y, c.test.y)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"val_fraction": 0.0}, "val_fraction"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "below 1"),
        ({"val_fraction": 0.001}, "too few"),
    ],
)
def test_bad_fractions(kwargs, message):
    with pytest.raises(DataError, match=message):
        load_data("digits", **kwargs)


def test_unknown_source(tmp_path):
    with pytest.raises(DataError, match="digits, mnist, fashion-mnist"):
        load_data(str(tmp_path / "nothing.npy"))
    assert DATASETS == ("digits", "mnist", "fashion-mnist")


# --------------------------------------------------------------------------- .npy / .npz


def test_npy_vectors_round_trip(tmp_path):
    X = np.random.default_rng(0).standard_normal((50, 7)) * 5
    np.save(tmp_path / "x.npy", X)
    b = load_data(str(tmp_path / "x.npy"))
    assert b.sample_shape == (7,) and not b.is_image and b.train.y is None
    assert (len(b.train.X), len(b.val.X), len(b.test.X)) == (35, 5, 10)
    np.testing.assert_allclose(rows_sorted(all_rows(b)), rows_sorted(X.astype(np.float32)))


def test_npy_uint8_images(tmp_path):
    X = np.random.default_rng(0).integers(0, 256, (30, 5, 6), dtype=np.uint8)
    np.save(tmp_path / "x.npy", X)
    b = load_data(str(tmp_path / "x.npy"))
    assert b.sample_shape == (1, 5, 6) and b.is_image
    np.testing.assert_allclose(rows_sorted(all_rows(b)), rows_sorted(X[:, None] / 255), rtol=1e-6)


def test_npy_nhwc_is_transposed(tmp_path):
    X = np.random.default_rng(0).integers(0, 256, (30, 5, 6, 3), dtype=np.uint8)
    np.save(tmp_path / "x.npy", X)
    b = load_data(str(tmp_path / "x.npy"))
    assert b.sample_shape == (3, 5, 6)
    expected = X.transpose(0, 3, 1, 2) / 255
    np.testing.assert_allclose(rows_sorted(all_rows(b)), rows_sorted(expected), rtol=1e-6)


def test_bad_npy_files(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}] * 10, dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="obj.npy"):
        load_data(str(tmp_path / "obj.npy"))
    np.save(tmp_path / "t.npy", np.zeros((100, 4)))
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[:-10])
    with pytest.raises(DataError, match="t.npy"):
        load_data(str(tmp_path / "t.npy"))
    np.save(tmp_path / "one.npy", np.zeros(10))
    with pytest.raises(DataError, match=r"one.npy must hold .* shape is \(10,\)"):
        load_data(str(tmp_path / "one.npy"))
    bad = np.zeros((40, 3))
    bad[17, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(DataError, match="NaN"):
        load_data(str(tmp_path / "nan.npy"))
    np.save(tmp_path / "few.npy", np.zeros((5, 3)))
    with pytest.raises(DataError, match="too few"):
        load_data(str(tmp_path / "few.npy"))
    (tmp_path / "x.txt").write_text("1,2\n")
    with pytest.raises(DataError, match="unsupported type"):
        load_data(str(tmp_path / "x.txt"))


@pytest.mark.parametrize(
    "keys", [("X", "y"), ("images", "labels"), ("data", None), ("arr_0", None), ("x", "labels")]
)
def test_npz_round_trip(tmp_path, keys):
    X = np.arange(40 * 3, dtype=np.float64).reshape(40, 3)
    y = np.arange(40) % 4
    arrays = {keys[0]: X} | ({keys[1]: y} if keys[1] else {})
    np.savez_compressed(tmp_path / "d.npz", **arrays)
    b = load_data(str(tmp_path / "d.npz"))
    if keys[1] is None:
        assert b.train.y is None
    else:
        got = np.concatenate([b.train.y, b.val.y, b.test.y])
        rows = np.concatenate([b.train.X, b.val.X, b.test.X])
        np.testing.assert_array_equal(got, (rows[:, 0] // 3).astype(int) % 4)
    np.testing.assert_array_equal(rows_sorted(all_rows(b)), X.astype(np.float32))


def test_npz_text_labels(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((30, 2)), y=np.array(["cat", "dog", "ant"] * 10))
    b = load_data(str(tmp_path / "d.npz"))
    assert set(np.concatenate([b.train.y, b.val.y, b.test.y])) == {0, 1, 2}


def test_bad_npz_files(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((10, 2)), b=np.zeros((10, 2)))
    with pytest.raises(DataError, match="holds: a, b"):
        load_data(str(tmp_path / "two.npz"))
    np.savez(tmp_path / "len.npz", X=np.zeros((10, 2)), y=np.zeros(9))
    with pytest.raises(DataError, match=r"labels in .*len.npz have shape \(9,\)"):
        load_data(str(tmp_path / "len.npz"))
    np.savez(tmp_path / "frac.npz", X=np.zeros((10, 2)), y=np.full(10, 0.5))
    with pytest.raises(DataError, match="whole numbers"):
        load_data(str(tmp_path / "frac.npz"))
    np.savez(tmp_path / "obj.npz", X=np.array([None] * 10, dtype=object))
    with pytest.raises(DataError, match="Python objects"):
        load_data(str(tmp_path / "obj.npz"))
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="junk.npz is not a readable .npz archive"):
        load_data(str(tmp_path / "junk.npz"))


def test_npz_absurd_header_is_refused(tmp_path):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.zeros(4))
    member = buffer.getvalue().replace(b"(4,)", b"(10**13,)".replace(b"10**13", b"9" * 13))
    with zipfile.ZipFile(tmp_path / "absurd.npz", "w") as archive:
        archive.writestr("X.npy", member)
    with pytest.raises(DataError, match="absurd.npz"):
        read_npz(tmp_path / "absurd.npz")


# --------------------------------------------------------------------------- .csv


def test_csv_with_header_and_labels(tmp_path):
    lines = ["a,b,label,c"] + [f"{i},{i * 2},{i % 3},{-i}" for i in range(30)]
    (tmp_path / "d.csv").write_text("\n".join(lines[:5]) + "\n\n" + "\n".join(lines[5:]) + "\n")
    X, y = read_csv(tmp_path / "d.csv")
    np.testing.assert_array_equal(X[:, 0], np.arange(30))
    np.testing.assert_array_equal(X[:, 2], -np.arange(30))
    np.testing.assert_array_equal(y, np.arange(30) % 3)
    b = load_data(str(tmp_path / "d.csv"))
    assert b.sample_shape == (3,) and b.train.y.dtype == np.int64


def test_csv_without_header(tmp_path):
    (tmp_path / "d.csv").write_text("".join(f"{i}.5, {i}e-1\n" for i in range(10)))
    X, y = read_csv(tmp_path / "d.csv")
    assert X.shape == (10, 2) and y is None and X[3].tolist() == [3.5, 0.3]


def test_csv_text_labels(tmp_path):
    (tmp_path / "d.csv").write_text("x,target\n1,b\n2,a\n3,b\n")
    assert read_csv(tmp_path / "d.csv")[1].tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b\n1,2\n3,x\n", r"line 3, column 2: 'x' is not a number"),
        ("1,2\n3,4\n5\n", "line 3 has 1 values, but line 1 has 2"),
        ("a,b\n1,2\n3,4,5\n", "line 3 has 3 values"),
        ("1,2\n3,\n", "line 2, column 2: '' is not a number"),
        ("a,label\n1,2\n3,z9\n4,\n", "line 4 has an empty label"),
        ("a,label\n1,2\n,z9\n", "line 3, column 1: '' is not a number"),
        ("1,2\nnan,4\n", "line 2 holds a NaN"),
        ("a,b\n", "no numeric data"),
        ("label\n1\n2\n", "no numeric data"),
        ("y,label\n1,2\n", "several label columns"),
        ('1,2\n1,"2\n', "line 2 is not valid CSV"),
    ],
)
def test_bad_csv(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        read_csv(path)
    assert str(path) in str(info.value)


def test_csv_not_utf8(tmp_path):
    (tmp_path / "bad.csv").write_bytes(b"\xff\xfe1,2\n")
    with pytest.raises(DataError, match="not a UTF-8"):
        read_csv(tmp_path / "bad.csv")


@FUZZ
@given(data=st.binary(max_size=300) | st.text("0123456789.,-e \nabl\"'", max_size=200))
def test_csv_reader_on_arbitrary_input(tmp_path, data):
    path = tmp_path / "f.csv"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    try:
        X, y = read_csv(path)
    except DataError:
        return
    assert X.ndim == 2 and X.shape[0] >= 1 and X.shape[1] >= 1 and np.isfinite(X).all()
    assert y is None or (y.dtype == np.int64 and y.shape == (len(X),))


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


VALID_NPZ = _npz_bytes({"X": np.arange(12.0).reshape(4, 3), "y": np.arange(4)})


@FUZZ
@given(
    data=st.binary(max_size=400)
    | st.builds(
        lambda pos, junk: VALID_NPZ[:pos] + junk + VALID_NPZ[pos + len(junk) :],
        st.integers(0, len(VALID_NPZ)),
        st.binary(min_size=1, max_size=8),
    )
)
def test_npz_and_npy_readers_on_arbitrary_bytes(tmp_path, data):
    for name, read in (("f.npz", read_npz), ("f.npy", read_npy)):
        path = tmp_path / name
        path.write_bytes(data)
        try:
            result = read(path)
        except DataError:
            continue
        X, y = result if isinstance(result, tuple) else (result, None)
        assert isinstance(X, np.ndarray)
        assert y is None or (y.dtype == np.int64 and len(y) == len(X))


# --------------------------------------------------------------------------- image folders


def _save(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)


def test_image_folder_with_classes(tmp_path):
    rng = np.random.default_rng(0)
    images = {}
    for cls in ("zebra", "ant", "moth"):
        for i in range(4):
            images[(cls, i)] = rng.integers(0, 256, (6, 5), dtype=np.uint8)
            _save(tmp_path / "imgs" / cls / f"{i}.png", images[(cls, i)])
    b = load_data(str(tmp_path / "imgs"), val_fraction=0.25, test_fraction=0.25)
    assert b.sample_shape == (1, 6, 5) and b.is_image
    X, y = all_rows(b), np.concatenate([b.train.y, b.val.y, b.test.y])
    classes = {"ant": 0, "moth": 1, "zebra": 2}
    for (cls, _), array in images.items():
        match = np.flatnonzero((X[:, 0] == array / np.float32(255)).all(axis=(1, 2)))
        assert len(match) == 1 and y[match[0]] == classes[cls]


def test_rgb_image_folder_without_classes(tmp_path):
    rng = np.random.default_rng(1)
    arrays = [rng.integers(0, 256, (4, 7, 3), dtype=np.uint8) for _ in range(30)]
    for i, array in enumerate(arrays):
        _save(tmp_path / f"{i}.bmp", array)
    b = load_data(str(tmp_path))
    assert b.sample_shape == (3, 4, 7) and b.train.y is None
    expected = np.stack(arrays).transpose(0, 3, 1, 2) / 255
    np.testing.assert_allclose(rows_sorted(all_rows(b)), rows_sorted(expected), rtol=1e-6)


def test_image_folder_problems(tmp_path):
    grey = np.zeros((4, 4), np.uint8)
    for i in range(5):
        _save(tmp_path / "sizes" / f"{i}.png", grey)
    _save(tmp_path / "sizes" / "9.png", np.zeros((5, 4), np.uint8))
    with pytest.raises(
        DataError, match=r"9.png is 5x4 pixels \(HxW\), but .*0.png is 4x4.*--image-size"
    ):
        load_data(str(tmp_path / "sizes"))
    Image.new("I;16", (4, 4)).save(tmp_path / "sizes" / "deep.png")
    with pytest.raises(DataError, match="deep.png has image mode I;16"):
        load_data(str(tmp_path / "sizes"), image_size=(4, 4))
    for i in range(5):
        _save(tmp_path / "broken" / f"{i}.png", grey)
    (tmp_path / "broken" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match=r"3.png could not be read as an image"):
        load_data(str(tmp_path / "broken"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no PNG, JPEG or BMP images"):
        load_data(str(tmp_path / "empty"))


def test_images_as_people_have_them(tmp_path):
    """RGBA, palette, transparent-palette and greyscale files of several sizes become
    one RGB array: alpha composited onto black, grey widened, all resized; each
    change said in one note."""
    folder = tmp_path / "mixed"
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = (200, 100, 50), 128  # half-transparent orange
    for i in range(4):
        _save(folder / f"a{i}.png", rgba)
        _save(folder / f"g{i}.png", np.full((6, 6), 90, np.uint8))
        Image.new("P", (9, 7), color=3).save(folder / f"p{i}.png")  # palette, another size
        transparent = Image.new("P", (6, 6), color=1)
        transparent.info["transparency"] = 1
        transparent.save(folder / f"t{i}.png")  # palette with a transparent index
    with pytest.raises(DataError, match="--image-size"):
        load_data(str(folder))
    with pytest.warns(DataNote) as notes:
        X, _ = read_user_data(folder, image_size=(6, 6))
    said = [str(n.message) for n in notes]
    assert any("8 of 16 images had transparency: alpha composited onto black" in m for m in said)
    assert any(
        "4 of 16 images were greyscale among colour images: widened to RGB" in m for m in said
    )
    assert any("4 of 16 images were resized to 6x6 pixels" in m for m in said)
    assert X.shape == (16, 3, 6, 6) and X.dtype == np.uint8
    by_name = dict(zip(sorted(p.name for p in folder.iterdir()), X, strict=True))
    np.testing.assert_allclose(by_name["a0.png"][:, 0, 0], [100, 50, 25], atol=1)  # 128/255 of it
    assert (by_name["g0.png"] == 90).all()
    assert (by_name["t0.png"] == 0).all()  # fully transparent: black
    assert by_name["p0.png"].shape == (3, 6, 6)


def test_image_size_is_saved_with_the_run(tmp_path, capsys):
    from aekit.cli.main import main

    folder = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for i in range(40):
        size = (8, 8) if i % 2 else (10, 12)
        _save(folder / f"{i}.png", rng.integers(0, 256, size, dtype=np.uint8))
    run = tmp_path / "run"
    code = main(["train", "pca", "--data", str(folder), "--image-size", "8,8",
                 "--latent-dim", "2", "--out", str(run)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "aekit: note:" in err and "20 of 40 images were resized to 8x8" in err
    assert aekit.load(run).input_shape_ == (1, 8, 8)
    assert main(["evaluate", str(run)]) == 0  # reads the folder resized again
    assert main(["train", "pca", "--data", str(folder), "--image-size", "8"]) == 2
    assert "H,W" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["pca", "ae"])
def test_uint8_arrays_are_scaled_as_the_cli_scales_them(kind):
    images = (load_digits().images * 16).clip(0, 255).astype(np.uint8)[:300]
    as_cli = as_examples(images, "x")
    params = {"n_components": 4} if kind == "pca" else {"latent_dim": 4, "epochs": 2}
    raw = aekit.models.registry.estimator_class(kind)(**params, random_state=0).fit(images)
    unit = aekit.models.registry.estimator_class(kind)(**params, random_state=0).fit(as_cli)
    np.testing.assert_allclose(raw.transform(images), unit.transform(as_cli), atol=1e-5)
    assert raw.reconstruct(images).max() <= 1.5  # outputs in [0, 1] units, not 0..255


def test_npy_absurd_header_is_refused(tmp_path):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.zeros((4, 2)))
    absurd = buffer.getvalue().replace(b"(4, 2)", b"(9999999999999, 2)")
    (tmp_path / "absurd.npy").write_bytes(absurd)
    with pytest.raises(DataError, match="absurd.npy could not be read"):
        load_data(str(tmp_path / "absurd.npy"))


def test_a_pandas_csv_with_semicolons_and_an_index_trains_on_its_features(tmp_path, capsys):
    pytest.importorskip("pandas")
    from sklearn.datasets import load_breast_cancer

    import aekit
    from aekit.cli.main import main

    data = load_breast_cancer(as_frame=True).frame.iloc[:200]
    path = tmp_path / "cancer.csv"
    data.to_csv(path, sep=";")  # pandas writes its unnamed index as the first column
    assert path.read_text().startswith(";mean radius;")
    code = main(["train", "ae", "--data", str(path), "--out", str(tmp_path / "run"),
                 "--epochs", "2", "--hidden", "16", "--latent-dim", "3", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "aekit: note:" in err and "index" in err
    model = aekit.load(tmp_path / "run")
    assert model.n_features_in_ == 30  # 30 features; the index and 'target' (labels) are not
    # a text column makes it a mixed table (issue 28): PCA takes numbers only
    (tmp_path / "mixed.csv").write_text("a;b;colour\n" + "1;2;red\n3;4;blue\n5;6;red\n" * 10)
    mixed = ["--data", str(tmp_path / "mixed.csv"), "--out", str(tmp_path / "x")]
    code = main(["train", "pca", *mixed])
    err = capsys.readouterr().err
    assert code == 2 and "mixed table" in err and err.count("\n") == 1


def test_a_shuffled_pandas_index_is_dropped_and_digit_separators_are_refused(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(np.random.default_rng(0).random((30, 3)), columns=["a", "b", "c"])
    path = tmp_path / "shuffled.csv"
    frame.sample(frac=1, random_state=0).to_csv(path)  # its index: 0..29 in another order
    with pytest.warns(DataNote, match="index of 0 to 29"):
        X, _ = read_csv(path)
    assert X.shape == (30, 3)
    path.write_text("a,b\n1_000,2\n3,4\n")
    with pytest.raises(DataError, match="'1_000' is not a number"):
        read_csv(path)
