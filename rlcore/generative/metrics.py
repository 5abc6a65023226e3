"""Sample-based distances between distributions: MMD and sliced Wasserstein.

Both take samples x (n, d) and y (m, d) as torch tensors; y is the reference (held-out data).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from rlcore.validation import check_int, check_range

__all__ = ["median_bandwidth", "mmd2", "rbf_kernel", "sliced_wasserstein"]

BANDWIDTH_MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0)


def _check_pair(x: Tensor, y: Tensor) -> None:
    for name, a in (("x", x), ("y", y)):
        if not torch.is_tensor(a) or a.dim() != 2 or a.shape[0] < 2:
            shape = tuple(a.shape) if torch.is_tensor(a) else type(a).__name__
            raise ValueError(f"{name} must be a tensor of shape (n >= 2, d), got {shape}.")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} differ in dimension d.")


def rbf_kernel(x: Tensor, y: Tensor, bandwidths: Sequence[float]) -> Tensor:
    """k(x_i, y_j) = sum_h exp(-||x_i - y_j||^2 / (2 h^2)); x (n, d), y (m, d) -> (n, m)."""
    d2 = torch.cdist(x, y).pow(2)
    return sum(torch.exp(-d2 / (2.0 * h * h)) for h in bandwidths)


def median_bandwidth(y: Tensor) -> float:
    """Median pairwise Euclidean distance within y (n, d), off the diagonal (the median heuristic)."""
    d = torch.cdist(y, y)
    n = y.shape[0]
    return float(d[~torch.eye(n, dtype=torch.bool, device=y.device)].median())


def mmd2(x: Tensor, y: Tensor, bandwidths: Sequence[float] | None = None) -> float:
    """Unbiased squared maximum mean discrepancy (Gretton et al. 2012, eq. 3).

        MMD^2 = mean_{i != i'} k(x_i, x_i') + mean_{j != j'} k(y_j, y_j') - 2 mean_{i, j} k(x_i, y_j)

    with the multi-bandwidth RBF kernel of :func:`rbf_kernel`. By default the bandwidths are
    (0.25, 0.5, 1, 2, 4) times the median pairwise distance of the *reference* y alone, so a
    sampler cannot widen the kernel by spreading its samples. The estimate can be slightly
    negative when the distributions match.

    Args:
        x: (n, d) samples; y: (m, d) reference samples.
        bandwidths: kernel bandwidths h (> 0); None for the median rule above.
    """
    _check_pair(x, y)
    x, y = x.to(torch.float64), y.to(torch.float64)
    if bandwidths is None:
        h = median_bandwidth(y)
        bandwidths = [c * h for c in BANDWIDTH_MULTIPLIERS]
    for h in bandwidths:
        check_range("bandwidth", h, 0.0, low_open=True)
    n, m = x.shape[0], y.shape[0]
    k_xx, k_yy, k_xy = (rbf_kernel(a, b, bandwidths) for a, b in ((x, x), (y, y), (x, y)))
    term_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    term_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    n_projections: int = 256,
    p: float = 2.0,
    generator: torch.Generator | None = None,
) -> float:
    """Sliced p-Wasserstein distance (Bonneel et al. 2015): (E_theta W_p^p(theta.x, theta.y))^(1/p).

    theta is uniform on the unit sphere (``n_projections`` Monte Carlo directions); each 1-D
    W_p compares the empirical quantile functions at levels (i + 1/2) / max(n, m).

    Args:
        x: (n, d) samples; y: (m, d) reference samples.
        n_projections: number of random directions.
        p: order >= 1.
        generator: draws the directions (same seed, same value).
    """
    _check_pair(x, y)
    n_projections = check_int("n_projections", n_projections, 1)
    p = check_range("p", p, 1.0)
    x, y = x.to(torch.float64), y.to(torch.float64)
    theta = torch.randn(x.shape[1], n_projections, generator=generator, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)  # (d, P)
    levels = (torch.arange(max(x.shape[0], y.shape[0]), dtype=torch.float64) + 0.5) / max(
        x.shape[0], y.shape[0]
    )
    qx = _quantiles(x @ theta, levels)  # (L, P)
    qy = _quantiles(y @ theta, levels)
    return float((qx - qy).abs().pow(p).mean() ** (1.0 / p))


def _quantiles(z: Tensor, levels: Tensor) -> Tensor:
    """Empirical quantile function (inverse CDF, a step function) of each column of z (n, P)."""
    z_sorted, _ = torch.sort(z, dim=0)
    n = z.shape[0]
    index = torch.clamp(torch.floor(levels * n).long(), max=n - 1)
    return z_sorted[index]
