"""Bad input gets one clear sentence, exit code 2, and changes nothing on disk (SPEC §3)."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aekit.cli.main import main
from aekit.runs.api import train_run
from aekit.storage.safe_files import load_tensors, read_json, save_tensors, write_json

TINY = ["--epochs", "1", "--hidden", "8", "--latent-dim", "2", "--quiet"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A digits autoencoder run, made once and copied into each case's folder."""
    run = tmp_path_factory.mktemp("fixture") / "ae-run"
    assert main(["train", "ae", "--out", str(run), *TINY]) == 0
    return run


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with the hash of its bytes (folders hash to '')."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        out[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    return out


def npy(values) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        np.save(folder / "data.npy", np.asarray(values))
        return str(folder / "data.npy")

    return make


def text_file(name: str, text: str | bytes) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        path = folder / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return str(path)

    return make


def image_folder(*specs: tuple[str, tuple[int, int]]) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        images = folder / "images"
        images.mkdir()
        for i, (mode, size) in enumerate(specs * 3):
            Image.new(mode, size, color=40 * i % 255).save(images / f"{i}.png")
        return str(images)

    return make


def nan_values() -> np.ndarray:
    values = np.random.default_rng(0).random((40, 3))
    values[5, 1] = np.nan
    return values


def inf_values() -> np.ndarray:
    values = np.random.default_rng(0).random((40, 3))
    values[9, 0] = np.inf
    return values


def train_on(make: Callable[[Path], str]):
    return lambda folder, run: ["train", "ae", "--data", make(folder), "--out", "new", *TINY]


def train_with(*options: str):
    return lambda folder, run: ["train", "ae", "--out", "new", *TINY, *options]


def on_run(command: str, *options: str):
    return lambda folder, run: [command, str(run), *options]


def evaluate_on(make: Callable[[Path], str]):
    return lambda folder, run: ["evaluate", str(run), "--data", make(folder)]


def not_writable_out(folder: Path, run: Path) -> list[str]:
    (folder / "a-file").write_text("not a folder")
    return ["train", "ae", "--out", str(folder / "a-file" / "run"), *TINY]


def png_into_a_file(command: str):
    def build(folder: Path, run: Path) -> list[str]:
        (folder / "a-file").write_text("not a folder")
        return [command, str(run), "--out", str(folder / "a-file" / "out.png")]

    return build


def train_kind(kind: str, *options: str):
    return lambda folder, run: ["train", kind, "--out", "new", *TINY, *options]


def on_run_at(command: str, *options: str):
    """``command`` on the run, writing into the case's folder."""
    return lambda folder, run: [command, str(run), *[o.format(f=folder) for o in options]]


def replace_run(*options: str):
    return lambda folder, run: ["train", "ae", "--out", str(run), "--overwrite", *TINY, *options]


def resume_run(*options: str):
    return lambda folder, run: ["train", "ae", "--out", str(run), "--resume", *TINY, *options]


def special_file(kind: str):
    """A FIFO or a plain file where a run folder is expected."""

    def make(folder: Path) -> str:
        path = folder / kind
        os.mkfifo(path) if kind == "fifo" else path.write_text("x")
        return str(path)

    return make


def run_file_as(name: str, what: str):
    """``evaluate`` on the run after its file ``name`` became ``what``: a FIFO, a
    socket, a link to a device, or JSON of 200000 nested brackets."""

    def build(folder: Path, run: Path) -> list[str]:
        path = run / name
        path.unlink()
        if what == "fifo":
            os.mkfifo(path)
        elif what == "socket":
            with socket.socket(socket.AF_UNIX) as sock:
                sock.bind(str(path))
        elif what == "deep":
            path.write_text("[" * 200_000 + "]" * 200_000)
        else:
            path.symlink_to(what)
        return ["evaluate", str(run)]

    return build


def edited_run(edit: Callable[[dict], None]):
    """``evaluate`` on the run after ``edit`` changed its run.json (checksum renewed)."""

    def build(folder: Path, run: Path) -> list[str]:
        description = read_json(run / "run.json")
        edit(description)
        write_json(run / "run.json", description)
        return ["evaluate", str(run)]

    return build


