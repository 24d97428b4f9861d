"""The numerical kernels of :class:`aekit.models.pca.PCA`: covariance, eigen- and singular
value decompositions on torch tensors and NumPy's BLAS, in float64 where it counts.

The covariance solver never copies ``X`` whole: on the CPU it reads ``X`` in place
when the products run in ``X``'s own precision and its columns do not sit far from
zero, and in shifted row chunks otherwise; ``"svd"`` and ``"randomized"`` work on a
centred copy. Constant features are left out of the eigenproblem (they only add
zero eigenvalues), which is exact.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
import scipy.linalg
import torch
from threadpoolctl import threadpool_limits

ROWS = 16384  # rows per chunk: bounds the working copy to ~100 MB at D = 784
_BLOCK = 384  # column-block width of the symmetric Gram product
# the most cancellation (mean square / variance of a column) accepted in a covariance
# taken from the unshifted Gram matrix: 4 of float32's 24 bits, 12 of float64's 53
_MAX_CANCELLATION = {np.float32: 2.0**4, np.float64: 2.0**12}


def chunks(X: np.ndarray, device: torch.device, rows: int = ROWS):
    """Float64 tensors on ``device`` holding ``rows`` rows of ``X`` at a time."""
    for start in range(0, len(X), rows):
        yield host_tensor(X[start : start + rows]).to(device=device, dtype=torch.float64)


def host_tensor(X: np.ndarray) -> torch.Tensor:
    """``X`` as a CPU tensor sharing its memory (read-only input is never written)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(X)


