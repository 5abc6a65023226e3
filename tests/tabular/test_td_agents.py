"""One-step and n-step TD agents: update rules by hand, reduces-to identities, learning vs DP,
and the errors for bad input."""

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rlcore.tabular.planning import policy_evaluation, value_iteration
from rlcore.testing import AlternatingChainEnv, TwoActionWalkEnv, check_agent
from rlcore.types import Transition

ONE_STEP_CONTROL = [
    "agents.q_learning",
    "agents.sarsa",
    "agents.expected_sarsa",
    "agents.double_q_learning",
]


def random_transitions(env, n_episodes, seed, max_len=30):
    """Transitions of a uniformly random policy, episodes cut (truncated) at max_len steps."""
    rng = np.random.default_rng(seed)
    out = []
    for ep in range(n_episodes):
        s, _ = env.reset(seed=seed + ep)
        for t in range(max_len):
            a = int(rng.integers(env.action_space.n))
            s2, r, term, trunc, _ = env.step(a)
            trunc = trunc or (t == max_len - 1 and not term)
            out.append(Transition(s, a, float(r), s2, term, trunc))
            s = s2
            if term or trunc:
                break
    return out


def feed(agent, transitions):
    agent.reset()
    for tr in transitions:
        agent.observe(tr)
        if tr.terminated or tr.truncated:
            agent.reset()
    return agent


def spaces(n_states=4, n_actions=3):
    return (gym.spaces.Discrete(n_states), gym.spaces.Discrete(n_actions))


# -- the one-step updates, by hand ---------------------------------------------------------------
@pytest.mark.parametrize("terminated", [True, False])
def test_q_learning_bootstraps_on_truncation_not_termination(terminated):
    agent = rlcore.make("agents.q_learning", spaces(), alpha=0.5, gamma=0.9)
    agent.q = np.array([[0, 0, 0], [1.0, 4.0, 2.0], [0, 0, 0], [0, 0, 0]])
    agent.observe(Transition(0, 2, 1.0, 1, terminated, not terminated))
    expected = 0.5 * (1.0 + (0.0 if terminated else 0.9 * 4.0))
    assert agent.q[0, 2] == pytest.approx(expected)


def test_expected_sarsa_uses_the_epsilon_greedy_expectation():
    agent = rlcore.make("agents.expected_sarsa", spaces(), alpha=1.0, gamma=1.0, epsilon=0.3)
    agent.q = np.array([[0, 0, 0], [1.0, 4.0, 2.0], [0, 0, 0], [0, 0, 0]])
    agent.observe(Transition(0, 0, 0.5, 1, False, False))
    assert agent.q[0, 0] == pytest.approx(0.5 + 0.7 * 4.0 + 0.3 * (7.0 / 3))


def test_sarsa_takes_the_action_it_learned_from():
    agent = rlcore.make("agents.sarsa", spaces(), alpha=1.0, gamma=1.0, epsilon=1.0, seed=3)
    q = np.zeros((4, 3))
    q[1] = [10.0, 20.0, 30.0]
    for _ in range(20):
        agent.q = q
        agent.observe(Transition(0, 0, 0.0, 1, False, False))
        a_next = int(np.flatnonzero(q[1] == agent.q[0, 0])[0])  # the A' used in the target
        assert agent.act(1, explore=True) == a_next
        assert agent.q[0, 0] in q[1]


def test_sarsa_forgets_its_next_action_at_episode_start():
    agent = rlcore.make("agents.sarsa", spaces(), epsilon=0.0, seed=0)
    q = np.zeros((4, 3))
    q[1] = [0.0, 0.0, 5.0]
    agent.q = q
    agent.observe(Transition(0, 0, 0.0, 1, False, False))  # pre-chooses A' = 2 in state 1
    agent.q = np.array([[0, 0, 0], [9.0, 0, 0], [0, 0, 0], [0, 0, 0]])
    agent.reset()
    assert agent.act(1, explore=True) == 0


def test_double_q_updates_one_table_evaluated_by_the_other():
    agent = rlcore.make("agents.double_q_learning", spaces(), alpha=1.0, gamma=1.0, seed=0)
    q1 = np.zeros((4, 3))
    q1[1] = [0.0, 5.0, 1.0]
    agent.q = np.zeros((4, 3))
    agent._load_arrays({"q1": q1, "q2": q1 * 0 + np.array([3.0, -1.0, 7.0])})
    agent.observe(Transition(0, 0, 1.0, 1, False, False))
    # Either Q1(0,0) = 1 + Q2(1, argmax Q1(1)) = 1 - 1, or Q2(0,0) = 1 + Q1(1, argmax Q2(1)) = 2.
    updated = (agent.q1[0, 0], agent.q2[0, 0])
    assert updated in ((0.0, 3.0), (0.0, 2.0))


