"""Discrete codes: the VQ-VAE, an autoencoder whose code is a grid of codebook indices.

It is the deterministic autoencoder's row of the table in :mod:`aekit.core.module`
with a quantising head (:mod:`aekit.core.quantisation`) and the commitment loss as
its regulariser, trained by the same loop. What is its own: the code is integers
(``transform`` gives indices, ``inverse_transform`` decodes them) and its metrics
(codebook usage, perplexity).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from aekit.core.module import AutoencoderModule
from aekit.core.networks import DEFAULT_HIDDEN, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from aekit.core.quantisation import QuantisingHead, code_counts, usage_and_perplexity
from aekit.errors import DataError
from aekit.models.neural import NeuralAutoencoder, model_shape_of
from aekit.models.neural_params import DEEP_CONSTRAINTS
from aekit.models.plain_modules import on_cpu
from aekit.models.quantised_export import IndexDecoder, IndexEncoder
from aekit.models.quantised_prior import PRIOR_KEY, CodePriorMixin
from aekit.validation import Check, check_data, check_positive, one_of, positive


def _codebook_size(value: object, name: str) -> object:
    check_positive(value, name, integer=True)
    if value < 2:
        raise ValueError(
            f"{name} must be at least 2, since one code carries no information; got {value}."
        )
    return value


def _decay(value: object, name: str) -> object:
    check_positive(value, name, maximum=1.0)
    if value >= 1:
        raise ValueError(f"{name} must be below 1, or the codebook never learns; got {value}.")
    return value


class VQVAE(CodePriorMixin, NeuralAutoencoder, kind="vqvae"):
    """Vector-quantised autoencoder (van den Oord et al. 2017).

    The encoder's output at each code position is replaced by its nearest vector
    in a codebook of ``codebook_size`` vectors; gradients pass it straight through,
    a commitment loss keeps the encoder near its codes, and the codebook follows
    exponential moving averages of the vectors assigned to it, dead codes restarting
    at encoder outputs (:mod:`aekit.core.quantisation`). After training, an
    autoregressive prior over the codes (:mod:`aekit.core.code_prior`) is fitted to
    the training codes: ``sample`` draws from it, and ``score_samples`` is the bound
    ``log p(x|z_q) + log p(z_q)`` on ``log p(x)`` (:mod:`aekit.models.quantised_prior`).

    Parameters
    ----------
    codebook_size : int, default=512
        Codes K per codebook (at least 2); each index carries ``log2 K`` bits.
    latent_dim : int, default=16
        MLP: the code positions, so a code is a vector of ``latent_dim`` indices.
        Conv: not used; the code is a grid of indices over the encoder's last
        feature map (``(H/4, W/4)`` for the default two stride-2 layers).
    code_dim : int, default=16
        Values per codebook vector.
    levels : int, default=1
        Codebooks in sequence (residual quantisation): each position then has
        ``levels`` indices and its vector is the sum of their codes.
    commitment : float, default=0.25
        β, the weight of ``‖z_e − sg(e_k)‖²`` in the loss.
    decay : float in (0, 1), default=0.99
        γ of the codebook's moving averages.
    restart_threshold : float, default=0.03
        A code that gets less than this share of the uniform ``1/K`` of the
        assignments (in its moving average) restarts at an encoder output.
    prior_epochs : int, default=20
        Epochs of the code prior's training after the autoencoder's (0: no prior).
    prior_width, prior_layers, prior_heads : int, default=64, 2, 4
        The code prior's transformer: model width, layers, attention heads (the
        width a multiple of the heads).
    prior_lr : float, default=1e-3
        The code prior's Adam learning rate (cosine schedule).
    architecture : {"mlp", "conv"}, default="mlp"
    hidden, activation, norm, likelihood, scale, epochs, batch_size, lr, weight_decay,
    lr_schedule, grad_clip, early_stopping, validation_fraction, device, n_threads,
    random_state, verbose, contamination
        As in :class:`aekit.Autoencoder`.

    Attributes
    ----------
    history_ : list of dict
        Per-epoch metrics; besides the MSE and loss, ``train_commitment``,
        ``train_perplexity`` and ``train_codebook_usage`` (the share of codes a batch
        uses, at most its number of code vectors / K), each of a batch's assignments
        averaged over batches (and over levels), and the same on validation data
        (batches of 2048 examples). :meth:`evaluation_metrics` counts over all of ``X``.
    prior_ : CodePrior or None
        The fitted code prior (None with ``prior_epochs=0``).
    prior_history_ : list of dict or None
        Its per-epoch ``train_nll`` (and ``val_nll``), nats per code.

    Examples
    --------
    >>> import numpy as np
    >>> from aekit import VQVAE
    >>> X = np.random.default_rng(0).random((64, 10), dtype=np.float32)
    >>> vq = VQVAE(codebook_size=8, latent_dim=3, hidden=(16,), epochs=2, random_state=0)
    >>> codes = vq.fit(X).transform(X)
    >>> codes.shape, codes.dtype
    ((64, 3), dtype('int64'))
    >>> vq.inverse_transform(codes).shape
    (64, 10)
    """

    _head = QuantisingHead
    _constraints: ClassVar[dict[str, Check]] = {
        **{k: v for k, v in DEEP_CONSTRAINTS.items() if k != "start"},
        "architecture": one_of(("mlp", "conv")),
        "codebook_size": _codebook_size,
        "code_dim": positive(integer=True),
        "levels": positive(integer=True),
        "commitment": positive(zero=True),
        "decay": _decay,
        "restart_threshold": positive(zero=True, maximum=1.0),
        "prior_epochs": positive(integer=True, zero=True),
        "prior_width": positive(integer=True),
        "prior_layers": positive(integer=True),
        "prior_heads": positive(integer=True),
        "prior_lr": positive(),
    }

    def __init__(
        self,
        codebook_size: int = 512,
        *,
        latent_dim: int = 16,
        code_dim: int = 16,
        levels: int = 1,
        commitment: float = 0.25,
        decay: float = 0.99,
        restart_threshold: float = 0.03,
        prior_epochs: int = 20,
        prior_width: int = 64,
        prior_layers: int = 2,
        prior_heads: int = 4,
        prior_lr: float = 1e-3,
        architecture: str = "mlp",
        hidden: tuple[int, ...] | None = None,
        activation: str = "relu",
        norm: str = "none",
        likelihood: str = "gaussian",
        scale: str = "auto",
        epochs: int | None = None,
        batch_size: int = 128,
        lr: float = 2e-3,
        weight_decay: float = 0.0,
        lr_schedule: str = "cosine",
        grad_clip: float | None = None,
        early_stopping: int | None = None,
        validation_fraction: float = 0.1,
        device: str = "auto",
        n_threads: int | str | None = None,
        random_state: int | None = None,
        verbose: bool = False,
        contamination: str | float = "auto",
    ) -> None:
        self.codebook_size = codebook_size
        self.latent_dim = latent_dim
        self.code_dim = code_dim
        self.levels = levels
        self.commitment = commitment
        self.decay = decay
        self.restart_threshold = restart_threshold
        self.prior_epochs = prior_epochs
        self.prior_width = prior_width
        self.prior_layers = prior_layers
        self.prior_heads = prior_heads
        self.prior_lr = prior_lr
        self.architecture = architecture
        self.hidden = hidden
        self.activation = activation
        self.norm = norm
        self.likelihood = likelihood
        self.scale = scale
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.grad_clip = grad_clip
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.contamination = contamination

    # -- the parts -------------------------------------------------------------------
    def _validate_params(self) -> None:
        super()._validate_params()
        if self.prior_width % self.prior_heads:
            raise ValueError(
                f"prior_width must be a multiple of prior_heads; got {self.prior_width} "
                f"and {self.prior_heads}."
            )

    def fit(self, X: Any, y: Any = None, *, X_val: Any = None, **options: Any) -> VQVAE:
        """Train the autoencoder as :meth:`aekit.Autoencoder.fit` does (same options),
        then its code prior (:meth:`fit_prior`); ``offset_`` comes from the bound."""
        super().fit(X, y, X_val=X_val, **options)
        self._fit_with_prior(check_data(X), X_val)
        return self

    def _start(self) -> str:
        return "random"  # PCA's start is a continuous code; this one is quantised

    def build_module(
        self, input_shape: tuple[int, ...], start: str | None = None
    ) -> AutoencoderModule:
        """The untrained module for examples of shape ``input_shape`` (``start`` is
        always random here)."""
        self._validate_params()
        likelihood = self._likelihood()
        shape = model_shape_of(tuple(input_shape))
        hidden = DEFAULT_HIDDEN[self.architecture] if self.hidden is None else self.hidden
        hidden = tuple(int(h) for h in hidden)
        nets = (hidden, self.activation, self.norm)
        quantiser = {
            "levels": int(self.levels),
            "decay": float(self.decay),
            "restart_threshold": float(self.restart_threshold),
            "commitment": float(self.commitment),
        }
        if self.architecture == "conv":
            encoder = ConvEncoder(shape, *nets)
            grid = encoder.final_shape[1:]
            head = QuantisingHead(
                encoder.out_features,
                grid,
                self.code_dim,
                self.codebook_size,
                feature_shape=encoder.final_shape,
                **quantiser,
            )
            decoder: torch.nn.Module = ConvDecoder(
                head.latent_dim,
                encoder,
                shape[0],
                *nets,
                likelihood.params_per_value,
                code_channels=self.code_dim,
            )
        else:
            encoder = MLPEncoder(shape, *nets)
            head = QuantisingHead(
                encoder.out_features,
                (self.latent_dim,),
                self.code_dim,
                self.codebook_size,
                **quantiser,
            )
            decoder = MLPDecoder(head.latent_dim, shape, *nets, likelihood.params_per_value)
        return AutoencoderModule(encoder, head, decoder, likelihood)

    # -- the code --------------------------------------------------------------------
    @property
    def code_width(self) -> int:
        """Values in a continuous (quantised) code: positions × ``code_dim``."""
        check_is_fitted(self, "module_")
        return self.module_.head.latent_dim

    @property
    def code_shape_(self) -> tuple[int, ...]:
        """The shape of one example's indices: ``(latent_dim,)`` or ``(h, w)``, and
        ``levels`` last when there are several."""
        check_is_fitted(self, "module_")
        grid = self.module_.head.grid
        return (*grid, self.levels) if self.levels > 1 else grid

    @property
    def _n_features_out(self) -> int:
        return math.prod(self.code_shape_)

    def transform(self, X: Any, continuous: bool = False) -> np.ndarray:
        """The codes of ``X``: indices into the codebook, shape ``(n, *code_shape_)``
        (int64); with ``continuous=True`` the quantised vectors, shape
        ``(n, code_width)`` (float32, what the decoder reads)."""
        Xt = self._check_X(X)
        if continuous:
            return self._encode(Xt)
        indices = self._batched(lambda xb: self.module_.encode(xb).indices, Xt)
        return indices.reshape(len(indices), *self.code_shape_)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Decode codes: integer indices of shape ``(n, *code_shape_)``, or quantised
        vectors of shape ``(n, code_width)`` (floats); the mean reconstruction."""
        check_is_fitted(self, "module_")
        Z = np.asarray(Z)
        if np.issubdtype(Z.dtype, np.integer):
            z = self._vectors_of(Z)
        else:
            Z = check_data(Z, what="Z")
            if Z.ndim != 2 or Z.shape[1] != self.code_width:
                raise DataError(
                    f"Z must be indices of shape (n, {', '.join(map(str, self.code_shape_))}) "
                    f"or vectors of shape (n, {self.code_width}); it has shape {Z.shape}."
                )
            z = torch.from_numpy(Z)
        return self._decode(z).reshape(len(z), *self.input_shape_)

    def _vectors_of(self, indices: np.ndarray) -> torch.Tensor:
        """The quantised vectors (n, code_width) of valid ``indices``."""
        shape, K = self.code_shape_, self.codebook_size
        if indices.ndim < 1 or len(indices) == 0 or indices.shape[1:] != shape:
            raise DataError(
                f"indices must have shape (n, {', '.join(map(str, shape))}); "
                f"they have shape {indices.shape}."
            )
        if indices.min() < 0 or indices.max() >= K:
            raise DataError(f"indices must be in 0..{K - 1}; got {indices.min()}..{indices.max()}.")
        grid = self.module_.head.grid
        idx = torch.from_numpy(indices.astype(np.int64).reshape(len(indices), *grid, self.levels))
        return torch.from_numpy(self._batched(self.module_.head.decode_indices, idx))

    def _codes_of(self, X: Any, y: Any = None) -> tuple[np.ndarray, bool]:
        """Continuous codes for paths between examples (indices have no path); a
        VQ-VAE has no classes, so a ``y`` is refused."""
        self._classes_of(y, 0)
        X = np.asarray(X)
        single = X.shape == tuple(self.input_shape_)
        return self.transform(X[None] if single else X, continuous=True), single

    def evaluation_metrics(
        self, X: np.ndarray, *, nll_samples: int = 0, progress: bool | None = None
    ) -> dict[str, Any]:
        """Over the codes of ``X``: ``codebook_usage`` (the share of codes that at
        least one example uses) and ``perplexity`` (``exp`` of the entropy of the
        codes' frequencies, at most K), each the mean over levels, and
        ``bits_per_example`` (positions × levels × log2 K)."""
        indices = self.transform(X)
        usage, perplexity = usage_and_perplexity(
            code_counts(indices, self.codebook_size, self.levels)
        )
        return {
            "codebook_usage": float(np.mean(usage)),
            "perplexity": float(np.mean(perplexity)),
            "bits_per_example": float(indices[0].size * math.log2(self.codebook_size)),
            **self.prior_metrics(X),
        }

    # -- export and persistence --------------------------------------------------------
    def _encoder_module(self) -> torch.nn.Module:
        """Examples → indices (n, *code_shape_), int64: ``transform`` in torch."""
        module = on_cpu(self).module_
        shape = model_shape_of(tuple(self.input_shape_))
        return IndexEncoder(self.scaling_, module.encoder, module.head, shape, self.code_shape_)

    def _decoder_module(self) -> torch.nn.Module:
        """Indices (n, *code_shape_) → the mean reconstruction: ``inverse_transform``."""
        module = on_cpu(self).module_
        return IndexDecoder(
            self.scaling_, module.decoder, module.head, module.likelihood, self.input_shape_
        )

    def _decoder_input(self, n: int) -> torch.Tensor:
        return torch.zeros((n, *self.code_shape_), dtype=torch.long)

    def _export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        weights, fitted = super()._export()
        fitted["prior_history_"] = self.prior_history_
        return {**weights, **self._prior_weights()}, fitted

    def _restore(self, fitted: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        own = {k: v for k, v in weights.items() if not k.startswith(PRIOR_KEY)}
        super()._restore(fitted, own)
        self._restore_prior(fitted, weights)
