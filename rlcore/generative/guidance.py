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
classifier (or, in offline RL, of any differentiable value model: Janner et al. 2022, §3.3) to
the score; ``ClassifierGuidance`` does this for ``objectives.diffusion`` (DDPM and DDIM, through
eps) and for ``objectives.flow_matching`` (Euler and Heun, through the velocity). Scale 0 is the
unguided sampler exactly (the classifier is not even called).

Inpainting (``Inpaint``) conditions a sample by overwriting known coordinates with their values
after every sampler step and on the initial noise, as Diffuser does for the start and goal
states (Janner et al. 2022, §3.4): the returned sample holds exactly the given values there.
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
    "Inpaint",
    "cfg_combine",
    "classifier_guided_eps",
    "classifier_guided_velocity",
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


def classifier_guided_velocity(
    v_hat: Tensor, grad_log_prob: Tensor, t: Tensor, scale: float
) -> Tensor:
    """v' = v_hat - scale t / (1 - t) grad_x log p(y | x_t) for the straight path x_t = (1 - t) x0 + t eps.

    On that path E[eps | x_t] = -t score(x_t) and v = (E[eps | x_t] - x_t) / (1 - t), so adding
    scale * grad log p(y | x_t) to the score moves v by -scale t / (1 - t) grad log p(y | x_t).
    At t = 1 the coefficient is infinite while x_1 carries no information about y; rows with
    t = 1 (the first point of every flow grid) are returned unguided. Shapes: v_hat, grad (B, ...),
    t (B,).
    """
    t = t.to(v_hat.dtype).reshape(-1, *([1] * (v_hat.dim() - 1)))  # (B, 1, ...)
    inside = t < 1.0
    coef = torch.where(inside, t / torch.where(inside, 1.0 - t, torch.ones_like(t)), 0.0)
    return v_hat - scale * coef * grad_log_prob


@export("guidance.classifier")
@dataclass(frozen=True)
class ClassifierGuidance:
    """Classifier (or value) guidance for ``objectives.diffusion`` and ``objectives.flow_matching``.

    Args:
        log_prob: ``log_prob(x_t, t) -> (B,)``, log p(y | x_t) of the wanted class y (close over
            y), differentiable in x_t; t follows the package convention (0 data, 1 noise). For
            value guidance pass the (scaled) value, log p(O = 1 | x_t) = J(x_t) + const.
        scale: guidance scale s >= 0 (1: the exact conditional score for an exact classifier;
            0: the unguided sampler, exactly).

    Use: ``Diffusion.sample(net, shape, classifier=ClassifierGuidance(log_prob, 2.0))`` (DDPM or
    DDIM) or ``FlowMatching.sample(net, shape, classifier=...)`` (Euler or Heun).
    """

    log_prob: Callable[[Tensor, Tensor], Tensor]
    scale: float = 1.0

    def __post_init__(self) -> None:
        check_range("classifier scale", self.scale, 0.0)
        if not callable(self.log_prob):
            raise TypeError(
                f"log_prob must be a callable (x_t, t) -> (B,), got {type(self.log_prob).__name__}."
            )

    def grad(self, x_t: Tensor, t: Tensor) -> Tensor:
        """grad_x sum_b log p(y | x_t[b]); same shape as x_t (runs with grad enabled).

        Raises:
            ValueError: log_prob returns the wrong shape or has no gradient path to x_t (e.g. it
                detaches, converts to NumPy, or is a model run under ``torch.no_grad``).
        """
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            log_prob = self.log_prob(x, t)
            if not torch.is_tensor(log_prob) or log_prob.shape != x_t.shape[:1]:
                shape = tuple(log_prob.shape) if torch.is_tensor(log_prob) else type(log_prob)
                raise ValueError(
                    f"log_prob must return a tensor of shape (B,) = ({x_t.shape[0]},), got {shape}."
                )
            if not log_prob.requires_grad:
                raise ValueError(
                    "classifier guidance needs the gradient of log_prob with respect to x_t, but "
                    "log_prob(x_t, t) has no gradient path to x_t (it was detached, computed "
                    "under torch.no_grad, or its parameters and input do not require grad). "
                    "Return a differentiable function of x_t."
                )
            (grad,) = torch.autograd.grad(log_prob.sum(), x, allow_unused=True)
            if grad is None:
                raise ValueError(
                    "log_prob(x_t, t) does not depend on x_t (no gradient path); classifier "
                    "guidance needs a differentiable function of x_t."
                )
            return grad

    def eps(self, x_t: Tensor, t: Tensor, eps_hat: Tensor, alpha_bar_t: float) -> Tensor:
        """The guided eps (:func:`classifier_guided_eps`)."""
        if self.scale == 0.0:
            return eps_hat
        return classifier_guided_eps(eps_hat, self.grad(x_t, t), alpha_bar_t, self.scale)

    def diffusion(
        self, x_t: Tensor, t: Tensor, x0_hat: Tensor, eps_hat: Tensor, alpha_bar_t: float
    ) -> tuple[Tensor, Tensor]:
        """(x0_hat, eps_hat) after guiding eps; x0_hat = (x_t - sqrt(1 - ab) eps') / sqrt(ab).

        Scale 0 returns the inputs themselves, so the sampler is the unguided one bit for bit.
        """
        if self.scale == 0.0:
            return x0_hat, eps_hat
        eps_hat = self.eps(x_t, t, eps_hat, alpha_bar_t)
        x0_hat = (x_t - (1.0 - alpha_bar_t) ** 0.5 * eps_hat) / alpha_bar_t**0.5
        return x0_hat, eps_hat

    def velocity(self, x_t: Tensor, t: Tensor, v_hat: Tensor) -> Tensor:
        """The guided flow velocity (:func:`classifier_guided_velocity`); scale 0: v_hat."""
        if self.scale == 0.0:
            return v_hat
        return classifier_guided_velocity(v_hat, self.grad(x_t, t), t, self.scale)


