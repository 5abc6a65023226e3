"""Eligibility traces: the trace functions, forward-view identities and learning against DP."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import rlcore
from rlcore import returns as R
from rlcore.testing import TwoActionWalkEnv, check_agent
from rlcore.types import Transition

GAMMA = 0.9


def walk_episodes(n, seed, max_len=None):
    """Uniform-random episodes of the two-action walk (optionally truncated at max_len)."""
    env = TwoActionWalkEnv()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        s, _ = env.reset(seed=seed * 1000 + i)
        ep = []
        while True:
            a = int(rng.integers(2))
            s2, r, term, _, _ = env.step(a)
            trunc = max_len is not None and len(ep) + 1 == max_len and not term
            ep.append(Transition(s, a, float(r), s2, term, trunc))
            s = s2
            if term or trunc:
                break
        out.append(ep)
    return out


def feed(agent, eps):
    for ep in eps:
        agent.reset()
        for tr in ep:
            agent.observe(tr)
    return agent


# -- the trace functions -------------------------------------------------------------------------
@given(
    arrays(np.float64, 6, elements=st.floats(0, 5)),
    st.integers(0, 5),
    st.floats(0, 1),
    st.floats(0.01, 1),
)
def test_tabular_traces_follow_their_definitions(z, s, gl, alpha):
    x = np.eye(6)[s]
    decayed = gl * z
    acc, rep, dutch = decayed.copy(), decayed.copy(), decayed.copy()
    acc[s] += 1.0
    rep[s] = 1.0
    dutch[s] = (1 - alpha) * gl * z[s] + 1.0  # the tabular dutch trace
    np.testing.assert_allclose(R.accumulating_trace(z, x, gl), acc, atol=1e-12)
    np.testing.assert_allclose(R.replacing_trace(z, x, gl), rep, atol=1e-12)
    np.testing.assert_allclose(R.dutch_trace(z, x, gl, alpha), dutch, atol=1e-12)


def test_trace_functions_broadcast_over_runs():
    rng = np.random.default_rng(0)
    z, x = rng.random((3, 5)), np.eye(5)[[0, 2, 4]]
    gl, alpha = np.array([0.1, 0.5, 0.9]), np.array([0.2, 0.3, 0.4])
    batched = R.dutch_trace(z, x, gl, alpha)
    for b in range(3):
        np.testing.assert_allclose(batched[b], R.dutch_trace(z[b], x[b], gl[b], alpha[b]))


# -- forward-view identities ---------------------------------------------------------------------
@pytest.mark.parametrize("lam", [0.0, 0.4, 0.9, 1.0])
def test_offline_td_lambda_is_the_offline_lambda_return_algorithm(lam):
    # Sutton & Barto §12.1-12.2: summed over an episode with values held fixed, the
    # accumulating-trace TD(lambda) increments equal alpha (G^lambda_t - V(S_t)) at every visit.
    eps = walk_episodes(15, seed=1, max_len=12)
    alpha = 0.1
    v = np.linspace(-0.5, 0.5, 7)
    v[[0, 6]] = 0.0
    expected = v.copy()
    for ep in eps:
        r = np.array([t.reward for t in ep])
        d = np.array([0.0 if t.terminated else GAMMA for t in ep])
        v_next = expected[[t.next_obs for t in ep]]
        g = R.lambda_returns(r, d, v_next, lam)
        increment = np.zeros(7)
        for t, tr in enumerate(ep):
            increment[tr.obs] += alpha * (g[t] - expected[tr.obs])
        expected = expected + increment
    agent = rlcore.make(
        "agents.td_lambda", TwoActionWalkEnv(), lambda_=lam, alpha=alpha, gamma=GAMMA, offline=True
    )
    agent.v = v
    np.testing.assert_allclose(feed(agent, eps).v, expected, atol=1e-12)


def online_lambda_return(ep, v0, alpha, gamma, lam):
    """The online lambda-return algorithm (S&B §12.4, eq. 12.9-12.10), by brute force: for every
    horizon h, redo the episode's updates toward the truncated lambda-returns G^lambda_{t:h},
    which bootstrap from the final values of earlier horizons."""
    T = len(ep)
    final = [v0.copy()]  # final[k]: the values at the end of horizon k

    def n_step(t, n, h):
        """G_{t:t+n} with the values of horizon t+n-1 (no bootstrap past a terminal state)."""
        g = sum(gamma**k * ep[t + k].reward for k in range(n))
        last = ep[t + n - 1]
        return g if last.terminated else g + gamma**n * final[t + n - 1][last.next_obs]

    for h in range(1, T + 1):
        w = v0.copy()
        for t in range(h):
            g = sum((1 - lam) * lam ** (n - 1) * n_step(t, n, h) for n in range(1, h - t))
            g += lam ** (h - t - 1) * n_step(t, h - t, h)
            w[ep[t].obs] += alpha * (g - w[ep[t].obs])
        final.append(w)
    return final[-1]


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95])
def test_true_online_td_lambda_equals_the_online_lambda_return_algorithm(lam):
    # van Seijen & Sutton (2014): true online TD(lambda) reproduces the online lambda-return
    # algorithm exactly (for linear, here tabular, values).
    v = np.linspace(-0.3, 0.6, 7)
    v[[0, 6]] = 0.0
    agent = rlcore.make(
        "agents.true_online_td_lambda", TwoActionWalkEnv(), lambda_=lam, alpha=0.2, gamma=GAMMA
    )
    for ep in walk_episodes(6, seed=2, max_len=10):
        agent.v = v
        agent.reset()
        for tr in ep:
            agent.observe(tr)
        np.testing.assert_allclose(
            agent.v, online_lambda_return(ep, v, 0.2, GAMMA, lam), atol=1e-10
        )


@pytest.mark.parametrize("trace", ["accumulating", "replacing", "dutch"])
def test_lambda_zero_is_one_step_td(trace):
    eps = walk_episodes(20, seed=3, max_len=8)
    td0 = feed(rlcore.make("agents.td0", TwoActionWalkEnv(), alpha=0.3, gamma=GAMMA), eps)
    for name, kwargs in (
        ("agents.td_lambda", {"trace": trace}),
        ("agents.true_online_td_lambda", {}),
    ):
        agent = rlcore.make(name, TwoActionWalkEnv(), lambda_=0.0, alpha=0.3, gamma=GAMMA, **kwargs)
        np.testing.assert_allclose(feed(agent, eps).v, td0.v, atol=1e-12)


@pytest.mark.parametrize("trace", ["accumulating", "replacing", "dutch"])
def test_sarsa_lambda_zero_is_sarsa(trace):
    eps = walk_episodes(20, seed=4, max_len=8)
    kwargs = {"alpha": 0.3, "gamma": GAMMA, "epsilon": 0.2, "seed": 7}
    sarsa = feed(rlcore.make("agents.sarsa", TwoActionWalkEnv(), **kwargs), eps)
    lam = feed(
        rlcore.make("agents.sarsa_lambda", TwoActionWalkEnv(), lambda_=0.0, trace=trace, **kwargs),
        eps,
    )
    np.testing.assert_allclose(lam.q, sarsa.q, atol=1e-12)


def test_accumulating_td_lambda_follows_the_backward_view_by_hand():
    agent = rlcore.make("agents.td_lambda", TwoActionWalkEnv(), lambda_=0.5, alpha=0.5, gamma=1.0)
    agent.observe(Transition(3, 1, 0.0, 4, False, False))  # delta 0, z = e3
    agent.observe(Transition(4, 1, 1.0, 5, False, False))  # delta 1, z = 0.5 e3 + e4
    np.testing.assert_allclose(agent.v[3:5], [0.25, 0.5])


# -- learning against DP ---------------------------------------------------------------------------
@pytest.mark.parametrize("trace", ["accumulating", "replacing", "dutch"])
def test_trace_agents_learn(trace):
    for name in ("agents.td_lambda", "agents.sarsa_lambda"):
        report = check_agent(rlcore.get(name), trace=trace, lambda_=0.8)
        assert report.ok, str(report)
