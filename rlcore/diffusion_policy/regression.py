"""The mean-squared-error "generative model": the behaviour-cloning baseline in the same shape.

``MSERegression`` honours ``rlcore.generative``'s ``GenerativeModel`` protocol (``loss`` /
``sample``) with a deterministic predictor, so the Gaussian/MSE baseline policy is the same
action-chunk policy, trained by the same loop, with the same network, as the diffusion and flow
policies: only the objective differs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rlcore.registry import export


def _predict(net, shape: tuple[int, ...], cond: Tensor | None, like: Tensor | None) -> Tensor:
    ref = like if like is not None else cond
    device = ref.device if ref is not None else None
    dtype = ref.dtype if ref is not None else torch.float32
    x = torch.zeros(shape, device=device, dtype=dtype)  # the network's x_t input, unused
    t = torch.zeros(shape[0], device=device, dtype=dtype)
    return net(x, t, cond)


@export("objectives.mse_regression")
class MSERegression:
    """Regression of x0 on the condition: x0_hat = f(0, 0, cond), loss = mean |x0_hat - x0|^2.

    This is maximum likelihood for a Gaussian with fixed, isotropic variance (Bishop (2006)
    §3.1.1), the classic behaviour-cloning objective (Pomerleau 1989; Ross et al. 2011). The
    denoiser network is fed a zero x_t and t = 0, so the baseline uses exactly the network (and
    parameter count) of the generative policies. With multimodal data the minimiser is the
    conditional mean E[x0 | cond], which averages the modes.
    """

    def loss(
        self,
        net,
        x0: Tensor,
        cond: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        cond_dropout: float = 0.0,
    ) -> Tensor:
        """Mean over batch and coordinates of (f(0, 0, cond) - x0)^2; ``x0`` is (B, ...)."""
        if cond_dropout != 0.0:
            raise ValueError(
                f"cond_dropout={cond_dropout}: MSERegression has no unconditional model to "
                "guide with; use objectives.diffusion or objectives.flow_matching for "
                "classifier-free guidance."
            )
        x0_hat = _predict(net, tuple(x0.shape), cond, x0)
        return torch.mean((x0_hat - x0) ** 2)

    def sample(
        self,
        net,
        shape: tuple[int, ...],
        cond: Tensor | None = None,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        guidance_scale: float | None = None,
    ) -> Tensor:
        """The prediction f(0, 0, cond) of ``shape`` (B, ...): one pass, no randomness."""
        if steps not in (None, 1):
            raise ValueError(
                f"steps={steps}: MSERegression predicts in one deterministic pass; pass "
                "steps=None (or 1)."
            )
        if guidance_scale is not None:
            raise ValueError("MSERegression has no guidance; pass guidance_scale=None.")
        return _predict(net, tuple(shape), cond, None)
