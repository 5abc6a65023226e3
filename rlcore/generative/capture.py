"""A capture-safe sampling loop: static shapes and no host synchronisation inside the loop, so
that CUDA graphs or ``torch.compile(mode="reduce-overhead")`` can record a whole action-chunk
sample (Chi et al. 2023 run DDIM-10 per chunk; at batch 1 the GPU time is launch overhead).

The eager samplers (``samplers.ddim``, ``samplers.dpm_solver_pp``) read their coefficients as
Python floats from a CPU schedule, which is cheap but is host work per step. Deterministic
samplers are linear in (x_t, x0_hat, previous x0_hat) at every step, so their coefficients can
be materialised once per (model, sampler, steps) on the device (:func:`static_plan`):

    x0_hat_i = p_i x_i + q_i out_i          (out_i = net(x_i, t_i, cond); the prediction type)
    x_{i+1} = a_i x_i + b_i x0_hat_i + c_i x0_hat_{i-1}

- DDIM, eta = 0 (Song et al. 2021a, eq. 12): a = sigma' / sigma, b = alpha' - sigma' alpha / sigma, c = 0.
- DPM-Solver++ 2M (Lu et al. 2022b): a = sigma' / sigma, b = -alpha' phi (1 + 1 / (2 r)),
  c = alpha' phi / (2 r), phi = e^{-h} - 1 (first order: b = -alpha' phi, c = 0).
- The step to the data: a = 0, b = 1, c = 0.

:func:`sample_static` then runs a Python loop of fixed length over device tensors: no ``.item()``,
no ``float(tensor)``, no data-dependent control flow (tests/generative/test_capture.py checks
that it traces as one graph with ``torch.compile(fullgraph=True)``). It matches the eager
samplers to float32 precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from rlcore.generative.diffusion import Diffusion
from rlcore.generative.dpm_solver import DPMSolverPPSampler
from rlcore.generative.protocols import DenoiserFn
from rlcore.generative.samplers import DDIMSampler
from rlcore.validation import check_choice

__all__ = ["StaticPlan", "sample_static", "static_plan"]

STATIC_SAMPLERS = ("ddim", "dpm_solver_pp")


@dataclass(frozen=True)
class StaticPlan:
    """Per-step coefficients of a deterministic sampler, each (S,) on one device and dtype."""

    t: Tensor
    p: Tensor
    q: Tensor
    a: Tensor
    b: Tensor
    c: Tensor
    clip: float | None

    @property
    def steps(self) -> int:
        return int(self.t.shape[0])


def _output_to_x0(prediction: str, alpha_bar: float) -> tuple[float, float]:
    """(p, q) with x0_hat = p x + q out (``diffusion.split_prediction``)."""
    alpha, sigma = math.sqrt(alpha_bar), math.sqrt(1.0 - alpha_bar)
    if prediction == "epsilon":
        return 1.0 / alpha, -sigma / alpha
    if prediction == "x0":
        return 0.0, 1.0
    return alpha, -sigma


def static_plan(
    model: Diffusion,
    sampler: Literal["ddim", "dpm_solver_pp"],
    steps: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> StaticPlan:
    """Materialise the coefficients of DDIM (eta = 0) or DPM-Solver++ for ``steps`` steps."""
    name = check_choice("sampler", sampler, STATIC_SAMPLERS)
    stepper = (
        DDIMSampler(model.alpha_bar)
        if name == "ddim"
        else DPMSolverPPSampler(model.alpha_bar, clip_sample=None)
    )
    timesteps = stepper.set_timesteps(steps).tolist()
    ab = [float(model.alpha_bar[k]) for k in timesteps]
    rows = []
    for i, k in enumerate(timesteps):
        p, q = _output_to_x0(model.prediction, ab[i])
        t_i = float(model.times[k])
        if i == len(timesteps) - 1:
            rows.append((t_i, p, q, 0.0, 1.0, 0.0))
            continue
        alpha, sigma = math.sqrt(ab[i]), math.sqrt(1.0 - ab[i])
        alpha_n, sigma_n = math.sqrt(ab[i + 1]), math.sqrt(1.0 - ab[i + 1])
        if name == "ddim":
            rows.append((t_i, p, q, sigma_n / sigma, alpha_n - sigma_n * alpha / sigma, 0.0))
            continue
        lam = math.log(alpha / sigma)
        h = math.log(alpha_n / sigma_n) - lam
        phi = math.expm1(-h)
        if i == 0:
            rows.append((t_i, p, q, sigma_n / sigma, -alpha_n * phi, 0.0))
            continue
        lam_prev = 0.5 * (math.log(ab[i - 1]) - math.log(1.0 - ab[i - 1]))
        r = (lam - lam_prev) / h
        b = -alpha_n * phi * (1.0 + 0.5 / r)
        rows.append((t_i, p, q, sigma_n / sigma, b, alpha_n * phi * 0.5 / r))
    cols = torch.tensor(rows, dtype=torch.float64).T.to(device=device, dtype=dtype)
    return StaticPlan(*cols, clip=model.clip_sample)


def sample_static(net: DenoiserFn, plan: StaticPlan, x_T: Tensor, cond: Tensor | None) -> Tensor:
    """Run the plan from the noise x_T (B, ...) with no host synchronisation. Shape of x_T."""
    batch = x_T.shape[0]
    shape = (-1,) + (1,) * (x_T.dim() - 1)
    x, x0_prev = x_T, torch.zeros_like(x_T)
    for i in range(plan.steps):  # a fixed-length loop: unrolled when captured
        out = net(x, plan.t[i].expand(batch), cond)
        x0 = plan.p[i].reshape(shape) * x + plan.q[i].reshape(shape) * out
        if plan.clip is not None:
            x0 = x0.clamp(-plan.clip, plan.clip)
        x = plan.a[i] * x + plan.b[i] * x0 + plan.c[i] * x0_prev
        x0_prev = x0
    return x