@export("guidance.inpaint")
@dataclass(frozen=True, eq=False)
class Inpaint:
    """Fix known coordinates of a sample: ``inpaint(x) = where(mask, values, x)``.

    The samplers apply it to the initial noise and after every step (Janner et al. 2022, §3.4:
    Diffuser's start and goal states), so the sample holds exactly ``values`` where ``mask``.

    Args:
        mask: bool tensor broadcastable to the sample shape (B, ...): True where known.
        values: tensor broadcastable to the sample shape: the known values (others ignored).
    """

    mask: Tensor
    values: Tensor

    def __post_init__(self) -> None:
        if not torch.is_tensor(self.mask) or self.mask.dtype != torch.bool:
            raise TypeError(
                f"Inpaint mask must be a bool tensor (True where the value is known), got "
                f"{self.mask.dtype if torch.is_tensor(self.mask) else type(self.mask).__name__}."
            )
        if not torch.is_tensor(self.values) or not torch.is_floating_point(self.values):
            raise TypeError("Inpaint values must be a floating-point tensor.")
        try:
            torch.broadcast_shapes(self.mask.shape, self.values.shape)
        except RuntimeError as err:
            raise ValueError(
                f"Inpaint mask {tuple(self.mask.shape)} and values {tuple(self.values.shape)} do "
                "not broadcast together."
            ) from err

    def __call__(self, x: Tensor) -> Tensor:
        """x (B, ...) with the known coordinates replaced by their values."""
        try:
            shape = torch.broadcast_shapes(self.mask.shape, self.values.shape, x.shape)
        except RuntimeError:
            shape = None
        if shape != x.shape:
            raise ValueError(
                f"Inpaint mask {tuple(self.mask.shape)} and values {tuple(self.values.shape)} do "
                f"not broadcast to the sample shape {tuple(x.shape)}."
            )
        values = self.values.to(device=x.device, dtype=x.dtype)
        return torch.where(self.mask.to(x.device), values, x)
