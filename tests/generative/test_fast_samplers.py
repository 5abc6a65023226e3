"""Fast samplers: DPM-Solver++ (vs diffusers), EDM Euler / Heun, on Gaussian data with the exact
denoiser (closed form), and their bad input."""

import math

import pytest
import torch

from rlcore import registry
from rlcore.generative import schedules
from rlcore.generative.dpm_solver import DPMSolverPPSampler
from rlcore.generative.edm import EDM, EDMEulerSampler, EDMHeunSampler, karras_sigmas, run_sampler
from rlcore.generative.samplers import DDIMSampler

torch.set_num_threads(1)
MU, S = 1.5, 0.3  # data x0 ~ N(MU, S^2)


def vp_moments(sampler, alpha_bar, steps):
    """Mean and std of the samples of a deterministic VP sampler driven by the exact x0 denoiser.

    The denoiser is affine in x, so the sampler maps x_T to a x_T + b: mean b, std |a| (x_T ~ N(0, 1)).
    """

    def run(x):
        timesteps = sampler.set_timesteps(steps)
        for i, k in enumerate(timesteps.tolist()):
            ab = float(alpha_bar[k])
            x0 = MU + S * S * math.sqrt(ab) / (ab * S * S + 1 - ab) * (x - math.sqrt(ab) * MU)
            eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
            x = sampler.step(i, x, x0, eps)
        return x

    b = float(run(torch.zeros(1, 1, dtype=torch.float64)))
    a = float(run(torch.ones(1, 1, dtype=torch.float64))) - b
    return b, abs(a)


def edm_moments(sampler, steps):
    def denoise(x, sigma):
        s2 = sigma[:, None] ** 2
        return MU + S * S / (S * S + s2) * (x - MU)

    sigmas = sampler.set_timesteps(steps)
    b = float(run_sampler(sampler, sigmas, denoise, torch.zeros(1, 1, dtype=torch.float64)))
    a = float(run_sampler(sampler, sigmas, denoise, torch.ones(1, 1, dtype=torch.float64))) - b
    return b, abs(a) * sampler.init_noise_sigma


def error(moments):
    mean, std = moments
    return abs(mean - MU) + abs(std - S)


def test_dpm_solver_pp_and_edm_heun_beat_ddim_at_ten_steps_and_converge():
    alpha_bar = schedules.discretize(schedules.LinearSchedule(), 1000)
    ddim = {n: error(vp_moments(DDIMSampler(alpha_bar), alpha_bar, n)) for n in (10, 20, 50)}
    dpm = {
        n: error(vp_moments(DPMSolverPPSampler(alpha_bar), alpha_bar, n)) for n in (5, 10, 20, 50)
    }
    heun = {n: error(edm_moments(EDMHeunSampler(), n)) for n in (5, 10, 20, 50)}
    euler = {n: error(edm_moments(EDMEulerSampler(), n)) for n in (10, 50)}
    assert dpm[10] < ddim[10] and heun[10] < ddim[10]
    assert dpm[10] <= ddim[20]  # the goal, on exact denoisers
    # Convergence down to the bias of the starting noise (N(0, I) for the true x_T at k = K - 1,
    # N(0, 80^2) for EDM's): at most 0.01 in mean + std here.
    assert dpm[5] > dpm[10] and max(dpm[20], dpm[50]) < 0.01
    assert heun[5] > heun[10] > heun[20] > heun[50] and heun[50] < 0.01
    # Second order matters: order 1 on the same logSNR grid is worse.
    o1 = error(vp_moments(DPMSolverPPSampler(alpha_bar, order=1), alpha_bar, 10))
    assert dpm[10] < o1
    assert euler[50] < euler[10] and heun[10] < euler[10]  # Heun's correction helps


def test_dpm_solver_pp_order_one_is_ddim():
    alpha_bar = schedules.discretize(schedules.CosineSchedule(), 100)
    g = torch.Generator().manual_seed(0)
    x, x0, eps = (torch.randn(4, 3, generator=g, dtype=torch.float64) for _ in range(3))
    dpm = DPMSolverPPSampler(alpha_bar, order=1, spacing="trailing")
    ddim = DDIMSampler(alpha_bar)
    dpm.set_timesteps(7)
    ddim.set_timesteps(7)
    for i in range(7):
        ab = float(alpha_bar[ddim.timesteps[i]])
        eps_i = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)  # consistent pair
        x_dpm, x_ddim = dpm.step(i, x, x0, eps_i), ddim.step(i, x, x0, eps_i)
        torch.testing.assert_close(x_dpm, x_ddim, rtol=1e-10, atol=1e-10)
        x = x_dpm


