"""Conditional models (conditional=True): fit(X, y), generation at a class, save/load, refusals."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import aekit
from aekit import VAE, Autoencoder, DenoisingAutoencoder


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def cvae(digits):
    X_train, _, y_train, _ = digits
    vae = VAE(latent_dim=4, hidden=(128,), likelihood="bernoulli", epochs=40,
              conditional=True, random_state=0)  # fmt: skip
    return vae.fit(X_train, y_train)


def test_conditional_vae_samples_are_of_the_class_asked_for(digits, cvae):
    X_train, X_test, y_train, y_test = digits
    classifier = LogisticRegression(max_iter=2000).fit(X_train, y_train)
    assert classifier.score(X_test, y_test) > 0.9
    asked = np.repeat(np.arange(10), 30)
    samples = cvae.sample(len(asked), y=asked, random_state=0)
    share = (classifier.predict(samples) == asked).mean()
    assert share > 0.8, share
    # one class for all draws: the same as asking it per draw
    threes = cvae.sample(30, y=3, random_state=0)
    np.testing.assert_array_equal(threes, cvae.sample(30, y=np.full(30, 3), random_state=0))
    assert (classifier.predict(threes) == 3).mean() > 0.8


def test_the_code_of_a_conditional_model_depends_on_the_class_it_is_given(digits, cvae):
    X_test = digits[1]
    assert not np.allclose(cvae.transform(X_test[:5], y=3), cvae.transform(X_test[:5], y=5))


def test_paths_and_traversals_keep_the_class_fixed(digits, cvae):
    X_test = digits[1]
    classifier = LogisticRegression(max_iter=2000).fit(digits[0], digits[2])
    path = cvae.interpolate(X_test[0], X_test[1], 6, y=7)
    assert path.shape == (6, 64)
    assert (classifier.predict(path) == 7).mean() >= 0.5
    assert cvae.interpolate(X_test[:2], X_test[2:4], 5, y=[1, 2]).shape == (2, 5, 64)
    assert cvae.interpolate_prior(2, 4, y=1, random_state=0).shape == (2, 4, 64)
    assert cvae.traverse(dims=[0, 1], n_steps=3, y=2).shape == (2, 3, 64)


@pytest.mark.parametrize("cls", [Autoencoder, DenoisingAutoencoder, VAE])
@pytest.mark.parametrize("conditional", [False, True])
def test_fit_with_and_without_y_round_trips_through_save_and_load(
    digits, tmp_path, cls, conditional
):
    X_train, X_test, y_train, _ = digits
    model = cls(latent_dim=3, hidden=(16,), epochs=2, conditional=conditional,
                random_state=0).fit(X_train, y_train)  # fmt: skip
    at = {"y": y_train[:5]} if conditional else {}
    before = model.sample(5, method="gmm", random_state=0, **at)  # fits the code densities
    loaded = aekit.load(model.save(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.sample(5, method="gmm", random_state=0, **at), before)
    for method in ("gaussian", None):  # None: the prior of a VAE, the mixture otherwise
        np.testing.assert_array_equal(
            loaded.sample(5, method=method, random_state=1, **at),
            model.sample(5, method=method, random_state=1, **at),
        )
    Z = model.transform(X_test[:5], **at)
    np.testing.assert_array_equal(loaded.transform(X_test[:5], **at), Z)
    np.testing.assert_array_equal(loaded.code_log_density(Z, **at), model.code_log_density(Z, **at))
    at = {"y": 4} if conditional else {}
    np.testing.assert_array_equal(loaded.transform(X_test, **at), model.transform(X_test, **at))
    np.testing.assert_array_equal(
        loaded.sample(5, random_state=0, **at), model.sample(5, random_state=0, **at)
    )
    if conditional:
        np.testing.assert_array_equal(loaded.classes_, np.arange(10))
    else:
        assert loaded.classes_ is None


def test_string_classes_are_kept_and_asked_for_by_name(digits, tmp_path):
    X_train, _, y_train, _ = digits
    names = np.array(["even", "odd"])[y_train % 2]
    dae = DenoisingAutoencoder(latent_dim=3, hidden=(16,), epochs=2, conditional=True,
                               random_state=0).fit(X_train, names)  # fmt: skip
    assert dae.classes_.tolist() == ["even", "odd"]
    loaded = aekit.load(dae.save(tmp_path / "dae"))
    np.testing.assert_array_equal(loaded.sample(3, y="odd", random_state=0),
                                  dae.sample(3, y="odd", random_state=0))  # fmt: skip


@pytest.mark.parametrize("cls", [Autoencoder, DenoisingAutoencoder, VAE])
def test_y_is_ignored_without_conditional(digits, cls):
    """scikit-learn's convention: fit(X, y) of a model that is not conditional is fit(X),
    weight for weight (and a refit without the condition forgets it)."""
    X_train, _, y_train, _ = digits
    plain = cls(latent_dim=3, hidden=(16,), epochs=2, random_state=0).fit(X_train)
    given_y = cls(latent_dim=3, hidden=(16,), epochs=2, random_state=0).fit(X_train, y_train)
    refit = cls(latent_dim=3, hidden=(16,), epochs=2, conditional=True, random_state=0)
    refit.fit(X_train, y_train).set_params(conditional=False).fit(X_train, y_train)
    for other in (given_y, refit):
        assert other.classes_ is None
        for k, v in plain.module_.state_dict().items():
            torch.testing.assert_close(other.module_.state_dict()[k], v, rtol=0, atol=0)


def test_refusals_are_one_sentence(digits, cvae):
    X_train, _, y_train, _ = digits
    with pytest.raises(ValueError, match="one class per example of X"):
        VAE(conditional=True, epochs=1).fit(X_train, y_train[:5])
    with pytest.raises(ValueError, match="needs the class of every example"):
        VAE(conditional=True, epochs=1).fit(X_train)
    with pytest.raises(ValueError, match="not one of the classes"):
        cvae.sample(3, y=11)
    with pytest.raises(ValueError, match="is conditional: pass y"):
        cvae.sample(3)
    with pytest.raises(ValueError, match="one class or one per example"):
        cvae.sample(3, y=[1, 2])
    with pytest.raises(ValueError, match="no outlier threshold: it is conditional"):
        cvae.predict(X_train[:3])
    with pytest.raises(ValueError, match="at least 2 classes"):
        VAE(conditional=True, epochs=1).fit(X_train, np.zeros(len(X_train)))
    with pytest.raises(ValueError, match="prior='standard'"):
        VAE(conditional=True, prior="vamp", epochs=1).fit(X_train, y_train)
    plain = Autoencoder(latent_dim=2, hidden=(8,), epochs=1, random_state=0).fit(X_train)
    with pytest.raises(ValueError, match="fitted without classes"):
        plain.sample(2, y=1)
    conditional = Autoencoder(latent_dim=2, hidden=(8,), epochs=1, conditional=True,
                              random_state=0).fit(X_train, y_train)  # fmt: skip
    for takes_no_class in (conditional.reconstruct, conditional.score_samples):
        with pytest.raises(ValueError, match=r"takes no class: encode with transform\(X, y\)"):
            takes_no_class(X_train[:3])


def test_log_p_x_given_y_and_the_elbo_are_higher_at_each_examples_own_class(digits, cvae):
    _, X_test, _, y_test = digits
    X, y, wrong = X_test[:100], y_test[:100], (y_test[:100] + 1) % 10
    right_ll = cvae.log_likelihood(X, n_samples=50, y=y, random_state=0)
    wrong_ll = cvae.log_likelihood(X, n_samples=50, y=wrong, random_state=0)
    assert right_ll.mean() > wrong_ll.mean() + 3  # nats per example (measured: 10)
    assert (right_ll > wrong_ll).mean() >= 0.9
    right, wrong = cvae.score_samples(X, y=y), cvae.score_samples(X, y=wrong)
    assert (right > wrong).mean() >= 0.9
    assert cvae.score(X, y) == pytest.approx(cvae.elbo_parts(X, y=y)["elbo"])
    assert cvae.score(X, y) > cvae.score(X, (y + 1) % 10)


def test_the_conditional_elbo_is_the_hand_computed_one_at_each_class():
    """One draw eps (the same for every example): z = mu + sigma eps from the encoder
    fed [h(x), one_hot(y)], Bernoulli log p(x | z, y) from the decoder fed
    [z, one_hot(y)], and the closed-form KL to N(0, I)."""
    rng = np.random.default_rng(0)
    X = (rng.random((40, 6)) > 0.5).astype(np.float32)
    y = np.arange(40) % 3
    vae = VAE(latent_dim=2, hidden=(5,), likelihood="bernoulli", epochs=2, conditional=True,
              random_state=0).fit(X, y)  # fmt: skip
    assert vae.scaling_.log_det() == 0
    module, x = vae.module_, torch.from_numpy(X)
    one_hot = torch.nn.functional.one_hot(torch.from_numpy(y), 3).float()
    with torch.no_grad():
        head = module.head(torch.cat([module.encoder(x), one_hot], 1))
        mu, log_var = head.mean, head.log_var
        eps = torch.randn(2, generator=torch.Generator().manual_seed(7))
        z = mu + torch.exp(0.5 * log_var) * eps
        logits = module.decoder(torch.cat([z, one_hot], 1)).reshape(40, 6)
    log_px = (X * np.log(torch.sigmoid(logits).double().numpy())
              + (1 - X) * np.log(torch.sigmoid(-logits).double().numpy())).sum(1)  # fmt: skip
    kl = 0.5 * (mu.double() ** 2 + log_var.double().exp() - log_var.double() - 1).sum(1).numpy()
    elbo = vae.score_samples(X, y=y, random_state=7)
    np.testing.assert_allclose(elbo, log_px - kl, rtol=1e-5)
    assert not np.allclose(vae.score_samples(X, y=(y + 1) % 3, random_state=7), elbo)


def test_the_denoising_chain_runs_at_a_fixed_class(digits):
    """Every step of a chain encodes and decodes at its class (one for all chains, or
    one per chain; row i is chain i % n_chains's), and its start is drawn at it."""
    X_train, X_test, y_train, y_test = digits
    classifier = LogisticRegression(max_iter=2000).fit(X_train, y_train)
    dae = DenoisingAutoencoder(latent_dim=4, hidden=(128,), noise_std=0.3, epochs=40,
                               conditional=True, random_state=0).fit(X_train, y_train)  # fmt: skip
    for k in (3, 7):
        chain = dae.sample_chain(30, y=k, burn_in=20, random_state=0)
        assert (classifier.predict(chain) == k).mean() >= 0.9
    per_chain = dae.sample_chain(40, y=np.arange(10), n_chains=10, burn_in=20, random_state=0)
    assert (classifier.predict(per_chain) == np.arange(40) % 10).mean() >= 0.9
    start = X_test[y_test == 1][:10]  # ones, pulled to 4s by a chain at class 4
    fours = dae.sample_chain(10, y=4, start=start, burn_in=20, random_state=0)
    assert (classifier.predict(fours) == 4).mean() >= 0.9
    np.testing.assert_array_equal(
        dae.sample(10, method="chain", y=4, random_state=0),
        dae.sample_chain(10, y=4, random_state=0),
    )
    with pytest.raises(ValueError, match="is conditional: pass y"):
        dae.sample_chain(4)
