"""Exact log-likelihoods through an ODE: the instantaneous change of variables.

For dx/dt = v(x, t) carrying data at t0 to a known prior at t1 (Chen et al. 2018, Theorem 1),

    log p_t0(x(t0)) = log p_t1(x(t1)) + int_t0^t1 div_x v(x(t), t) dt,

solved jointly for (x(t), the integral) by torchdiffeq. The divergence is either exact
(D reverse-mode passes, small D) or Hutchinson's estimator div v = E_z[z^T (dv/dx) z] with
Rademacher or Gaussian probes z drawn once per solve and held fixed along the path
(Hutchinson 1989; Grathwohl et al. 2019, FFJORD §3.1); ``probes`` > 1 averages several.

The same code gives the likelihood of
- a score SDE through its probability-flow ODE (Song et al. 2021, §4.3 and App. D.2):
  :func:`sde_log_likelihood`, from t_min (default 1e-5) to T with the SDE's prior;
- a flow-matching model, whose ODE is a probability flow from data at t = 0 to N(0, I) at
  t = 1: :func:`flow_matching_log_likelihood`;
- a continuous normalizing flow (``flows.cnf``).

Bits per dimension: -log p(x) / (D ln 2) (:func:`bits_per_dim`); no dequantisation offset, the
data here are continuous.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from rlcore.generative.sde import SDE, probability_flow, standard_normal_log_prob
from rlcore.generative.sde_samplers import (
    ADAPTIVE_METHODS,
    ODE_METHODS,
    check_tolerance,
    ode_options,
)
from rlcore.validation import check_choice, check_int, check_range

__all__ = [
    "LogLikelihood",
    "bits_per_dim",
    "divergence_exact",
    "divergence_hutchinson",
    "draw_probes",
    "flow_matching_log_likelihood",
    "ode_log_likelihood",
    "sde_log_likelihood",
    "solve_with_divergence",
]

Velocity = Callable[[Tensor, Tensor], Tensor]
DIVERGENCES = ("exact", "hutchinson")
PROBES = ("rademacher", "gaussian")


@dataclass(frozen=True)
class LogLikelihood:
    """log p(x) (B,) in nats, the prior point z = x(t1) (B, ...), and the velocity evaluations."""

    log_prob: Tensor
    z: Tensor
    nfe: int

    def bits_per_dim(self) -> Tensor:
        return bits_per_dim(self.log_prob, self.z[0].numel())


def bits_per_dim(log_prob: Tensor, dim: int) -> Tensor:
    """-log p(x) / (D ln 2): nats to bits per dimension."""
    return -log_prob / (check_int("dim", dim, 1) * math.log(2.0))


def divergence_exact(v: Tensor, x: Tensor, *, create_graph: bool = False) -> Tensor:
    """sum_i dv_i / dx_i by D reverse-mode passes; v, x (B, D) -> (B,) (rows independent)."""
    flat_v = v.reshape(v.shape[0], -1)
    div = torch.zeros(v.shape[0], dtype=v.dtype, device=v.device)
    for i in range(flat_v.shape[1]):
        (g,) = torch.autograd.grad(
            flat_v[:, i].sum(), x, create_graph=create_graph, retain_graph=True
        )
        div = div + g.reshape(v.shape[0], -1)[:, i]
    return div


def divergence_hutchinson(v: Tensor, x: Tensor, probes: Tensor, *, create_graph: bool = False):
    """mean_p z_p^T (dv/dx) z_p: one batched vector-Jacobian product over the probes
    (``is_grads_batched``); probes (P, B, ...) -> (B,)."""
    if probes.shape[0] == 1:
        (g,) = torch.autograd.grad(v, x, probes[0], create_graph=create_graph, retain_graph=True)
        return (g * probes[0]).reshape(v.shape[0], -1).sum(-1)
    (g,) = torch.autograd.grad(
        v, x, probes, create_graph=create_graph, retain_graph=True, is_grads_batched=True
    )  # (P, B, ...)
    return (g * probes).reshape(probes.shape[0], v.shape[0], -1).sum(-1).mean(0)


def draw_probes(
    shape: tuple[int, ...],
    probes: int,
    noise: Literal["rademacher", "gaussian"] = "rademacher",
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Probe vectors (P, *shape) with E[z z^T] = I: Rademacher (+-1) or standard normal."""
    noise = check_choice("noise", noise, PROBES)
    size = (check_int("probes", probes, 1), *shape)
    if noise == "gaussian":
        return torch.randn(size, generator=generator, dtype=dtype, device=device)
    bits = torch.randint(0, 2, size, generator=generator, device=device)
    return bits.to(dtype) * 2 - 1


def _check_x(x: Tensor) -> None:
    if not torch.is_tensor(x) or not torch.is_floating_point(x) or x.dim() < 2:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"x must be a float tensor (B, ...) with a batch axis, got {shape}.")
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(
            f"x holds {bad} non-finite values (nan or inf); log p(x) needs finite data."
        )


