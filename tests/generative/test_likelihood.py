"""ODE likelihoods: Hutchinson's estimator against the exact trace, and log p(x) of Gaussian data
through the probability-flow ODE (score SDEs) and the flow-matching ODE against the closed form."""

import math

import pytest
import torch

from rlcore.generative.likelihood import (
    bits_per_dim,
    divergence_exact,
    divergence_hutchinson,
    draw_probes,
    flow_matching_log_likelihood,
    ode_log_likelihood,
    sde_log_likelihood,
)
from rlcore.generative.sde import VESDE, VPSDE, SubVPSDE

torch.set_num_threads(1)
F64 = torch.float64
MU = torch.tensor([0.5, -1.0], dtype=F64)
SD = torch.tensor([0.3, 2.0], dtype=F64)


def gaussian_log_prob(x, mean, var):
    return (-0.5 * (x - mean) ** 2 / var - 0.5 * torch.log(2 * math.pi * var)).sum(-1)


@pytest.mark.parametrize("noise", ["rademacher", "gaussian"])
def test_hutchinson_averaged_over_many_probes_is_the_exact_trace(noise):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 16, generator=g, dtype=F64)
    u = torch.randn(16, 5, generator=g, dtype=F64)
    x = torch.randn(3, 5, generator=g, dtype=F64).requires_grad_(True)
    v = torch.tanh(x @ w) @ u
    exact = divergence_exact(v, x)
    jac = torch.autograd.functional.jacobian(lambda y: (torch.tanh(y @ w) @ u).sum(0), x)
    torch.testing.assert_close(exact, torch.einsum("ibi->b", jac))  # trace of each row's Jacobian
    probes = draw_probes((3, 5), 4000, noise, generator=g, dtype=F64)
    single = torch.einsum("pbi,ibj,pbj->pb", probes, jac, probes)  # z_p^T J_b z_p
    torch.testing.assert_close(divergence_hutchinson(v, x, probes[:1]), single[0])
    est = divergence_hutchinson(v, x, probes)
    torch.testing.assert_close(est, single.mean(0))
    se = single.std(0) / math.sqrt(probes.shape[0])
    assert torch.all((est - exact).abs() < 5 * se + 1e-9), (est, exact, se)


def _exact_score(sde):
    def score(x, t):
        m, s = sde.marginal(t.to(F64))
        var = m[:, None] ** 2 * SD**2 + s[:, None] ** 2
        return -(x - m[:, None] * MU) / var

    return score


def _marginal_log_prob(sde, t):
    m, s = sde.marginal(torch.tensor(t, dtype=F64))
    return lambda x: gaussian_log_prob(x, m * MU, m**2 * SD**2 + s**2)


@pytest.mark.parametrize(
    "sde", [VPSDE(), SubVPSDE(), VESDE(0.01, 10.0)], ids=["vp", "sub_vp", "ve"]
)
def test_probability_flow_likelihood_of_gaussian_data_is_the_closed_form(sde):
    """With the exact score and the exact marginal at T as prior, log p_{t_min}(x) by dopri5
    (rtol = atol = 1e-6) is within 1e-4 nats of the closed form."""
    x = MU + SD * torch.randn(6, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    t_min = 1e-5
    out = sde_log_likelihood(
        sde,
        _exact_score(sde),
        x,
        t_min=t_min,
        prior_log_prob=_marginal_log_prob(sde, sde.T),
        rtol=1e-6,
        atol=1e-6,
    )
    truth = _marginal_log_prob(sde, t_min)(x)
    assert float((out.log_prob - truth).abs().max()) < 1e-4
    assert out.nfe > 0 and out.z.shape == x.shape
    torch.testing.assert_close(out.bits_per_dim(), -out.log_prob / (2 * math.log(2)))


def test_vp_likelihood_with_the_default_prior_and_hutchinson():
    """N(0, I) as the prior costs the mismatch to the true marginal at T (its mean is
    sqrt(alpha_bar(1)) mu = 0.0066 mu for VP: under 0.02 nats here). Hutchinson with one
    Rademacher probe is exact for a diagonal Jacobian; 64 Gaussian probes average within 0.3 nats."""
    sde = VPSDE()
    x = MU + SD * torch.randn(6, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    truth = _marginal_log_prob(sde, 1e-5)(x)
    plain = sde_log_likelihood(sde, _exact_score(sde), x, rtol=1e-5, atol=1e-5)
    assert float((plain.log_prob - truth).abs().max()) < 0.02
    rademacher = sde_log_likelihood(
        sde,
        _exact_score(sde),
        x,
        divergence="hutchinson",
        probes=1,
        generator=torch.Generator().manual_seed(0),
        rtol=1e-5,
        atol=1e-5,
    )  # the score's Jacobian is diagonal here, and z^T J z = tr J for +-1 probes
    torch.testing.assert_close(rademacher.log_prob, plain.log_prob, rtol=0, atol=1e-6)
    gaussian = sde_log_likelihood(
        sde,
        _exact_score(sde),
        x,
        divergence="hutchinson",
        probes=64,
        noise="gaussian",
        generator=torch.Generator().manual_seed(0),
        rtol=1e-5,
        atol=1e-5,
    )
    assert float((gaussian.log_prob - truth).abs().mean()) < 0.3


def test_flow_matching_likelihood_of_gaussian_data_is_the_closed_form():
    """x_t = (1 - t) x0 + t eps with x0 ~ N(mu, sd^2): the marginal velocity is
    E[eps - x0 | x_t] = (t - (1 - t) sd^2) (x - (1 - t) mu) / v_t - mu, v_t = (1 - t)^2 sd^2 + t^2."""

    def velocity(x, t, cond):
        t = t.to(F64)[:, None]
        v_t = (1 - t) ** 2 * SD**2 + t**2
        return (t - (1 - t) * SD**2) * (x - (1 - t) * MU) / v_t - MU

    x = MU + SD * torch.randn(6, 2, generator=torch.Generator().manual_seed(3), dtype=F64)
    out = flow_matching_log_likelihood(velocity, x, rtol=1e-7, atol=1e-7)
    assert float((out.log_prob - gaussian_log_prob(x, MU, SD**2)).abs().max()) < 1e-4
    rk4 = flow_matching_log_likelihood(velocity, x, method="rk4", steps=50)
    assert float((rk4.log_prob - gaussian_log_prob(x, MU, SD**2)).abs().max()) < 1e-3
    assert rk4.nfe == 4 * 50


def test_bits_per_dim():
    torch.testing.assert_close(
        bits_per_dim(torch.tensor([-2 * math.log(2)]), 2), torch.tensor([1.0])
    )


def test_bad_input_is_refused():
    v = lambda x, t: -x  # noqa: E731
    x = torch.zeros(2, 2)
    prior = lambda z: z.sum(-1)  # noqa: E731
    with pytest.raises(ValueError, match="rtol"):
        ode_log_likelihood(v, x, prior, rtol=0.0)
    with pytest.raises(ValueError, match="atol"):
        ode_log_likelihood(v, x, prior, atol=-1.0)
    with pytest.raises(ValueError, match="non-finite"):
        ode_log_likelihood(v, torch.tensor([[0.0, float("nan")]]), prior)
    with pytest.raises(ValueError, match="t1"):
        ode_log_likelihood(v, x, prior, t0=0.5, t1=0.5)
    with pytest.raises(ValueError, match="divergence"):
        ode_log_likelihood(v, x, prior, divergence="trace")
    with pytest.raises(ValueError, match="t_min"):
        sde_log_likelihood(VPSDE(), v, x, t_min=0.0)