def edited_save(
    tensors: Callable[[dict], object] = lambda t: None,
    config: Callable[[dict], object] = lambda c: None,
    kind: str = "ae",
):
    """``evaluate`` on a run (of ``kind``) whose weights and config were edited and
    saved again with valid checksums: only the consistency checks can refuse it."""

    def build(folder: Path, run: Path) -> list[str]:
        if kind != "ae":
            run = folder / kind
            train_run(kind, "digits", run, latent_dim=2)
        weights, meta = load_tensors(run / "model.safetensors")
        tensors(weights)
        save_tensors(run / "model.safetensors", weights, meta)
        saved = read_json(run / "config.json")
        config(saved)
        saved["weights_sha256"] = hashlib.sha256(
            (run / "model.safetensors").read_bytes()
        ).hexdigest()
        write_json(run / "config.json", saved)
        return ["evaluate", str(run)]

    return build


def checkpoint_of(kind: str):
    """``train --resume`` on the run after a ``kind`` run's checkpoint replaced its own."""

    def build(folder: Path, run: Path) -> list[str]:
        other = folder / kind
        train_run(kind, "digits", other, epochs=1, hidden=(8,), latent_dim=2, random_state=0)
        shutil.copy(other / "checkpoint.safetensors", run / "checkpoint.safetensors")
        shutil.rmtree(other)
        return resume_run("--epochs", "2")(folder, run)

    return build


OWN_FILE = "one of the files that make the run"


def onto_run_file(command: str, name: str, *options: str):
    """``command`` on the run with its ``--out`` onto the run's own file ``name``."""
    return lambda folder, run: [command, str(run), *options, "--out", str(run / name)]


def edited_config(edit: Callable[[dict], None]):
    """``evaluate`` on the run after ``edit`` changed its config (checksum renewed)."""

    def build(folder: Path, run: Path) -> list[str]:
        config = read_json(run / "config.json")
        edit(config)
        write_json(run / "config.json", config)
        return ["evaluate", str(run)]

    return build


def weights_of_another_save(folder: Path, run: Path) -> list[str]:
    other = folder / "other"
    assert main(["train", "ae", "--out", str(other), *TINY, "--seed", "5"]) == 0
    shutil.copy(other / "model.safetensors", run / "model.safetensors")
    shutil.rmtree(other)
    return ["evaluate", str(run)]


