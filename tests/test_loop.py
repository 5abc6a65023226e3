"""The run loop: budgets, seeding, terminated vs truncated, logging, callbacks, vector envs."""

import json

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rlcore import Callback, Transition


class CountingAgent:
    """A tiny learning agent: tabular TD(0) value estimates under a uniformly random policy."""

    def __init__(self, n_states, n_actions, alpha=0.1, gamma=1.0):
        self.v = np.zeros(n_states)
        self.n_actions, self.alpha, self.gamma = n_actions, alpha, gamma
        self.transitions: list[Transition] = []
        self.resets = 0
        self.rng = np.random.default_rng()

    def seed(self, seed):
        self.rng = np.random.default_rng(seed)

    def reset(self):
        self.resets += 1

    def act(self, obs, *, explore=False):
        return int(self.rng.integers(self.n_actions))

    def observe(self, t):
        self.transitions.append(t)
        target = t.reward + (0.0 if t.terminated else self.gamma * self.v[t.next_obs])
        delta = target - self.v[t.obs]
        self.v[t.obs] += self.alpha * delta
        return {"losses/td_error": abs(delta)}


def test_random_policy_runs_episodes_and_counts_steps():
    env = gym.make("FrozenLake-v1")
    policy = rlcore.make("policies.random", env)
    history = rlcore.run(policy, env, episodes=20, seed=0)
    assert history.episodes == 20
    assert history.steps == sum(history.lengths)
    assert all(r in (0.0, 1.0) for r in history.returns)
    assert history.wall_times == sorted(history.wall_times)


def test_same_seed_same_numbers_different_seed_different():
    env = gym.make("FrozenLake-v1")
    runs = []
    for seed in (3, 3, 4):
        agent = CountingAgent(16, 4)
        h = rlcore.run(agent, env, episodes=50, seed=seed)
        runs.append((h.returns, h.lengths, agent.v.copy()))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
    assert runs[0][1] != runs[2][1]


def test_agent_learns_and_reset_called_per_episode():
    env = gym.make("FrozenLake-v1")
    agent = CountingAgent(16, 4)
    h = rlcore.run(agent, env, episodes=30, seed=1)
    assert agent.resets == 30
    assert len(agent.transitions) == h.steps
    assert h.metric("losses/td_error")[0].shape == (h.steps,)
    # Every episode ends with exactly one terminated-or-truncated transition.
    ends = [t for t in agent.transitions if t.terminated or t.truncated]
    assert len(ends) == 30


def test_truncation_is_not_termination():
    env = gym.make("CliffWalking-v1")  # no time limit of its own
    agent = CountingAgent(48, 4)
    h = rlcore.run(agent, env, episodes=3, seed=0, max_episode_steps=5)
    assert h.lengths == [5, 5, 5]
    last = [t for t in agent.transitions if t.truncated]
    assert len(last) == 3 and not any(t.terminated for t in last)
    assert h.terminated == [False, False, False]


def test_steps_budget_stops_mid_episode():
    env = gym.make("CliffWalking-v1")
    policy = rlcore.make("policies.random", env)
    h = rlcore.run(policy, env, steps=37, seed=0)
    assert h.steps == 37
    assert sum(h.lengths) <= 37


def test_policy_without_observe_does_not_learn():
    env = gym.make("FrozenLake-v1")
    policy = rlcore.make("policies.random", env)
    with pytest.raises(TypeError, match="observe"):
        rlcore.run(policy, env, episodes=1, learn=True)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "budget"),
        ({"episodes": 0}, "episodes"),
        ({"steps": -3}, "steps"),
        ({"episodes": 1, "seed": -1}, "seed"),
        ({"episodes": 1.5}, "integer"),
    ],
)
def test_bad_budgets_refused(kwargs, match):
    env = gym.make("FrozenLake-v1")
    with pytest.raises((ValueError, TypeError), match=match):
        rlcore.run(rlcore.make("policies.random", env), env, **kwargs)


def test_not_a_policy_refused():
    with pytest.raises(TypeError, match="Policy protocol"):
        rlcore.run(object(), "FrozenLake-v1", episodes=1)


def test_unknown_env_id_suggests():
    env = gym.make("FrozenLake-v1")
    with pytest.raises(gym.error.NameNotFound, match="FrozenLake-v1"):
        rlcore.run(rlcore.make("policies.random", env), "FrozenLak-v1", episodes=1)


def test_logdir_writes_tensorboard_csv_and_json(tmp_path):
    env = gym.make("FrozenLake-v1")
    agent = CountingAgent(16, 4)
    h = rlcore.run(agent, env, episodes=5, seed=0, logdir=tmp_path)
    assert list(tmp_path.glob("events.out.tfevents.*"))
    data = json.loads((tmp_path / "history.json").read_text())
    assert data["returns"] == h.returns
    assert rlcore.History.load(tmp_path).lengths == h.lengths
    csv_rows = (tmp_path / "episodes.csv").read_text().splitlines()
    assert len(csv_rows) == 6
    metrics = (tmp_path / "metrics.csv").read_text()
    assert "charts/episodic_return" in metrics and "losses/td_error" in metrics
    # The event file is readable by TensorBoard's own loader with namespaced tags.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "charts/episodic_return" in tags and "losses/td_error" in tags
    assert [e.value for e in acc.Scalars("charts/episodic_return")] == h.returns


def test_callbacks_can_stop_and_see_every_step():
    class StopAfter(Callback):
        def __init__(self):
            self.steps = 0
            self.started = self.ended = False

        def on_run_start(self, history):
            self.started = True

        def on_step(self, step, transition, metrics):
            self.steps += 1

        def on_episode_end(self, episode, history):
            return episode >= 2

        def on_run_end(self, history):
            self.ended = True

    cb = StopAfter()
    env = gym.make("FrozenLake-v1")
    h = rlcore.run(rlcore.make("policies.random", env), env, episodes=100, seed=0, callbacks=[cb])
    assert h.episodes == 3 and cb.steps == h.steps and cb.started and cb.ended


def test_vector_env_same_numbers_and_final_obs():
    env = rlcore.make_vector_env("FrozenLake-v1", 3)
    holes_and_goal = {5, 7, 11, 12, 15}  # the 4x4 map's terminal cells

    class Recorder(CountingAgent):
        def act(self, obs, *, explore=False):
            return self.rng.integers(self.n_actions, size=len(obs))

        def observe(self, t):
            self.transitions.append(t)

    results = []
    for _ in range(2):
        agent = Recorder(16, 4)
        h = rlcore.run(agent, env, steps=600, seed=7)
        results.append(h.returns)
        ended = [
            int(t.next_obs[i]) for t in agent.transitions for i in np.flatnonzero(t.terminated)
        ]
        # With SAME_STEP autoreset the env returns the *reset* observation (0); the loop must
        # substitute the real final observation, a hole or the goal.
        assert len(ended) == sum(h.terminated) > 10
        assert set(ended) <= holes_and_goal
    assert results[0] == results[1]


def test_vector_env_next_step_autoreset_refused():
    env = gym.make_vec("CliffWalking-v1", 2, vectorization_mode="sync")
    policy = rlcore.make("policies.random", env)
    with pytest.raises(ValueError, match="SAME_STEP"):
        rlcore.run(policy, env, steps=10)
