"""The deterministic autoencoders: rows of the table in :mod:`aekit.core.module`.

Each class only lists its parameters (scikit-learn reads them from ``__init__``)
and says which parts it composes; :class:`~aekit.models.neural.NeuralAutoencoder` does the rest.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted
from torch import nn

from aekit.core.likelihoods import GaussianFixed, Likelihood
from aekit.core.networks import build_networks
from aekit.models.estimator import training_sample
from aekit.models.mixed_tables import TableMixin
from aekit.models.neural import NeuralAutoencoder
from aekit.models.neural_params import COMMON_CONSTRAINTS, DEEP_CONSTRAINTS, given
from aekit.models.pca import PCA
from aekit.training.loop import TrainConfig
from aekit.validation import Check, flag, one_of, positive


class Autoencoder(TableMixin, NeuralAutoencoder, kind="ae"):
    """A deterministic autoencoder ``x̂ = f_φ(f_θ(x))`` trained on ``E‖x − x̂‖²``.

    With the default Gaussian likelihood (σ = 1) the training loss is
    ``½‖x − x̂‖² + (D/2) log 2π`` per example, i.e. the squared error.

    Parameters
    ----------
    latent_dim : int, default=16
        Size of the code ``d``. ``d > D`` (over-complete) works, but then the model
        can learn the identity unless regularised (``code_l1``, ``weight_decay``,
        or noise: :class:`DenoisingAutoencoder`).
    architecture : {"mlp", "conv"}, default="mlp"
    hidden : tuple of int, optional
        Hidden widths (MLP, encoder order; the decoder mirrors them) or channel
        counts (conv). Default ``(512, 256)`` for MLPs, ``(32, 64)`` for conv nets.
    activation : {"relu", "gelu", "tanh", "elu", "silu"}, default="relu"
    norm : {"none", "batch", "layer"}, default="none"
    encoder, decoder : torch.nn.Module, optional
        Your own networks instead of aekit's (both or neither;
        :mod:`aekit.core.user_networks`): the encoder maps a batch of examples to
        features of any width, on which the code layer is built; the decoder maps
        codes ``(n, latent_dim)`` to the likelihood's parameters in the input's
        shape. aekit trains copies; ``aekit.load(path, encoder=..., decoder=...)``
        takes the same modules again. ``architecture``, ``hidden``, ``activation``
        and ``norm`` do not apply then.
    likelihood : {"gaussian", "bernoulli", "gaussian-learned"}, default="gaussian"
        Decoder likelihood; ``"bernoulli"`` (logits, cross-entropy) suits data in [0, 1].
    scale : {"auto", "none", "minmax", "standard"}, default="auto"
        Scaling of each feature before training, fitted on the training data, saved,
        and undone for reconstructions and samples (errors are in the user's units).
        ``"auto"``: none for data in [0, 1], standardisation otherwise
        (:mod:`aekit.core.scaling`).
    code_l1 : float, default=0
        Weight of an L1 penalty on the code: sparsity for over-complete codes.
    noise_std : float, default=0
        Gaussian corruption of the input during training (see DenoisingAutoencoder).
    walkback : int, default=0
        Walkback steps of denoising training (see DenoisingAutoencoder).
    epochs : int, optional
        Default: at least 20 epochs and at least 2000 optimiser steps, so that small
        data sets train long enough to beat PCA (BENCHMARKS.md, "Defaults").
    batch_size, weight_decay : training settings (Adam)
    lr : float, default=2e-3
    lr_schedule : {"none", "cosine", "plateau"}, default="cosine"
        ``"cosine"`` decays the learning rate from ``lr`` towards 0 over ``epochs``
        (Loshchilov & Hutter 2017); ``"plateau"`` halves it after three epochs
        without improvement.
    grad_clip : float, optional
        Clip the gradient norm to this value.
    early_stopping : int, optional
        Stop after this many epochs without validation improvement and keep the best
        weights. Default: a tenth of the epochs (at least 10) whenever there are
        validation data (``X_val``, or the held-out share); 0 turns it off.
    validation_fraction : float in [0, 0.5], default=0.1
        Share of ``X`` held out when ``fit`` is given no ``X_val`` (raised to 50
        examples or a fifth of ``X``, whichever is fewer; none under 5 examples):
        early stopping watches it, and the outlier threshold ``offset_`` is set from
        its scores, examples the model did not train on. 0 trains on all of ``X``.
    start : {"auto", "pca", "random"}, default="auto"
        ``"pca"``: a linear path beside the deep networks, started at PCA's solution
        with the deep parts' outputs at zero, so training starts from PCA's error
        and early stopping keeps the best model of the way down
        (:mod:`aekit.core.linear_path`). ``"auto"``: PCA's start for aekit's own
        networks under a Gaussian likelihood without ``code_l1``, a random one
        otherwise.
    device : str, default="auto"
        ``"auto"`` picks CUDA, then MPS, then the CPU.
    n_threads : int or "adaptive", optional
        CPU threads of training; default torch's, but never more than the CPUs
        this process may use (affinity and container quota: :mod:`aekit.training.threads`).
        ``"adaptive"``: while other processes keep the CPUs busy, fewer if training
        steps timed with fewer are faster, and the busy threads pinned to CPUs of
        their own until the load ends (:class:`aekit.training.governor.LoadGovernor`;
        the ``aekit`` command always trains so). Only when asked: it re-pins the
        threads of the process it runs in, a surprise inside a notebook or a server.
    random_state : int, optional
        Seed of initialisation, batching and noise; the same seed gives the same fit.
    verbose : bool or None, default=None
        ``True``: a progress bar (on a terminal) and one line per epoch. ``None``: no
        progress, but ``fit`` on a mixed table (a DataFrame, :mod:`aekit.data.tables`)
        writes its inferred columns, one line each, on stderr, since a wrong
        inference changes the model silently; ``False``: nothing.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Share of outliers assumed in the training data: it sets ``offset_``, the
        threshold of ``predict`` and ``decision_function`` (:mod:`aekit.models.outliers`).
    column_types : dict of str to str, optional
        For a DataFrame: the kind of a column, ``"numeric"``, ``"categorical"``,
        ``"binary"``, ``"count"`` (Poisson) or ``"count_nb"`` (negative binomial, a
        learned dispersion per column: counts more spread than their mean), where
        inference should not decide (inference never picks ``"count_nb"``;
        :mod:`aekit.data.tables`). A DataFrame with a text column or a missing cell
        (or with ``column_types``) is a mixed table: a likelihood per column, missing
        cells left out of it, DataFrames out (:mod:`aekit.models.mixed_tables`).
    conditional : bool, default=False
        ``fit(X, y)`` learns a model of ``X`` given the class ``y`` of each
        example, fed one-hot to encoder and decoder (:mod:`aekit.models.conditions`);
        ``sample``, ``transform``, ``inverse_transform`` and the paths then take ``y=``.

    Attributes
    ----------
    module_ : AutoencoderModule
    history_ : list of dict
        Per-epoch metrics (``train_loss``, ``val_loss``, ``train_mse`` ...).
    input_shape_ : tuple
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from aekit import Autoencoder
    >>> X = np.random.default_rng(0).random((64, 10), dtype=np.float32)
    >>> ae = Autoencoder(latent_dim=3, hidden=(16,), epochs=2, random_state=0).fit(X)
    >>> ae.transform(X).shape
    (64, 3)
    """

    def __init__(
        self,
        latent_dim: int = 16,
        *,
        architecture: str = "mlp",
        hidden: tuple[int, ...] | None = None,
        activation: str = "relu",
        norm: str = "none",
        encoder: nn.Module | None = None,
        decoder: nn.Module | None = None,
        likelihood: str = "gaussian",
        scale: str = "auto",
        code_l1: float = 0.0,
        noise_std: float = 0.0,
        walkback: int = 0,
        epochs: int | None = None,
        batch_size: int = 128,
        lr: float = 2e-3,
        weight_decay: float = 0.0,
        lr_schedule: str = "cosine",
        grad_clip: float | None = None,
        early_stopping: int | None = None,
        validation_fraction: float = 0.1,
        start: str = "auto",
        device: str = "auto",
        n_threads: int | str | None = None,
        random_state: int | None = None,
        verbose: bool | None = None,
        contamination: str | float = "auto",
        column_types: dict[str, str] | None = None,
        conditional: bool = False,
    ) -> None:
        self.latent_dim = latent_dim
        self.architecture = architecture
        self.hidden = hidden
        self.activation = activation
        self.norm = norm
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.scale = scale
        self.code_l1 = code_l1
        self.noise_std = noise_std
        self.walkback = walkback
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.grad_clip = grad_clip
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.start = start
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.contamination = contamination
        self.column_types = column_types
        self.conditional = conditional

    _constraints: ClassVar[dict[str, Check]] = {
        **DEEP_CONSTRAINTS,
        "conditional": flag,
        "code_l1": positive(zero=True),
        "noise_std": positive(zero=True),
        "walkback": positive(integer=True, zero=True),
    }

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.walkback > 0 and self.noise_std == 0:
            raise ValueError(
                "walkback needs a corruption: set noise_std > 0 (--noise-std) as well."
            )

    def _stops_early(self) -> bool:
        return self.code_l1 == 0  # early stopping watches the MSE, not the L1 term

    def _start(self) -> str:
        if self.start == "auto" and self.code_l1 > 0:
            return "random"  # a sparse code is asked for, and PCA's is dense
        return super()._start()

    def _module_options(self, model_shape: tuple[int, ...]) -> dict[str, Any]:  # noqa: ARG002
        return {
            "corruption": self._corruption(self.noise_std),
            "walkback": int(self.walkback),
            "code_l1": float(self.code_l1),
        }


class DenoisingAutoencoder(Autoencoder, kind="dae"):
    """An autoencoder trained to undo Gaussian noise: ``min E‖x − f_φ(f_θ(x + ε))‖²``.

    ``ε ~ N(0, noise_std² I)`` is drawn afresh for every batch; the target is the
    clean ``x``. ``transform`` and ``reconstruct`` work on clean input unless asked
    (``reconstruct(X, noise_std=...)``). All other parameters are those of
    :class:`Autoencoder`.

    :meth:`sample_chain` runs the chain ``x ← reconstruct(corrupt(x))`` of Bengio
    et al. (2013). ``walkback=k`` trains, besides each corrupted input, on the ``k``
    further states that chain reaches from it, all with the clean input as the
    target (their walkback procedure, with the mean reconstruction as the chain's
    step); each step costs about one more forward and backward pass per batch, and
    the logged training loss averages over all the states (validation is
    unchanged). What it does to the chain's samples: BENCHMARKS.md, "Sample quality".

    Examples
    --------
    >>> import numpy as np
    >>> from aekit import DenoisingAutoencoder
    >>> X = np.random.default_rng(0).random((64, 10), dtype=np.float32)
    >>> dae = DenoisingAutoencoder(latent_dim=3, noise_std=0.3, epochs=2, random_state=0)
    >>> dae.fit(X).reconstruct(X, noise_std=0.3).shape
    (64, 10)
    """

    # Autoencoder's parameters with noise on by default: scikit-learn reads the
    # signature, defaults included, from this partial method
    # σ = 0.2 suits data in [0, 1]: it denoises and still beats PCA on clean input
    __init__ = functools.partialmethod(Autoencoder.__init__, noise_std=0.2)


ADAM_STEPS = 30_000  # the linear autoencoder's default training length
PCA_TOLERANCE = 1e-3  # a training error more than 0.1% above PCA's is not converged
LBFGS_MAX_SAMPLES = 5000  # solver="auto" takes L-BFGS up to this many examples


class LinearAutoencoder(NeuralAutoencoder, kind="linear"):
    """The linear autoencoder ``x̂ = W_d (W_e x + b_e) + b_d``, trained by gradient descent.

    It minimises ``‖X − X̂‖²_F``, whose global minimum is PCA's (Eckart–Young);
    the loss has no spurious local minima (Baldi & Hornik 1989), so gradient
    descent reaches the principal *subspace*. It does not reach the principal
    *axes*: any invertible ``A`` gives the same loss with ``W_e → A W_e``,
    ``W_d → W_d A⁻¹``, so the codes are PCA's codes up to an invertible linear map.
    Compare with :class:`aekit.PCA`, which solves the same problem in closed form.

    The default optimiser is minibatch Adam at a constant learning rate, through
    the same loop as the deep models: where eigenvalues are close the rotation
    towards the principal subspace is slow and needs many small steps, and
    full-batch L-BFGS from a small random start is drawn to the saddle points
    this loss has at every non-principal set of eigenvectors. ``solver="lbfgs"``
    suits small problems with well-separated eigenvalues. BENCHMARKS.md ("PCA
    and the linear autoencoder") has the measurements behind the defaults.

    Parameters
    ----------
    latent_dim : int, default=16
    solver : {"auto", "adam", "lbfgs"}, default="auto"
        ``"auto"``: L-BFGS for at most 5000 examples (seconds, and exact there), Adam
        above.
    epochs : int, optional
        Adam: epochs, by default enough for 30000 steps; L-BFGS: outer steps of
        ``20`` iterations each on the full batch, 50 by default.
    batch_size : int, optional
        Adam's batch size (default 128); L-BFGS always uses the full batch.
    lr : float, optional
        Default 5e-4 for Adam, 1.0 for L-BFGS (with a strong-Wolfe line search).
    weight_decay : float, default=0
    validation_fraction : float in [0, 0.5], default=0.1
        Share of ``X`` held out when ``fit`` is given no ``X_val``: the outlier
        threshold ``offset_`` comes from its scores (as in :class:`Autoencoder`).
    device, n_threads, random_state, verbose, contamination
        As in :class:`Autoencoder`.

    Attributes
    ----------
    optimality_gap_ : float
        How far the training error ended above PCA's (the Eckart–Young optimum), as a
        fraction of it, on (at most 10000 of) the training examples. Above 0.1%
        ``fit`` warns (``ConvergenceWarning``): raw features of very different
        variances (wine's proline against its other columns) make the loss
        ill-conditioned and gradient descent slow to finish.

    Examples
    --------
    >>> import numpy as np
    >>> from aekit import LinearAutoencoder, PCA
    >>> X = np.random.default_rng(0).normal(size=(200, 6)) * [5, 3, 1, .1, .1, .1]
    >>> lin = LinearAutoencoder(2, solver="lbfgs", epochs=10, random_state=0).fit(X)
    >>> pca = PCA(2).fit(X)
    >>> bool(abs(lin.reconstruction_error(X) / pca.reconstruction_error_bound() - 1) < 1e-3)
    True
    """

    _constraints: ClassVar[dict[str, Check]] = {
        **COMMON_CONSTRAINTS,
        "solver": one_of(("auto", "adam", "lbfgs")),
    }

    def __init__(
        self,
        latent_dim: int = 16,
        *,
        solver: str = "auto",
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        device: str = "auto",
        n_threads: int | str | None = None,
        random_state: int | None = None,
        verbose: bool = False,
        contamination: str | float = "auto",
    ) -> None:
        self.latent_dim = latent_dim
        self.solver = solver
        self.validation_fraction = validation_fraction
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.contamination = contamination

    # the linear row of the table in aekit.core.module: no hidden layer, Gaussian σ = 1,
    # the data as given (PCA's problem)
    def _scaling(self) -> str:
        return "none"

    def _start(self) -> str:
        return "random"  # gradient descent towards PCA is what this model shows

    def _stops_early(self) -> bool:
        return False  # L-BFGS and Adam run their full length towards PCA's optimum

    def _likelihood(self) -> Likelihood:
        return GaussianFixed(1.0)

    def _networks(self, model_shape: tuple[int, ...], params_per_value: int):
        return build_networks("linear", model_shape, self.latent_dim, (), "relu", "none")

    def _train_config(self, n_samples: int) -> TrainConfig:
        solver = self.solver
        if solver == "auto":  # L-BFGS finishes small problems in seconds; Adam scales
            solver = "lbfgs" if n_samples <= LBFGS_MAX_SAMPLES else "adam"
        if solver == "lbfgs":  # 50 outer steps on the full batch
            batch_size, lr, epochs = 2**62, given(self.lr, 1.0), 50
        else:
            batch_size, lr = given(self.batch_size, 128), given(self.lr, 5e-4)
            epochs = math.ceil(ADAM_STEPS / math.ceil(n_samples / batch_size))
        return TrainConfig(
            epochs=given(self.epochs, epochs),
            batch_size=batch_size,
            lr=lr,
            weight_decay=self.weight_decay,
            optimizer="lbfgs" if solver == "lbfgs" else "adam",
            random_state=getattr(self, "seed_", 0),
            verbose=bool(self.verbose),
        )

    def _check_convergence(self, trained: np.ndarray) -> None:
        self.optimality_gap_ = self._gap_to_pca(training_sample(trained, self.seed_))
        if self.optimality_gap_ > PCA_TOLERANCE:
            warnings.warn(
                f"LinearAutoencoder stopped {self.optimality_gap_:.2%} above PCA's training "
                "error, the optimum it descends to; train longer (epochs, lr, solver), or use "
                "aekit.PCA, which solves the same problem exactly.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _gap_to_pca(self, sample: np.ndarray) -> float:
        """How far the training error on ``sample`` is above PCA's optimum there, as a
        fraction of it (of the total variance where PCA's error is nil)."""
        flat = sample.reshape(len(sample), -1)
        k = min(self.latent_dim, *flat.shape)
        pca = PCA(k, device="cpu", validation_fraction=0.0).fit(flat)
        with warnings.catch_warnings():  # the array was validated; names checked
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            error = float(np.mean(self.reconstruction_errors(sample)))
        optimum = float(np.mean(pca.reconstruction_errors(flat)))
        floor = max(optimum, 1e-9 * pca.total_variance_ / flat.shape[1], 1e-30)
        return max(error - optimum, 0.0) / floor

    def _export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors, fitted = super()._export()
        fitted["optimality_gap_"] = self.optimality_gap_
        return tensors, fitted

    def _restore(self, fitted: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        super()._restore(fitted, weights)
        gap = fitted.get("optimality_gap_")  # models saved before it was measured: None
        self.optimality_gap_ = None if gap is None else float(gap)

    @property
    def components_(self) -> np.ndarray:
        """Orthonormal basis (rows) of the subspace the decoder spans, shape (d, D).

        The same subspace as ``PCA(d).components_`` at the optimum, but not the
        same axes (see the class docstring); compare them with principal angles,
        e.g. ``scipy.linalg.subspace_angles(lin.components_.T, pca.components_.T)``.
        """
        check_is_fitted(self, "module_")
        weight = self.module_.decoder.out.weight.detach().double().cpu()
        basis, _ = torch.linalg.qr(weight)
        return basis.T.numpy()
