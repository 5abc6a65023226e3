"""How far rlcore's schedules and grids are from diffusers' (the peer users port configs from).

    python benchmarks/peer_schedules.py

Prints the largest absolute differences: DDPM's discrete linear alpha_bar (schedules.ddpm_linear,
float32 = diffusers' arithmetic, float64 = the DDPM reference code) and the continuous VP
schedules.linear against DDPMScheduler.alphas_cumprod; the SD3 flow grid (grid="sd3") against
FlowMatchEulerDiscreteScheduler.sigmas and the default grid's distance from it; and whole DDPM /
DDIM / Euler trajectories (64 samples, a fixed smooth stand-in for the network) against
diffusers' step functions, relative to the samples' scale (diffusers computes the step
coefficients in float32, rlcore in float64).
"""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, DDPMScheduler, FlowMatchEulerDiscreteScheduler

from rlcore.generative import schedules
from rlcore.generative.diffusion import split_prediction
from rlcore.generative.samplers import DDIMSampler, DDPMSampler, EulerSampler, flow_times


def _eps(x: torch.Tensor, k: int) -> torch.Tensor:
    return 0.3 * torch.tanh(x) + 0.01 * k / 1000.0


def schedule_errors() -> dict[str, float]:
    out = {}
    for k in (1000, 100):
        peer = DDPMScheduler(num_train_timesteps=k, beta_schedule="linear").alphas_cumprod.double()
        for label, sched in (
            ("ddpm_linear float32", schedules.DDPMLinearSchedule()),
            ("ddpm_linear float64", schedules.DDPMLinearSchedule(dtype="float64")),
            ("linear (continuous VP)", schedules.LinearSchedule()),
        ):
            err = (schedules.discretize(sched, k) - peer).abs().max().item()
            out[f"alpha_bar K={k}: {label}"] = err
    return out


def grid_errors() -> dict[str, float]:
    out = {}
    for shift in (1.0, 3.0):
        sd3_err, gap = 0.0, 0.0
        for steps in (1, 2, 5, 10, 28, 50):
            peer = FlowMatchEulerDiscreteScheduler(shift=shift)
            peer.set_timesteps(steps)
            sd3 = flow_times(steps, shift, grid="sd3")
            sd3_err = max(sd3_err, (sd3 - peer.sigmas.double()).abs().max().item())
            if steps == 5:
                gap = (flow_times(steps, shift) - sd3).abs().max().item()
        out[f"flow grid shift {shift:g}: sd3 vs diffusers (steps 1-50)"] = sd3_err
        out[f"flow grid shift {shift:g}: default uniform vs sd3 (5 steps)"] = gap
    return out


def trajectory_errors() -> dict[str, float]:
    alpha_bar = schedules.discretize(schedules.DDPMLinearSchedule(), 1000)
    out = {}
    for name, ours, peer in (
        (
            "DDPM-10",
            DDPMSampler(alpha_bar),
            DDPMScheduler(timestep_spacing="trailing", clip_sample=False),
        ),
        (
            "DDIM-10",
            DDIMSampler(alpha_bar),
            DDIMScheduler(timestep_spacing="trailing", clip_sample=False),
        ),
    ):
        timesteps = ours.set_timesteps(10)
        peer.set_timesteps(10)
        x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
        y = x.clone()
        g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
        for i, k in enumerate(timesteps.tolist()):
            x0_hat, eps_hat = split_prediction(_eps(x, k), x, float(alpha_bar[k]), "epsilon")
            x = ours.step(i, x, x0_hat, eps_hat, generator=g1)
            y = peer.step(_eps(y, k), k, y, generator=g2).prev_sample
        scale = y.abs().max().item()
        out[f"trajectory {name} on ddpm_linear (relative to max |x| = {scale:.3g})"] = (
            x - y
        ).abs().max().item() / scale
    euler, peer = EulerSampler(3.0, grid="sd3"), FlowMatchEulerDiscreteScheduler(shift=3.0)
    euler.set_timesteps(8)
    peer.set_timesteps(8)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    y = x.clone()
    for i, t in enumerate(peer.timesteps):
        x = euler.step(i, lambda z, s: 0.5 * z - torch.sin(z) * s.reshape(-1, 1), x)
        v = 0.5 * y - torch.sin(y) * float(peer.sigmas[i])
        y = peer.step(v, t, y).prev_sample
    scale = y.abs().max().item()
    out[f"trajectory Euler-8 on the sd3 grid, shift 3 (relative to max |x| = {scale:.3g})"] = (
        x - y
    ).abs().max().item() / scale
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)
    print("| quantity | max abs difference |\n|---|---:|")
    for block in (schedule_errors(), grid_errors(), trajectory_errors()):
        for key, value in block.items():
            print(f"| {key} | {value:.3g} |")
