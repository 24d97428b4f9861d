"""Pictures and the one-page report: the CLI's sample / interpolate / report
commands, the HTML file (every embedded PNG decodes; in headless Chromium, when
installed, every image is displayed), and TensorBoard scalars."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import aekit
from aekit.cli.main import main

FAST = ["--epochs", "2", "--hidden", "32", "--latent-dim", "4", "--quiet"]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: faster on one thread, above all on a busy machine
    yield
    torch.set_num_threads(threads)


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Small digits runs of every neural kind (trained once for the module)."""
    root = tmp_path_factory.mktemp("runs")
    made = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for kind, extra in [("ae", []), ("dae", ["--noise-std", "0.3"]), ("vae", [])]:
            code = main(["train", kind, "--out", str(root / kind), *FAST, *extra])
            assert code == 0
            made[kind] = root / kind
    finally:
        torch.set_num_threads(threads)
    return made


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.headings, self._in_h2 = [], [], [], False
        self.in_noscript = []  # whether each image is shown only with scripts off
        self._noscript = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
            self.in_noscript.append(self._noscript)
        self._noscript = self._noscript or tag == "noscript"
        if tag in ("link", "a", "iframe") or "href" in attrs or "src" in attrs and tag != "img":
            self.links.append((tag, attrs))  # inline scripts are fine, fetched ones are not
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)

    def handle_endtag(self, tag):
        self._in_h2 = False
        self._noscript = self._noscript and tag != "noscript"


def read_report(path: Path) -> _Images:
    parser = _Images()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def decode_all(parser: _Images) -> list[Image.Image]:
    """Every <img> must be an embedded PNG that Pillow decodes."""
    images = []
    for attrs in parser.images:
        src = attrs["src"]
        assert src.startswith("data:image/png;base64,"), src[:60]
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        im = Image.open(io.BytesIO(raw))
        im.load()
        assert im.format == "PNG" and im.width > 50 and im.height > 50
        images.append(im)
    return images


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("ae", ["Samples: prior", "Samples: gaussian", "Samples: gmm", "Latent traversals"]),
        ("dae", ["Samples: chain"]),
        ("vae", ["Samples: prior", "Spherical interpolation"]),
    ],
)
def test_report_is_one_self_contained_page(runs, kind, expected, capsys):
    run = runs[kind]
    code, out, err = run_cli(["report", run], capsys)
    assert code == 0, err
    page = Path(out.strip())
    assert page == run / "report.html"
    parser = read_report(page)
    assert parser.links == []  # no scripts, styles, fonts or links to fetch
    assert "http://" not in page.read_text() and "https://" not in page.read_text()
    images = decode_all(parser)
    for title in [
        "Configuration",
        "Final metrics",
        "Reconstructions",
        "Training curves",
        "Code map",
        "Interpolation",
        *expected,
    ]:
        assert title in parser.headings, title
    assert len(images) == len(parser.headings) - 2  # one figure per section after the tables
    text = page.read_text()
    assert "latent_dim" in text and "mse" in text and "last epoch train_loss" in text
    assert len(list((run / "figures").glob("*.png"))) == len(images)


def test_report_of_vector_data(tmp_path, capsys):
    X = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)
    np.save(tmp_path / "vectors.npy", X)
    run = tmp_path / "run"
    args = ["train", "ae", "--data", tmp_path / "vectors.npy", "--out", run, *FAST]
    assert run_cli(args, capsys)[0] == 0
    code, out, err = run_cli(["report", run], capsys)
    assert code == 0, err
    parser = read_report(Path(out.strip()))
    decode_all(parser)
    assert "Samples: gmm" in parser.headings
    code, out, err = run_cli(["sample", run, "-n", "50", "--out", tmp_path / "s.png"], capsys)
    assert code == 0, err
    assert Image.open(tmp_path / "s.png").width > 100


