"""DDPM / DDIM: forward process, prediction conversions, samplers and the sampler contract."""

import math

import numpy as np
import pytest
import torch

from rlcore import registry
from rlcore.generative import FlowMatching, schedules
from rlcore.generative.diffusion import (
    SAMPLERS,
    Diffusion,
    prediction_target,
    q_sample,
    split_prediction,
)
from rlcore.generative.edm import EDM
from rlcore.generative.flow_matching import SOLVERS
from rlcore.generative.samplers import (
    DDIMSampler,
    DDPMSampler,
    ddim_sigma,
    ddpm_posterior,
    trailing_timesteps,
)

torch.set_num_threads(1)


def gaussian_oracle(model, mu, s):
    """The exact network for data x0 ~ N(mu, s^2 I): E[eps | x_k], as eps / x0 / v output."""

    def net(x_t, t, cond=None):
        k = torch.round(t.double() * model.num_train_steps).long() - 1
        ab = model.alpha_bar[k].to(x_t.dtype)[:, None]
        eps = (1 - ab).sqrt() * (x_t - ab.sqrt() * mu) / (ab * s * s + 1 - ab)
        x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
        if model.prediction == "epsilon":
            return eps
        if model.prediction == "x0":
            return x0
        return ab.sqrt() * eps - (1 - ab).sqrt() * x0

    return net


def test_forward_closed_form_matches_the_markov_chain():
    # Run x_k = sqrt(1 - beta_k) x_{k-1} + sqrt(beta_k) z step by step; compare moments with
    # the closed form x_k = sqrt(ab_k) x0 + sqrt(1 - ab_k) eps (Ho et al. 2020, eq. 4).
    g = torch.Generator().manual_seed(0)
    ab = schedules.discretize(schedules.CosineSchedule(), 20)
    betas = 1 - ab / torch.cat([torch.ones(1, dtype=ab.dtype), ab[:-1]])
    x0 = torch.full((200_000,), 1.5, dtype=torch.float64)
    x = x0.clone()
    for k in range(20):
        x = (1 - betas[k]).sqrt() * x + betas[k].sqrt() * torch.randn(
            x.shape, generator=g, dtype=x.dtype
        )
        if k in (0, 7, 19):
            assert float(x.mean()) == pytest.approx(1.5 * math.sqrt(ab[k]), abs=0.01)
            assert float(x.var()) == pytest.approx(1 - float(ab[k]), abs=0.01)
            closed = q_sample(x0, torch.randn(x.shape, generator=g, dtype=x.dtype), ab[k : k + 1])
            assert float(closed.mean()) == pytest.approx(float(x.mean()), abs=0.01)
            assert float(closed.var()) == pytest.approx(float(x.var()), abs=0.01)


