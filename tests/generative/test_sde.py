"""Score SDEs: coefficients and marginals against closed forms, DDPM as the VP SDE's
discretisation, the samplers against the exact marginals of a 1-D Gaussian mixture, and the
boundary checks."""

import math

import pytest
import torch

from rlcore import registry
from rlcore.generative import schedules
from rlcore.generative.score_matching import ScoreMatching
from rlcore.generative.sde import SDE, VESDE, VPSDE, SubVPSDE, probability_flow
from rlcore.generative.sde_samplers import (
    EulerMaruyama,
    PredictorCorrector,
    ProbabilityFlowSampler,
)

torch.set_num_threads(1)
F64 = torch.float64
SDES = {"vp": VPSDE, "sub_vp": SubVPSDE, "ve": VESDE}


def test_sdes_are_registered_and_follow_the_protocol():
    assert {n.split(".", 1)[1] for n in registry.names("sdes.")} >= set(SDES)
    for name in SDES:
        assert isinstance(registry.make(f"sdes.{name}"), SDE)


def test_vp_beta_is_the_linear_schedule_derivative():
    sde = VPSDE("linear")
    t = torch.linspace(0, 1, 11, dtype=F64)
    torch.testing.assert_close(sde.beta(t), 0.1 + 19.9 * t)
    torch.testing.assert_close(sde.diffusion(t) ** 2, 0.1 + 19.9 * t)


@pytest.mark.parametrize("name", ["linear", "vp_short"])
def test_vp_marginals_equal_the_discrete_schedule_at_the_step_times(name):
    sde = VPSDE(name)
    for k in (5, 50, 1000):
        ab_k = schedules.discretize(sde.schedule, k)
        torch.testing.assert_close(sde.alpha_bar(schedules.step_times(k)), ab_k, rtol=0, atol=1e-12)


def test_ddpm_linear_betas_converge_to_the_vp_sde_as_steps_grow():
    """Ho et al.'s betas beta_i = (beta_min + (beta_max - beta_min) (i - 1) / (K - 1)) / K: their
    alpha_bar_k = prod (1 - beta_i) tends to the VP SDE's alpha_bar(t_k) (Song et al. 2021,
    App. B), with an error that shrinks like 1/K."""
    sde = VPSDE("linear")
    errors = []
    for k in (10, 100, 1000):
        i = torch.arange(1, k + 1, dtype=F64)
        betas = (0.1 + 19.9 * (i - 1) / (k - 1)) / k
        ab_ddpm = torch.cumprod(1 - betas, 0)
        errors.append(float((ab_ddpm - sde.alpha_bar(schedules.step_times(k))).abs().max()))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 2e-3
    assert errors[1] / errors[2] > 5  # first order


def test_vp_discretize_is_ddpm_forward_step():
    sde = VPSDE("cosine", T=0.99)
    x = torch.randn(4, 3, dtype=F64)
    t, t_next = torch.full((4,), 0.5, dtype=F64), torch.full((4,), 0.4, dtype=F64)
    f, g = sde.discretize(x, t, t_next)
    one_minus_beta = sde.alpha_bar(0.5) / sde.alpha_bar(0.4)
    torch.testing.assert_close(x + f, one_minus_beta.sqrt() * x)
    torch.testing.assert_close(g, (1 - one_minus_beta).sqrt().expand(4))


@pytest.mark.parametrize("name", list(SDES))
def test_forward_simulation_matches_the_closed_form_marginal(name):
    """Euler-Maruyama on the forward SDE from x0 = 1.5: mean and std at t = 0.3 and T equal
    m(t) x0 and s(t) (4,000 paths, 300 steps; 5 standard errors, 4% on the std)."""
    sde = SDES[name]()
    g = torch.Generator().manual_seed(0)
    n, steps, x0 = 4_000, 300, 1.5
    x = torch.full((n, 1), x0, dtype=F64)
    dt = sde.T / steps
    checks = {int(0.3 * steps): None, steps: None}
    for i in range(steps):
        t = torch.full((n,), i * dt, dtype=F64)
        x = (
            x
            + sde.drift(x, t) * dt
            + sde.diffusion(t)[:, None]
            * math.sqrt(dt)
            * torch.randn(x.shape, generator=g, dtype=F64)
        )
        if i + 1 in checks:
            m, s = sde.marginal(torch.tensor((i + 1) * dt, dtype=F64))
            se = float(s) / math.sqrt(n)
            assert abs(float(x.mean()) - float(m) * x0) < 5 * se + 0.01 * float(s)
            assert float(x.std()) == pytest.approx(float(s), rel=0.04)


def _mixture():
    return (
        torch.tensor([0.3, 0.7], dtype=F64),
        torch.tensor([-2.0, 1.5], dtype=F64),
        torch.tensor([0.3, 0.5], dtype=F64),
    )


def mixture_score(sde):
    """Exact score of p_t for a 1-D Gaussian mixture: components N(m mu_k, m^2 s_k^2 + s^2)."""
    w, mu, sd = _mixture()

    def score(x, t):
        m, s = sde.marginal(t.to(F64))
        m, s = m[:, None], s[:, None]
        var = m**2 * sd**2 + s**2  # (B, K)
        logc = torch.log(w) - 0.5 * (x - m * mu) ** 2 / var - 0.5 * torch.log(var)  # (B, K)
        r = torch.softmax(logc, dim=-1)
        return (r * (-(x - m * mu) / var)).sum(-1, keepdim=True).to(x.dtype)

    return score


def mixture_bin_probs(edges):
    w, mu, sd = _mixture()
    cdf = (w * 0.5 * (1 + torch.erf((edges[:, None] - mu) / (sd * math.sqrt(2))))).sum(-1)
    return cdf[1:] - cdf[:-1]


