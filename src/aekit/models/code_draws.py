"""Drawing codes and their log-density: the prior p(z) of a VAE, or the densities
fitted to the training codes (:mod:`aekit.models.code_densities`), per class for a
conditional model (:mod:`aekit.models.conditions`).

:class:`CodeDrawMixin` is the base of :class:`~aekit.models.generation.GenerativeMixin`;
it uses the host's ``module_``, ``device_``, ``code_width``, ``default_sample_method``,
``_density``, ``_classes_of`` and the per-class draws of
:class:`~aekit.models.conditions.ConditionalMixin`.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from aekit.validation import check_choice, check_data, check_positive

SAMPLE_METHODS = ("prior", "gaussian", "gmm", "chain")
CODE_METHODS = SAMPLE_METHODS[:-1]  # the chain draws examples, not codes


class CodeDrawMixin:
    """Code draws and code log-densities of a fitted neural autoencoder."""

    def _draw_arguments(
        self, n: int, method: str | None, temperature: float, y: Any, methods: tuple[str, ...]
    ) -> tuple[str, torch.Tensor | None]:
        """The checked arguments of a draw: its method (the default for ``None``) and
        the class indices of ``y`` (``None`` for a model fitted without classes)."""
        check_is_fitted(self, "module_")
        check_positive(n, "n", integer=True)
        method = self.default_sample_method if method is None else method
        check_choice(method, "method", methods)
        check_positive(temperature, "temperature", allow_zero=True)
        return method, self._classes_of(y, n)

    def _draw_codes(
        self, n: int, method: str, seed: int, temperature: float, classes: torch.Tensor | None
    ) -> torch.Tensor:
        """``n`` codes (CPU, float32) of the prior or of a code density (per class)."""
        if method == "prior":
            return self.module_.prior.sample(n, torch.Generator().manual_seed(seed), temperature)
        rng = np.random.default_rng(seed)
        if classes is None:
            z = self._density(method).sample(n, rng, temperature)
        else:
            z = self._class_code_draws(method, classes.cpu().numpy(), rng, temperature)
        return torch.from_numpy(z.astype(np.float32))

    @torch.no_grad()
    def sample_codes(
        self,
        n: int,
        *,
        method: str | None = None,
        random_state: int | None = None,
        temperature: float = 1.0,
        y: Any = None,
    ) -> np.ndarray:
        """The codes :meth:`sample` decodes (same arguments, same draws): shape (n, d).

        Examples
        --------
        >>> import numpy as np
        >>> from aekit import Autoencoder
        >>> X = np.random.default_rng(0).random((64, 10), dtype=np.float32)
        >>> ae = Autoencoder(latent_dim=2, hidden=(8,), epochs=1, random_state=0).fit(X)
        >>> ae.sample_codes(5, random_state=0).shape
        (5, 2)
        """
        method, classes = self._draw_arguments(n, method, temperature, y, CODE_METHODS)
        return self._draw_codes(n, method, seed_of(random_state), temperature, classes).numpy()

    @torch.no_grad()
    def code_log_density(self, Z: Any, y: Any = None, *, method: str | None = None) -> np.ndarray:
        """Log-density in nats of each code (row of ``Z``) under the density that
        :meth:`sample` draws from: the prior p(z) (``"prior"``), or the Gaussian /
        mixture fitted to the training codes (``"gaussian"`` / ``"gmm"``), for a
        conditional model those of the class ``y`` (one, or one per row).

        Examples
        --------
        >>> import numpy as np
        >>> from aekit import VAE
        >>> X = np.random.default_rng(0).random((64, 10), dtype=np.float32)
        >>> vae = VAE(latent_dim=2, likelihood="bernoulli", epochs=1, random_state=0).fit(X)
        >>> vae.code_log_density(np.zeros((1, 2))).round(3)  # log N(0 | 0, I), d = 2
        array([-1.838])
        """
        check_is_fitted(self, "module_")
        method = self.default_sample_method if method is None else method
        check_choice(method, "method", CODE_METHODS)
        Z = check_data(Z, what="Z").astype(np.float64)
        if Z.ndim != 2 or Z.shape[1] != self.code_width:
            raise ValueError(f"Z must have shape (n, {self.code_width}); got {Z.shape}.")
        classes = self._classes_of(y, len(Z))
        if method == "prior":
            z = torch.from_numpy(Z.astype(np.float32)).to(self.device_)
            return self.module_.prior.log_prob(z).double().cpu().numpy()
        if classes is None:
            return self._density(method).log_prob(Z)
        return self._class_code_log_densities(method, classes.cpu().numpy(), Z)


def seed_of(random_state: int | None) -> int:
    """``random_state``, or a fresh random seed."""
    return random_state if random_state is not None else secrets.randbelow(2**31)
