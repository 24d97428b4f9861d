"""The report's interactive code map without a browser: which examples it draws,
where, in which colour, and the examples and reconstructions it carries."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from aekit import PCA, VAE, VQVAE, Autoencoder
from aekit.data.sources import load_data
from aekit.runs.code_map import draw_code_map, drawn_rows


def payload(html: str) -> dict:
    """The JSON block of the map's fragment, as the page's script reads it."""
    found = re.search(r'<script type="application/json" id="aekit-map-data">(.*?)</script>', html)
    assert found, "no data block"
    return json.loads(found.group(1))


def sheet_tile(uri: str, i: int, ex: dict) -> np.ndarray:
    raw = base64.b64decode(uri.split(",", 1)[1])
    sheet = np.asarray(Image.open(io.BytesIO(raw)))
    r, c = divmod(i, ex["cols"])
    return sheet[r * ex["h"] : (r + 1) * ex["h"], c * ex["w"] : (c + 1) * ex["w"]]


@pytest.fixture(scope="module")
def digits_small():
    test = load_data("digits").test
    return test.X[:120], test.y[:120]


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))).astype(np.float32)


def test_at_most_max_points_drawn_a_seeded_sample():
    a, b, c = drawn_rows(5000, 0, 2000), drawn_rows(5000, 0, 2000), drawn_rows(5000, 1, 2000)
    assert len(a) == 2000 == len(np.unique(a)) and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(drawn_rows(40, 0, 2000), np.arange(40))


def test_points_are_the_first_two_principal_components_of_the_codes(vectors, tmp_path):
    model = PCA(4).fit(vectors)
    cmap = draw_code_map(model, vectors, None, "test", tmp_path, seed=3, max_points=100)
    data = payload(cmap.html)
    rows = np.asarray(data["index"])
    np.testing.assert_array_equal(rows, drawn_rows(300, 3, 100))
    assert cmap.n_drawn == 100 == len(data["x"]) == len(data["y"])
    assert "100 of the 300 test examples (a random sample, seed 3)" in cmap.caption
    Z = model.transform(vectors[rows]).astype(np.float64)
    Z -= Z.mean(0)
    _, _, Vt = np.linalg.svd(Z, full_matrices=False)  # PCA by hand
    expected = Z @ Vt[:2].T
    shown = np.c_[data["x"], data["y"]]
    for j in range(2):  # a principal axis has no sign of its own
        sign = np.sign(expected[:, j] @ shown[:, j])
        np.testing.assert_allclose(shown[:, j], sign * expected[:, j], rtol=1e-3, atol=1e-3)
    # no labels: coloured by the model's outlier score, the threshold beside it
    colour = data["colour"]
    assert colour["by"] == "score" and colour["offset"] == pytest.approx(model.offset_)
    np.testing.assert_allclose(colour["values"], model.score_samples(vectors[rows]), rtol=1e-3)
    assert len(colour["colours"]) == 100 and colour["lo"] < colour["hi"]
    # a table's examples travel as numbers: the row and its reconstruction
    ex = data["examples"]
    assert ex["kind"] == "vector" and ex["width"] == 6
    np.testing.assert_allclose(np.reshape(ex["values"], (100, 6)), vectors[rows], rtol=1e-3)
    recon = model.inverse_transform(model.transform(vectors[rows]))
    np.testing.assert_allclose(np.reshape(ex["recon"], (100, 6)), recon, rtol=1e-3, atol=1e-6)
    assert cmap.path.exists() and Image.open(cmap.path).width > 300  # the static map


def test_two_dimensional_codes_are_drawn_as_they_are(vectors, tmp_path):
    model = PCA(2).fit(vectors)
    data = payload(draw_code_map(model, vectors, None, "val", tmp_path).html)
    Z = model.transform(vectors)
    np.testing.assert_allclose(np.c_[data["x"], data["y"]], Z, rtol=1e-3, atol=1e-4)
    assert data["axes"] == ["z₁", "z₂"]


def test_images_travel_as_sprites_with_their_labels(digits_small, tmp_path):
    X, y = digits_small
    model = Autoencoder(latent_dim=3, hidden=(16,), epochs=2, random_state=0).fit(X)
    data = payload(draw_code_map(model, X, y, "test", tmp_path).html)
    colour, ex = data["colour"], data["examples"]
    assert colour["by"] == "label" and colour["classes"] == [str(c) for c in np.unique(y)]
    assert [colour["classes"][k] for k in colour["of"]] == [str(c) for c in y]
    assert ex["kind"] == "image" and (ex["h"], ex["w"]) == (8, 8)
    recon = model.inverse_transform(model.transform(X))
    for i in (0, 17, len(X) - 1):
        tile = sheet_tile(ex["original"], i, ex)
        np.testing.assert_array_equal(tile, np.rint(X[i, 0] * 255))
        tile = sheet_tile(ex["reconstruction"], i, ex)
        np.testing.assert_allclose(tile, np.rint(np.clip(recon[i, 0], 0, 1) * 255), atol=1)


def test_a_vqvae_maps_its_quantised_vectors_and_a_conditional_model_its_codes_given_y(
    digits_small, tmp_path
):
    X, y = digits_small
    vq = VQVAE(epochs=1, random_state=0).fit(X)
    data = payload(draw_code_map(vq, X, None, "test", tmp_path).html)
    assert len(data["x"]) == len(X) and data["colour"]["by"] == "score"
    cvae = VAE(latent_dim=2, hidden=(16,), epochs=1, conditional=True, random_state=0)
    cvae.fit(X, y)
    data = payload(draw_code_map(cvae, X, y, "test", tmp_path).html)
    np.testing.assert_allclose(
        np.c_[data["x"], data["y"]], cvae.transform(X, y), rtol=1e-3, atol=1e-4
    )


def test_no_text_of_the_data_ends_the_script_early(tmp_path):
    X = np.random.default_rng(1).normal(size=(30, 3)).astype(np.float32)
    y = np.array(["</script><b>x"] * 15 + ["ok"] * 15)
    cmap = draw_code_map(PCA(2).fit(X), X, y, "test", tmp_path)
    assert cmap.html.count("</script>") == 2  # the data block's and the script's own
    assert payload(cmap.html)["colour"]["classes"] == ["</script><b>x", "ok"]
