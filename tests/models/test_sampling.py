"""Sampling: code densities against independent computations, the denoising chain,
paths in code space, persistence of the densities, and the issue's "must show"
claims measured by a Fréchet distance on the bundled digits."""

from __future__ import annotations

import contextlib
import json
import math
import warnings

import numpy as np
import pytest
import torch
from scipy import linalg, stats
from sklearn.mixture import GaussianMixture
from sklearn.neural_network import MLPClassifier

import aekit
from aekit import VAE, Autoencoder, DenoisingAutoencoder
from aekit.data import load_data
from aekit.models.code_densities import GaussianDensity, MixtureDensity
from aekit.models.code_paths import interpolate_codes, traversal_codes
from aekit.models.generation import markov_chain
from aekit.models.outliers import offset_from
from aekit.runs.sample_scores import class_entropy, frechet_distance

SMALL = dict(latent_dim=2, hidden=(8,), epochs=2, batch_size=16, random_state=0, device="cpu")


@contextlib.contextmanager
def one_thread():
    """Tiny networks run faster on one thread, above all on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


# -- densities -------------------------------------------------------------------------------
def test_gaussian_density_is_the_ml_fit_and_its_log_density_is_scipys():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(500, 3)) @ np.array([[2, 0, 0], [1, 1, 0], [0, 0.5, 0.2]]) + 5
    g = GaussianDensity.fit(Z)
    np.testing.assert_allclose(g.mean, Z.mean(0))
    ridge = 1e-6 * np.var(Z, axis=0).mean()  # the documented regulariser
    np.testing.assert_allclose(g.covariance - ridge * np.eye(3), np.cov(Z, rowvar=False, bias=True))
    expected = stats.multivariate_normal(g.mean, g.covariance).logpdf(Z[:20])
    np.testing.assert_allclose(g.log_prob(Z[:20]), expected, rtol=1e-10)
    draws = g.sample(200_000, np.random.default_rng(1))
    np.testing.assert_allclose(draws.mean(0), g.mean, atol=0.02)
    np.testing.assert_allclose(np.cov(draws, rowvar=False), g.covariance, rtol=0.02, atol=0.01)


def _three_clusters(n=600, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [6, 0], [0, 6]])
    return np.concatenate([rng.normal(size=(n // 3, 2)) * 0.7 + c for c in centres])


def test_bic_finds_three_clusters_and_the_mixture_density_is_sklearns():
    Z = _three_clusters()
    m = MixtureDensity.fit(Z, random_state=0)
    assert m.n_components == 3
    assert [k for k, _ in m.bic] == list(range(1, 11))
    assert min(m.bic, key=lambda kb: kb[1])[0] == 3
    gm = GaussianMixture(3, covariance_type="full", random_state=0).fit(Z)
    ours = MixtureDensity(gm.weights_, gm.means_, gm.covariances_)
    np.testing.assert_allclose(ours.log_prob(Z[:50]), gm.score_samples(Z[:50]), rtol=1e-10)


def test_mixture_draws_follow_the_weights_and_components():
    m = MixtureDensity([0.2, 0.8], [[-10.0], [10.0]], [[[1.0]], [[4.0]]])
    draws = m.sample(100_000, np.random.default_rng(0))[:, 0]
    left = draws[draws < 0]
    assert len(left) / len(draws) == pytest.approx(0.2, abs=0.01)
    assert left.std() == pytest.approx(1.0, abs=0.03)
    assert draws[draws > 0].std() == pytest.approx(2.0, abs=0.03)


def test_temperature_scales_the_spread_of_every_code_density():
    g = GaussianDensity([1.0, -2.0], [[4.0, 1.0], [1.0, 2.0]])
    draws = g.sample(200_000, np.random.default_rng(0), temperature=0.5)
    np.testing.assert_allclose(draws.mean(0), g.mean, atol=0.01)
    np.testing.assert_allclose(np.cov(draws, rowvar=False), 0.25 * g.covariance, rtol=0.02)
    m = MixtureDensity([0.5, 0.5], [[-10.0], [10.0]], [[[4.0]], [[1.0]]])
    draws = m.sample(100_000, np.random.default_rng(0), temperature=0.5)[:, 0]
    assert draws[draws < 0].std() == pytest.approx(1.0, abs=0.03)  # 0.5 * 2
    assert draws[draws > 0].mean() == pytest.approx(10.0, abs=0.01)  # means stay


def test_n_components_can_be_given_and_is_checked():
    Z = _three_clusters()
    assert MixtureDensity.fit(Z, 5).n_components == 5
    assert MixtureDensity.fit(Z, 5).bic == []
    with pytest.raises(ValueError, match="n_components must be 'bic' or an integer"):
        MixtureDensity.fit(Z, 0)
    with pytest.raises(ValueError, match="n_components must be 'bic' or an integer"):
        MixtureDensity.fit(Z[:3], 4)


def test_densities_round_trip_through_json_exactly():
    Z = _three_clusters()
    for density in (GaussianDensity.fit(Z), MixtureDensity.fit(Z, random_state=0)):
        again = type(density).from_dict(json.loads(json.dumps(density.to_dict())), 2)
        for key, value in density.to_dict().items():
            assert again.to_dict()[key] == value
        assert np.array_equal(
            again.sample(10, np.random.default_rng(3)), density.sample(10, np.random.default_rng(3))
        )
    bad = GaussianDensity.fit(Z).to_dict()
    bad["covariance"][0][0] = float("nan")
    with pytest.raises(ValueError, match="finite numbers"):
        GaussianDensity.from_dict(bad, 2)


# -- scores ----------------------------------------------------------------------------------
def test_frechet_distance_matches_the_sqrtm_formula():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))
    B = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5)) + 1
    ca, cb = np.cov(A, rowvar=False), np.cov(B, rowvar=False)
    root = linalg.sqrtm(ca @ cb).real
    expected = ((A.mean(0) - B.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * root)
    assert frechet_distance(A, B) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(A, A) == pytest.approx(0, abs=1e-8)
    assert frechet_distance(A, A + 3) == pytest.approx(5 * 9, rel=1e-8)


def test_class_entropy():
    assert class_entropy(np.arange(10).repeat(5), 10) == pytest.approx(math.log(10))
    assert class_entropy(np.zeros(7, dtype=int), 10) == 0


# -- paths and the chain ---------------------------------------------------------------------
def test_linear_and_spherical_interpolation():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    lin = interpolate_codes(a, b, 5)
    np.testing.assert_allclose(lin[[0, 2, -1]], [a, (a + b) / 2, b])
    sph = interpolate_codes(a, b, 5, "spherical")
    np.testing.assert_allclose(sph[[0, -1]], [a, b], atol=1e-12)
    np.testing.assert_allclose(sph[2], (a + b) / np.sqrt(2))
    np.testing.assert_allclose(np.linalg.norm(sph, axis=1), 1.0)  # stays on the circle
    np.testing.assert_allclose(interpolate_codes(a, 2 * a, 3, "spherical"), [a, 1.5 * a, 2 * a])
    batch = interpolate_codes(np.ones((4, 3)), np.zeros((4, 3)), 6, "spherical")
    assert batch.shape == (4, 6, 3)
    with pytest.raises(ValueError, match="method must be one of linear, spherical"):
        interpolate_codes(a, b, 5, "cubic")


def test_traversal_moves_one_dimension_at_a_time():
    center, scale = np.array([1.0, 2.0, 3.0]), np.array([1.0, 10.0, 0.5])
    T = traversal_codes(center, scale, [0, 2], n_steps=5, span=2.0)
    assert T.shape == (2, 5, 3)
    np.testing.assert_allclose(T[0, :, 0], [-1, 0, 1, 2, 3])
    np.testing.assert_allclose(T[1, :, 2], [2, 2.5, 3, 3.5, 4])
    np.testing.assert_allclose(T[0, :, 1:], np.broadcast_to([2.0, 3.0], (5, 2)))


def test_markov_chain_burn_in_and_thinning():
    def step(x):  # the state counts steps; what is shown is the count times ten
        return x + 1, 10 * (x + 1)

    out = markov_chain(step, torch.zeros(3), 7, burn_in=4, thin=2)
    np.testing.assert_array_equal(out.numpy(), [60, 60, 60, 80, 80, 80, 100])
    with pytest.raises(ValueError, match="thin"):
        markov_chain(step, torch.zeros(3), 7, thin=0)


# -- the estimators --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_images():
    return np.random.default_rng(0).random((60, 1, 6, 6), dtype=np.float32)


@pytest.mark.parametrize("cls", [Autoencoder, DenoisingAutoencoder, VAE])
def test_every_method_samples_reproducibly_in_the_input_shape(cls, small_images):
    model = cls(**{**SMALL, "noise_std": 0.3} if cls is DenoisingAutoencoder else SMALL)
    model.fit(small_images)
    methods = ["prior", "gaussian", "gmm"] + (["chain"] if cls is DenoisingAutoencoder else [])
    for method in methods:

        def draw(seed: int, method: str = method) -> np.ndarray:
            if method == "chain":
                return model.sample_chain(5, random_state=seed, burn_in=2, thin=1)
            return model.sample(5, method=method, random_state=seed)

        a = draw(3)
        assert a.shape == (5, 1, 6, 6) and a.dtype == np.float32, method
        np.testing.assert_array_equal(a, draw(3))
        assert not np.array_equal(a, draw(4))
    assert model.sample(3, random_state=0, mean=False).shape == (3, 1, 6, 6)


def test_default_methods_and_clear_errors(small_images):
    ae = Autoencoder(**SMALL).fit(small_images)
    vae = VAE(**SMALL).fit(small_images)
    np.testing.assert_array_equal(
        ae.sample(4, random_state=1), ae.sample(4, method="gmm", random_state=1)
    )
    np.testing.assert_array_equal(
        vae.sample(4, random_state=1), vae.sample(4, method="prior", random_state=1)
    )
    with pytest.raises(ValueError, match="chain sampler needs a corruption"):
        ae.sample_chain(4)
    assert ae.sample_chain(4, noise_std=0.2, burn_in=1).shape == (4, 1, 6, 6)
    with pytest.raises(ValueError, match="method must be one of"):
        ae.sample(4, method="magic")
    with pytest.raises(ValueError, match="n must be"):
        ae.sample(0)
    # temperature: 0 decodes the density's centre only; 1 is the default
    frozen = vae.sample(4, method="prior", random_state=1, temperature=0.0)
    np.testing.assert_array_equal(frozen, np.broadcast_to(frozen[:1], frozen.shape))
    centre = vae._decode(torch.zeros(1, 2))
    np.testing.assert_allclose(frozen[0], np.reshape(centre, frozen[0].shape), rtol=1e-5)
    np.testing.assert_array_equal(
        vae.sample(4, random_state=1, temperature=1.0), vae.sample(4, random_state=1)
    )
    assert not np.array_equal(
        vae.sample(4, random_state=1, temperature=0.5), vae.sample(4, random_state=1)
    )
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        vae.sample(4, temperature=-1.0)
    dae = DenoisingAutoencoder(**{**SMALL, "noise_std": 0.2}).fit(small_images)
    with pytest.raises(ValueError, match="temperature applies to code draws"):
        dae.sample(4, method="chain", temperature=0.5)


def test_the_chain_starts_where_asked(small_images):
    dae = DenoisingAutoencoder(**{**SMALL, "noise_std": 0.1}).fit(small_images)
    start = small_images[:2]
    out = dae.sample_chain(4, start=start, burn_in=0, thin=1, random_state=0)
    assert out.shape == (4, 1, 6, 6)
    with pytest.raises(ValueError):
        dae.sample_chain(4, start=np.zeros((2, 5)))


def test_the_code_density_is_saved_as_numbers_and_reloaded(small_images, tmp_path):
    model = Autoencoder(**SMALL).fit(small_images)
    model.fit_latent_density(small_images, n_components=3)
    assert model.latent_density_["gmm"].n_components == 3
    model.save(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())["fitted"]["latent_density_"]
    assert set(saved) == {"gaussian", "gmm"}
    assert len(saved["gmm"]["weights"]) == 3 and isinstance(saved["gmm"]["means"][0][0], float)
    again = aekit.load(tmp_path)
    for method in ("gaussian", "gmm"):
        np.testing.assert_array_equal(
            again.sample(6, method=method, random_state=0),
            model.sample(6, method=method, random_state=0),
        )
    config = json.loads((tmp_path / "config.json").read_text())
    del config["fitted"]["latent_density_"]  # a model saved before densities existed
    old = Autoencoder(**{**SMALL})
    from aekit.storage.safe_files import load_tensors

    tensors = load_tensors(tmp_path / "model.safetensors")[0]
    del tensors["training_codes_"]
    old._restore(config["fitted"], tensors)
    with pytest.raises(ValueError, match="call fit_latent_density"):
        old.sample(2, method="gmm")
    assert old.sample(2, method="prior").shape == (2, 1, 6, 6)


def test_fit_fits_no_mixture_and_the_lazy_density_survives_save(
    small_images, tmp_path, monkeypatch
):
    """fit keeps training codes only; the first sample fits the densities to them,
    and a model saved before that samples exactly like one saved after."""
    from aekit.models.code_densities import MixtureDensity

    fits = []
    real_fit = MixtureDensity.fit.__func__
    monkeypatch.setattr(
        MixtureDensity,
        "fit",
        classmethod(lambda cls, *a, **k: fits.append(1) or real_fit(cls, *a, **k)),
    )
    model = Autoencoder(**SMALL).fit(small_images)
    assert fits == [] and model.latent_density_ is None
    assert model.training_codes_.shape == (len(small_images), SMALL["latent_dim"])
    model.save(tmp_path / "before")
    draws = model.sample(5, method="gmm", random_state=3)
    assert len(fits) == 1
    model.sample(5, method="gmm", random_state=3)
    assert len(fits) == 1  # fitted once, then kept
    model.save(tmp_path / "after")
    after = aekit.load(tmp_path / "after")
    np.testing.assert_array_equal(after.sample(5, method="gmm", random_state=3), draws)
    assert len(fits) == 1  # saved densities are read back, not refitted
    before = aekit.load(tmp_path / "before")
    np.testing.assert_array_equal(before.sample(5, method="gmm", random_state=3), draws)


def test_training_codes_are_a_bounded_subsample(monkeypatch):
    import aekit.models.estimator

    monkeypatch.setattr(aekit.models.estimator, "TRAINING_SAMPLE", 50)
    X = np.random.default_rng(0).random((120, 6), dtype=np.float32)
    model = Autoencoder(latent_dim=2, hidden=(8,), epochs=1, random_state=0).fit(X)
    assert model.training_codes_.shape == (50, 2)
    # each kept code is the code of one distinct training row (to rounding: the kept
    # codes come from other batches than transform's)
    gaps = np.abs(model.transform(X)[:, None, :] - model.training_codes_[None]).max(-1)
    rows = gaps.argmin(0)
    assert np.all(gaps.min(0) < 1e-5) and len(set(rows.tolist())) == 50


def test_interpolate_and_traverse(small_images):
    model = Autoencoder(**SMALL).fit(small_images)
    a, b = small_images[0], small_images[1]
    path = model.interpolate(a, b, 7)
    assert path.shape == (7, 1, 6, 6)
    np.testing.assert_allclose(path[0], model.reconstruct(a[None])[0], atol=1e-6)
    np.testing.assert_allclose(path[-1], model.reconstruct(b[None])[0], atol=1e-6)
    strips = model.interpolate(small_images[:3], small_images[3:6], 4, method="spherical")
    assert strips.shape == (3, 4, 1, 6, 6)
    with pytest.raises(ValueError, match="as many examples"):
        model.interpolate(small_images[:3], small_images[3:5])
    T = model.traverse(a, dims=[1], n_steps=5)
    assert T.shape == (1, 5, 1, 6, 6)
    np.testing.assert_allclose(T[0, 2], model.reconstruct(a[None])[0], atol=1e-6)
    assert model.traverse().shape == (2, 7, 1, 6, 6)
    with pytest.raises(ValueError, match="dims must be code dimensions"):
        model.traverse(dims=[2])


def test_vectors_sample_too():
    X = np.random.default_rng(0).normal(size=(80, 5)).astype(np.float32)
    model = Autoencoder(**SMALL).fit(X)
    assert model.sample(4, method="gmm", random_state=0).shape == (4, 5)
    assert model.interpolate(X[0], X[1], 3).shape == (3, 5)


# -- must show: sample quality on digits -----------------------------------------------------
class DigitScore:
    """Fréchet distance to the digits test set in the hidden layer of a small MLP
    classifier trained on the training split (the benchmark's score, in small)."""

    def __init__(self):
        data = load_data("digits")
        self.train, self.test = data.train, data.test
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.clf = MLPClassifier((64,), max_iter=300, random_state=0)
            self.clf.fit(self.train.X.reshape(len(self.train.X), -1), self.train.y)
        self.test_features = self.features(self.test.X)

    def features(self, X):
        X = X.reshape(len(X), -1)
        return np.maximum(X @ self.clf.coefs_[0] + self.clf.intercepts_[0], 0)

    def fd(self, samples):
        return frechet_distance(self.features(samples), self.test_features)

    def entropy(self, samples):
        return class_entropy(self.clf.predict(samples.reshape(len(samples), -1)), 10)


@pytest.fixture(scope="module")
def digits_models():
    score = DigitScore()
    assert score.clf.score(score.test.X.reshape(len(score.test.X), -1), score.test.y) > 0.93
    common = dict(hidden=(128,), latent_dim=4, lr=3e-3, batch_size=128, device="cpu")
    X = score.train.X
    with one_thread():
        # codes left off the prior: PCA's whitened start (start="auto") puts them near
        # it, and the fitted densities' gain over prior sampling is what is tested here
        ae = Autoencoder(epochs=30, random_state=0, start="random", **common).fit(X)
        vae = VAE(likelihood="bernoulli", epochs=40, random_state=0, **common).fit(X)
        dae = DenoisingAutoencoder(
            likelihood="bernoulli", noise_std=0.3, epochs=30, random_state=0, **common
        ).fit(X)
    return score, ae, vae, dae


def test_ae_gmm_samples_beat_prior_samples_and_vae_prior_is_comparable(digits_models):
    score, ae, vae, _ = digits_models
    fd = {
        "ae prior": score.fd(ae.sample(1000, method="prior", random_state=1)),
        "ae gaussian": score.fd(ae.sample(1000, method="gaussian", random_state=1)),
        "ae gmm": score.fd(ae.sample(1000, method="gmm", random_state=1)),
        "vae prior": score.fd(vae.sample(1000, method="prior", random_state=1)),
        "train set": score.fd(score.train.X),
    }
    print(fd)
    assert fd["ae gmm"] < fd["ae prior"] / 3  # the fitted density fixes the AE's sampling
    assert fd["ae gmm"] <= fd["ae gaussian"] * 1.1
    # comparable: the VAE's prior samples sit with the AE's GMM samples, far from the AE's
    # prior samples (closer on a log scale, and within a factor of 3)
    assert fd["vae prior"] < 3 * fd["ae gmm"]
    log_gap_to_gmm = abs(math.log(fd["vae prior"] / fd["ae gmm"]))
    assert log_gap_to_gmm < math.log(fd["ae prior"] / fd["vae prior"])
    assert score.entropy(vae.sample(1000, random_state=1)) > 0.9 * math.log(10)


def test_the_dae_chain_stays_on_the_digit_manifold(digits_models):
    score, ae, _, dae = digits_models
    noise = np.random.default_rng(0).random(score.test.X.shape, dtype=np.float32)
    options = dict(reconstruction="sample", n_chains=500, thin=1, random_state=1)
    early = dae.sample_chain(500, burn_in=20, **options)
    late = dae.sample_chain(500, burn_in=500, **options)
    from_noise = dae.sample_chain(500, burn_in=200, start=noise, **options)
    fd = {
        "noise": score.fd(noise),
        "ae prior": score.fd(ae.sample(1000, method="prior", random_state=1)),
        "dae gmm": score.fd(dae.sample(1000, method="gmm", random_state=1)),
        "chain 20": score.fd(early),
        "chain 500": score.fd(late),
        "chain from noise": score.fd(from_noise),
    }
    print(fd)
    assert fd["chain 500"] < 1.5 * fd["chain 20"]  # no drift over hundreds of steps
    assert fd["chain 500"] < 2.5 * fd["dae gmm"]  # as good as the fitted density, roughly
    assert fd["chain 500"] < fd["ae prior"] / 2
    assert fd["chain from noise"] < fd["noise"] / 4  # pulled from noise onto the manifold
    assert score.entropy(late) > 0.9 * math.log(10)  # all ten digits, no collapse


def test_vae_fit_encodes_its_training_sample_once(monkeypatch):
    """After training, a VAE's kept codes and its ``offset_`` come from one encoder pass
    over the training sample (the ELBO's posterior means are the codes), and they are
    what ``transform`` and ``score_samples`` give."""
    from aekit.core.module import AutoencoderModule

    rows: list[int] = []
    encode = AutoencoderModule.encode

    def counting(self, x, condition=None):
        if not self.training:
            rows.append(len(x))
        return encode(self, x, condition)

    monkeypatch.setattr(AutoencoderModule, "encode", counting)
    X = np.random.default_rng(0).random((200, 6), dtype=np.float32)
    # all of X trained on: a held-out share would add its own pass for offset_
    model = VAE(latent_dim=2, hidden=(8,), epochs=1, random_state=0, validation_fraction=0.0)
    model.fit(X)
    assert sum(rows) == 256  # one padded batch of the 200 rows, not two passes
    np.testing.assert_allclose(model.training_codes_, model.transform(X), rtol=1e-5, atol=1e-6)
    assert model.offset_ == offset_from(model.score_samples(X), model.contamination)
