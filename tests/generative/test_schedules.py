"""Noise schedules: endpoints, monotonicity, SNR, discretisation, and published formulas."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rlcore import registry
from rlcore.generative import schedules

torch.set_num_threads(1)

ALL = sorted(schedules.NOISE_SCHEDULES)


def make(name):
    return schedules.NOISE_SCHEDULES[name]()


def test_every_registered_schedule_is_a_named_noise_schedule():
    exported = {n.split(".", 1)[1] for n in registry.names("schedules.")}
    assert set(ALL) <= exported
    for name in ALL:
        assert isinstance(make(name), schedules.NoiseSchedule)


@pytest.mark.parametrize("name", ALL)
def test_alpha_bar_is_one_at_data_and_decreasing(name):
    sched = make(name)
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)
    ab = sched.alpha_bar(t)
    assert ab[0] == pytest.approx(1.0, abs=1e-12)
    assert torch.all(ab[1:] < ab[:-1])
    assert torch.all((ab >= 0) & (ab <= 1))


def test_endpoints_at_noise_match_the_papers():
    lin = schedules.LinearSchedule(beta_min=0.1, beta_max=20.0)
    assert float(lin.alpha_bar(1.0)) == pytest.approx(math.exp(-(0.1 + 19.9 / 2)))
    assert float(schedules.CosineSchedule().alpha_bar(1.0)) == pytest.approx(0.0, abs=1e-12)
    assert float(schedules.SigmoidSchedule().alpha_bar(1.0)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", ALL)
@given(t=st.floats(0.0, 0.99))
def test_sigma_and_snr_identities(name, t):
    sched = make(name)
    tt = torch.tensor([t], dtype=torch.float64)
    ab = sched.alpha_bar(tt)
    assert torch.allclose(sched.sigma(tt) ** 2 + ab, torch.ones(1, dtype=torch.float64))
    if t > 0:
        assert torch.allclose(sched.snr(tt), ab / (1 - ab))
        # SNR strictly decreasing: compare with a later time.
        assert sched.snr(tt + 0.01) < sched.snr(tt)


def test_cosine_matches_nichol_dhariwal_formula():
    t = np.linspace(0, 1, 11)
    s = 0.008
    f = np.cos((t + s) / (1 + s) * np.pi / 2) ** 2
    got = schedules.CosineSchedule().alpha_bar(torch.tensor(t)).numpy()
    np.testing.assert_allclose(got, f / f[0], atol=1e-12)


def test_discretize_uses_step_times_and_caps_betas():
    k = 50
    sched = schedules.CosineSchedule()
    ab = schedules.discretize(sched, k)
    times = schedules.step_times(k)
    assert times[0] == pytest.approx(1 / k) and times[-1] == 1.0
    # Below the cap the materialised values are the continuous ones at t_k = (k + 1) / K.
    np.testing.assert_allclose(ab[:-1].numpy(), sched.alpha_bar(times[:-1]).numpy(), rtol=1e-10)
    betas = 1 - ab / torch.cat([torch.ones(1, dtype=ab.dtype), ab[:-1]])
    assert betas.max() <= sched.max_beta + 1e-12
    assert betas[-1] == pytest.approx(0.999)  # cosine reaches 0 at t = 1; the cap keeps ab > 0
    assert ab[-1] > 0


def test_vp_short_equals_diffusion_ql_beta_schedule():
    # Diffusion-QL (Wang et al. 2023) vp_beta_schedule, written out independently.
    T = 5
    t = np.arange(1, T + 1)
    b_max, b_min = 10.0, 0.1
    alpha = np.exp(-b_min / T - 0.5 * (b_max - b_min) * (2 * t - 1) / T**2)
    expected = np.cumprod(alpha)
    got = schedules.discretize(schedules.vp_short(), T).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_linear_at_1000_steps_is_ddpm_linear_betas():
    ab = schedules.discretize(schedules.LinearSchedule(), 1000)
    betas = 1 - ab / torch.cat([torch.ones(1, dtype=ab.dtype), ab[:-1]])
    # Exactly: -log(1 - beta_k) is the integral of beta(t) over [t_{k-1}, t_k] (Song et al. 2021).
    t_k = np.arange(1, 1001) / 1000
    integral = (0.1 + 19.9 * (t_k - 0.5 / 1000)) / 1000
    np.testing.assert_allclose(-np.log1p(-betas.numpy()), integral, rtol=1e-9)
    # To first order these are DDPM's linear betas 1e-4 .. 0.02 (Ho et al. 2020, §4).
    ho = np.linspace(1e-4, 0.02, 1000)
    np.testing.assert_allclose(betas.numpy(), ho, rtol=0.11)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        schedules.CosineSchedule().alpha_bar(torch.tensor([1.5]))
    with pytest.raises(ValueError, match="beta_max"):
        schedules.LinearSchedule(beta_min=1.0, beta_max=0.5)
    with pytest.raises(ValueError, match="max_beta"):
        schedules.CosineSchedule(max_beta=1.5)
    with pytest.raises(ValueError, match="num_steps"):
        schedules.discretize(schedules.CosineSchedule(), 0)