# -- reduces-to identities ------------------------------------------------------------------------
def test_expected_sarsa_with_a_greedy_target_is_q_learning():
    env = gym.make("FrozenLake-v1")
    transitions = random_transitions(env, 40, seed=1)
    es = rlcore.make("agents.expected_sarsa", env, alpha=0.3, gamma=0.9, target_epsilon=0.0)
    ql = rlcore.make("agents.q_learning", env, alpha=0.3, gamma=0.9)
    for agent in (es, ql):
        agent.q = np.random.default_rng(0).normal(size=(16, 4))
    np.testing.assert_allclose(feed(es, transitions).q, feed(ql, transitions).q, atol=1e-12)


def test_one_step_tree_backup_with_a_greedy_target_is_q_learning():
    env = gym.make("FrozenLake-v1")
    transitions = random_transitions(env, 40, seed=2)
    tb = rlcore.make("agents.tree_backup", env, n=1, alpha=0.3, gamma=0.9, target_epsilon=0.0)
    ql = rlcore.make("agents.q_learning", env, alpha=0.3, gamma=0.9)
    for agent in (tb, ql):
        agent.q = np.random.default_rng(1).normal(size=(16, 4))
    np.testing.assert_allclose(feed(tb, transitions).q, feed(ql, transitions).q, atol=1e-12)


def test_one_step_n_step_sarsa_is_sarsa():
    env = gym.make("FrozenLake-v1")
    transitions = random_transitions(env, 40, seed=3)
    ns = rlcore.make("agents.n_step_sarsa", env, n=1, alpha=0.3, gamma=0.9, seed=5)
    sa = rlcore.make("agents.sarsa", env, alpha=0.3, gamma=0.9, seed=5)
    np.testing.assert_allclose(feed(ns, transitions).q, feed(sa, transitions).q, atol=1e-12)


def test_n_step_td_with_n_at_least_the_episode_length_is_monte_carlo():
    env = TwoActionWalkEnv()
    transitions = [t for t in random_transitions(env, 30, seed=4, max_len=200)]
    nt = rlcore.make("agents.n_step_td", env, n=1000, alpha=0.2, gamma=0.9)
    mc = rlcore.make("agents.constant_alpha_mc", env, alpha=0.2, gamma=0.9)
    np.testing.assert_allclose(feed(nt, transitions).v, feed(mc, transitions).v, atol=1e-12)


def test_one_step_n_step_td_is_td0():
    env = TwoActionWalkEnv()
    transitions = random_transitions(env, 30, seed=5, max_len=8)  # some truncated episodes
    nt = rlcore.make("agents.n_step_td", env, n=1, alpha=0.2, gamma=0.9)
    td = rlcore.make("agents.td0", env, alpha=0.2, gamma=0.9)
    np.testing.assert_allclose(feed(nt, transitions).v, feed(td, transitions).v, atol=1e-12)


def test_n_step_td_matches_a_naive_n_step_return():
    # With the window full, the first update uses G_{0:3} = R1 + g R2 + g^2 R3 + g^3 V(S_3).
    env = TwoActionWalkEnv()
    agent = rlcore.make("agents.n_step_td", env, n=3, alpha=1.0, gamma=0.5)
    v0 = np.arange(7, dtype=float)
    agent.v = v0
    steps = [
        Transition(3, 1, 1.0, 4, False, False),
        Transition(4, 0, 2.0, 3, False, False),
        Transition(3, 1, 4.0, 4, False, False),
    ]
    for tr in steps:
        agent.observe(tr)
    assert agent.v[3] == pytest.approx(1.0 + 0.5 * 2.0 + 0.25 * 4.0 + 0.125 * v0[4])


# -- learning against DP --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["agents.q_learning", "agents.expected_sarsa"])
def test_off_policy_one_step_agents_find_the_optimal_cliff_path(name):
    env = gym.make("CliffWalking-v1")
    optimal = value_iteration(env, 1.0)
    agent = rlcore.make(name, env, alpha=0.5, epsilon=0.1, target_epsilon=0.0, seed=0)
    rlcore.run(agent, env, episodes=300, seed=0)
    greedy = rlcore.run(agent, env, episodes=1, learn=False, max_episode_steps=100, seed=0)
    assert greedy.returns[0] == optimal.v[36] == -13.0