# diffusers 0.42 calls np.array on a torch tensor (its own DeprecationWarning under NumPy 2).
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("steps", [5, 10, 20, 25])
def test_dpm_solver_pp_matches_diffusers(steps):
    diffusers = pytest.importorskip("diffusers")
    num_train = 1000
    alpha_bar = schedules.discretize(schedules.LinearSchedule(), num_train)
    betas = 1 - alpha_bar / torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
    theirs = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=num_train,
        trained_betas=betas.numpy(),
        solver_order=2,
        algorithm_type="dpmsolver++",
        timestep_spacing="trailing",
        prediction_type="epsilon",
    )
    theirs.set_timesteps(steps)
    ours = DPMSolverPPSampler(alpha_bar, spacing="trailing")
    ours.set_timesteps(steps)
    assert theirs.timesteps.tolist() == ours.timesteps.tolist()
    g = torch.Generator().manual_seed(steps)
    w = torch.randn(3, 3, generator=g) / 3

    def eps_net(x, k):  # a fixed nonlinear "network": near the eps of N(0, I) data
        return math.sqrt(1 - float(alpha_bar[k])) * x + 0.3 * torch.tanh(
            x @ w + (k + 1) / num_train
        )

    x_ours = x_theirs = torch.randn(2, 8, 3, generator=g)
    for i, k in enumerate(ours.timesteps.tolist()):
        eps = eps_net(x_ours, k)
        ab = float(alpha_bar[k])
        x0 = (x_ours - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
        x_ours = ours.step(i, x_ours, x0, eps)
        x_theirs = theirs.step(eps_net(x_theirs, k), k, x_theirs).prev_sample
        torch.testing.assert_close(x_ours, x_theirs, rtol=2e-5, atol=2e-5)


def test_karras_grid_and_heun_call_count():
    sig = karras_sigmas(5, 0.002, 80.0, 7.0)
    assert sig[0] == pytest.approx(80.0) and sig[4] == pytest.approx(0.002) and sig[5] == 0
    assert (sig[1:] < sig[:-1]).all()
    heun = EDMHeunSampler()
    assert heun.set_timesteps(5).numel() == 9  # 2N - 1 evaluations
    assert EDMEulerSampler().set_timesteps(5).numel() == 5


def test_churn_adds_noise_reproducibly_and_keeps_the_moments():
    sampler = EDMHeunSampler(churn=10.0)
    sampler.set_timesteps(60)
    assert sampler.init_noise_sigma > 80.0  # sigma_hat_0 = sigma_0 (1 + gamma)

    def denoise(x, sigma):
        return MU + S * S / (S * S + sigma[:, None] ** 2) * (x - MU)

    def draw(seed):
        g = torch.Generator().manual_seed(seed)
        sigmas = sampler.set_timesteps(60)
        x = sampler.init_noise_sigma * torch.randn(20000, 1, generator=g, dtype=torch.float64)
        return run_sampler(sampler, sigmas, denoise, x, g)

    a, b = draw(0), draw(0)
    assert torch.equal(a, b)
    assert float(a.mean()) == pytest.approx(MU, abs=0.02)
    assert float(a.std()) == pytest.approx(S, abs=0.02)


def test_edm_objective_preconditioning_and_training_on_a_gaussian():
    # With F = 0 the preconditioned D is c_skip x: the exact denoiser of N(0, sd^2) data.
    model = EDM(sigma_data=0.5)
    x = torch.randn(6, 2)
    sigma = torch.full((6,), 0.7)
    d = model.denoise(lambda x_t, t, cond: torch.zeros_like(x_t), x, sigma, None)
    torch.testing.assert_close(d, 0.25 / (0.25 + 0.49) * x)
    # ... so its loss is the Bayes risk; and samples have the data's variance.
    g = torch.Generator().manual_seed(0)
    out = model.sample(lambda x_t, t, c: torch.zeros_like(x_t), (20000, 1), steps=40, generator=g)
    assert float(out.std()) == pytest.approx(0.5, abs=0.02)
    cfg, _ = model.state()
    assert EDM.from_state(cfg, {}).state()[0] == cfg
    assert registry.make("objectives.edm").precondition


def test_bad_input_is_refused():
    alpha_bar = schedules.discretize(schedules.CosineSchedule(), 100)
    with pytest.raises(ValueError, match="at least 2 steps"):
        DPMSolverPPSampler(alpha_bar).set_timesteps(1)
    with pytest.raises(ValueError, match="rho"):
        EDMHeunSampler(rho=0.0)
    with pytest.raises(ValueError, match="rho"):
        karras_sigmas(5, 0.002, 80.0, -1.0)
    sampler = DPMSolverPPSampler(alpha_bar)
    sampler.set_timesteps(4)
    x = torch.zeros(1, 1)
    with pytest.raises(ValueError, match="multistep"):
        sampler.step(1, x, x, x)
    with pytest.raises(ValueError, match="sigma_max"):
        EDMEulerSampler(sigma_min=1.0, sigma_max=0.5)
