"""Flow layers: affine or spline coupling (RealNVP, NSF) and masked autoregressive (MAF, NSF-AR).

Both apply an element-wise monotonic map (``univariate.affine`` or ``univariate.rqs``) whose
parameters phi come from a conditioner network, so log |det J| is the sum of the element-wise
log-derivatives (the Jacobian is triangular). The conditioner's last layer starts at zero, so
every layer starts as the identity (Glow's zero initialisation, Kingma & Dhariwal 2018, §3.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import Tensor, nn

from rlcore.generative.flows import univariate

__all__ = ["MADE", "Coupling", "MaskedAutoregressive", "MaskedLinear", "Univariate", "mlp"]


class Univariate:
    """An element-wise map: ``forward(x, phi)`` and ``inverse(y, phi)`` with P parameters each."""

    def __init__(self, kind: str, *, bins: int = 8, bound: float = 5.0, slope: float = 1e-3):
        self.kind = kind
        if kind == "affine":
            self.params = 2
            self.forward = partial(univariate.affine, slope=slope)
            self.inverse = partial(univariate.affine_inverse, slope=slope)
        else:
            self.params = 3 * bins - 1
            self.forward = partial(univariate.rqs, bound=bound, slope=slope)
            self.inverse = partial(univariate.rqs_inverse, bound=bound, slope=slope)


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear-ReLU stack with a zero-initialised last layer."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    nn.init.zeros_(layers[-1].weight)
    nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


def _cat(x: Tensor, context: Tensor | None) -> Tensor:
    return x if context is None else torch.cat([x, context.to(x.dtype)], dim=-1)


class Coupling(nn.Module):
    """Coupling layer: z_a = x_a, z_b = f(x_b; phi(x_a, context)) (Dinh et al. 2017, eq. 4-5;
    Durkan et al. 2019, §3.2 for splines). x_a is the first ``split`` features.

    Args:
        features: D; context: C; univariate: the element-wise map; hidden: conditioner widths.
    """

    def __init__(self, features: int, context: int, univariate: Univariate, hidden: Sequence[int]):
        super().__init__()
        self.split = features // 2
        self.univariate = univariate
        self.net = mlp([self.split + context, *hidden, (features - self.split) * univariate.params])

    def _phi(self, x_a: Tensor, context: Tensor | None) -> Tensor:
        phi = self.net(_cat(x_a, context))
        return phi.reshape(x_a.shape[0], -1, self.univariate.params)  # (N, D_b, P)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x_a, x_b = x[:, : self.split], x[:, self.split :]
        z_b, ladj = self.univariate.forward(x_b, self._phi(x_a, context))
        return torch.cat([x_a, z_b], dim=-1), ladj.sum(-1)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z_a, z_b = z[:, : self.split], z[:, self.split :]
        x_b, ladj = self.univariate.inverse(z_b, self._phi(z_a, context))
        return torch.cat([z_a, x_b], dim=-1), ladj.sum(-1)


class MaskedLinear(nn.Linear):
    """y = x (W * M)^T + b with a fixed binary mask M (out, in)."""

    def __init__(self, mask: Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """Masked autoencoder for distribution estimation (Germain et al. 2015, §4): outputs
    phi_i (P per feature) that depend only on the features before i in ``order`` (and on all
    the context).

    Degrees: input feature j has m(j) = order[j] + 1, a context input 0; hidden unit k has
    m(k) = k mod D; a hidden unit sees inputs with m <= m(k), and output i sees hidden units
    with m < order[i] + 1 (Germain et al., eqs. 12-13).

    Args:
        features: D; context: C; params: P outputs per feature; hidden: widths;
        order: (D,) the autoregressive order (a permutation of range(D)).
    """

    def __init__(
        self, features: int, context: int, params: int, hidden: Sequence[int], order: Tensor
    ) -> None:
        super().__init__()
        self.features, self.params = features, params
        m_in = torch.cat([order.long() + 1, torch.zeros(context, dtype=torch.long)])
        layers: list[nn.Module] = []
        m_prev = m_in
        for width in hidden:
            m_h = torch.arange(width) % features
            layers += [MaskedLinear(m_h[:, None] >= m_prev[None, :]), nn.ReLU()]
            m_prev = m_h
        m_out = (order.long() + 1).repeat_interleave(params)  # output (i, p) at i * P + p
        last = MaskedLinear(m_out[:, None] > m_prev[None, :])
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """phi (N, D, P) for x (N, D)."""
        return self.net(_cat(x, context)).reshape(x.shape[0], self.features, self.params)


class MaskedAutoregressive(nn.Module):
    """Autoregressive layer z_i = f(x_i; phi_i(x_{<i}, context)) (Papamakarios et al. 2017, §3):
    one MADE pass for the density, D passes to invert.

    Args:
        features: D; context: C; univariate: the element-wise map; hidden: MADE widths;
        order: the autoregressive order.
    """

    def __init__(
        self,
        features: int,
        context: int,
        univariate: Univariate,
        hidden: Sequence[int],
        order: Tensor,
    ) -> None:
        super().__init__()
        self.univariate = univariate
        self.features = features
        self.made = MADE(features, context, univariate.params, hidden, order)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z, ladj = self.univariate.forward(x, self.made(x, context))
        return z, ladj.sum(-1)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        # After pass k the first k features in the order are exact (Papamakarios et al. §3.1).
        x = torch.zeros_like(z)
        for _ in range(self.features):
            x, ladj = self.univariate.inverse(z, self.made(x, context))
        return x, ladj.sum(-1)
