"""Monte Carlo agents against naive averages of returns, importance-sampling formulas and DP."""

from collections import defaultdict

import numpy as np
import pytest

import rlcore
from rlcore.tabular.planning import policy_evaluation
from rlcore.testing import TwoActionWalkEnv, check_agent
from rlcore.types import Transition

GAMMA = 0.9
TARGET = np.tile([0.2, 0.8], (7, 1))  # a target policy that mostly moves right


def episodes(n, seed, policy=None):
    """Whole episodes of the two-action walk under ``policy`` (uniform by default)."""
    env = TwoActionWalkEnv()
    rng = np.random.default_rng(seed)
    policy = np.full((7, 2), 0.5) if policy is None else policy
    out = []
    for i in range(n):
        s, _ = env.reset(seed=seed * 1000 + i)
        steps = []
        while True:
            a = int(rng.choice(2, p=policy[s]))
            s2, r, term, trunc, _ = env.step(a)
            steps.append(Transition(s, a, float(r), s2, term, trunc))
            s = s2
            if term:
                break
        out.append(steps)
    return out


def returns_of(episode, gamma=GAMMA):
    g, out = 0.0, []
    for tr in reversed(episode):
        g = tr.reward + gamma * g
        out.append(g)
    return out[::-1]


def feed(agent, eps):
    for ep in eps:
        agent.reset()
        for tr in ep:
            agent.observe(tr)
    return agent


@pytest.mark.parametrize("first_visit", [True, False])
def test_mc_prediction_averages_the_returns_of_visits(first_visit):
    eps = episodes(40, seed=1)
    returns = defaultdict(list)
    for ep in eps:
        seen = set()
        for tr, g in zip(ep, returns_of(ep)):
            if not first_visit or tr.obs not in seen:
                returns[tr.obs].append(g)
            seen.add(tr.obs)
    agent = feed(
        rlcore.make(
            "agents.mc_prediction", TwoActionWalkEnv(), gamma=GAMMA, first_visit=first_visit
        ),
        eps,
    )
    for s, gs in returns.items():
        assert agent.v[s] == pytest.approx(np.mean(gs))


def test_constant_alpha_mc_moves_toward_each_return():
    eps = episodes(10, seed=2)
    v = np.zeros(7)
    for ep in eps:
        for tr, g in zip(ep, returns_of(ep)):
            v[tr.obs] += 0.1 * (g - v[tr.obs])
    agent = feed(
        rlcore.make("agents.constant_alpha_mc", TwoActionWalkEnv(), alpha=0.1, gamma=GAMMA), eps
    )
    np.testing.assert_allclose(agent.v, v, atol=1e-12)


def test_mc_control_averages_first_visit_returns_of_pairs():
    eps = episodes(40, seed=3)
    returns = defaultdict(list)
    for ep in eps:
        seen = set()
        for tr, g in zip(ep, returns_of(ep)):
            if (tr.obs, tr.action) not in seen:
                returns[(tr.obs, tr.action)].append(g)
            seen.add((tr.obs, tr.action))
    agent = feed(rlcore.make("agents.mc_control", TwoActionWalkEnv(), gamma=GAMMA), eps)
    for (s, a), gs in returns.items():
        assert agent.q[s, a] == pytest.approx(np.mean(gs))


def naive_importance_sampling(eps, weighted):
    """V and Q of TARGET from uniform-behaviour episodes by the textbook sums (eq. 5.5, 5.6)."""
    num_v, den_v, num_q, den_q = (defaultdict(float) for _ in range(4))
    for ep in eps:
        gs = returns_of(ep)
        for t, (tr, g) in enumerate(zip(ep, gs)):
            rho_after = np.prod([TARGET[x.obs, x.action] / 0.5 for x in ep[t + 1 :]])
            rho_from = rho_after * TARGET[tr.obs, tr.action] / 0.5
            num_v[tr.obs] += rho_from * g
            den_v[tr.obs] += rho_from if weighted else 1.0
            num_q[(tr.obs, tr.action)] += rho_after * g
            den_q[(tr.obs, tr.action)] += rho_after if weighted else 1.0
    v = {s: num_v[s] / den_v[s] for s in den_v if den_v[s] > 0}
    q = {k: num_q[k] / den_q[k] for k in den_q if den_q[k] > 0}
    return v, q