@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
def test_split_prediction_inverts_the_target(prediction):
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(64, 3, generator=g), torch.randn(64, 3, generator=g)
    ab = 0.37
    x_t = q_sample(x0, eps, torch.full((64,), ab))
    out = prediction_target(x0, eps, torch.full((64,), ab), prediction)
    x0_hat, eps_hat = split_prediction(out, x_t, ab, prediction)
    torch.testing.assert_close(x0_hat, x0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(eps_hat, eps, atol=1e-5, rtol=1e-5)


def test_trailing_timesteps_come_from_the_materialised_array():
    for k, s in [(100, 1), (100, 3), (100, 7), (100, 100), (5, 5), (5, 2), (1000, 50), (10, 9)]:
        ts = trailing_timesteps(k, s)
        assert ts.shape == (s,) and ts[0] == k - 1 and ts[-1] >= 0
        assert torch.all(ts[1:] < ts[:-1])
    assert trailing_timesteps(10, 10).tolist() == list(range(9, -1, -1))
    for bad in (0, 101):
        with pytest.raises(ValueError, match=r"\[1, 100\]"):
            trailing_timesteps(100, bad)


def test_ddim_eta_one_full_steps_equals_ddpm_posterior():
    ab = schedules.discretize(schedules.LinearSchedule(), 30)
    g = torch.Generator().manual_seed(2)
    ddim, ddpm = DDIMSampler(ab, eta=1.0), DDPMSampler(ab)
    ddim.set_timesteps(30)
    ddpm.set_timesteps(30)
    for i in range(29):
        k, k_prev = int(ddim.timesteps[i]), int(ddim.timesteps[i + 1])
        assert k_prev == k - 1
        _, var = ddpm_posterior(torch.zeros(1), torch.zeros(1), float(ab[k]), float(ab[k_prev]))
        assert ddim_sigma(float(ab[k]), float(ab[k_prev]), 1.0) ** 2 == pytest.approx(var)
        # A whole step, with a consistent (x0, eps) pair and the same noise draw.
        x0, eps = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
        x_t = q_sample(x0, eps, ab[k].expand(8))
        a = ddim.step(i, x_t, x0, eps, generator=torch.Generator().manual_seed(i))
        b = ddpm.step(i, x_t, x0, eps, generator=torch.Generator().manual_seed(i))
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def exact_moments(model, steps, eta, mu, s):
    """Mean and std of the reverse chain with the Gaussian oracle, by propagating its affine maps.

    With x0 ~ N(mu, s^2) the oracle's eps_hat and x0_hat are affine in x_t, so each step is
    x_prev = A x_t + B + sigma z and the output is Gaussian with moments m' = A m + B,
    v' = A^2 v + sigma^2 from m = 0, v = 1. Written from Ho et al. (2020), eqs. 6-7 and Song
    et al. (2021a), eqs. 12 and 16, independently of rlcore's samplers.
    """
    ab_all = model.alpha_bar.tolist()
    k_all = trailing_timesteps(model.num_train_steps, steps).tolist()
    m, v = 0.0, 1.0
    for i, k in enumerate(k_all):
        ab = ab_all[k]
        ab_prev = ab_all[k_all[i + 1]] if i + 1 < len(k_all) else 1.0
        # eps_hat = e1 x + e0, x0_hat = (x - sqrt(1 - ab) eps_hat) / sqrt(ab) = d1 x + d0
        e1 = math.sqrt(1 - ab) / (ab * s * s + 1 - ab)
        e0 = -e1 * math.sqrt(ab) * mu
        d1, d0 = (
            (1 - math.sqrt(1 - ab) * e1) / math.sqrt(ab),
            -math.sqrt(1 - ab) * e0 / math.sqrt(ab),
        )
        beta = 1 - ab / ab_prev
        if model.sampler == "ddpm":
            c0 = math.sqrt(ab_prev) * beta / (1 - ab)
            ct = math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab)
            a, b, var = c0 * d1 + ct, c0 * d0, beta * (1 - ab_prev) / (1 - ab)
        else:
            var = eta**2 * (1 - ab_prev) / (1 - ab) * beta
            ce = math.sqrt(max(1 - ab_prev - var, 0.0))
            a, b = math.sqrt(ab_prev) * d1 + ce * e1, math.sqrt(ab_prev) * d0 + ce * e0
        m, v = a * m + b, a * a * v + var
    return m, math.sqrt(v)


@pytest.mark.parametrize("sampler,eta", [("ddpm", 0.0), ("ddim", 0.0), ("ddim", 1.0)])
@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
@pytest.mark.parametrize("steps", [100, 7])
def test_chain_with_the_exact_network_matches_propagated_moments(sampler, eta, prediction, steps):
    mu, s = 1.5, 0.5
    model = Diffusion("linear", 100, prediction=prediction, sampler=sampler, eta=eta)
    x = model.sample(
        gaussian_oracle(model, torch.tensor([mu], dtype=torch.float64), s),
        (20_000, 1),
        steps=steps,
        generator=torch.Generator().manual_seed(3),
        dtype=torch.float64,
    )
    m, sd = exact_moments(model, steps, eta, mu, s)
    assert float(x.mean()) == pytest.approx(m, abs=0.015)
    assert float(x.std()) == pytest.approx(sd, abs=0.015)
    if sampler == "ddim" and eta == 0.0 and steps == 100:  # the ODE: close to the data itself
        assert (m, sd) == pytest.approx((mu, s), abs=0.02)