def test_report_of_a_pca_run(tmp_path, capsys):
    run = tmp_path / "pca"
    code, _, err = run_cli(["train", "pca", "--out", run, "--latent-dim", "5", "--quiet"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["report", run], capsys)
    assert code == 0, err
    parser = read_report(Path(out.strip()))
    decode_all(parser)
    assert "Scree plot" in parser.headings and "Code map" in parser.headings
    assert "Components" in parser.headings  # digits are images: components drawn as such


CHECK_SCRIPT = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const shown = imgs.filter(i => i.complete && i.naturalWidth > 0 &&
      i.getBoundingClientRect().width > 0 && getComputedStyle(i).display !== "none" &&
      getComputedStyle(i).visibility !== "hidden");
  const out = document.createElement("pre");
  out.id = "aekit-check";
  out.textContent = "IMAGES " + shown.length + "/" + imgs.length;
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def test_report_displays_in_headless_chromium(runs, tmp_path, capsys):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium installed (apt-get install chromium to run this check)")
    code, out, err = run_cli(["report", runs["vae"], "--out", tmp_path / "r.html"], capsys)
    assert code == 0, err
    page = Path(out.strip())
    n_images = read_report(page).in_noscript.count(False)  # with scripts on
    probe = tmp_path / "probe.html"  # the report plus a script that counts displayed images
    probe.write_text(page.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r"IMAGES (\d+)/(\d+)", proc.stdout)
    assert found, proc.stderr[-2000:]
    assert int(found.group(2)) == n_images > 5
    assert found.group(1) == found.group(2)  # every image decoded and displayed


# -- sample and interpolate ----------------------------------------------------------------
def test_sample_command_writes_pictures_and_arrays(runs, tmp_path, capsys):
    png, npy = tmp_path / "samples.png", tmp_path / "samples.npy"
    args = ["sample", runs["ae"], "-n", "64", "--method", "gmm", "--out", png, "--npy", npy]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert out.strip() == str(png)
    assert Image.open(png).width > 300
    assert np.load(npy).shape == (64, 1, 8, 8)
    code, out, err = run_cli(["sample", runs["dae"], "--method", "chain", "-n", "8"], capsys)
    assert code == 0, err
    assert Path(out.strip()) == runs["dae"] / "samples-chain.png"
    code, out, err = run_cli(["sample", runs["vae"], "-n", "8"], capsys)  # prior by default
    assert code == 0 and Path(out.strip()).name == "samples-prior.png"
    cold = ["sample", runs["vae"], "-n", "8", "--temperature", "0", "--npy", npy]
    code, out, err = run_cli(cold, capsys)
    assert code == 0, err
    frozen = np.load(npy)  # every draw is the prior's centre, decoded
    np.testing.assert_array_equal(frozen, np.broadcast_to(frozen[:1], frozen.shape))


def test_sample_errors_are_one_sentence(runs, capsys):
    code, _, err = run_cli(["sample", runs["ae"], "--method", "chain"], capsys)
    assert code == 2 and "needs a corruption" in err and "Traceback" not in err
    code, _, err = run_cli(["sample", runs["ae"], "--method", "magic"], capsys)
    assert code == 2 and "Invalid value for '--method'" in err
    code, _, err = run_cli(
        ["sample", runs["dae"], "--method", "chain", "--temperature", "2"], capsys
    )
    assert code == 2 and "--temperature applies to code draws" in err
    code, _, err = run_cli(["sample", runs["vae"], "--temperature", "-1"], capsys)
    assert code == 2 and "Invalid value for '--temperature'" in err


def test_interpolate_command(runs, tmp_path, capsys):
    out_png = tmp_path / "i.png"
    code, out, err = run_cli(["interpolate", runs["ae"], "--pairs", "3", "--out", out_png], capsys)
    assert code == 0, err
    assert Image.open(out_png).height > 100
    code, out, err = run_cli(["interpolate", runs["vae"], "--prior"], capsys)
    assert code == 0, err
    assert Path(out.strip()) == runs["vae"] / "interpolation.png"


# -- TensorBoard -----------------------------------------------------------------------------
def test_tensorboard_scalars_match_the_history(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    code, _, err = run_cli(["train", "ae", "--out", run, "--tensorboard", *FAST], capsys)
    assert code == 0, err
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    history = aekit.load(run).history_
    tags = events.Tags()["scalars"]
    assert {"loss/train", "loss/val", "mse/train", "mse/val", "lr"} <= set(tags)
    for key, tag in [("train_loss", "loss/train"), ("val_mse", "mse/val")]:
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [h["epoch"] for h in history]
        np.testing.assert_allclose([s.value for s in scalars], [h[key] for h in history], 1e-6)


def test_missing_tensorboard_is_one_clear_sentence(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    run = tmp_path / "run"
    code, _, err = run_cli(["train", "ae", "--out", run, "--tensorboard", *FAST], capsys)
    assert code == 2 and "pip install 'aekit[tensorboard]'" in err and "Traceback" not in err
    assert not run.exists()  # failed before writing anything
    from aekit import Autoencoder
    from aekit.errors import AekitError
    from aekit.training.epoch_log import TensorBoardScalars

    X = np.random.default_rng(0).random((20, 4), dtype=np.float32)
    with pytest.raises(AekitError, match="optional tensorboard package"):
        Autoencoder(hidden=(4,), epochs=1).fit(X, callbacks=[TensorBoardScalars(tmp_path / "tb")])
    if hasattr(aekit, "PCA"):
        code, _, err = run_cli(["train", "pca", "--tensorboard", "--out", run], capsys)
        assert code == 2 and "--tensorboard does not apply to 'pca'" in err


def test_figures_are_written_for_the_python_api(tmp_path):
    from aekit.runs import figures

    history = [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "train_kl": 0.1, "lr": 1e-3}
        for e in range(1, 6)
    ]
    assert figures.training_curves(history, tmp_path / "c.png").exists()
    assert figures.training_curves([], tmp_path / "none.png") is None
    assert figures.scree_plot([0.5, 0.3, 0.1], tmp_path / "s.png").exists()
    Z = np.random.default_rng(0).normal(size=(100, 5))
    y = np.arange(100) % 10
    for d in (1, 2, 5):
        assert figures.code_map(Z[:, :d], tmp_path / f"m{d}.png", labels=y).exists()
    for path in tmp_path.glob("*.png"):
        with Image.open(path) as im:
            im.load()


def test_a_mixture_prior_vae_is_drawn_and_captioned_with_its_own_prior(tmp_path):
    from aekit.data import load_data
    from aekit.runs.report import make_figures

    data = load_data("digits")
    vae = aekit.VAE(
        4, prior="mixture", prior_components=3, hidden=(32,), epochs=2, random_state=0
    ).fit(data.train.X)
    figures = make_figures(vae, "vae", data, tmp_path, seed=0)
    captions = {f.title: f.caption for f in figures}
    assert "learned Gaussian mixture" in captions["Samples: prior"]
    assert not any("N(0, I)" in c for c in captions.values())
    assert "Linear interpolation" in captions and "prior" in captions["Linear interpolation"]
    # the report's prior paths are the library's: the same seed gives the same picture
    strips = vae.interpolate_prior(5, 10, random_state=0)
    again = vae.interpolate_prior(5, 10, method="linear", random_state=0)
    np.testing.assert_array_equal(strips, again)


def test_the_report_marks_the_unused_code_dimensions_of_a_vae(tmp_path):
    from aekit.data import load_data
    from aekit.runs.report import make_figures

    data = load_data("digits")
    # σ = 1 on data in [0, 1]: most of the code collapses to the prior
    # from a random start (PCA's puts every unit in use, and 5 epochs keep it so)
    vae = aekit.VAE(8, sigma=1.0, hidden=(32,), epochs=5, random_state=0, start="random")
    vae.fit(data.train.X)
    active = vae.active_units(data.test.X)
    assert (~active).sum() >= 4
    captions = {f.title: f.caption for f in make_figures(vae, "vae", data, tmp_path)}
    assert f"{int((~active).sum())} of 8 dimensions are unused" in captions["Latent traversals"]
    assert "plain autoencoder" not in captions["Samples: prior"]