def covariance_eigh(
    X: np.ndarray, sums: np.ndarray, k: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, every covariance eigenvalue (descending) and the top-``k`` eigenvectors.

    ``sums`` are the float64 column sums of ``X``.

    Constant columns (the blank border of MNIST digits, say) have zero covariance
    with everything: they are left out of the eigenproblem (and, when found before
    it, of the Gram product), and contribute zero eigenvalues with coordinate
    eigenvectors. This is exact.
    """
    n, D = X.shape
    found = None
    if device.type == "cpu" and X.dtype == (np.float64 if dtype == torch.float64 else np.float32):
        found = _covariance_in_place(X, sums)
    if found is None:
        varying = np.flatnonzero(X.min(0) != X.max(0))
        mean = torch.from_numpy(np.array(X[0], dtype=np.float64)).to(device)
        if len(varying):
            cols = torch.as_tensor(varying, device=device)
            mean[cols], cov = _covariance(X, varying, device, dtype)
    else:
        varying, mean, cov = found
    m = len(varying)
    evals = torch.zeros(D, dtype=torch.float64, device=device)
    components = torch.zeros((k, D), dtype=torch.float64, device=device)
    if m:
        top = min(k, m)
        values, vectors = _top_eigh(cov, top)
        evals[:m] = values.clamp(min=0.0)
        components[:top, torch.as_tensor(varying, device=device)] = vectors.T
    if k > m:  # zero-variance directions: coordinate axes of constant columns
        constant = np.setdiff1d(np.arange(D), varying)[: k - m]
        components[np.arange(m, k), constant] = 1.0
    return mean, evals, components


def svd_spectrum(
    X: np.ndarray,
    sums: np.ndarray,
    k: int,
    device: torch.device,
    dtype: torch.dtype,
    solver: str,
    n_oversamples: int,
    n_power_iter: int,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor, float]:
    """PCA by the SVD of the centred data, exact (``solver="svd"``) or randomized.

    ``sums`` are the float64 column sums of ``X``. Returns the mean, the top-``k``
    covariance eigenvalues, all of them (``None`` for the randomized solver), the
    top-``k`` components (rows) and the total variance.
    """
    n, D = X.shape
    Xc = host_tensor(X).to(device=device, dtype=dtype, copy=True)
    mean = torch.from_numpy(sums / n).to(device)
    Xc -= mean.to(dtype)
    total = float(torch.linalg.vector_norm(Xc, dtype=torch.float64)) ** 2 / (n - 1)
    if solver == "svd":
        if n > D:  # the SVD of R in Xc = QR: the same S and V, without the n x D U
            Xc = torch.linalg.qr(Xc, mode="r").R
        with lapack_threads(device, min(Xc.shape)):
            _, S, components = torch.linalg.svd(Xc, full_matrices=False)
        full = S.double().square() / (n - 1)
    else:
        S, components = randomized_svd(Xc, k, n_oversamples, n_power_iter, seed)
        full = None
    values = S[:k].double().square() / (n - 1)
    return mean, values, full, components[:k].double(), total


def _top_eigh(cov: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every eigenvalue of the symmetric ``cov`` (descending) and the top-``k``
    eigenvectors (columns).

    On the CPU, LAPACK's ``dsyevr`` computes only the ``k`` wanted eigenvectors
    (PCA keeps few of hundreds) and a second reduction gives the eigenvalues,
    which together cost less than a full ``eigh``.
    """
    m = len(cov)
    if cov.device.type != "cpu":
        values, vectors = torch.linalg.eigh(cov)  # ascending
        return values.flip(0), vectors[:, m - k :].flip(1)
    matrix = cov.numpy()
    with lapack_threads(cov.device, m):
        values = scipy.linalg.eigvalsh(matrix, check_finite=False)
        _, vectors = scipy.linalg.eigh(
            matrix, subset_by_index=(m - k, m - 1), driver="evr", check_finite=False
        )
    return torch.from_numpy(values[::-1].copy()), torch.from_numpy(vectors[:, ::-1].copy())


def _covariance(
    X: np.ndarray, columns: np.ndarray, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (``n - 1`` normalisation) of ``X[:, columns]``, in float64.

    One pass over row chunks. Each chunk is shifted by the mean of the first chunk
    before its Gram matrix is taken, so the final correction ``- n d d^T`` (``d``:
    mean of the shifted data) is small and cancels no digits even when the data
    sit far from zero. The products run in ``dtype``; chunks are summed in float64.
    Only the lower block-triangle of the symmetric Gram matrix is multiplied
    (about 3/4 of the work of a full product).
    """
    if device.type == "cpu":
        return _covariance_numpy(X, columns, dtype)
    n, m = len(X), len(columns)
    rows = min(ROWS, n)
    host = host_tensor(X)
    select = None if m == X.shape[1] else torch.as_tensor(columns)

    def chunk_of(start: int) -> torch.Tensor:
        part = host[start : start + rows]
        return part if select is None else part.index_select(1, select)

    shift = chunk_of(0).to(device=device, dtype=torch.float64).mean(0).to(dtype)
    buf = torch.empty((rows, m), dtype=dtype, device=device)
    gram = torch.zeros((m, m), dtype=torch.float64, device=device)
    part = gram if dtype == torch.float64 else torch.empty((m, m), dtype=dtype, device=device)
    total = torch.zeros(m, dtype=torch.float64, device=device)
    edges = np.linspace(0, m, max(1, round(m / _BLOCK)) + 1).astype(int)
    for start in range(0, n, rows):
        chunk = buf[: min(rows, n - start)]
        chunk.copy_(chunk_of(start))  # to the device, in dtype
        chunk -= shift
        total += chunk.sum(0, dtype=torch.float64)
        if part is not gram:
            part.zero_()
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            part[lo:, lo:hi].addmm_(chunk[:, lo:].T, chunk[:, lo:hi])
        if part is not gram:
            gram += part
    gram = torch.tril(gram)
    gram += torch.tril(gram, -1).T
    delta = total / n
    cov = (gram - n * torch.outer(delta, delta)) / (n - 1)
    return shift.double() + delta, cov


def _covariance_numpy(
    X: np.ndarray, columns: np.ndarray, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_covariance` on the CPU with NumPy's BLAS.

    Same arithmetic (shifted chunks, products in ``dtype``, sums in float64), but
    ``chunk.T @ chunk`` goes to NumPy, which hands it to BLAS's symmetric rank-k
    update, which on the CPU is faster than PyTorch's general product
    (``bench/pca.py``). Each chunk is cast and shifted in one pass into a reused
    buffer. When most columns vary, all of them go into the product and the
    varying block is cut out of the Gram matrix afterwards: a slightly larger
    product is cheaper than gathering the columns of every chunk.
    """
    n, D = X.shape
    rows, m = min(ROWS, n), len(columns)
    work = np.float64 if dtype == torch.float64 else np.float32
    gather = m < 0.8 * D
    width = m if gather else D

    def chunk_of(start: int) -> np.ndarray:
        part = X[start : start + rows]
        return part[:, columns] if gather else part

    shift = chunk_of(0).mean(axis=0, dtype=np.float64).astype(work)
    buf = np.empty((rows, width), dtype=work)
    gram = np.zeros((width, width))
    total = np.zeros(width)
    for start in range(0, n, rows):
        part = chunk_of(start)
        chunk = buf[: len(part)]
        np.subtract(part, shift, out=chunk, dtype=work)
        total += chunk.sum(axis=0, dtype=np.float64)
        gram += chunk.T @ chunk
    if not gather:
        shift, total, gram = shift[columns], total[columns], gram[np.ix_(columns, columns)]
    delta = total / n
    cov = (gram - n * np.outer(delta, delta)) / (n - 1)
    return torch.from_numpy(shift.astype(np.float64) + delta), torch.from_numpy(cov)


def _covariance_in_place(
    X: np.ndarray, sums: np.ndarray
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor] | None:
    """Varying columns, mean, and covariance of the varying columns of ``X``, from
    the Gram matrix of ``X`` itself.

    No copy of the data: ``X^T X`` in ``X``'s own precision (BLAS's symmetric
    rank-k update reads ``X`` in place), the mean from the float64 ``sums``, and the
    textbook ``(X^T X - n m m^T) / (n - 1)`` formed in float64. That difference
    cancels about ``log2(kappa)`` bits of the products, ``kappa`` the largest
    ratio of a column's mean square to its variance. Returns
    ``None`` when ``kappa`` exceeds ``_MAX_CANCELLATION`` (data far from zero, or a
    constant column other than zeros, which the Gram matrix cannot tell exactly
    from a varying one), for the caller to take the shifted, exact route.
    """
    n = len(X)
    gram = (X.T @ X).astype(np.float64, copy=False)
    mean = sums / n
    mean_square = np.diagonal(gram) / n
    columns = np.flatnonzero(mean_square > 0)  # the rest are all zero: constant
    part, square = mean[columns], mean_square[columns]
    if np.any((square - part**2) * _MAX_CANCELLATION[X.dtype.type] < square):
        return None
    cov = (gram[np.ix_(columns, columns)] - n * np.outer(part, part)) / (n - 1)
    return columns, torch.from_numpy(mean), torch.from_numpy(cov)


@contextmanager
def lapack_threads(device: torch.device, size: int):
    """Run a CPU eigen- or singular value decomposition of side ``size`` <= 2048 on
    one thread.

    LAPACK's reductions to tridiagonal or bidiagonal form are long chains of small
    parallel regions: at such sizes threads gain little, and on a machine whose
    cores are busy every region waits for a time slice, which makes them tens of
    times slower.
    """
    if device.type != "cpu" or size > 2048:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1, user_api="blas"):  # SciPy's LAPACK
            yield
    finally:
        torch.set_num_threads(threads)


def randomized_svd(
    Xc: torch.Tensor, k: int, n_oversamples: int, n_power_iter: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` singular values and right singular vectors of the centred ``Xc``.

    Randomized subspace iteration (Halko, Martinsson & Tropp 2011, Algorithm 4.4):
    a Gaussian test matrix, ``n_power_iter`` rounds of ``Xc Xc^T`` with the basis
    re-orthonormalised after every product, then the exact SVD of the small
    projected matrix.
    """
    n, D = Xc.shape
    width = min(k + n_oversamples, n, D)
    generator = torch.Generator().manual_seed(seed)  # on the CPU: same draw on any device
    omega = torch.randn((D, width), generator=generator, dtype=torch.float64)
    Q = _orthonormal(Xc @ omega.to(device=Xc.device, dtype=Xc.dtype))
    for _ in range(n_power_iter):
        Q = _orthonormal(Xc @ _orthonormal(Xc.T @ Q))
    with lapack_threads(Xc.device, width):
        _, S, Vt = torch.linalg.svd(Q.T @ Xc, full_matrices=False)
    return S[:k], Vt[:k]


def _orthonormal(Y: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis of the columns of a tall ``Y``.

    Cholesky QR twice (CholQR2): matrix products and a small Cholesky factor, far
    faster than Householder QR on tall matrices. Householder QR takes over when
    ``Y`` is too ill-conditioned for it (rank-deficient data, say).
    """
    Q, width = Y, Y.shape[1]
    identity = torch.eye(width, dtype=Y.dtype, device=Y.device)
    for _ in range(2):
        gram = Q.T @ Q
        with lapack_threads(Y.device, width):  # width x width: one thread is fastest
            R, info = torch.linalg.cholesky_ex(gram, upper=True)
            if int(info) != 0:
                return torch.linalg.qr(Y).Q
            R_inv = torch.linalg.solve_triangular(R, identity, upper=True)
        Q = Q @ R_inv
    if (Q.T @ Q - identity).abs().max() > 100 * width * torch.finfo(Q.dtype).eps:
        return torch.linalg.qr(Y).Q
    return Q


def flip_signs(components: torch.Tensor) -> torch.Tensor:
    """Make the entry of largest magnitude of each row positive (as scikit-learn)."""
    biggest = components.abs().argmax(1, keepdim=True)
    signs = torch.sign(components.gather(1, biggest))
    signs[signs == 0] = 1.0
    return components * signs
