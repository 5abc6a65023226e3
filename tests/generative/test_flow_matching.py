"""Flow matching: the straight path, time sampling and shift, Euler / Heun against exact flows."""

import math

import pytest
import torch

from rlcore.generative import FlowMatching, MLPDenoiser, train
from rlcore.generative.flow_matching import interpolate, sample_times, velocity_target
from rlcore.generative.samplers import EulerSampler, HeunSampler, flow_times, shift_time

torch.set_num_threads(1)


def test_path_endpoints_and_velocity_is_its_derivative():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    torch.testing.assert_close(interpolate(x0, eps, torch.zeros(5)), x0)
    torch.testing.assert_close(interpolate(x0, eps, torch.ones(5)), eps)
    t, h = torch.full((5,), 0.3, dtype=torch.float64), 1e-6
    x0, eps = x0.double(), eps.double()
    fd = (interpolate(x0, eps, t + h) - interpolate(x0, eps, t - h)) / (2 * h)
    torch.testing.assert_close(fd, velocity_target(x0, eps))


def single_point_oracle(point):
    """Exact velocity for a one-point dataset: x_t = (1 - t) x* + t eps => v = (x_t - x*) / t."""
    return lambda x_t, t, cond=None: (x_t - point) / t[:, None]


def test_one_euler_step_on_a_single_point_returns_that_point():
    point = torch.tensor([0.7, -1.3])
    model = FlowMatching(solver="euler")
    x = model.sample(single_point_oracle(point), (64, 2), steps=1, generator=torch.Generator())
    torch.testing.assert_close(x, point.expand(64, 2), atol=1e-6, rtol=0)


def test_trained_net_one_step_on_a_single_point_dataset():
    g = torch.Generator().manual_seed(1)
    point = torch.tensor([[0.7, -1.3]])
    torch.manual_seed(0)
    net = MLPDenoiser(2, hidden=64, depth=2)
    model = FlowMatching()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    train(model, net, [point.expand(128, 2)], opt, steps=300, generator=g)
    with torch.no_grad():
        x = model.sample(net, (256, 2), steps=1, generator=g)
    dist = (x - point).norm(dim=1)
    assert float(dist.median()) < 0.1 and float(dist.quantile(0.9)) < 0.25


def gaussian_velocity(mu, s):
    """Exact v(x, t) = E[eps - x0 | x_t] for x0 ~ N(mu, s^2), x_t = (1 - t) x0 + t eps."""

    def net(x_t, t, cond=None):
        t = t[:, None].to(x_t.dtype)
        var = (1 - t) ** 2 * s * s + t * t
        centred = x_t - (1 - t) * mu
        return t / var * centred - (mu + (1 - t) * s * s / var * centred)

    return net


@pytest.mark.parametrize("steps", [2, 4, 8])
def test_heun_beats_euler_against_the_exact_gaussian_flow(steps):
    # The flow of the exact velocity maps N(0, 1) at t = 1 onto N(mu, s^2) at t = 0.
    mu, s = 1.0, 0.3
    z = torch.linspace(-2, 2, 9, dtype=torch.float64)[:, None]
    exact = mu + s * z
    errs = {}
    for name, sampler in (("euler", EulerSampler()), ("heun", HeunSampler())):
        sampler.set_timesteps(steps)
        x = z.clone()
        for i in range(steps):
            x = sampler.step(i, gaussian_velocity(mu, s), x)
        errs[name] = float((x - exact).abs().max())
    assert errs["heun"] < errs["euler"]
    fine = EulerSampler()
    fine.set_timesteps(2000)
    x = z.clone()
    for i in range(2000):
        x = fine.step(i, gaussian_velocity(mu, s), x)
    assert float((x - exact).abs().max()) < 2e-3


def test_one_heun_step_is_one_euler_step():
    net = gaussian_velocity(0.5, 0.2)
    e = FlowMatching(solver="euler").sample(net, (8, 1), steps=1, generator=torch.Generator())
    h = FlowMatching(solver="heun").sample(net, (8, 1), steps=1, generator=torch.Generator())
    torch.testing.assert_close(e, h)


def test_shift_fixes_the_ends_composes_and_is_applied_once():
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    for shift in (0.5, 1.0, 3.0):
        st = shift_time(t, shift)
        assert st[0] == 0 and st[-1] == 1 and torch.all(st[1:] > st[:-1])
        torch.testing.assert_close(shift_time(st, 1 / shift), t)  # shift_a o shift_b = shift_ab
    torch.testing.assert_close(shift_time(t, 1.0), t)
    assert float(shift_time(torch.tensor(0.5), 3.0)) == pytest.approx(0.75)
    sampler = EulerSampler(shift=3.0)
    sampler.set_timesteps(4)
    again = sampler.set_timesteps(4)  # setting twice must not shift twice
    torch.testing.assert_close(again, shift_time(torch.linspace(1, 0, 5, dtype=torch.float64), 3.0))
    torch.testing.assert_close(flow_times(4, 3.0), again)


def test_logit_normal_times_have_the_stated_distribution():
    g = torch.Generator().manual_seed(2)
    t = sample_times(100_000, "logit_normal", generator=g).double()
    logit = torch.log(t / (1 - t))
    assert float(logit.mean()) == pytest.approx(0.0, abs=0.02)
    assert float(logit.std()) == pytest.approx(1.0, abs=0.02)
    shifted = sample_times(100_000, "logit_normal", shift=3.0, generator=g)
    assert float(shifted.median()) == pytest.approx(0.75, abs=0.01)  # shift(0.5) = s / (1 + s)
    u = sample_times(100_000, "uniform", generator=g)
    assert float(u.mean()) == pytest.approx(0.5, abs=0.01)


def test_loss_is_zero_for_the_exact_single_point_velocity():
    point = torch.tensor([0.7, -1.3])
    x0 = point.expand(32, 2).clone()
    loss = FlowMatching().loss(single_point_oracle(point), x0, generator=torch.Generator())
    assert float(loss) == pytest.approx(0.0, abs=1e-8)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="timestep_sampling"):
        FlowMatching(timestep_sampling="beta")
    with pytest.raises(ValueError, match="shift"):
        FlowMatching(shift=0.0)
    with pytest.raises(ValueError, match="steps=0"):
        FlowMatching().sample(single_point_oracle(torch.zeros(2)), (4, 2), steps=0)
    with pytest.raises(ValueError, match="shape must be"):
        FlowMatching().sample(single_point_oracle(torch.zeros(2)), (4,))
    assert math.isfinite(float(shift_time(torch.tensor(0.999), 3.0)))