CASES = {
    "NaN values": (train_on(npy(nan_values())), "NaN"),
    "infinite values": (train_on(npy(inf_values())), "infinite"),
    "values whose squares overflow float32": (
        train_on(npy(np.full((40, 3), 1e30))),
        "a value of size 1e+30",
    ),
    "values beyond float32": (train_on(npy(np.full((40, 3), 1e308))), "a value of size 1e+308"),
    "huge values at evaluate": (evaluate_on(npy(np.full((40, 1, 8, 8), 1e25))), "size 1e+25"),
    "empty data": (train_on(npy(np.zeros((0, 4)))), "0 examples"),
    "a single example": (train_on(npy(np.ones((1, 4)))), "example"),
    "non-numeric CSV": (train_on(text_file("d.csv", "1,2,3\n4,x,6\n7,8,9\n")), "not a number"),
    "ragged CSV": (train_on(text_file("d.csv", "1,2,3\n4,5\n7,8,9\n")), "d.csv"),
    "empty CSV": (train_on(text_file("d.csv", "")), "d.csv"),
    "garbage .npy": (train_on(text_file("d.npy", b"\x93NUMPY garbage")), "d.npy"),
    "garbage .npz": (train_on(text_file("d.npz", b"PK\x03\x04 broken zip")), "d.npz"),
    "mixed image sizes": (train_on(image_folder(("L", (8, 8)), ("L", (9, 8)))), "size"),
    "16-bit images": (train_on(image_folder(("I;16", (8, 8)), ("I;16", (8, 8)))), "16-bit"),
    "a string for a number": (train_with("--lr", "fast"), "'fast' is not a valid float"),
    "zero latent size": (train_with("--latent-dim", "0"), "x>=1"),
    "bad widths": (train_with("--hidden", "8,x"), "comma-separated integers"),
    "an empty width": (train_with("--hidden", "8,,8"), "comma-separated integers"),
    "a CSV number with a digit separator": (
        train_on(text_file("d.csv", "a,b\n1_000,2\n3,4\n5,6\n")),
        "'1_000' is not a number",
    ),
    "negative noise": (train_with("--noise-std", "-1"), "x>=0"),
    "fractions over 1": (train_with("--val-fraction", "0.6", "--test-fraction", "0.6"), "below 1"),
    "an option of another model": (train_with("--beta", "2"), "does not apply"),
    "unknown dataset": (train_with("--data", "mnits"), "unknown data source"),
    "unknown option": (train_with("--frobnicate"), "No such option"),
    "unknown model kind": (lambda f, r: ["train", "gan"], "Invalid value"),
    "missing run folder": (lambda f, r: ["evaluate", str(f / "nowhere")], "run folder"),
    "a folder that is not a run": (lambda f, r: ["evaluate", str(f)], "run folder"),
    "existing run without --overwrite": (
        lambda f, r: ["train", "ae", "--out", str(r), *TINY],
        "--overwrite",
    ),
    "resume as another model": (
        lambda f, r: ["train", "vae", "--out", str(r), "--resume", *TINY],
        "is a 'ae' run",
    ),
    "wrong image size at evaluate": (evaluate_on(npy(np.zeros((40, 5, 5)))), "shape"),
    "wrong feature count at evaluate": (evaluate_on(npy(np.zeros((40, 7)))), "shape"),
    "NaN at evaluate": (evaluate_on(npy(nan_values())), "NaN"),
    "unknown split": (on_run("evaluate", "--split", "everything"), "Invalid value"),
    "output folder not writable": (not_writable_out, "a-file"),
    "figure into a file's folder": (png_into_a_file("reconstruct"), "a-file"),
    "chain sampling without noise": (on_run("sample", "--method", "chain", "-n", "4"), "noise"),
    # numbers beyond what float32 and int64 hold, and non-finite numbers
    "a learning rate past float32": (train_with("--lr", "1e39"), "at most"),
    "a huge learning rate": (train_with("--lr", "1e30"), "at most"),
    "a huge noise level": (train_with("--noise-std", "1e30"), "at most"),
    "a sigma past float32": (train_kind("vae", "--sigma", "1e39"), "at most"),
    "a seed beyond 32 bits": (train_with("--seed", str(2**32)), "at most"),
    "a seed beyond 64 bits": (train_with("--seed", str(2**70)), "at most"),
    "epochs beyond 64 bits": (train_with("--epochs", str(2**70)), "at most"),
    "a NaN noise level": (train_with("--noise-std", "nan"), "not a finite number"),
    "an infinite noise level": (train_with("--noise-std", "inf"), "not a finite number"),
    "an infinite weight decay": (train_with("--weight-decay", "inf"), "not a finite number"),
    "a NaN fraction": (train_with("--val-fraction", "nan"), "not a finite number"),
    "reconstruct with NaN noise": (on_run("reconstruct", "--noise", "nan"), "finite"),
    "reconstruct with negative noise": (on_run("reconstruct", "--noise", "-1"), "x>=0"),
    "chain with NaN noise": (on_run("sample", "--method", "chain", "--noise", "nan"), "finite"),
    "chain with infinite noise": (
        on_run("sample", "--method", "chain", "--noise", "inf"),
        "finite",
    ),
    "sampling with a seed beyond 64 bits": (on_run("sample", "--seed", str(2**70)), "0<=x<="),
    "a NaN temperature": (on_run("sample", "--temperature", "nan"), "finite"),
    "too many samples": (on_run("sample", "-n", "100001"), "100000"),
    # settings refused before the run folder is touched
    "overwrite onto a missing GPU": (replace_run("--device", "cuda"), "no CUDA device"),
    "overwrite with a bad device": (replace_run("--device", "tpu"), "device must be"),
    "overwrite with conv on vectors": (
        lambda f, r: [
            "train",
            "ae",
            "--data",
            npy(np.ones((40, 6)))(f),
            "--out",
            str(r),
            "--overwrite",
            "--architecture",
            "conv",
            *TINY,
        ],  # fmt: skip
        "needs images",
    ),
    "batch norm on batches of one": (train_with("--norm", "batch", "--batch-size", "1"), "norm"),
    "networks too big for memory": (train_with("--hidden", "1000000,1000000"), "GiB"),
    "more PCA components than features": (
        lambda f, r: ["train", "pca", "--out", "new", "--latent-dim", "65"],
        "n_components",
    ),
    "a seed that is negative": (train_with("--seed", "-1"), "x>=0"),
    "zero learning rate": (train_with("--lr", "0"), "x>0"),
    "zero mixture components": (train_kind("vae", "--prior-components", "0"), "x>=1"),
    "free bits with a mixture prior": (
        train_kind("vae", "--prior", "mixture", "--free-bits", "1"),
        "free_bits",
    ),
    "walkback without noise": (
        train_kind("dae", "--walkback", "1", "--noise-std", "0"),
        "walkback",
    ),
    "a VAE option for an autoencoder": (train_with("--kl-warmup", "2"), "does not apply"),
    "an overwrite that is refused": (replace_run("--lr", "-1"), "x>0"),
    # resuming with something else than the run had
    "resume with another learning rate": (resume_run("--lr", "0.5"), "cannot resume"),
    "resume with other widths": (resume_run("--hidden", "9"), "cannot resume"),
    "resume with another seed": (resume_run("--seed", "4"), "cannot resume"),
    "resume on other data": (resume_run("--data", "mnist"), "cannot resume"),
    "resume with another batch size": (resume_run("--batch-size", "7"), "cannot resume"),
    "resume with a checkpoint of another kind": (checkpoint_of("vae"), "not this model's"),
    "resume a folder with no run": (
        lambda f, r: ["train", "ae", "--out", str(f), "--resume", *TINY],
        "holds no run",
    ),
    # files where a run folder is expected, and run files that do not fit
    "a FIFO as the run": (lambda f, r: ["evaluate", special_file("fifo")(f)], "not a folder"),
    "a file as the run": (lambda f, r: ["evaluate", special_file("file")(f)], "not a folder"),
    "/dev/zero as the run": (lambda f, r: ["evaluate", "/dev/zero"], "not a folder"),
    "a FIFO as --out": (
        lambda f, r: ["train", "ae", "--out", special_file("fifo")(f), *TINY],
        "not a folder",
    ),
    "/dev/zero as --out": (
        lambda f, r: ["train", "ae", "--out", "/dev/zero", *TINY],
        "not a folder",
    ),
    "a config with an unknown key": (
        edited_config(lambda c: c["params"].update(frobnicate=1)),
        "unknown Autoencoder parameters",
    ),
    "a config without fitted state": (edited_config(lambda c: c.pop("fitted")), "fitted state"),
    "a config missing a fitted value": (
        edited_config(lambda c: c["fitted"].pop("seed_")),
        "lacks the fitted value",
    ),
    "tensors that do not fit the config": (
        edited_config(lambda c: c["params"].update(latent_dim=7)),
        "weights do not fit",
    ),
    "weights of another save": (weights_of_another_save, "not the ones its config.json"),
    # outputs that cannot be written: refused before any work
    "a report into a missing folder": (
        on_run_at("report", "--out", "{f}/missing/x.html"),
        "missing",
    ),
    "samples into a missing folder": (
        on_run_at("sample", "--npy", "{f}/missing/s.npy"),
        "missing",
    ),
    "interpolation into a file's folder": (png_into_a_file("interpolate"), "a-file"),
    "evaluate on a missing GPU": (on_run("evaluate", "--device", "cuda"), "no CUDA device"),
    "log-likelihood of an autoencoder": (on_run("evaluate", "--nll-samples", "5"), "vae"),
    "zero reconstructions": (on_run("reconstruct", "-n", "0"), "1<=x<=32"),
    "a split seed that is not a number": (on_run("evaluate", "--split-seed", "x"), "not a valid"),
    # outputs aimed at the files that make a run (issue 26): refused, the run stays whole
    "scores over the run's config": (onto_run_file("score", "config.json"), OWN_FILE),
    "an export over the run's weights": (
        onto_run_file("export", "model.safetensors", "--format", "torchscript"),
        OWN_FILE,
    ),
    "a TorchScript export over the config": (
        onto_run_file("export", "config.json", "--format", "torchscript"),
        OWN_FILE,
    ),
    "samples over the run description": (onto_run_file("sample", "run.json"), OWN_FILE),
    "reconstructions over the metrics": (onto_run_file("reconstruct", "metrics.json"), OWN_FILE),
    "a report over the config": (onto_run_file("report", "config.json"), OWN_FILE),
    # special files and absurd files in place of a run's files or of input data: refused
    # at once, never waited on
    "a FIFO as config.json": (run_file_as("config.json", "fifo"), "not a regular file"),
    "a FIFO as the weights": (run_file_as("model.safetensors", "fifo"), "not a regular file"),
    "a FIFO as run.json": (run_file_as("run.json", "fifo"), "not a regular file"),
    "a socket as config.json": (run_file_as("config.json", "socket"), "config.json"),
    "/dev/zero as the weights": (run_file_as("model.safetensors", "/dev/zero"), "regular file"),
    "a FIFO as the data": (train_on(special_file("fifo")), "not a regular file"),
    "/dev/zero as the data": (lambda f, r: ["train", "ae", "--data", "/dev/zero"], "regular"),
    "a config of 200000 nested brackets": (run_file_as("config.json", "deep"), "not valid JSON"),
    "a run.json of 200000 nested brackets": (run_file_as("run.json", "deep"), "not valid JSON"),
    "a run of an unknown kind": (edited_run(lambda r: r.update(kind="gan")), "unknown model kind"),
    # saves whose parts disagree, or hold nothing finite (checksums renewed)
    "NaN weights": (edited_save(tensors=lambda t: t[next(iter(t))].fill_(np.nan)), "NaN"),
    "infinite weights": (
        edited_save(tensors=lambda t: t[sorted(t)[-1]].fill_(np.inf)),
        "NaN or infinite",
    ),
    "a PCA config asking for 3 of its 2 components": (
        edited_save(
            config=lambda c: c["params"].update(n_components=3, latent_dim=None), kind="pca"
        ),  # fmt: skip
        "ask for 3 components but it holds 2",
    ),
    "a standard scaling without offset and factor": (
        edited_save(
            tensors=lambda t: [t.pop(k) for k in ("scale_offset_", "scale_factor_")],
            config=lambda c: c["fitted"].update(scale_="standard"),
        ),
        "offset and factor",
    ),
    "a scale that disagrees with the fitted one": (
        edited_save(config=lambda c: c["params"].update(scale="minmax")),
        "disagrees with the fitted scale_",
    ),
    "scores into a FIFO": (
        lambda f, r: ["score", str(r), "--out", special_file("fifo")(f)],
        "FIFO",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gets_one_sentence_and_changes_nothing(case, trained_run, tmp_path, capsys):
    build, message = CASES[case]
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    args = build(cwd, run)
    before = snapshot(tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 2, (case, err)
    assert message in err, (case, err)
    assert "Traceback" not in err
    assert err.strip().count("\n") <= 2, err  # one sentence (click may add a usage line)
    assert snapshot(tmp_path) == before, case


def test_there_are_at_least_60_cases():
    assert len(CASES) >= 60


def test_the_python_api_refuses_non_finite_and_negative_settings(trained_run):
    import torch

    import aekit

    model = aekit.load(trained_run)
    X = np.zeros((4, 1, 8, 8), dtype=np.float32)
    for bad in (np.nan, np.inf, -1.0):
        with pytest.raises(ValueError, match="noise_std"):
            model.reconstruct(X, noise_std=bad)
        with pytest.raises(ValueError, match="noise_std"):
            model.sample_chain(4, noise_std=bad)
    vae = aekit.VAE(2, hidden=(8,), epochs=1, random_state=0).fit(X.reshape(4, -1) + 0.5)
    for bad in (-1, 0, 2.5):
        with pytest.raises(ValueError, match="batch_size"):
            vae.log_likelihood(X.reshape(4, -1), n_samples=2, batch_size=bad)
    # a tensor that carries a graph is read, not refused with a torch error
    tensor = torch.zeros(4, 1, 8, 8, requires_grad=True)
    assert model.transform(tensor).shape == (4, 2)


def test_a_bernoulli_likelihood_refuses_values_outside_the_unit_interval(tmp_path, capsys):
    """A Bernoulli decoder models values in [0, 1]: standardised table values are
    refused in one sentence (they trained with a note before), min-max ones train;
    dynamic binarisation asks for the Bernoulli likelihood it draws data for."""
    import aekit
    from aekit.errors import DataError

    X = (np.random.default_rng(0).normal(size=(60, 5)) * 10).astype(np.float32)
    for model in (
        aekit.Autoencoder(2, hidden=(8,), epochs=1, likelihood="bernoulli"),
        aekit.VAE(2, hidden=(8,), epochs=1, likelihood="bernoulli", binarize="dynamic"),
    ):
        with pytest.raises(DataError, match=r"values in \[0, 1\].*holds values in \[-"):
            model.fit(X)
        model.set_params(scale="minmax").fit(X)  # the same data, scaled into [0, 1]
    with pytest.raises(ValueError, match="binarize='dynamic' draws binary data"):
        aekit.VAE(2, epochs=1, binarize="dynamic").fit(np.clip(X, 0, 1))
    table = tmp_path / "table.csv"
    np.savetxt(table, X, delimiter=",")
    code = main(["train", "vae", "--data", str(table), "--likelihood", "bernoulli",
                 "--out", str(tmp_path / "r"), "--epochs", "1", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "Bernoulli likelihood models values in [0, 1]" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
