"""Consistency models: one- and few-step generation by consistency distillation (CD) from an EDM
teacher or consistency training (CT) from data (Song et al. 2023, "Consistency Models";
improved CT: Song & Dhariwal 2023; as a policy: Prasad et al. 2024, "Consistency Policy").

A consistency function maps any point of a probability-flow ODE trajectory to its origin,
f(x_sigma, sigma) = x_0, parametrised so that f(x, sigma_min) = x exactly (Song et al., eq. 7,
with EDM's scalings, Appendix C):

    f(x, sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, t(sigma), cond),
    c_skip = sd^2 / ((sigma - sigma_min)^2 + sd^2),  c_out = sd (sigma - sigma_min) / sqrt(sd^2 + sigma^2),
    c_in = 1 / sqrt(sigma^2 + sd^2),  t(sigma) = edm.sigma_to_time(sigma).

On the Karras grid sigma_min = s_1 < ... < s_N = sigma_max (``bins`` = N) the loss is, with
i ~ U{1..N-1}, z ~ N(0, I), x_{i+1} = x_0 + s_{i+1} z,

    lambda_i d(f_theta(x_{i+1}, s_{i+1}), stopgrad f_theta(x_hat_i, s_i)),
    lambda_i = 1 / (s_{i+1} - s_i) (``weighting="ict"``, Song & Dhariwal 2023) or 1 (``"uniform"``,
    Song et al. 2023, used for CD),

where x_hat_i is x_0 + s_i z for CT (Song et al., Algorithm 3) or one Heun step of the teacher's
ODE from x_{i+1} to s_i for CD (Algorithm 2), and d is the pseudo-Huber distance
sqrt(||a - b||^2 + c^2) - c with c = 0.00054 sqrt(dim) (Song & Dhariwal 2023, §3.3). By default
the target uses the current weights without gradient (theta^- = theta, their §3.2), so the loss
fits the ``GenerativeModel`` protocol; ``target_ema`` = mu > 0 keeps a target copy
theta^- <- mu theta^- + (1 - mu) theta instead (Song et al. 2023, Algorithm 2: mu = 0.95 for CD).

``dsm_weight`` = beta adds Consistency Policy's denoising term (Prasad et al. 2024, eq. 8: the
consistency loss plus beta times denoising score matching), the EDM loss of f used as a denoiser
at the same noise level: beta lambda_EDM(s_{i+1}) ||f_theta(x_{i+1}, s_{i+1}) - x_0||^2 / dim,
lambda_EDM = (sigma^2 + sd^2) / (sigma sd)^2. It anchors f to the data at every sigma while the
consistency term propagates the boundary condition up the grid.

Sampling (Algorithm 1): x = sigma_max z, x_0 = f(x, sigma_max); each further step re-noises to
the next sigma of the sampling grid and applies f again.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Literal

import torch
from torch import Tensor, nn

from rlcore.generative import _checks
from rlcore.generative.edm import EDM, karras_sigmas, sigma_to_time
from rlcore.generative.guidance import drop_condition, null_condition
from rlcore.generative.protocols import DenoiserFn
from rlcore.registry import export
from rlcore.validation import check_choice, check_int, check_range

__all__ = ["Consistency", "consistency_scalings", "pseudo_huber"]


def consistency_scalings(
    sigma: Tensor, sigma_data: float, sigma_min: float
) -> tuple[Tensor, Tensor, Tensor]:
    """(c_skip, c_out, c_in) of the consistency parametrisation; c_skip = 1, c_out = 0 at sigma_min."""
    c_skip = sigma_data**2 / ((sigma - sigma_min) ** 2 + sigma_data**2)
    c_out = sigma_data * (sigma - sigma_min) / (sigma_data**2 + sigma**2).sqrt()
    return c_skip, c_out, (sigma**2 + sigma_data**2).rsqrt()


def pseudo_huber(a: Tensor, b: Tensor) -> Tensor:
    """sqrt(||a - b||^2 + c^2) - c per row, c = 0.00054 sqrt(dim) (Song & Dhariwal 2023). (B,)."""
    diff = (a - b).flatten(1)
    c = 0.00054 * math.sqrt(diff.shape[1])
    return (diff.pow(2).sum(1) + c * c).sqrt() - c


@export("objectives.consistency")
class Consistency:
    """Consistency training / distillation and 1- or few-step sampling: a ``GenerativeModel``.

    Args:
        sigma_data, sigma_min, sigma_max, rho: the EDM parametrisation and Karras grid.
        bins: N, the number of grid points of the training discretisation (>= 2).
        sample_steps: default number of sampling steps (1 or more).
        target_ema: mu of the target network (0: theta^- = theta, the iCT choice).
        dsm_weight: beta of the added denoising term (0: the plain consistency loss).
        weighting: lambda_i, "ict" (1 / (s_{i+1} - s_i)) or "uniform" (1). With i drawn
            uniformly, "ict" puts almost all the weight on the lowest sigmas (on the default
            40-point grid the first interval weighs 6,300 times the last); "uniform" weighs
            them alike, but on the navigation policy it distilled far worse (the README), so
            the low-sigma anchoring matters and "ict" stays the default.

    Call :meth:`distill_from` to train by distillation (CD) from a trained ``objectives.edm``
    model and its network; otherwise ``loss`` is consistency training (CT) from data.
    """

    def __init__(
        self,
        sigma_data: float = 0.5,
        sigma_min: float = 0.002,
        sigma_max: float = 80.0,
        rho: float = 7.0,
        bins: int = 40,
        sample_steps: int = 1,
        cond_dropout_trained: bool = False,
        target_ema: float = 0.0,
        dsm_weight: float = 0.0,
        weighting: Literal["ict", "uniform"] = "ict",
    ) -> None:
        self.sigma_data = check_range("sigma_data", sigma_data, 0.0, low_open=True)
        self.bins = check_int("bins", bins, 2, hint="the grid needs two points at least.")
        self.sample_steps = check_int("sample_steps", sample_steps, 1)
        self.rho = check_range("rho", rho, 0.0, low_open=True, hint="Karras et al. use rho = 7.")
        self.sigma_min = check_range("sigma_min", sigma_min, 0.0, low_open=True)
        self.sigma_max = check_range("sigma_max", sigma_max, sigma_min, low_open=True)
        sigmas = karras_sigmas(self.bins, self.sigma_min, self.sigma_max, self.rho)[:-1]
        self.grid = sigmas.flip(0)  # (N,) ascending: s_1 = sigma_min ... s_N = sigma_max
        self.cond_dropout_trained = bool(cond_dropout_trained)
        self.target_ema = check_range(
            "target_ema", target_ema, 0.0, 1.0, high_open=True,
            hint="mu in [0, 1); 0 uses the current weights as the target, CD used 0.95.",
        )  # fmt: skip
        self.dsm_weight = check_range("dsm_weight", dsm_weight, 0.0, hint="beta >= 0; 0 is off.")
        self.weighting = check_choice("weighting", weighting, ("ict", "uniform"))
        self.teacher: tuple[EDM, DenoiserFn] | None = None
        self._target: nn.Module | None = None  # theta^- when target_ema > 0 (training only)
        self._target_of: object = None  # the network the target copy follows

    def distill_from(self, teacher: EDM, teacher_net: DenoiserFn) -> Consistency:
        """Use consistency distillation from an EDM model and its (trained) network."""
        if not isinstance(teacher, EDM):
            raise TypeError(
                f"consistency distillation needs an objectives.edm teacher (its ODE in sigma), "
                f"got {type(teacher).__name__}; train the teacher with objectives.edm."
            )
        mismatch = [
            name
            for name in ("sigma_data", "sigma_min", "sigma_max")
            if not math.isclose(getattr(teacher, name), getattr(self, name))
        ]
        if mismatch:
            raise ValueError(
                f"teacher and student differ in {', '.join(mismatch)}; build the Consistency "
                "model with the teacher's sigma_data, sigma_min and sigma_max."
            )
        self.teacher = (teacher, teacher_net)
        return self

    def consistency_fn(self, net: DenoiserFn, x: Tensor, sigma: Tensor, cond: Tensor | None):
        """f(x, sigma): x (B, ...), sigma (B,) -> x0_hat (B, ...)."""
        s = sigma.to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
        c_skip, c_out, c_in = consistency_scalings(s, self.sigma_data, self.sigma_min)
        t = sigma_to_time(sigma, self.sigma_min, self.sigma_max).to(x.dtype)
        return c_skip * x + c_out * net(c_in * x, t, cond)

    def loss(
        self,
        net: DenoiserFn,
        x0: Tensor,
        cond: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        cond_dropout: float = 0.0,
    ) -> Tensor:
        """Weighted pseudo-Huber consistency loss (CT, or CD after :meth:`distill_from`).

        Draws, in order from ``generator``: i (B,), z like x0, then the dropout.
        """
        p = _checks.check_data(x0, cond, cond_dropout)
        batch = x0.shape[0]
        grid = self.grid.to(device=x0.device)
        i = torch.randint(self.bins - 1, (batch,), generator=generator, device=x0.device)
        s_i, s_next = grid[i].to(x0.dtype), grid[i + 1].to(x0.dtype)  # (B,) each
        z = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        if p > 0:
            cond = drop_condition(cond, null_condition(net, cond), p, generator)
            self.cond_dropout_trained = True
        shape = (-1, *([1] * (x0.dim() - 1)))
        x_next = x0 + s_next.reshape(shape) * z
        with torch.no_grad():
            if self.teacher is None:
                x_hat = x0 + s_i.reshape(shape) * z
            else:
                x_hat = self._teacher_heun(x_next, s_next, s_i, cond)
            target = self.consistency_fn(self._target_net(net), x_hat, s_i, cond)
        pred = self.consistency_fn(net, x_next, s_next, cond)
        loss = pseudo_huber(pred, target)  # (B,)
        if self.weighting == "ict":
            loss = loss / (s_next - s_i)
        if self.dsm_weight > 0:
            weight = (s_next**2 + self.sigma_data**2) / (s_next * self.sigma_data) ** 2
            mse = (pred - x0).flatten(1).pow(2).mean(1)
            loss = loss + self.dsm_weight * weight * mse
        return torch.mean(loss)

    @torch.no_grad()
    def _target_net(self, net: DenoiserFn) -> DenoiserFn:
        """theta^-: ``net`` itself, or its EMA copy moved once per loss call (mu = target_ema)."""
        if self.target_ema == 0.0 or not isinstance(net, nn.Module):
            return net
        if self._target is None or self._target_of is not net:
            self._target = copy.deepcopy(net).requires_grad_(False)
            self._target_of = net
        for p_target, p in zip(self._target.parameters(), net.parameters()):
            p_target.lerp_(p.detach(), 1.0 - self.target_ema)
        return self._target

    def _teacher_heun(self, x: Tensor, s_from: Tensor, s_to: Tensor, cond: Tensor | None):
        """One Heun step of the teacher's ODE dx/dsigma = (x - D(x; sigma)) / sigma."""
        teacher, teacher_net = self.teacher  # type: ignore[misc]
        shape = (-1, *([1] * (x.dim() - 1)))
        h = (s_to - s_from).reshape(shape)
        d = (x - teacher.denoise(teacher_net, x, s_from, cond)) / s_from.reshape(shape)
        x_euler = x + h * d
        d2 = (x_euler - teacher.denoise(teacher_net, x_euler, s_to, cond)) / s_to.reshape(shape)
        return x + h * 0.5 * (d + d2)

    def sampling_sigmas(self, steps: int) -> Tensor:
        """sigma_max and steps - 1 lower sigmas: the first ``steps`` points of the ``steps``-step
        Karras grid from sigma_max to sigma_min. (steps,) float64."""
        steps = check_int("steps", steps, 1, hint="consistency sampling takes steps >= 1.")
        return karras_sigmas(steps + 1, self.sigma_min, self.sigma_max, self.rho)[:steps]

    def sample(
        self,
        net: DenoiserFn,
        shape: tuple[int, ...],
        cond: Tensor | None = None,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        guidance_scale: float | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Multistep consistency sampling (Song et al. 2023, Algorithm 1); one call of ``net``
        per step. The generator draws the initial noise and each re-noising."""
        shape = _checks.check_shape(shape)
        _checks.check_cond(cond, shape[0])
        if guidance_scale is not None:
            raise ValueError("objectives.consistency has no guidance; pass guidance_scale=None.")
        sigmas = self.sampling_sigmas(self.sample_steps if steps is None else steps).tolist()
        device = _checks.default_device(device, cond, generator)
        x = sigmas[0] * torch.randn(shape, generator=generator, dtype=dtype, device=device)
        x0 = None
        for j, sigma in enumerate(sigmas):
            if j > 0:
                z = torch.randn(shape, generator=generator, dtype=dtype, device=device)
                x = x0 + math.sqrt(sigma**2 - self.sigma_min**2) * z  # type: ignore[operator]
            s = torch.full((shape[0],), sigma, dtype=dtype, device=device)
            x0 = self.consistency_fn(net, x, s, cond)
        return x0  # type: ignore[return-value]

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(JSON config, no arrays); the teacher is a training-time reference, not saved."""
        config = {
            "sigma_data": self.sigma_data,
            "sigma_min": self.sigma_min,
            "sigma_max": self.sigma_max,
            "rho": self.rho,
            "bins": self.bins,
            "sample_steps": self.sample_steps,
            "cond_dropout_trained": self.cond_dropout_trained,
            "target_ema": self.target_ema,
            "dsm_weight": self.dsm_weight,
            "weighting": self.weighting,
        }
        return config, {}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> Consistency:
        return cls(**config)

    def __repr__(self) -> str:
        kind = "distillation" if self.teacher is not None else "training"
        return f"Consistency({kind}, bins={self.bins}, sample_steps={self.sample_steps})"
