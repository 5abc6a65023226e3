"""The vectorised blackjack simulator against gymnasium's Blackjack-v1 (sab=True), and the exact
infinite-deck solution against the simulator and the book."""

import gymnasium as gym
import numpy as np
import pytest
from scipy import stats

from rlcore.book.ch5 import book_policy
from rlcore.stats import mean_ci
from rlcore.tabular import blackjack as bj
from rlcore.tabular.batched import sample_episodes

CONF = 0.999


def _gym_episodes(n: int, stick_from: int, seed: int):
    env = gym.make("Blackjack-v1", sab=True)
    first, returns = [], []
    obs, _ = env.reset(seed=seed)
    for _ in range(n):
        first.append(obs)
        total = 0.0
        while True:
            obs, r, term, trunc, _ = env.step(int(obs[0] < stick_from))
            total += r
            if term or trunc:
                break
        returns.append(total)
        obs, _ = env.reset()
    return np.array(first), np.array(returns)


def _batched_episodes(n: int, stick_from: int, seed: int, start="deal"):
    pi = np.eye(2)[bj.policy_table(bj.threshold_policy(stick_from))]
    return sample_episodes(bj.BlackjackBatchEnv(start), pi, n, np.random.default_rng(seed))


@pytest.mark.parametrize("stick_from", [17, 20])
def test_simulator_matches_gymnasium_statistically(stick_from):
    n = 20_000
    first, gym_returns = _gym_episodes(n, stick_from, seed=1)
    ep = _batched_episodes(4 * n, stick_from, seed=2)
    returns = ep["rewards"].sum(axis=1)
    a, b = mean_ci(gym_returns, confidence=CONF), mean_ci(returns, confidence=CONF)
    assert a.low <= b.estimate <= a.high and b.low <= a.estimate <= b.high
    # Distribution over reward outcomes (loss, draw, win): chi-square homogeneity test.
    table = [[np.sum(x == v) for v in (-1.0, 0.0, 1.0)] for x in (gym_returns, returns)]
    assert stats.chi2_contingency(table).pvalue > 1 - CONF
    # Initial observations: player sum, dealer card and usable ace.
    s, d, u = bj.decode(ep["states"][:, 0])
    for ours, theirs in ((s, first[:, 0]), (d, first[:, 1]), (u, first[:, 2])):
        values = np.union1d(ours, theirs)
        table = [[np.sum(x == v) for v in values] for x in (theirs, ours)]
        assert stats.chi2_contingency(table).pvalue > 1 - CONF


def test_naturals_win_unless_the_dealer_has_one():
    """P(natural) = 2 (1/13)(4/13); sticking on it wins +1 unless the dealer also has one."""
    ep = _batched_episodes(200_000, 20, seed=3)
    s, d, u = bj.decode(ep["states"][:, 0])
    natural = (s == 21) & (u == 1)
    p = 2 * (1 / 13) * (4 / 13)
    assert abs(natural.mean() - p) < 4 * np.sqrt(p * (1 - p) / natural.size)
    r = ep["rewards"][natural, 0]
    assert set(np.unique(r)) <= {0.0, 1.0}
    dealer_bj = np.where(d[natural] == 1, 4 / 13, np.where(d[natural] == 10, 1 / 13, 0.0))
    assert abs((r == 0).mean() - dealer_bj.mean()) < 0.02


def test_dealer_distribution_matches_the_simulated_dealer():
    dist = bj.dealer_final_distribution()
    np.testing.assert_allclose(dist[1:].sum(axis=1), 1.0)
    rng = np.random.default_rng(4)
    env = bj.BlackjackBatchEnv(start=(12, 6, False))
    n = 100_000
    env.start(n, rng)
    runs = np.arange(n)
    env.reset(runs, rng)
    # A player on 12 who sticks wins exactly when the dealer busts.
    _, r, _ = env.step(runs, np.zeros(n, int), rng)
    p_bust = dist[6, 5]
    assert abs((r == 1).mean() - p_bust) < 4 * np.sqrt(p_bust * (1 - p_bust) / n)
    assert 0.41 < p_bust < 0.43  # dealer showing 6, standing on soft 17


def test_exact_values_match_simulated_returns_and_the_book():
    v = bj.exact_values(bj.threshold_policy(20))
    assert v[13, 2, 1] == pytest.approx(-0.27726, abs=3e-4)  # Example 5.4 (10^8 episodes)
    ep = _batched_episodes(200_000, 20, seed=5, start=(13, 2, True))
    ci = mean_ci(ep["rewards"].sum(axis=1), confidence=CONF)
    assert ci.low <= v[13, 2, 1] <= ci.high


def test_exact_optimal_policy_is_figure_5_2():
    pi, v, q = bj.optimal_policy()
    book = book_policy()
    np.testing.assert_array_equal(pi[12:22, 1:], book[12:22, 1:])
    np.testing.assert_allclose(v, np.maximum(q[..., 0], q[..., 1]))


def test_encode_decode_round_trip_and_validation():
    s = bj.encode(np.array([4, 21, 31]), np.array([1, 10, 5]), np.array([0, 1, 0]))
    for got, want in zip(bj.decode(s), ([4, 21, 31], [1, 10, 5], [0, 1, 0])):
        np.testing.assert_array_equal(got, want)
    assert s.max() < bj.N_STATES
    with pytest.raises(ValueError):
        bj.BlackjackBatchEnv(start=(25, 2, True))
    with pytest.raises(ValueError):
        bj.BlackjackBatchEnv(start="random")
