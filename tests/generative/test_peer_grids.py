"""Schedules and grids equal to diffusers' where users port configs: DDPM's discrete linear
betas (schedules.ddpm_linear) against DDPMScheduler.alphas_cumprod, DDPM / DDIM trajectories on
it against diffusers' step functions, and the SD3 flow-matching grid (grid="sd3") against
FlowMatchEulerDiscreteScheduler, with an Euler trajectory on it."""

import numpy as np
import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    FlowMatchEulerDiscreteScheduler,
)

import rlcore
from rlcore.generative import schedules
from rlcore.generative.diffusion import Diffusion, split_prediction
from rlcore.generative.flow_matching import FlowMatching
from rlcore.generative.samplers import DDIMSampler, DDPMSampler, EulerSampler, flow_times


@pytest.mark.parametrize("k", [1000, 100, 10])
def test_ddpm_linear_equals_diffusers_alphas_cumprod(k):
    peer = DDPMScheduler(num_train_timesteps=k, beta_schedule="linear").alphas_cumprod.double()
    ours = schedules.discretize(schedules.DDPMLinearSchedule(), k)
    assert ours.dtype == torch.float64 and ours.shape == (k,)
    assert (ours - peer).abs().max().item() <= 1e-7  # measured: 0 (the same float32 arithmetic)


def test_ddpm_linear_float64_is_the_reference_code_and_linear_vp_is_not_ddpm():
    # The DDPM authors' code: np.linspace(1e-4, 0.02, 1000, dtype=np.float64), then cumprod.
    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    reference = np.cumprod(1.0 - betas)
    f64 = schedules.discretize(schedules.DDPMLinearSchedule(dtype="float64"), 1000).numpy()
    np.testing.assert_allclose(f64, reference, rtol=0, atol=1e-15)
    peer = DDPMScheduler(beta_schedule="linear").alphas_cumprod.double().numpy()
    assert np.abs(f64 - peer).max() < 3e-7  # float32 rounding of diffusers' product (2.5e-7)
    vp = schedules.discretize(schedules.LinearSchedule(), 1000).numpy()
    assert 5e-4 < np.abs(vp - peer).max() < 1e-3  # the documented 8.1e-4 gap


def test_ddpm_linear_by_name_and_in_continuous_time():
    schedule = rlcore.make("schedules.ddpm_linear")
    model = Diffusion("ddpm_linear", num_train_steps=1000)
    peer = DDPMScheduler(beta_schedule="linear").alphas_cumprod.double()
    assert (model.alpha_bar - peer).abs().max().item() <= 1e-7
    t = schedules.step_times(1000)
    assert torch.allclose(schedule.alpha_bar(t), schedule.discrete_alpha_bar(1000), atol=1e-15)
    assert schedule.alpha_bar(0.0).item() == 1.0
    ab = schedule.alpha_bar(torch.linspace(0, 1, 101, dtype=torch.float64))
    assert (ab[1:] < ab[:-1]).all()
    with pytest.raises(ValueError, match="beta_end"):
        schedules.DDPMLinearSchedule(beta_start=0.02, beta_end=1e-4)
    with pytest.raises(ValueError, match="dtype"):
        schedules.DDPMLinearSchedule(dtype="float16")


def _eps_net(x, t_index):
    """A fixed smooth 'denoiser' standing in for a trained network (same for both libraries)."""
    return 0.3 * torch.tanh(x) + 0.01 * float(t_index) / 1000.0


@pytest.mark.parametrize("steps", [10, 7])
def test_ddpm_trajectory_on_ddpm_linear_matches_diffusers(steps):
    alpha_bar = schedules.discretize(schedules.DDPMLinearSchedule(), 1000)
    ours = DDPMSampler(alpha_bar)
    timesteps = ours.set_timesteps(steps)
    peer = DDPMScheduler(beta_schedule="linear", timestep_spacing="trailing", clip_sample=False)
    peer.set_timesteps(steps)
    assert peer.timesteps.tolist() == timesteps.tolist()  # the trailing spacing of both
    x0 = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    x_ours, x_peer = x0.clone(), x0.clone()
    g_ours, g_peer = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    for i, k in enumerate(timesteps.tolist()):
        eps = _eps_net(x_ours, k)
        x0_hat, eps_hat = split_prediction(eps, x_ours, float(alpha_bar[k]), "epsilon")
        x_ours = ours.step(i, x_ours, x0_hat, eps_hat, generator=g_ours)
        x_peer = peer.step(_eps_net(x_peer, k), k, x_peer, generator=g_peer).prev_sample
    # diffusers adds noise of std 1e-10 on its last step (variance clamped at 1e-20).
    torch.testing.assert_close(x_ours, x_peer, rtol=1e-5, atol=1e-5)