def test_reverse_sde_pc_and_probability_flow_give_the_mixture_histogram():
    sde = VPSDE("linear")
    score = mixture_score(sde)
    n, steps = 5_000, 150
    edges = torch.linspace(-4, 4, 21, dtype=F64)
    truth = mixture_bin_probs(edges)
    hists = {}
    for label, sampler in (
        ("em", EulerMaruyama(sde)),
        ("pc", PredictorCorrector(sde, snr=0.16)),
        ("ode", ProbabilityFlowSampler(sde, "rk4")),
    ):
        g = torch.Generator().manual_seed(1)
        x = sde.prior_sample((n, 1), generator=g, dtype=F64)
        sampler.set_timesteps(steps if label != "ode" else 40)
        if label == "ode":
            x = sampler.solve(score, x)
        else:
            for i in range(steps):
                x = sampler.step(i, score, x, generator=g)
        hists[label] = torch.histogram(x[:, 0], edges).hist / n
        tv = 0.5 * float((hists[label] - truth).abs().sum())
        assert tv < 0.05, (label, tv)  # sampling noise alone: about 0.025
    assert 0.5 * float((hists["em"] - hists["ode"]).abs().sum()) < 0.06


def test_ddim_with_the_exact_score_tracks_the_probability_flow():
    """DDIM (eta = 0) is a discretisation of the VP probability-flow ODE: with the exact eps of the
    mixture both reach the same points as the steps grow."""
    from rlcore.generative.samplers import DDIMSampler

    sde = VPSDE("linear")
    score = mixture_score(sde)
    k = 1000
    ab = schedules.discretize(sde.schedule, k)
    times = schedules.step_times(k)
    x_T = torch.linspace(-2.5, 2.5, 9, dtype=F64)[:, None]
    ode = ProbabilityFlowSampler(sde, "dopri5", rtol=1e-8, atol=1e-8, t_min=float(times[0]))
    x_ode = ode.solve(score, x_T)
    ddim = DDIMSampler(ab, eta=0.0)
    steps = 200
    ts = ddim.set_timesteps(steps)
    x = x_T.clone()
    for i, kk in enumerate(ts.tolist()):
        t = torch.full((x.shape[0],), float(times[kk]), dtype=F64)
        eps = -score(x, t) * (1 - ab[kk]).sqrt()
        x0_hat = (x - (1 - ab[kk]).sqrt() * eps) / ab[kk].sqrt()
        if i == steps - 1:  # stop at t_0 = 1/K instead of the data
            break
        x = ddim.step(i, x, x0_hat, eps)
    assert float((x - x_ode).abs().max()) < 0.05


def test_score_matching_loss_and_samplers_run_and_are_deterministic():
    from rlcore.generative.networks import MLPDenoiser

    torch.manual_seed(0)
    net = MLPDenoiser(2, hidden=16, depth=1)
    for sde in (VPSDE(), SubVPSDE(), VESDE()):
        model = ScoreMatching(sde, sample_steps=5)
        x0 = torch.randn(8, 2)
        a = model.loss(net, x0, generator=torch.Generator().manual_seed(3))
        b = model.loss(net, x0, generator=torch.Generator().manual_seed(3))
        assert a.item() == b.item() and math.isfinite(a.item())
    for sampler in ("euler_maruyama", "predictor_corrector", "probability_flow"):
        model = ScoreMatching(VPSDE(), sample_steps=5, sampler=sampler, ode_method="rk4")
        with torch.no_grad():
            s1 = model.sample(net, (4, 2), generator=torch.Generator().manual_seed(0))
            s2 = model.sample(net, (4, 2), generator=torch.Generator().manual_seed(0))
        assert s1.shape == (4, 2) and torch.equal(s1, s2)
    config, arrays = ScoreMatching(VESDE(0.05, 20.0)).state()
    again = ScoreMatching.from_state(config, arrays)
    assert again.sde.sigma_max == 20.0


def test_bad_input_is_refused_with_the_domain():
    sde = VPSDE()
    with pytest.raises(ValueError, match=r"t in \[0, T=1\]"):
        sde.marginal(torch.tensor([0.5, 1.2]))
    with pytest.raises(ValueError, match="t in"):
        VESDE(T=0.5).diffusion(0.7)
    with pytest.raises(ValueError, match="T < 1"):
        VPSDE("sigmoid")
    with pytest.raises(ValueError, match="T < 1"):
        SubVPSDE("cosine")
    with pytest.raises(ValueError, match="rtol"):
        ProbabilityFlowSampler(sde, rtol=0.0)
    with pytest.raises(ValueError, match="atol"):
        ProbabilityFlowSampler(sde, atol=-1e-5)
    with pytest.raises(ValueError, match="t_min"):
        EulerMaruyama(sde, t_min=0.0)
    with pytest.raises(ValueError, match="sigma_max"):
        VESDE(sigma_min=1.0, sigma_max=0.5)
    with pytest.raises(ValueError, match="snr"):
        PredictorCorrector(sde, snr=0)


def test_probability_flow_velocity_has_the_sde_marginal_drift():
    """For Gaussian data N(0, c^2) under VP the PF-ODE maps std(t) by d std/dt = v'(x)/x * std."""
    sde = VPSDE()
    c = 0.5
    t = torch.tensor([0.4], dtype=F64)
    m, s = sde.marginal(t)
    var = m**2 * c**2 + s**2
    v = probability_flow(sde, lambda x, t_: -x / var)
    x = torch.tensor([[1.0]], dtype=F64)
    # var = ab c^2 + 1 - ab, so d var / dt = beta ab (1 - c^2) = beta (1 - var)
    dvar = sde.beta(t) * (1 - var)
    torch.testing.assert_close((v(x, t) / x)[:, 0], 0.5 * dvar / var)
