"""Action masks (gymnasium's info["action_mask"], 1 = allowed) in every scalar tabular agent and
in the tabular policies, by the rule the batched engine uses (issue 19, item 1).

The agents are taken from the registry, as in the contract test: every tabular agent, with no
special cases, including agents added later on ``rlcore.tabular.base``.
"""

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rlcore.stats import mean_ci
from rlcore.tabular import policies as P
from rlcore.tabular.batched import run_batched

TABULAR_AGENTS = [
    name
    for name in rlcore.names("agents.")
    if rlcore.get(name).__module__.startswith("rlcore.tabular")
]


class Masked(gym.Wrapper):
    """Adds info["action_mask"] = mask_of(state) to reset and step (None: no mask there)."""

    def __init__(self, env, mask_of):
        super().__init__(env)
        self.mask_of = mask_of

    def _tag(self, s, info):
        mask = self.mask_of(int(s))
        if mask is not None:
            info = {**info, "action_mask": np.asarray(mask, dtype=np.int8)}
        return info

    def reset(self, **kwargs):
        s, info = self.env.reset(**kwargs)
        return s, self._tag(s, info)

    def step(self, action):
        s, r, terminated, truncated, info = self.env.step(action)
        return s, r, terminated, truncated, self._tag(s, info)


def cliff():
    return gym.make("CliffWalking-v1")


def _arrays(agent):
    return agent.state()[1]


@pytest.mark.parametrize("name", TABULAR_AGENTS)
def test_masks_of_all_ones_change_nothing(name):
    """Same seed, same numbers with an all-ones mask as with none: returns, lengths, tables."""
    ones = np.ones(4)
    results = []
    for env in (cliff(), Masked(cliff(), lambda s: ones)):
        agent = rlcore.make(name, env, seed=0)
        history = rlcore.run(agent, env, episodes=8, seed=1, max_episode_steps=60)
        results.append((history.returns, history.lengths, _arrays(agent)))
    (r0, l0, a0), (r1, l1, a1) = results
    assert r0 == r1 and l0 == l1
    assert a0.keys() == a1.keys()
    for key in a0:
        np.testing.assert_array_equal(a0[key], a1[key], err_msg=f"{name}: {key}")


@pytest.mark.parametrize("name", TABULAR_AGENTS)
def test_agents_take_only_offered_actions(name):
    """Cliff walking without "up" (action 0) in the bottom rows: never taken there, exploring
    or not; prediction agents' policies are conditioned on the offered actions."""

    def mask_of(s):
        return [0, 1, 1, 1] if s >= 24 else [1, 1, 1, 1]

    env = Masked(cliff(), mask_of)
    taken = []

    class Record(rlcore.Callback):
        def on_step(self, step, transition, metrics):
            taken.append((int(transition.obs), int(transition.action)))

    agent = rlcore.make(name, env, seed=0)
    rlcore.run(agent, env, episodes=6, seed=2, max_episode_steps=80, callbacks=[Record()])
    rlcore.run(agent, env, episodes=2, seed=3, max_episode_steps=80, learn=False,
               callbacks=[Record()])  # fmt: skip
    assert taken and not [(s, a) for s, a in taken if s >= 24 and a == 0]


def test_q_learning_bootstraps_from_the_offered_actions_only():
    """The target's max ranges over S_{t+1}'s offered actions: a large value at an action the
    next state does not offer is never backed up."""
    env = Masked(cliff(), lambda s: [1, 1, 1, 0] if s == 25 else [1, 1, 1, 1])
    agent = rlcore.make("agents.q_learning", env, alpha=1.0, epsilon=0.0, seed=0)
    q = np.zeros((48, 4))
    q[25, 3] = 100.0  # not offered in state 25
    agent.q = q
    agent.act(24, explore=True, mask=np.ones(4))
    agent.observe(
        rlcore.types.Transition(
            24, 1, -1.0, 25, False, False, {"action_mask": np.array([1, 1, 1, 0])}
        )
    )
    assert agent.q[24, 1] == -1.0  # R + max over the offered actions (all 0), not 99


def test_an_env_with_masks_for_some_states_only_is_refused():
    agent = rlcore.make("agents.q_learning", cliff(), seed=0)
    some = Masked(cliff(), lambda s: [1, 1, 1, 1] if s == 36 else None)
    with pytest.raises(ValueError, match="for some states only.*has none"):
        rlcore.run(agent, some, episodes=1, seed=0)
    later = Masked(cliff(), lambda s: None if s == 36 else [1, 1, 1, 1])
    with pytest.raises(ValueError, match="for some states only.*has one"):
        rlcore.run(agent, later, episodes=1, seed=0)