def test_clip_sample_bounds_the_last_step():
    model = Diffusion("cosine", 20, clip_sample=1.0)
    x = model.sample(lambda x_t, t, c: 50 * x_t, (100, 2), generator=torch.Generator())
    assert x.abs().max() <= 1.0 + 1e-6


# ----------------------------------------------------------------- the sampler contract test
def _model_for(name):
    short = name.split(".", 1)[1]
    if short in SAMPLERS:
        return Diffusion("cosine", 20, sampler=short, eta=0.5), 20
    if short in SOLVERS:
        return FlowMatching(solver=short), 50
    if short in ("edm_euler", "edm_heun"):  # objectives.edm (issue 18)
        return EDM(solver=short[4:]), 50
    if short in ("euler_maruyama", "predictor_corrector", "probability_flow"):  # score SDEs
        from rlcore.generative.score_matching import ScoreMatching

        return ScoreMatching(sampler=short, ode_method="rk4"), 50
    raise AssertionError(f"sampler {name} is not reachable from any GenerativeModel")


def _toy_net(x_t, t, cond=None):
    return 0.3 * x_t + 0.1 * t[:, None]


@pytest.mark.parametrize("name", registry.names("samplers."))
def test_sampler_contract(name):
    model, max_steps = _model_for(name)
    low = 2 if name == "samplers.dpm_solver_pp" else 1  # second order: refuses one step
    for steps in (low, 2, max_steps):
        a = model.sample(_toy_net, (16, 3), steps=steps, generator=torch.Generator().manual_seed(5))
        b = model.sample(_toy_net, (16, 3), steps=steps, generator=torch.Generator().manual_seed(5))
        c = model.sample(_toy_net, (16, 3), steps=steps, generator=torch.Generator().manual_seed(6))
        assert a.shape == (16, 3) and torch.isfinite(a).all()
        assert torch.equal(a, b)
        assert not torch.equal(a, c)
    with pytest.raises(ValueError, match="steps=0"):
        model.sample(_toy_net, (4, 3), steps=0)
    if isinstance(model, Diffusion):
        with pytest.raises(ValueError, match=r"steps=21 is outside \[1, 20\]"):
            model.sample(_toy_net, (4, 3), steps=21)
    sampler = registry.get(name)
    obj = sampler(model.alpha_bar) if isinstance(model, Diffusion) else sampler()
    grid = obj.set_timesteps(4)
    if name == "samplers.edm_heun":  # Heun evaluates at the inner grid points twice
        assert torch.all(grid[1:] <= grid[:-1])
    else:
        assert torch.all(grid[1:] < grid[:-1])
    # ODE/SDE solvers (flow matching, score SDEs) step along a grid with its end point and take
    # the network; diffusion samplers take its outputs (EDM Heun: 2S - 1 calls).
    solver = type(model).__name__ in ("FlowMatching", "ScoreMatching")
    n = len(grid) - 1 if solver else len(grid)
    with pytest.raises(ValueError, match=f"i={n}"):
        if not solver:
            obj.step(n, torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3))
        else:
            obj.step(n, lambda x, t: x, torch.zeros(2, 3))


