"""Guidance rules: classifier-free guidance (with its training-time condition dropout) and
classifier guidance.

Classifier-free guidance (Ho & Salimans 2022) trains one network on both the conditional and
the unconditional task by replacing the condition with a *null condition* with probability p
(``drop_condition``); at sampling it combines the two predictions

    out_w = out_uncond + w (out_cond - out_uncond)                       (Ho & Salimans, eq. 6)

so w = 0 is the unconditional model, w = 1 the conditional one and w > 1 extrapolates. The
combination is applied to whatever the network predicts (eps, x0, v or a flow velocity: each is
affine in the score, so the rule is the same). Both passes run in one doubled batch.

The null condition is the network's ``null_cond`` (``networks.*``): zeros by default, or a
learned vector with ``learned_null=True``.

Classifier guidance (Dhariwal & Nichol 2021) adds s * grad_x log p(y | x_t) of a separate
classifier to the score; ``ClassifierGuidance`` does this for ``objectives.diffusion``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from rlcore.generative.protocols import DenoiserFn
from rlcore.registry import export
from rlcore.validation import check_range

__all__ = [
    "ClassifierFree",
    "ClassifierGuidance",
    "cfg_combine",
    "classifier_guided_eps",
    "drop_condition",
    "null_condition",
]


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


def classifier_guided_eps(
    eps_hat: Tensor, grad_log_prob: Tensor, alpha_bar_t: float, scale: float
) -> Tensor:
    """eps' = eps_hat - scale sqrt(1 - alpha_bar_t) grad_x log p(y | x_t).

    Dhariwal & Nichol (2021), §4.2 and Algorithm 2: since eps = -sqrt(1 - alpha_bar) score, adding
    scale * grad log p(y | x_t) to the score subtracts it, scaled, from eps. Shapes (B, ...).
    """
    return eps_hat - scale * (1.0 - alpha_bar_t) ** 0.5 * grad_log_prob


@export("guidance.classifier")
@dataclass(frozen=True)
class ClassifierGuidance:
    """Classifier guidance for ``objectives.diffusion``: steer eps by a classifier's gradient.

    Args:
        log_prob: ``log_prob(x_t, t) -> (B,)``, log p(y | x_t) of the wanted class y (close over
            y), differentiable in x_t; t follows the package convention (0 data, 1 noise).
        scale: guidance scale s >= 0 (1: the exact conditional score for an exact classifier).

    Use: ``Diffusion.sample(net, shape, classifier=ClassifierGuidance(log_prob, 2.0))``.
    """

    log_prob: Callable[[Tensor, Tensor], Tensor]
    scale: float = 1.0

    def __post_init__(self) -> None:
        check_range("classifier scale", self.scale, 0.0)

    def grad(self, x_t: Tensor, t: Tensor) -> Tensor:
        """grad_x sum_b log p(y | x_t[b]); same shape as x_t (runs with grad enabled)."""
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            log_prob = self.log_prob(x, t)
            if log_prob.shape != x_t.shape[:1]:
                raise ValueError(
                    f"log_prob must return shape (B,) = ({x_t.shape[0]},), got "
                    f"{tuple(log_prob.shape)}."
                )
            return torch.autograd.grad(log_prob.sum(), x)[0]

    def eps(self, x_t: Tensor, t: Tensor, eps_hat: Tensor, alpha_bar_t: float) -> Tensor:
        """The guided eps (:func:`classifier_guided_eps`)."""
        return classifier_guided_eps(eps_hat, self.grad(x_t, t), alpha_bar_t, self.scale)