def test_sarsa_learns_the_safer_path_on_the_cliff():
    # Example 6.6: with epsilon = 0.1 Sarsa's greedy policy avoids the cliff edge, so it is
    # longer than the optimal 13 steps but never falls.
    env = gym.make("CliffWalking-v1")
    agent = rlcore.make("agents.sarsa", env, alpha=0.5, epsilon=0.1, seed=0)
    history = rlcore.run(agent, env, episodes=500, seed=0)
    greedy = rlcore.run(agent, env, episodes=1, learn=False, max_episode_steps=100, seed=0)
    assert -25 <= greedy.returns[0] < -13
    assert np.mean(history.returns[100:]) > -40  # Q-learning's online mean is about -50


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("agents.n_step_sarsa", {"n": 3, "off_policy": True, "epsilon": 0.2}),
        ("agents.tree_backup", {"n": 3, "target_epsilon": 0.1}),
    ],
)
def test_n_step_variants_learn_the_optimal_chain_policy(name, kwargs):
    report = check_agent(rlcore.get(name), **kwargs)
    assert report.ok, str(report)


@pytest.mark.parametrize("name", ["agents.q_learning", "agents.double_q_learning"])
def test_q_learning_converges_to_q_star_on_the_chain(name):
    env = AlternatingChainEnv()
    q_star = value_iteration(env, 0.9).q
    agent = rlcore.make(name, env, alpha=0.1, epsilon=1.0, gamma=0.9, seed=0)
    rlcore.run(agent, env, steps=60_000, seed=0, max_episode_steps=20)
    np.testing.assert_allclose(agent.q[:5], q_star[:5], atol=0.05)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("agents.q_learning", {}),
        ("agents.double_q_learning", {}),
        ("agents.expected_sarsa", {"target_epsilon": 0.0}),
    ],
)
def test_off_policy_control_finds_an_optimal_policy_on_slippery_frozen_lake(name, kwargs):
    # Learning from a uniformly random behaviour; the greedy policy of the learned q, evaluated
    # exactly by DP, must be (nearly) as good as the optimal one from the start state. (With
    # alpha = 0.05 the noise of the estimates and the maximisation bias were still too large.)
    env = gym.make("FrozenLake-v1", is_slippery=True)
    optimal = value_iteration(env, 0.9)
    agent = rlcore.make(name, env, alpha=0.01, epsilon=1.0, gamma=0.9, seed=0, **kwargs)
    rlcore.run(agent, env, steps=300_000, seed=0)
    greedy = np.eye(4)[np.argmax(agent.q, axis=1)]
    v_greedy = policy_evaluation(env, greedy, 0.9, method="exact").v
    assert v_greedy[0] >= optimal.v[0] - 0.01


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"alpha": 0.0}, r"alpha=0.0 is outside \(0, 1\].*step size"),
        ({"alpha": 1.5}, r"alpha=1.5 is outside \(0, 1\]"),
        ({"epsilon": -0.1}, r"epsilon=-0.1 is outside \[0, 1\]"),
        ({"gamma": 1.1}, r"gamma=1.1 is outside \[0, 1\].*discount"),
    ],
)
@pytest.mark.parametrize("name", ONE_STEP_CONTROL)
def test_bad_settings_name_the_value_range_and_fix(name, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        rlcore.make(name, spaces(), **kwargs)


def test_bad_n_and_lambda_are_explained():
    with pytest.raises(ValueError, match=r"n=0 is outside \[1, inf\].*positive integer"):
        rlcore.make("agents.n_step_sarsa", spaces(), n=0)
    with pytest.raises(ValueError, match=r"lambda_=1.5 is outside \[0, 1\]"):
        rlcore.make("agents.sarsa_lambda", spaces(), lambda_=1.5)
    with pytest.raises(ValueError, match=r"trace='dutsch' is not one of"):
        rlcore.make("agents.td_lambda", spaces(), trace="dutsch")


def test_tabular_agents_refuse_continuous_spaces():
    env = gym.make("MountainCar-v0")
    with pytest.raises(TypeError, match=r"needs a Discrete observation space.*feature map"):
        rlcore.make("agents.q_learning", env)


def test_unknown_keywords_suggest_the_right_name():
    with pytest.raises(TypeError, match=r"'alhpa' \(did you mean 'alpha'\?\)"):
        rlcore.make("agents.sarsa", spaces(), alhpa=0.1)


def test_off_policy_n_step_sarsa_needs_coverage():
    with pytest.raises(ValueError, match=r"epsilon=0 .*target_epsilon=0.2.*coverage"):
        rlcore.make(
            "agents.n_step_sarsa", spaces(), off_policy=True, epsilon=0.0, target_epsilon=0.2
        )
