"""Guidance rules: classifier-free guidance (and its training-time condition dropout).

Classifier-free guidance (Ho & Salimans 2022) trains one network on both the conditional and
the unconditional task by replacing the condition with a *null condition* with probability p
(``drop_condition``); at sampling it combines the two predictions

    out_w = out_uncond + w (out_cond - out_uncond)                       (Ho & Salimans, eq. 6)

so w = 0 is the unconditional model, w = 1 the conditional one and w > 1 extrapolates. The
combination is applied to whatever the network predicts (eps, x0, v or a flow velocity: each is
affine in the score, so the rule is the same). Both passes run in one doubled batch.

The null condition is the network's ``null_cond`` (``networks.*``): zeros by default, or a
learned vector with ``learned_null=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rlcore.generative.protocols import DenoiserFn
from rlcore.registry import export
from rlcore.validation import check_range

__all__ = ["ClassifierFree", "cfg_combine", "drop_condition", "null_condition"]


def cfg_combine(out_cond: Tensor, out_uncond: Tensor, scale: float) -> Tensor:
    """out_uncond + scale (out_cond - out_uncond); shapes (B, ...) each."""
    return out_uncond + scale * (out_cond - out_uncond)


def null_condition(net: DenoiserFn, cond: Tensor) -> Tensor:
    """The net's null condition broadcast to ``cond``'s shape (B, cond_dim).

    Raises:
        ValueError: the net has no null condition (it is unconditional or not a Denoiser).
    """
    null = getattr(net, "null_cond", None)
    if null is None:
        raise ValueError(
            f"{type(net).__name__} has no null condition (null_cond is None or missing), so it "
            "cannot drop or guide a condition; use a conditional denoiser such as "
            "networks.mlp_denoiser(x_dim, cond_dim=...) or networks.unet1d(...)."
        )
    if null.shape != cond.shape[-1:]:
        raise ValueError(
            f"null_cond of shape {tuple(null.shape)} does not match cond of shape "
            f"{tuple(cond.shape)}."
        )
    return null.to(cond.dtype).expand_as(cond)


def drop_condition(
    cond: Tensor, null_cond: Tensor, p: float, generator: torch.Generator | None = None
) -> Tensor:
    """Replace each row of cond (B, cond_dim) by null_cond (B, cond_dim) with probability p.

    Draws one uniform number per row from ``generator`` (none when p = 0).
    """
    if p == 0.0:
        return cond
    keep = torch.rand(cond.shape[0], generator=generator, device=cond.device) >= p  # (B,)
    return torch.where(keep[:, None], cond, null_cond)


@export("guidance.classifier_free")
@dataclass(frozen=True)
class ClassifierFree:
    """Classifier-free guidance at scale w: ``guided(net, x_t, t, cond)`` -> guided output.

    Args:
        scale: guidance scale w >= 0 (0: unconditional, 1: conditional).
    """

    scale: float = 1.0

    def __post_init__(self) -> None:
        check_range("guidance_scale", self.scale, 0.0, hint="w = 0 unconditional, 1 conditional.")

    def __call__(self, net: DenoiserFn, x_t: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        """One doubled-batch call: [x_t; x_t] with [cond; null] -> combined (B, ...)."""
        batch = x_t.shape[0]
        null = null_condition(net, cond)
        out = net(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([cond, null]))
        return cfg_combine(out[:batch], out[batch:], self.scale)