def test_ddim_trajectory_on_ddpm_linear_matches_diffusers():
    alpha_bar = schedules.discretize(schedules.DDPMLinearSchedule(), 1000)
    ours = DDIMSampler(alpha_bar, eta=0.0)
    timesteps = ours.set_timesteps(10)
    peer = DDIMScheduler(
        beta_schedule="linear",
        timestep_spacing="trailing",
        clip_sample=False,
        set_alpha_to_one=True,
    )
    peer.set_timesteps(10)
    assert peer.timesteps.tolist() == timesteps.tolist()
    x_ours = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    x_peer = x_ours.clone()
    for i, k in enumerate(timesteps.tolist()):
        x0_hat, eps_hat = split_prediction(
            _eps_net(x_ours, k), x_ours, float(alpha_bar[k]), "epsilon"
        )
        x_ours = ours.step(i, x_ours, x0_hat, eps_hat)
        x_peer = peer.step(_eps_net(x_peer, k), k, x_peer, eta=0.0).prev_sample
    torch.testing.assert_close(x_ours, x_peer, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shift", [1.0, 3.0])
@pytest.mark.parametrize("steps", [1, 2, 5, 10, 28, 50])
def test_sd3_grid_equals_diffusers_flow_match_euler(shift, steps):
    peer = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    peer.set_timesteps(steps)
    ours = flow_times(steps, shift, grid="sd3")
    assert ours.shape == peer.sigmas.shape == (steps + 1,)
    assert (ours - peer.sigmas.double()).abs().max().item() <= 1e-7  # float32 precision
    assert ours[0] == 1.0 and ours[-1] == 0.0


def test_default_uniform_grid_differs_from_sd3_by_up_to_0_42_at_5_steps():
    gap = (flow_times(5, 3.0) - flow_times(5, 3.0, grid="sd3")).abs().max().item()
    assert gap == pytest.approx(0.4196, abs=1e-3)
    uniform = flow_times(5, 3.0)  # shifted once: shift(1 - i / 5)
    s = torch.linspace(1, 0, 6, dtype=torch.float64)
    torch.testing.assert_close(uniform, 3 * s / (1 + 2 * s))


def test_euler_on_the_sd3_grid_matches_diffusers_trajectory():
    def velocity(x, t):
        return x * 0.5 - torch.sin(x) * t.reshape(-1, 1)

    ours = EulerSampler(shift=3.0, grid="sd3")
    ours.set_timesteps(8)
    peer = FlowMatchEulerDiscreteScheduler(shift=3.0)
    peer.set_timesteps(8)
    x_ours = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    x_peer = x_ours.clone()
    for i, t_peer in enumerate(peer.timesteps):
        x_ours = ours.step(i, velocity, x_ours)
        sigma = torch.full((32,), float(peer.sigmas[i]))
        x_peer = peer.step(velocity(x_peer, sigma), t_peer, x_peer).prev_sample
    torch.testing.assert_close(x_ours, x_peer, rtol=1e-5, atol=1e-5)


def test_flow_matching_grid_option_round_trips_and_is_validated():
    model = FlowMatching(shift=3.0, grid="sd3")
    assert model.make_sampler().set_timesteps(5).tolist() == flow_times(5, 3.0, "sd3").tolist()
    config, _ = model.state()
    assert FlowMatching.from_state(config, {}).grid == "sd3"
    assert FlowMatching().grid == "uniform"
    with pytest.raises(ValueError, match="grid"):
        FlowMatching(grid="karras")
