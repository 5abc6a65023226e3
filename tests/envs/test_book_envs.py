"""Contract tests over every registered rlcore/ env, and the finite models against the samplers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlcore  # noqa: F401  (registers the ids)
import rlcore.envs
from rlcore.tabular import FiniteMDP

BOOK_IDS = [
    "rlcore/RandomWalk-v0",
    "rlcore/RandomWalk1000-v0",
    "rlcore/Gridworld4x4-v0",
    "rlcore/WindyGridworld-v0",
    "rlcore/Racetrack-v0",
    "rlcore/DynaMaze-v0",
    "rlcore/BlockingMaze-v0",
    "rlcore/ShortcutMaze-v0",
    "rlcore/ShortCorridor-v0",
    "rlcore/MaximizationBias-v0",
    "rlcore/Baird-v0",
]
# Option sets that change the model, checked like the defaults.
VARIANTS = [
    ("rlcore/RandomWalk-v0", {"n_states": 19}),
    ("rlcore/WindyGridworld-v0", {"king_moves": True, "stay": True, "stochastic_wind": True}),
    ("rlcore/Racetrack-v0", {"track": "right"}),
    ("rlcore/BlockingMaze-v0", {"layout": "after", "switch_step": None}),
    ("rlcore/MaximizationBias-v0", {"n_actions_b": 3}),
]
ALL = [(env_id, {}) for env_id in BOOK_IDS] + VARIANTS


def test_ids_lists_the_book_envs_and_import_rlcore_registers_them():
    ids = rlcore.envs.ids()
    assert ids == sorted(ids)
    assert set(BOOK_IDS) <= set(ids)
    assert all(env_id in gym.registry for env_id in ids)


def test_importing_rlcore_does_not_import_the_env_modules():
    import subprocess
    import sys

    code = (
        "import sys, rlcore, gymnasium; "
        "print(sorted(m for m in sys.modules if m.startswith('rlcore.envs.') and m != "
        "'rlcore.envs._finite'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("env_id", rlcore.envs.ids())
def test_check_env_passes(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("env_id, kwargs", VARIANTS)
def test_check_env_passes_for_variants(env_id, kwargs):
    check_env(gym.make(env_id, **kwargs).unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id, kwargs", ALL)
def test_model_is_a_valid_finite_mdp(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    mdp = FiniteMDP.from_env(env)  # validates: every (s, a) has outcomes summing to 1
    assert mdp.n_states == env.observation_space.n
    assert mdp.n_actions == env.action_space.n
    assert np.isclose(mdp.initial.sum(), 1.0)
    # Terminal outcomes lead to states that only loop to themselves, terminating.
    for s2 in np.unique(mdp.next_state[mdp.terminated]):
        rows = slice(mdp.indptr[s2 * mdp.n_actions], mdp.indptr[(s2 + 1) * mdp.n_actions])
        if np.all(mdp.terminated[rows]):
            assert np.all(mdp.next_state[rows] == s2)


def _stochastic_rows(P: dict, n: int) -> list[tuple[int, int]]:
    """Up to n (s, a) pairs whose outcomes lead to at least two next states, spread over P."""
    rows = [
        (s, a) for s in P for a in P[s] if len({o[1] for o in P[s][a]}) >= 2 and not P[s][a][0][3]
    ]
    picks = np.linspace(0, len(rows) - 1, min(n, len(rows))).astype(int) if rows else []
    return [rows[i] for i in sorted(set(picks))]


@pytest.mark.parametrize("env_id, kwargs", ALL)
def test_sampled_next_states_match_the_model(env_id, kwargs):
    env = gym.make(env_id, **kwargs).unwrapped
    env.reset(seed=0)
    n = 3000
    rows = _stochastic_rows(env.P, 3)
    if not rows:
        pytest.skip(f"{env_id} {kwargs}: deterministic model")
    for s, a in rows:
        expected: dict[int, float] = {}
        for p, s2, _, _ in env.P[s][a]:
            expected[s2] = expected.get(s2, 0.0) + p
        counts: dict[int, int] = {}
        for _ in range(n):
            env.s = s
            s2, *_ = env.step(a)
            counts[s2] = counts.get(s2, 0) + 1
        assert set(counts) <= set(expected), f"({s}, {a}) reached states outside the model"
        for s2, p in expected.items():
            tol = 5.0 * np.sqrt(p * (1 - p) / n) + 1.0 / n  # 5 binomial standard errors
            assert abs(counts.get(s2, 0) / n - p) <= tol, (env_id, s, a, s2)


@pytest.mark.parametrize("env_id, kwargs", ALL)
def test_rewards_and_termination_match_the_model(env_id, kwargs):
    env = gym.make(env_id, **kwargs).unwrapped
    s, _ = env.reset(seed=3)
    rng = np.random.default_rng(3)
    for _ in range(200):
        a = int(rng.integers(env.action_space.n))
        s2, r, terminated, truncated, info = env.step(a)
        matches = [o for o in env_model_rows(env, s, a) if o[1] == s2 and o[3] == terminated]
        assert matches, (env_id, s, a, s2, terminated)
        if env_id != "rlcore/MaximizationBias-v0":  # its rewards in B are random around P's mean
            assert any(np.isclose(o[2], r) for o in matches)
        assert truncated is False
        s = s2
        if terminated:
            s, _ = env.reset()


def env_model_rows(env, s, a):
    return env.P[s][a]


@pytest.mark.parametrize("env_id, kwargs", [(env_id, {}) for env_id in BOOK_IDS])
def test_seeded_resets_give_identical_trajectories(env_id, kwargs):
    def trajectory(seed):
        env = gym.make(env_id, **kwargs)
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        out = [obs]
        for _ in range(50):
            obs, r, terminated, truncated, _ = env.step(env.action_space.sample())
            out += [obs, r]
            if terminated or truncated:
                out.append(env.reset()[0])
        return out

    assert trajectory(11) == trajectory(11)


def test_different_seeds_give_different_random_walks():
    def walk(seed):
        env = gym.make("rlcore/RandomWalk-v0", n_states=19)
        env.reset(seed=seed)
        return [env.step(0)[0] for _ in range(10)]

    assert walk(1) != walk(2)


@pytest.mark.parametrize("env_id", BOOK_IDS)
def test_ansi_render_is_text_showing_the_state(env_id):
    env = gym.make(env_id, render_mode="ansi")
    env.reset(seed=0)
    frame = env.render()
    assert isinstance(frame, str) and frame.endswith("\n")
    if env_id.endswith(("Maze-v0", "Gridworld-v0", "Gridworld4x4-v0", "Racetrack-v0")):
        assert frame.count("@") == 1


@pytest.mark.parametrize(
    "env_id, kwargs, error",
    [
        ("rlcore/RandomWalk-v0", {"n_states": 4}, ValueError),
        ("rlcore/RandomWalk-v0", {"n_states": 1}, ValueError),
        ("rlcore/RandomWalk-v0", {"n_states": 5.0}, TypeError),
        ("rlcore/RandomWalk-v0", {"left_reward": float("nan")}, ValueError),
        ("rlcore/WindyGridworld-v0", {"king_moves": "yes"}, TypeError),
        ("rlcore/Racetrack-v0", {"track": "middle"}, ValueError),
        ("rlcore/Racetrack-v0", {"track": True}, TypeError),
        ("rlcore/Racetrack-v0", {"noise": 1.5}, ValueError),
        ("rlcore/DynaMaze-v0", {"switch_step": 10}, ValueError),
        ("rlcore/DynaMaze-v0", {"layout": "after"}, ValueError),
        ("rlcore/DynaMaze-v0", {"maze": "labyrinth"}, ValueError),
        ("rlcore/BlockingMaze-v0", {"layout": "after", "switch_step": 10}, ValueError),
        ("rlcore/BlockingMaze-v0", {"switch_step": "soon"}, TypeError),
        ("rlcore/BlockingMaze-v0", {"switch_step": 0}, ValueError),
        ("rlcore/MaximizationBias-v0", {"n_actions_b": 0}, ValueError),
        ("rlcore/MaximizationBias-v0", {"std_reward_b": -1.0}, ValueError),
    ],
)
def test_bad_options_raise_clear_errors(env_id, kwargs, error):
    with pytest.raises(error):
        gym.make(env_id, **kwargs)


def test_unsupported_render_mode_raises():
    from rlcore.envs.gridworld import Gridworld4x4Env

    with pytest.raises(ValueError, match="render_mode"):
        Gridworld4x4Env(render_mode="human")


@pytest.mark.parametrize("action", [4, -1, 1.5])
def test_actions_outside_the_space_raise(action):
    env = gym.make("rlcore/Gridworld4x4-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(action)


def test_registered_public_names_build_the_envs():
    env = rlcore.make("envs.windy_gridworld", king_moves=True)
    assert env.action_space.n == 8
    assert rlcore.name_of(env) == "envs.windy_gridworld"
