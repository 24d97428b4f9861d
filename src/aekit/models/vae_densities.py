"""The VAE's densities in nats: its ELBO and importance-sampled log-likelihood.

:class:`DensityMixin` gives :class:`~aekit.VAE` ``score``, ``score_samples``,
``elbo_parts``, ``log_likelihood``, ``importance_estimate`` and what evaluation
reports of them. A conditional VAE (:mod:`aekit.models.conditions`) computes each
at the class ``y`` of every example: its ELBO ``E_q log p(x|z, y) − KL(q(z|x, y) ‖
p(z))`` and ``log p(x | y)``, estimated with ``z_k ~ q(z | x, y)``; ``y`` is one
class for all examples or one each, as ``transform`` takes it.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from aekit.data.values import is_binary
from aekit.models.density_units import density_units
from aekit.models.importance import ImportanceEstimate, chunk_sizes, importance_sample
from aekit.training.device import to_device
from aekit.validation import check_positive


class DensityMixin:
    """The ELBO and log-likelihood of a fitted VAE, at its classes when conditional."""

    def evaluation_metrics(
        self,
        X: np.ndarray,
        *,
        y: Any = None,
        nll_samples: int = 0,
        progress: bool | None = None,
    ) -> dict[str, Any]:
        """What evaluation adds for a VAE on ``X`` (of classes ``y``, for a conditional
        model): the ELBO's parts in nats, with ``nll_samples`` the importance-sampled
        log-likelihood and its errors, bits per dimension for dequantised data, and a
        note when a Bernoulli likelihood meets grey levels."""
        out: dict[str, Any] = {}
        if self.likelihood == "bernoulli" and not is_binary(X):
            out["note"] = (
                "Bernoulli likelihood on non-binary values: the ELBO and log-likelihood are "
                "cross-entropies, not log-probabilities of these data (train with binarize="
                "'dynamic', --binarize dynamic, to be evaluated on a fixed binarisation)."
            )
        out.update({f"{k}_nats": v for k, v in self.elbo_parts(X, y=y).items()})
        if nll_samples:
            show = sys.stderr.isatty() if progress is None else progress
            out.update(self.importance_estimate(X, nll_samples, y=y, progress=show).metrics())
        D, dequantized = self.n_features_in_, bool(self.dequantize)
        out.update(density_units(self.likelihood, dequantized, D, X, out))
        return out

    @torch.no_grad()
    def elbo_parts(
        self, X: Any, random_state: int | None = 0, *, y: Any = None
    ) -> dict[str, float]:
        """Mean ELBO, reconstruction log-likelihood and KL over ``X`` (nats per example),
        at the classes ``y`` of a conditional model.

        One reparametrised sample per example (the usual estimate); seeded.

        Examples
        --------
        >>> import numpy as np
        >>> from aekit import VAE
        >>> X = np.random.default_rng(0).random((60, 10), dtype=np.float32)
        >>> y = np.arange(60) % 3
        >>> vae = VAE(latent_dim=2, hidden=(8,), epochs=1, conditional=True, random_state=0)
        >>> sorted(vae.fit(X, y).elbo_parts(X, y=y))
        ['elbo', 'kl', 'reconstruction']
        """
        Xt = self._check_X(X)
        classes = self._classes_of(y, len(Xt))
        self.module_.eval()
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(self.seed_ if random_state is None else random_state)
            sums: dict[str, float] = {}
            for i in range(0, len(Xt), 2048):
                xb = to_device(Xt[i : i + 2048], self.device_)
                condition = None if classes is None else classes[i : i + 2048]
                parts = self.module_(xb, condition=condition)
                for key in ("elbo", "nll", "kl"):
                    sums[key] = sums.get(key, 0.0) + float(parts[key]) * len(xb)
        n = len(Xt)
        jacobian = self.scaling_.log_det()  # densities in the user's units
        return {
            "elbo": sums["elbo"] / n - jacobian,
            "reconstruction": -sums["nll"] / n - jacobian,
            "kl": sums["kl"] / n,
        }

    def score_samples(self, X: Any, random_state: int | None = 0, *, y: Any = None) -> np.ndarray:
        """The ELBO of each example in nats (at its class ``y``, for a conditional
        model), higher for more normal examples.

        One reparametrised sample ``z = μ(x) + σ(x) ε`` per example, with the same
        seeded draw ``ε ~ N(0, I)`` for every example (common random numbers): each
        score is an unbiased one-sample ELBO estimate that depends on the example
        alone, not on its position or batch, so ``predict`` does not change when
        the examples are reordered.

        Returns
        -------
        ndarray of shape (n,), float64
        """
        Xt = self._check_X(X)
        return self._codes_and_scores(Xt, random_state, self._classes_of(y, len(Xt)))[1]

    def _codes_and_scores(
        self,
        Xt: torch.Tensor,
        random_state: int | None = 0,
        classes: torch.Tensor | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The posterior means and the one-sample ELBOs of ``Xt`` (model-shaped, of
        ``classes``), from one encoder pass (see :meth:`score_samples`)."""
        rng = torch.Generator().manual_seed(self.seed_ if random_state is None else random_state)
        eps = torch.randn(self.module_.code_draws, generator=rng).to(self.device_)

        def codes_and_elbo(x: torch.Tensor, *condition: torch.Tensor) -> torch.Tensor:
            q, elbo = self.module_.elbo(x, eps, *condition)
            return torch.cat([q.mean, elbo[:, None].to(q.mean.dtype)], dim=1)

        out = self._batched(codes_and_elbo, Xt, batch_size=256, padded=True, classes=classes)
        return out[:, :-1], out[:, -1].astype(np.float64) - self.scaling_.log_det()

    def score(self, X: Any, y: Any = None) -> float:
        """Mean ELBO per example in nats (higher is better), at the classes ``y`` of a
        conditional model (``y`` is ignored otherwise, as scikit-learn's conventions
        ask). With the Bernoulli likelihood it is a log-probability only for binary
        data; on grey levels it is a cross-entropy (``aekit.runs.evaluation.evaluate``
        says so in its output)."""
        return self.elbo_parts(X, y=None if self.classes_ is None else y)["elbo"]

    @torch.no_grad()
    def log_likelihood(
        self,
        X: Any,
        n_samples: int = 1000,
        *,
        y: Any = None,
        batch_size: int | None = None,
        max_elements: int | None = None,
        random_state: int | None = 0,
        progress: bool = False,
        return_mc_stderr: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Importance-sampled ``log p(x)`` per example, in nats (the IWAE bound); for a
        conditional model ``log p(x | y)`` at the classes ``y``.

        ``log (1/K) Σ_k p(x, z_k) / q(z_k|x)`` with ``z_k ~ q(z|x)``, computed with
        logsumexp. It is a stochastic lower bound on ``log p(x)``, biased low, that
        tightens as ``K`` grows; ``K = 1`` is the ELBO. How far it still moves:
        :meth:`importance_estimate`. Memory is bounded: examples are taken
        ``batch_size`` at a time and the ``K`` samples in chunks so that no more than
        about ``max_elements`` decoder outputs exist at once. The log-sum-exp over
        the ``K`` samples is accumulated in float64.

        Parameters
        ----------
        X : array-like
        n_samples : int, default=1000
            K, the number of importance samples per example.
        y : array-like, optional
            A conditional model's class of every example (one for all, or one each):
            ``p(x, z_k | y) / q(z_k | x, y)`` with ``z_k ~ q(z | x, y)``.
        batch_size : int, optional
            Examples per chunk (default: as many as ``max_elements`` allows, ≤ 1024).
        max_elements : int, optional
            Decoder outputs per chunk (default: 2**21 on a CPU, where chunks that
            fit in cache are fastest; 2**25 on a GPU).
        random_state : int, optional
            Seed of the samples (default 0: repeatable).
        progress : bool, default=False
            Show a progress bar over examples.
        return_mc_stderr : bool, default=False
            Also return each estimate's Monte-Carlo standard error, by the delta
            method from the same samples: ``sqrt((mean w² / (mean w)² − 1) / K)``
            with ``w = p(x, z_k) / q(z_k|x)``: the spread between draws of the
            samples, not an error bar on ``log p(x)``, whose bias it misses.

        Returns
        -------
        ndarray of shape (n,), float64
            With ``return_mc_stderr``, a pair: the estimates and their standard errors.

        Examples
        --------
        >>> import numpy as np
        >>> from aekit import VAE
        >>> X = np.random.default_rng(1).random((30, 4), dtype=np.float32)
        >>> vae = VAE(latent_dim=1, hidden=(4,), epochs=1, random_state=0).fit(X)
        >>> log_p, stderr = vae.log_likelihood(X, n_samples=8, return_mc_stderr=True)
        >>> log_p.shape == stderr.shape == (30,)
        True
        """
        estimate = self.importance_estimate(
            X,
            n_samples,
            y=y,
            batch_size=batch_size,
            max_elements=max_elements,
            random_state=random_state,
            progress=progress,
        )
        return (estimate.log_p, estimate.mc_stderr) if return_mc_stderr else estimate.log_p

    @torch.no_grad()
    def importance_estimate(
        self,
        X: Any,
        n_samples: int = 1000,
        *,
        y: Any = None,
        batch_size: int | None = None,
        max_elements: int | None = None,
        random_state: int | None = 0,
        progress: bool = False,
    ) -> ImportanceEstimate:
        """:meth:`log_likelihood` with its diagnostics: the per-example estimates at
        ``K = n_samples``, their Monte-Carlo standard errors, and the estimates from
        the first ``K/10`` of the same samples, whose rise to ``K`` shows how far the
        lower bound is from converged (:class:`aekit.models.importance.ImportanceEstimate`,
        whose ``metrics()`` are what ``evaluate`` reports)."""
        check_positive(n_samples, "n_samples", integer=True)
        Xt = self._check_X(X)
        classes = self._classes_of(y, len(Xt))
        self.module_.eval()
        D = self.n_features_in_ * self.module_.likelihood.params_per_value
        batch_size, k_chunk = chunk_sizes(D, n_samples, self.device_, batch_size, max_elements)
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(self.seed_ if random_state is None else random_state)
            return importance_sample(
                self.module_,
                Xt,
                n_samples,
                batch_size=batch_size,
                k_chunk=k_chunk,
                device=self.device_,
                jacobian=self.scaling_.log_det(),
                progress=progress,
                classes=classes,
            )