@pytest.mark.parametrize("sampling", ["weighted", "ordinary"])
def test_off_policy_mc_prediction_equals_the_importance_sampling_sums(sampling):
    eps = episodes(30, seed=4)
    v, q = naive_importance_sampling(eps, sampling == "weighted")
    agent = rlcore.make(
        "agents.off_policy_mc",
        TwoActionWalkEnv(),
        target=TARGET,
        mode="prediction",
        sampling=sampling,
        gamma=GAMMA,
    )
    feed(agent, eps)
    for s, value in v.items():
        assert agent.v[s] == pytest.approx(value, rel=1e-9, abs=1e-12)
    for (s, a), value in q.items():
        assert agent.q[s, a] == pytest.approx(value, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("sampling", ["weighted", "ordinary"])
def test_off_policy_mc_prediction_approaches_v_pi(sampling):
    env = TwoActionWalkEnv()
    v_pi = policy_evaluation(env, TARGET, GAMMA, method="exact").v
    agent = rlcore.make(
        "agents.off_policy_mc",
        env,
        target=TARGET,
        mode="prediction",
        sampling=sampling,
        gamma=GAMMA,
        seed=0,
    )
    rlcore.run(agent, env, episodes=4000, seed=0)
    np.testing.assert_allclose(agent.v[1:6], v_pi[1:6], atol=0.05)


@pytest.mark.parametrize("epsilon", [0.1, 0.3])
def test_weighted_off_policy_mc_control_learns_the_optimal_chain_policy(epsilon):
    report = check_agent(rlcore.get("agents.off_policy_mc"), epsilon=epsilon)
    assert report.ok, str(report)


@pytest.mark.parametrize("kwargs", [{"first_visit": True}, {"first_visit": False, "alpha": 0.1}])
@pytest.mark.parametrize("name", ["agents.mc_control", "agents.mc_exploring_starts"])
def test_mc_control_variants_learn_the_optimal_chain_policy(name, kwargs):
    # (Every-visit sample averages learn this task slowly: the long early episodes give many
    # poor returns that an average never forgets, so the every-visit variant uses alpha.)
    report = check_agent(rlcore.get(name), **kwargs)
    assert report.ok, str(report)


def test_off_policy_mc_refuses_a_behaviour_without_coverage():
    behaviour = np.tile([1.0, 0.0], (7, 1))  # never moves right
    with pytest.raises(ValueError, match=r"probability 0 to action 1 in state 0.*coverage"):
        rlcore.make(
            "agents.off_policy_mc",
            TwoActionWalkEnv(),
            target=TARGET,
            behavior=behaviour,
            mode="prediction",
        )
    with pytest.raises(ValueError, match=r"action 1 .*greedy.*coverage"):
        rlcore.make("agents.off_policy_mc", TwoActionWalkEnv(), behavior=behaviour)
    with pytest.raises(ValueError, match=r"epsilon=0 .*coverage"):
        rlcore.make("agents.off_policy_mc", TwoActionWalkEnv(), epsilon=0.0)
    with pytest.raises(ValueError, match=r"target=None"):
        rlcore.make("agents.off_policy_mc", TwoActionWalkEnv(), target=TARGET)
    with pytest.raises(TypeError, match=r"as behavior= .*not behaviour="):
        rlcore.make("agents.off_policy_mc", TwoActionWalkEnv(), behaviour=behaviour)


def test_prediction_policies_are_checked():
    with pytest.raises(ValueError, match=r"state 0 sums to 0.5"):
        rlcore.make("agents.mc_prediction", TwoActionWalkEnv(), np.full((7, 2), 0.25))
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*7 states"):
        rlcore.make("agents.td0", TwoActionWalkEnv(), np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match=r"alpha=2 is outside"):
        rlcore.make("agents.mc_prediction", TwoActionWalkEnv(), alpha=2)
