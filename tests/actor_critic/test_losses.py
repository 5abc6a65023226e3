"""The pure math of the soft actor-critic family against ground truth."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from rlcore.actor_critic import (
    SquashedGaussianActor,
    critic_loss,
    entropy_coef_loss,
    gradient_diversity_penalty,
    soft_q_targets,
    squashed_gaussian_log_prob,
)
from rlcore.ensemble import uncertainty


def test_log_prob_matches_numerical_change_of_variables_1d():
    """p_a(a) = d/da P(tanh(U) <= a), by central differences of the Gaussian CDF."""
    mean, std = 0.3, 0.8
    a = np.array([-0.95, -0.5, 0.0, 0.4, 0.9, 0.995])
    h = 1e-6
    cdf = lambda x: norm.cdf((np.arctanh(x) - mean) / std)  # noqa: E731
    numerical = np.log((cdf(a + h) - cdf(a - h)) / (2 * h))
    u = torch.atanh(torch.tensor(a, dtype=torch.float64)).unsqueeze(-1)
    ours = squashed_gaussian_log_prob(
        u, torch.tensor(mean, dtype=torch.float64), torch.tensor(math.log(std), dtype=torch.float64)
    )
    np.testing.assert_allclose(ours.numpy(), numerical, rtol=1e-5, atol=1e-5)


def test_log_prob_matches_jacobian_determinant_3d():
    """log pi(a) = log N(u) - log|det d tanh(u)/du| with the Jacobian from autograd."""
    gen = torch.Generator().manual_seed(0)
    mean = torch.randn(3, generator=gen, dtype=torch.float64)
    log_std = 0.5 * torch.randn(3, generator=gen, dtype=torch.float64)
    for _ in range(5):
        u = mean + log_std.exp() * 2 * torch.randn(3, generator=gen, dtype=torch.float64)
        jac = torch.autograd.functional.jacobian(torch.tanh, u)
        gaussian = torch.distributions.Normal(mean, log_std.exp()).log_prob(u).sum()
        expected = gaussian - torch.linalg.slogdet(jac).logabsdet
        got = squashed_gaussian_log_prob(u, mean, log_std)
        torch.testing.assert_close(got, expected)


def test_log_prob_stays_finite_where_tanh_saturates():
    u = torch.tensor([[30.0], [-30.0]])
    lp = squashed_gaussian_log_prob(u, torch.zeros(1), torch.zeros(1))
    assert torch.isfinite(lp).all()


def test_actor_samples_are_in_bounds_with_matching_log_prob():
    torch.manual_seed(0)
    actor = SquashedGaussianActor(4, 2, (16,))
    obs = torch.randn(64, 4)
    noise = torch.randn(64, 2)
    a, log_pi = actor.sample(obs, noise)
    assert a.shape == (64, 2) and log_pi.shape == (64,)
    assert (a.abs() <= 1).all()
    mean, log_std = actor(obs)
    torch.testing.assert_close(
        log_pi, squashed_gaussian_log_prob(mean + log_std.exp() * noise, mean, log_std)
    )


def test_soft_targets_and_losses_match_their_formulas():
    gen = torch.Generator().manual_seed(1)
    r, d, q, lp = (torch.randn(8, generator=gen) for _ in range(4))
    y = soft_q_targets(r, d, q, lp, 0.2)
    torch.testing.assert_close(y, r + d * (q - 0.2 * lp))
    q_tm1 = torch.randn(3, 8, generator=gen)
    naive = sum(((q_tm1[k] - y) ** 2).mean() for k in range(3))
    torch.testing.assert_close(critic_loss(q_tm1, y), naive)
    w = torch.rand(8, generator=gen)
    naive_w = sum((w * (q_tm1[k] - y) ** 2).mean() for k in range(3))
    torch.testing.assert_close(critic_loss(q_tm1, y, w), naive_w)


def test_entropy_coefficient_gradient_sign():
    log_alpha = torch.zeros((), requires_grad=True)
    high_entropy = torch.full((16,), -3.0)  # -E log pi = 3 > target 1: alpha must shrink
    entropy_coef_loss(log_alpha, high_entropy, target_entropy=-1.0).backward()
    assert log_alpha.grad > 0


def test_gradient_diversity_penalty_against_naive_pairs():
    gen = torch.Generator().manual_seed(2)
    g = torch.randn(5, 7, 3, generator=gen, dtype=torch.float64)
    unit = g / g.norm(dim=-1, keepdim=True)
    naive = torch.zeros(7, dtype=torch.float64)
    for i in range(5):
        for j in range(5):
            if i != j:
                naive += (unit[i] * unit[j]).sum(-1)
    torch.testing.assert_close(gradient_diversity_penalty(g), naive.mean() / 4)
    # aligned: N(N - 1) ordered pairs of cosine 1, over N - 1 -> N; opposite (N = 2): -2
    same = g[:1].expand(5, 7, 3)
    torch.testing.assert_close(
        gradient_diversity_penalty(same), torch.tensor(5.0, dtype=torch.float64)
    )
    torch.testing.assert_close(
        gradient_diversity_penalty(torch.stack([g[0], -g[0]])),
        torch.tensor(-2.0, dtype=torch.float64),
    )


def test_ucb_select_and_sunrise_weights():
    q = torch.tensor([[[1.0, 0.0]], [[1.0, 2.0]]])  # (N=2, B=1, K=2): means 1, 1; std 0, 1
    assert int(uncertainty.ucb_select(q, 0.0)[0]) == 0  # a tie on the mean: the first
    assert int(uncertainty.ucb_select(q, 1.0)[0]) == 1
    q_t = torch.tensor([[0.0, 0.0], [0.0, 4.0]])  # std 0 and 2
    w = uncertainty.sunrise_weights(q_t, 10.0)
    torch.testing.assert_close(w, torch.sigmoid(-torch.tensor([0.0, 2.0]) * 10) + 0.5)
    with pytest.raises(ValueError, match="lambda_"):
        uncertainty.ucb_select(q, -1.0)
    with pytest.raises(ValueError, match="N >= 2"):
        uncertainty.sunrise_weights(q_t[:1], 1.0)