def solve_with_divergence(
    velocity: Velocity,
    x: Tensor,
    t_start: float,
    t_end: float,
    *,
    divergence: Literal["exact", "hutchinson"] = "exact",
    probes: int = 1,
    noise: Literal["rademacher", "gaussian"] = "rademacher",
    method: str = "dopri5",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    steps: int = 20,
    generator: torch.Generator | None = None,
    create_graph: bool = False,
) -> tuple[Tensor, Tensor, int]:
    """x(t_end) and int_{t_start}^{t_end} div v(x(t), t) dt, solved jointly (either direction).

    The integral is log |det d x(t_end) / d x(t_start)| (Chen et al. 2018, Theorem 1). Arguments
    as in :func:`ode_log_likelihood`. Returns (x_end (B, ...), integral (B,), evaluations).
    """
    from torchdiffeq import odeint

    _check_x(x)
    divergence = check_choice("divergence", divergence, DIVERGENCES)
    method = check_choice("method", method, ODE_METHODS)
    rtol, atol = check_tolerance("rtol", rtol), check_tolerance("atol", atol)
    z_probe = None
    if divergence == "hutchinson":
        z_probe = draw_probes(
            tuple(x.shape), probes, noise, generator=generator, dtype=x.dtype, device=x.device
        )
    nfe = 0

    def f(t: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        nonlocal nfe
        nfe += 1
        x_t = state[0]
        with torch.enable_grad():
            if not (create_graph and x_t.requires_grad):
                x_t = x_t.detach().requires_grad_(True)
            v = velocity(x_t, t.to(x_t.dtype).expand(x_t.shape[0]))
            if z_probe is None:
                div = divergence_exact(v, x_t, create_graph=create_graph)
            else:
                div = divergence_hutchinson(v, x_t, z_probe, create_graph=create_graph)
        if not create_graph:
            v, div = v.detach(), div.detach()
        return v, div

    if method in ADAPTIVE_METHODS:
        grid = torch.tensor([t_start, t_end], dtype=x.dtype, device=x.device)
    else:
        steps = check_int("steps", steps, 1)
        grid = torch.linspace(t_start, t_end, steps + 1, dtype=x.dtype, device=x.device)
    delta0 = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    with torch.set_grad_enabled(create_graph):
        xs, deltas = odeint(
            f,
            (x, delta0),
            grid,
            method=method,
            rtol=rtol,
            atol=atol,
            options=ode_options(grid, method),
        )
    return xs[-1], deltas[-1], nfe


def ode_log_likelihood(
    velocity: Velocity,
    x: Tensor,
    prior_log_prob: Callable[[Tensor], Tensor],
    *,
    t0: float = 0.0,
    t1: float = 1.0,
    **options,
) -> LogLikelihood:
    """log p_t0(x) = log p_t1(x(t1)) + int_t0^t1 div v dt along dx/dt = velocity(x, t).

    Args:
        velocity: (x (B, ...), t (B,)) -> dx/dt, shaped like x.
        x: (B, ...) points at t0 (finite).
        prior_log_prob: log-density at t1, (B, ...) -> (B,).
        t0, t1: start (data) and end (prior) times, t0 < t1.
        **options: of :func:`solve_with_divergence`:
            divergence: "exact" (D backward passes) or "hutchinson".
            probes: Hutchinson probe vectors per point (averaged), drawn once per solve.
            noise: "rademacher" or "gaussian" probes.
            method: a torchdiffeq method; fixed ones ("euler", "midpoint", "rk4") take ``steps``.
            rtol, atol: tolerances of an adaptive method (> 0).
            steps: steps of a fixed method.
            generator: draws the probes.
            create_graph: keep the graph for training (a CNF's maximum likelihood); otherwise
                the solve builds no graph and the result is detached.

    Returns:
        :class:`LogLikelihood` with log p(x) (B,), z = x(t1) and the number of evaluations.
    """
    t0 = check_range("t0", t0)
    t1 = check_range("t1", t1, t0, low_open=True, hint="need t1 > t0 (data at t0, prior at t1).")
    z, integral, nfe = solve_with_divergence(velocity, x, t0, t1, **options)
    with torch.set_grad_enabled(bool(options.get("create_graph", False))):
        log_prob = prior_log_prob(z) + integral
    return LogLikelihood(log_prob, z, nfe)


def sde_log_likelihood(
    sde: SDE,
    score: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    *,
    t_min: float = 1e-5,
    prior_log_prob: Callable[[Tensor], Tensor] | None = None,
    **options,
) -> LogLikelihood:
    """log p(x) of a score SDE through its probability-flow ODE, from t_min to T.

    Song et al. (2021), App. D.2 (t_min = 1e-5). ``prior_log_prob`` defaults to the SDE's prior
    (N(0, I) for VP); pass the exact marginal at T to remove the prior mismatch in tests.
    ``options`` go to :func:`ode_log_likelihood`.
    """
    t_min = check_range("t_min", t_min, 0.0, sde.T, low_open=True, high_open=True)
    prior = sde.prior_log_prob if prior_log_prob is None else prior_log_prob
    return ode_log_likelihood(probability_flow(sde, score), x, prior, t0=t_min, t1=sde.T, **options)


def flow_matching_log_likelihood(
    net: Callable[[Tensor, Tensor, Tensor | None], Tensor],
    x: Tensor,
    cond: Tensor | None = None,
    **options,
) -> LogLikelihood:
    """log p(x) of a flow-matching model: its velocity v(x, t, cond) carries the data at t = 0 to
    N(0, I) at t = 1 (Lipman et al. 2023, §2: a continuous normalizing flow). ``options`` go to
    :func:`ode_log_likelihood`."""

    def velocity(x_t: Tensor, t: Tensor) -> Tensor:
        return net(x_t, t, cond)

    return ode_log_likelihood(velocity, x, standard_normal_log_prob, t0=0.0, t1=1.0, **options)
