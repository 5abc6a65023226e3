"""DPM-Solver++ (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
Probabilistic Models"), multistep, data prediction, as a ``DiffusionSampler``.

The probability-flow ODE of a variance-preserving diffusion, written in the data prediction
x0_hat and the half log-SNR lambda = log(alpha / sigma) (alpha = sqrt(alpha_bar), sigma =
sqrt(1 - alpha_bar)), has the exact solution from s to t (Lu et al. 2022b, eq. 9)

    x_t = (sigma_t / sigma_s) x_s + sigma_t int_{lambda_s}^{lambda_t} e^lambda x0_hat dlambda.

With h = lambda_t - lambda_s and x0_hat frozen at s this is the first-order update (DDIM)

    x_t = (sigma_t / sigma_s) x_s - alpha_t (e^{-h} - 1) D_0,                D_0 = x0_hat_s,

and the multistep second-order update (2M, Algorithm 2) adds the backward difference of the
previous data prediction, r = h_prev / h:

    x_t = ... - alpha_t (e^{-h} - 1) (D_0 + D_1 / 2),     D_1 = (x0_hat_s - x0_hat_prev) / r.

The first step has no history (first order); the step to the data (alpha = 1, sigma = 0) is first
order and returns x0_hat. Those are diffusers' ``DPMSolverMultistepScheduler`` rules for order 2
(``lower_order_final=True``, ``final_sigmas_type="zero"``), and with the same betas (``trained_betas``) and trailing spacing
the trajectories agree with it to float32 precision (tests/generative/test_fast_samplers.py).

The default grid is uniform in lambda (Lu et al. 2022a, §3.3), which ends at the least noisy
training step: with the trailing grid (DDIM's) the last step, first order, jumps from
t = 1 / S to the data and dominates the error at few steps, whatever the solver's order.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from rlcore.generative.samplers import _check_alpha_bar, _check_clip, trailing_timesteps
from rlcore.registry import export
from rlcore.validation import check_choice, check_int

__all__ = ["DPMSolverPPSampler", "dpm_solver_pp_update", "logsnr_timesteps"]

SPACINGS = ("logsnr", "trailing")


def logsnr_timesteps(alpha_bar: Tensor, steps: int) -> Tensor:
    """Descending step indices whose half log-SNR lambda_k is closest to a uniform grid from
    lambda_{K-1} to lambda_0 (Lu et al. 2022a, §3.3 "logSNR" step size), made strictly
    decreasing. Starts at K - 1 (noise) and ends at k = 0 (the least noisy training step), so the
    final, first-order step to the data is short. Shape (S,), int64.
    """
    k = int(alpha_bar.numel())
    steps = check_int("steps", steps, 1, k, hint=f"need 1 <= steps <= num_train_steps={k}.")
    lam = 0.5 * (torch.log(alpha_bar) - torch.log1p(-alpha_bar))  # (K,), decreasing in k
    if steps == 1:
        return torch.tensor([k - 1], dtype=torch.int64)
    targets = torch.linspace(float(lam[-1]), float(lam[0]), steps, dtype=torch.float64)
    idx = (lam[None, :] - targets[:, None]).abs().argmin(dim=1).tolist()
    for i in range(1, steps):  # strictly decreasing, leaving room for the remaining steps
        idx[i] = max(min(idx[i], idx[i - 1] - 1), steps - 1 - i)
    return torch.tensor(idx, dtype=torch.int64)


def dpm_solver_pp_update(
    x_s: Tensor,
    x0_s: Tensor,
    x0_prev: Tensor | None,
    alpha_bar_s: float,
    alpha_bar_t: float,
    alpha_bar_prev: float | None = None,
) -> Tensor:
    """One DPM-Solver++ step from alpha_bar_s to alpha_bar_t (Lu et al. 2022b, Alg. 1-2).

    Args:
        x_s: (B, ...) sample at s.
        x0_s: (B, ...) data prediction at s.
        x0_prev: data prediction at the previous grid point (None: first order).
        alpha_bar_s, alpha_bar_t: signal fractions at s and t; alpha_bar_t = 1 is the data.
        alpha_bar_prev: signal fraction of the previous grid point (with ``x0_prev``).

    Returns:
        (B, ...) x at t.
    """
    if alpha_bar_t >= 1.0:  # sigma_t = 0: the exact limit of the update is the data prediction
        return x0_s
    alpha_t, sigma_t = math.sqrt(alpha_bar_t), math.sqrt(1.0 - alpha_bar_t)
    sigma_s = math.sqrt(1.0 - alpha_bar_s)
    lam_t = math.log(alpha_t) - math.log(sigma_t)
    lam_s = 0.5 * math.log(alpha_bar_s) - math.log(sigma_s)
    h = lam_t - lam_s
    phi = math.expm1(-h)  # e^{-h} - 1
    d = x0_s
    if x0_prev is not None:
        if alpha_bar_prev is None:
            raise ValueError("a second-order step needs alpha_bar_prev with x0_prev.")
        lam_prev = 0.5 * math.log(alpha_bar_prev) - 0.5 * math.log(1.0 - alpha_bar_prev)
        r = (lam_s - lam_prev) / h
        d = x0_s + 0.5 * (x0_s - x0_prev) / r
    return (sigma_t / sigma_s) * x_s - (alpha_t * phi) * d


@export("samplers.dpm_solver_pp")
class DPMSolverPPSampler:
    """Multistep DPM-Solver++ of order 1 or 2 over a materialised VP schedule.

    ``set_timesteps(steps)`` then ``step(i, x_t, x0_hat, eps_hat)`` for i = 0, 1, ... in order
    (the multistep solver remembers the previous data prediction; ``eps_hat`` is unused).

    Args:
        alpha_bar: (K,) materialised schedule (``schedules.discretize``).
        order: 1 (equal to DDIM) or 2 (2M).
        clip_sample: clip x0_hat to [-clip_sample, clip_sample]; None for no clipping.
        spacing: "logsnr" (:func:`logsnr_timesteps`, Lu et al.'s choice, the default) or
            "trailing" (``samplers.trailing_timesteps``, as DDIM; diffusers' "trailing").
    """

    def __init__(
        self,
        alpha_bar: Tensor,
        order: int = 2,
        clip_sample: float | None = None,
        spacing: Literal["logsnr", "trailing"] = "logsnr",
    ) -> None:
        self.alpha_bar = _check_alpha_bar(alpha_bar)
        self.num_train_steps = int(self.alpha_bar.numel())
        self.order = check_int("order", order, 1, 2, hint="DPM-Solver++ multistep: 1 or 2.")
        self.clip_sample = _check_clip(clip_sample)
        self.spacing = check_choice("spacing", spacing, SPACINGS)
        self.set_timesteps(max(self.order, min(self.num_train_steps, 10)))

    def set_timesteps(self, steps: int) -> Tensor:
        """Step indices of the chosen spacing; order <= steps <= num_train_steps."""
        k = self.num_train_steps
        check_int(
            "steps",
            steps,
            self.order,
            k,
            hint=f"DPM-Solver++ of order {self.order} needs at least {self.order} steps and "
            f"at most num_train_steps={k}; use order=1 (DDIM) for a single step.",
        )
        if self.spacing == "trailing":
            self.timesteps = trailing_timesteps(k, steps)
        else:
            self.timesteps = logsnr_timesteps(self.alpha_bar, steps)
        self._x0_prev: Tensor | None = None
        self._next = 0
        return self.timesteps

    def step(
        self,
        i: int,
        x_t: Tensor,
        x0_hat: Tensor,
        eps_hat: Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        n = int(self.timesteps.numel())
        check_int("i", i, 0, n - 1, hint="call set_timesteps(steps) first, then step i < steps.")
        if i != self._next:
            raise ValueError(
                f"DPM-Solver++ is multistep: step {self._next} comes next, got i={i}; call "
                "set_timesteps(steps) to restart."
            )
        if self.clip_sample is not None:
            x0_hat = x0_hat.clamp(-self.clip_sample, self.clip_sample)
        ab_s = float(self.alpha_bar[self.timesteps[i]])
        ab_t = 1.0 if i == n - 1 else float(self.alpha_bar[self.timesteps[i + 1]])
        second = self.order == 2 and i > 0  # (the last step, to the data, is exact: x0_hat)
        ab_prev = float(self.alpha_bar[self.timesteps[i - 1]]) if second else None
        x = dpm_solver_pp_update(
            x_t, x0_hat, self._x0_prev if second else None, ab_s, ab_t, ab_prev
        )
        self._x0_prev = x0_hat
        self._next = i + 1
        return x
