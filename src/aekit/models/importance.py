"""The importance-sampled log-likelihood of a VAE, and how far from converged it is.

``log p̂_K(x) = log (1/K) Σ_k w_k`` with ``w_k = p(x, z_k) / q(z_k|x)`` and
``z_k ~ q(z|x)`` (the IWAE bound of Burda et al. 2016). Its expectation is a lower
bound on ``log p(x)`` that rises with ``K`` (Jensen's inequality on an unbiased
estimate of ``p(x)``): the estimate is biased low, and the bias shrinks only as the
weights' tail is explored. The delta-method Monte-Carlo standard error describes
the spread of ``log p̂_K`` between draws of its samples; it says nothing about the
bias, so it is no error bar on ``log p(x)``. Beside it :class:`ImportanceEstimate`
keeps the estimate from the first ``K/10`` of the same samples: the rise from
``K/10`` to ``K`` shows how far the bound was still moving, and a rise well above
the spread says that ``K`` is not yet plenty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from aekit.training.device import to_device
from aekit.validation import check_positive

# Decoder outputs per importance-sampling chunk. On a CPU, chunks that stay in cache run
# 1.65x faster than 2**25 (measured, BENCHMARKS.md "IWAE evaluation"); a GPU wants large ones.
CHUNK_ELEMENTS = {"cpu": 2**21, "cuda": 2**25}


@dataclass
class ImportanceEstimate:
    """Per-example estimates, in nats, of one importance-sampling pass.

    ``log_p``: with all ``n_samples`` samples; ``mc_stderr``: its delta-method
    Monte-Carlo standard error ``sqrt((mean w² / (mean w)² − 1) / K)``;
    ``log_p_tenth``: with the first ``tenth_samples = max(1, K // 10)`` samples.
    """

    log_p: np.ndarray
    mc_stderr: np.ndarray
    log_p_tenth: np.ndarray
    n_samples: int

    @property
    def tenth_samples(self) -> int:
        return max(1, self.n_samples // 10)

    def metrics(self) -> dict[str, Any]:
        """The evaluation's fields: the estimate, its spread over examples and its
        Monte-Carlo spread, the estimate at K/10 and the rise from there to K."""
        ll, n = self.log_p, len(self.log_p)
        rise = ll - self.log_p_tenth
        return {
            "log_likelihood_nats": float(ll.mean()),
            "log_likelihood_stderr": float(ll.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0,
            # the spread of the mean between draws of the samples, not its bias
            "log_likelihood_mc_stderr": float(np.sqrt(np.sum(self.mc_stderr**2)) / n),
            "log_likelihood_tenth_nats": float(self.log_p_tenth.mean()),
            "log_likelihood_tenth_samples": self.tenth_samples,
            "log_likelihood_rise_nats": float(rise.mean()),
            "log_likelihood_note": (
                "a stochastic lower bound on log p(x), biased low; the rise from K/10 to K "
                "samples shows how far from converged it is, and the Monte-Carlo stderr is "
                "its spread between draws, not an error bar on log p(x)."
            ),
            "nll_nats": -float(ll.mean()),
            "nll_samples": self.n_samples,
        }


def chunk_sizes(
    values: int,
    n_samples: int,
    device: torch.device,
    batch_size: int | None = None,
    max_elements: int | None = None,
) -> tuple[int, int]:
    """Examples per batch and samples per chunk, so that about ``max_elements``
    decoder outputs (``values`` per sample) exist at once (default
    :data:`CHUNK_ELEMENTS` for the device)."""
    if max_elements is None:
        max_elements = CHUNK_ELEMENTS.get(device.type, CHUNK_ELEMENTS["cuda"])
    check_positive(max_elements, "max_elements", integer=True)
    if batch_size is not None:
        check_positive(batch_size, "batch_size", integer=True)
    else:
        batch_size = int(max(1, min(1024, max_elements // (values * min(n_samples, 256)))))
    return batch_size, int(max(1, min(n_samples, max_elements // (values * batch_size))))


@torch.no_grad()
def importance_sample(
    module: torch.nn.Module,
    Xt: torch.Tensor,
    n_samples: int,
    *,
    batch_size: int,
    k_chunk: int,
    device: torch.device,
    jacobian: float = 0.0,
    progress: bool = False,
    classes: torch.Tensor | None = None,
) -> ImportanceEstimate:
    """:class:`ImportanceEstimate` of each example of ``Xt`` (model-shaped): examples
    ``batch_size`` at a time, samples ``k_chunk`` at a time, the sums of ``w`` and
    ``w²`` accumulated in float64 by log-sum-exp; ``jacobian`` (the scaling's log
    determinant) is subtracted so the densities are in the user's units. A conditional
    ``module`` takes each example's class from ``classes`` (log p(x | y)). Draws from
    torch's global generator: the caller seeds it."""
    n = len(Xt)
    tenth = max(1, n_samples // 10)
    out = np.empty((3, n), dtype=np.float64)  # log p̂_K, its stderr, log p̂_{K/10}
    bar = tqdm(total=n, disable=not progress, desc="log p(x)", unit="ex")
    for i in range(0, n, batch_size):
        xb = to_device(Xt[i : i + batch_size], device)
        condition = None if classes is None else to_device(classes[i : i + batch_size], device)
        q = module.encode(xb, condition)
        # log Σ w, log Σ w² over all samples and log Σ w over the first K/10
        sums = torch.full((3, len(xb)), -math.inf, dtype=torch.float64, device=xb.device)
        for start in range(0, n_samples, k_chunk):
            k = min(k_chunk, n_samples - start)
            log_w = module.log_weights(xb, q, k, condition).double()
            first = log_w[: max(0, tenth - start)]
            chunk = torch.stack(
                [torch.logsumexp(log_w, 0), torch.logsumexp(2 * log_w, 0), first.logsumexp(0)]
            )
            sums = torch.logaddexp(sums, chunk)
        log_m1, log_m2, log_t = sums.cpu().numpy()
        log_m1, log_m2 = log_m1 - math.log(n_samples), log_m2 - math.log(n_samples)
        rel_var = np.expm1(np.maximum(log_m2 - 2 * log_m1, 0.0))
        out[0, i : i + len(xb)] = log_m1 - jacobian
        out[1, i : i + len(xb)] = np.sqrt(rel_var / n_samples)
        out[2, i : i + len(xb)] = log_t - math.log(tenth) - jacobian
        bar.update(len(xb))
    bar.close()
    return ImportanceEstimate(out[0], out[1], out[2], n_samples)