def test_a_mask_that_offers_no_action_is_refused():
    agent = rlcore.make("agents.sarsa", cliff(), seed=0)
    env = Masked(cliff(), lambda s: [0, 0, 0, 0] if s == 24 else [1, 1, 1, 1])
    with pytest.raises(ValueError, match="offers no action"):
        rlcore.run(agent, env, episodes=3, seed=0)
    with pytest.raises(ValueError, match="at least one allowed action"):
        agent.act(5, explore=True, mask=[0, 0, 0, 0])
    with pytest.raises(ValueError, match="one entry per action"):
        rlcore.run(agent, Masked(cliff(), lambda s: [1, 1]), episodes=1, seed=0)


def test_policies_restricted_to_the_offered_actions():
    q = np.array([[1.0, 5.0, 3.0, 0.0], [2.0, 2.0, 9.0, 2.0]])
    mask = np.array([[1, 0, 1, 1], [1, 1, 0, 1]], dtype=bool)
    greedy = P.greedy_probs(q, mask)
    np.testing.assert_allclose(greedy, [[0, 0, 1, 0], [1 / 3, 1 / 3, 0, 1 / 3]])
    eps = P.epsilon_greedy_probs(q, 0.3, mask)
    np.testing.assert_allclose(eps[0], [0.1, 0, 0.1 + 0.7, 0.1])
    np.testing.assert_allclose(eps.sum(axis=1), 1.0)
    # the expectation and the max are over the offered actions; list and array paths agree
    np.testing.assert_allclose(
        P.epsilon_greedy_value(q, 0.3, mask), np.sum(eps * q, axis=1), rtol=1e-12
    )
    assert P.epsilon_greedy_value(q[0].tolist(), 0.3, mask[0].tolist()) == pytest.approx(
        float(np.sum(eps[0] * q[0]))
    )
    assert P.epsilon_greedy_probs(q[1].tolist(), 0.3, mask[1].tolist()) == pytest.approx(
        eps[1].tolist()
    )
    soft = P.softmax_probs(q, 2.0, mask)
    assert np.all(soft[~mask] == 0) and np.allclose(soft.sum(axis=1), 1)
    np.testing.assert_allclose(soft[0, [0, 2, 3]], P.softmax_probs(q[0, [0, 2, 3]], 2.0))
    # all ones: the unmasked numbers exactly
    ones = np.ones_like(mask)
    assert np.array_equal(P.epsilon_greedy_probs(q, 0.3, ones), P.epsilon_greedy_probs(q, 0.3))
    assert np.array_equal(P.greedy_probs(q, ones), P.greedy_probs(q))
    # the fixed policies built from a q table, and TablePolicy acting with a mask
    for policy in (
        P.greedy(q, mask=mask),
        P.epsilon_greedy(q, 0.3, mask=mask),
        P.softmax(q, 1.0, mask=mask),
    ):
        assert np.all(policy.table[~mask] == 0)
    uniform = P.TablePolicy.uniform(2, 4, seed=0)
    actions = {uniform.act(0, mask=mask[0]) for _ in range(200)}
    assert actions == {0, 2, 3}
    np.testing.assert_allclose(uniform.probs(1, mask=mask[1]), [1 / 3, 1 / 3, 0, 1 / 3])
    with pytest.raises(ValueError, match="probability 0 to every action"):
        P.TablePolicy([[1.0, 0.0], [0.5, 0.5]]).act(0, mask=[0, 1])


def _left_fractions_scalar(name, runs, episodes):
    env = gym.make("rlcore/MaximizationBias-v0")
    left = np.zeros((runs, episodes))
    for i in range(runs):
        agent = rlcore.make(name, env, alpha=0.1, epsilon=0.1, gamma=1.0)
        history = rlcore.run(agent, env, episodes=episodes, seed=i)
        left[i] = np.asarray(history.lengths) == 2  # A -> B -> terminal: went left
    return left


@pytest.mark.parametrize("name", ["q_learning", "double_q_learning"])
def test_scalar_and_batched_give_the_same_figure_6_5_statistics(name):
    """% left actions from A over episodes 1-20 (Q-learning about 90% there in the book, Double Q
    about 45% at episode 10): the scalar agents through rlcore.run and the batched engine agree
    within their confidence intervals, and the book's numbers hold."""
    episodes = 20
    scalar = _left_fractions_scalar(f"agents.{name}", 300, episodes)
    batched = (
        run_batched(
            name, "rlcore/MaximizationBias-v0", runs=4000, episodes=episodes, seed=5,
            alpha=0.1, epsilon=0.1,
        ).lengths
        == 2
    ).astype(float)  # fmt: skip
    s_mean, b_mean = scalar[:, 9:].mean(axis=1), batched[:, 9:].mean(axis=1)
    s_ci, b_ci = mean_ci(s_mean, confidence=0.999), mean_ci(b_mean, confidence=0.999)
    assert s_ci.low <= b_ci.high and b_ci.low <= s_ci.high, (s_ci, b_ci)
    if name == "q_learning":
        assert 0.85 <= s_mean.mean() <= 0.98  # book: about 90% (30% before masks)
    else:
        assert 0.3 <= s_mean.mean() <= 0.6
