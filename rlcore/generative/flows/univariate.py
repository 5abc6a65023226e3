"""Element-wise monotonic maps with exact log-derivatives: affine and rational-quadratic spline.

Each map transforms x (...,) with parameters phi (..., P) produced by a conditioner network and
returns (y, log |dy/dx|) element-wise; ``*_inverse`` returns (x, log |dx/dy|). The raw network
outputs are soft-bounded as in zuko 1.6 (``u / (1 + |u / log(slope)|)``), so that the map's slope
stays within [slope, 1 / slope] (roughly) and zero parameters give the identity.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["affine", "affine_inverse", "rqs", "rqs_inverse", "rqs_knots"]


def _soft_bound(u: Tensor, limit: float) -> Tensor:
    """u / (1 + |u| / limit): a smooth map of R onto (-limit, limit), identity near 0."""
    return u / (1 + u.abs() / limit)


def _log_scale(raw: Tensor, slope: float) -> Tensor:
    return _soft_bound(raw, -math.log(slope))


def affine(x: Tensor, phi: Tensor, slope: float = 1e-3) -> tuple[Tensor, Tensor]:
    """y = x exp(a) + b with phi = (b, a_raw) on the last axis; log |dy/dx| = a.

    Dinh et al. (2017), RealNVP eq. 6; Papamakarios et al. (2017), MAF eq. 4 (same map, other
    direction).
    """
    shift, log_scale = phi[..., 0], _log_scale(phi[..., 1], slope)
    return x * log_scale.exp() + shift, log_scale


def affine_inverse(y: Tensor, phi: Tensor, slope: float = 1e-3) -> tuple[Tensor, Tensor]:
    """x = (y - b) exp(-a); log |dx/dy| = -a."""
    shift, log_scale = phi[..., 0], _log_scale(phi[..., 1], slope)
    return (y - shift) * (-log_scale).exp(), -log_scale


def rqs_knots(phi: Tensor, bound: float, slope: float = 1e-3) -> Tensor:
    """Knots x_k, y_k (on [-B, B]) and knot derivatives d_k > 0, stacked: (..., 3, K + 1).

    phi (..., 3K - 1) = (K raw widths, K raw heights, K - 1 raw inner derivatives); widths and
    heights are a softmax, the end derivatives are 1 so that the identity outside [-B, B] joins
    smoothly (Durkan et al. 2019, §3.1 and App. A "linear tails").
    """
    bins = (phi.shape[-1] + 1) // 3
    limit = -0.5 * math.log(slope)
    wh = phi[..., : 2 * bins].unflatten(-1, (2, bins))  # (..., 2, K)
    wh = F.pad(F.softmax(_soft_bound(wh, limit), dim=-1).cumsum(-1), (1, 0))  # (..., 2, K + 1)
    d = F.pad(_soft_bound(phi[..., 2 * bins :], 2 * limit), (1, 1)).exp()  # (..., K + 1)
    return torch.cat([bound * (2 * wh - 1), d.unsqueeze(-2)], dim=-2)


def _segment(knots: Tensor, v: Tensor, axis: int):
    """The bin of v along knots[..., axis, :] and its ends: (inside, x0, x1, y0, y1, d0, d1)."""
    bins = knots.shape[-1] - 1
    k = (knots[..., axis, :] < v[..., None]).sum(-1) - 1  # -1 or K outside
    inside = (k >= 0) & (k < bins)
    k = k.clamp(0, bins - 1)
    k01 = torch.stack([k, k + 1], dim=-1).unsqueeze(-2).expand(*k.shape, 3, 2)
    (x0, x1), (y0, y1), (d0, d1) = (e.unbind(-1) for e in knots.gather(-1, k01).unbind(-2))
    return inside, x0, x1, y0, y1, d0, d1


def rqs(x: Tensor, phi: Tensor, bound: float = 5.0, slope: float = 1e-3):
    """Monotonic rational-quadratic spline on [-B, B], identity outside (Durkan et al. 2019, eqs.
    4-6 and App. A). Returns (y, log |dy/dx|) element-wise; x (...,), phi (..., 3K - 1)."""
    inside, x0, x1, y0, y1, d0, d1 = _segment(rqs_knots(phi, bound, slope), x, 0)
    s = (y1 - y0) / (x1 - x0)
    z = torch.where(inside, (x - x0) / (x1 - x0), torch.zeros_like(x))
    zz = z * (1 - z)
    denom = s + (d0 + d1 - 2 * s) * zz
    y = y0 + (y1 - y0) * (s * z**2 + d0 * zz) / denom
    dydx = s**2 * (2 * s * zz + d0 * (1 - z) ** 2 + d1 * z**2) / denom**2
    return torch.where(inside, y, x), torch.where(inside, dydx.log(), torch.zeros_like(x))


def rqs_inverse(y: Tensor, phi: Tensor, bound: float = 5.0, slope: float = 1e-3):
    """Inverse of :func:`rqs` by the root of a quadratic (Durkan et al. 2019, eqs. 29-33).

    Returns (x, log |dx/dy|)."""
    inside, x0, x1, y0, y1, d0, d1 = _segment(rqs_knots(phi, bound, slope), y, 1)
    s = (y1 - y0) / (x1 - x0)
    dy = torch.where(inside, y - y0, torch.zeros_like(y))
    a = (y1 - y0) * (s - d0) + dy * (d0 + d1 - 2 * s)
    b = (y1 - y0) * d0 - dy * (d0 + d1 - 2 * s)
    c = -s * dy
    z = 2 * c / (-b - (b**2 - 4 * a * c).clamp(min=0).sqrt())
    x = x0 + z * (x1 - x0)
    zz = z * (1 - z)
    denom = s + (d0 + d1 - 2 * s) * zz
    dydx = s**2 * (2 * s * zz + d0 * (1 - z) ** 2 + d1 * z**2) / denom**2
    return torch.where(inside, x, y), torch.where(inside, -dydx.log(), torch.zeros_like(y))