def test_bad_configuration_and_inputs_raise():
    with pytest.raises(ValueError, match="prediction"):
        Diffusion(prediction="score")
    with pytest.raises(ValueError, match="schedule"):
        Diffusion(schedule="quadratic")
    with pytest.raises(ValueError, match="eta"):
        Diffusion(eta=1.5)
    model = Diffusion("cosine", 10)
    with pytest.raises(ValueError, match=r"\(B, cond_dim\) with B=4, got \(3, 2\)"):
        model.sample(_toy_net, (4, 3), cond=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="x0 must be"):
        model.loss(_toy_net, torch.zeros(5))


def test_checkpoint_round_trip(tmp_path):
    import rlcore

    model = Diffusion(schedules.vp_short(), 5, prediction="v", sampler="ddpm")
    rlcore.save(model, tmp_path)
    back = rlcore.load(tmp_path)
    assert back.state() == model.state()
    np.testing.assert_array_equal(back.alpha_bar.numpy(), model.alpha_bar.numpy())


class Recorder:
    """A net that records its inputs and predicts zeros."""

    def __init__(self):
        self.x, self.t = [], []

    def __call__(self, x_t, t, cond=None):
        self.x.append(x_t.clone())
        self.t.append(t.clone())
        return torch.zeros_like(x_t)


def test_time_adapter_at_the_edges_training():
    # Step k of K is t = (k + 1) / K: the net never sees t = 0 (data) and does see t = 1.
    model = Diffusion("cosine", 4)
    rec = Recorder()
    x0 = torch.zeros(4000, 1, dtype=torch.float64)
    model.loss(rec, x0, generator=torch.Generator().manual_seed(0))
    t, x_t = rec.t[0], rec.x[0][:, 0]
    assert set(t.tolist()) == {0.25, 0.5, 0.75, 1.0}
    for k, t_k in enumerate((0.25, 0.5, 0.75, 1.0)):
        # With x0 = 0, x_t = sigma_k eps: its variance is 1 - alpha_bar_k of step k.
        var = float(x_t[t == t_k].var())
        assert var == pytest.approx(1 - float(model.alpha_bar[k]), rel=0.15)


def test_time_adapter_at_the_edges_sampling():
    model = Diffusion("cosine", 10)
    rec = Recorder()
    model.sample(rec, (3, 2), steps=4, generator=torch.Generator())
    times = [float(t[0]) for t in rec.t]
    expected = [(k + 1) / 10 for k in trailing_timesteps(10, 4).tolist()]
    assert times == pytest.approx(expected) and times[0] == 1.0
    flow, rec = FlowMatching(), Recorder()
    flow.sample(rec, (3, 2), steps=4, generator=torch.Generator())
    assert [float(t[0]) for t in rec.t] == pytest.approx([1.0, 0.75, 0.5, 0.25])


def test_models_honour_the_generative_model_protocol():
    from rlcore.generative import GenerativeModel

    assert isinstance(Diffusion(), GenerativeModel)
    assert isinstance(FlowMatching(), GenerativeModel)


@pytest.mark.parametrize("prediction", ["epsilon", "x0", "v"])
def test_loss_and_x0_hat_is_loss_plus_the_per_row_inversion(prediction):
    model = Diffusion("vp_short", num_train_steps=5, prediction=prediction)
    lin = torch.nn.Linear(4, 3)

    def net(x, t, c):
        return lin(torch.cat([x, t[:, None]], dim=-1))

    x0 = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    loss, x0_hat = model.loss_and_x0_hat(net, x0, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(loss, model.loss(net, x0, generator=torch.Generator().manual_seed(1)))
    g = torch.Generator().manual_seed(1)  # the same draws: k, then eps
    k = torch.randint(5, (16,), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    x_t = q_sample(x0, eps, model.alpha_bar[k])
    out = net(x_t, model.times.float()[k], None)
    for row in (0, 7, 15):  # the tensor form equals the scalar form, row by row
        expected = split_prediction(out[row : row + 1], x_t[row : row + 1],
                                    float(model.alpha_bar[k[row]]), prediction)[0]
        torch.testing.assert_close(x0_hat[row : row + 1], expected)
