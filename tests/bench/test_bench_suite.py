"""Suites as data: validation, the stable hash, expansion into runs, seed derivation."""

import hashlib

import numpy as np
import pytest

import rlcore
from rlcore.bench import (
    AgentSpec,
    Budget,
    EnvSpec,
    EvalProtocol,
    Grid,
    Suite,
    derive_seed,
    expand,
    load_suite,
)


def _suite(seeds=3, **kw):
    return Suite(
        name="t",
        grids=(
            Grid(
                agents=(
                    AgentSpec("agents.q_learning", {"alpha": 0.5}),
                    AgentSpec("policies.random"),
                ),
                envs=(EnvSpec("CliffWalking-v1", max_episode_steps=50), EnvSpec("FrozenLake-v1")),
                budget=Budget(episodes=3),
            ),
            Grid(
                agents=(AgentSpec("agents.sarsa"),),
                envs=(EnvSpec("FrozenLake-v1", {"is_slippery": False}, label="lake_det"),),
                budget=Budget(steps=100),
                protocol=EvalProtocol(score="evaluation", eval_episodes=2),
            ),
        ),
        seeds=seeds,
        **kw,
    )


def test_expansion_has_one_run_per_cell_and_seed_with_unique_ids():
    suite = _suite(seeds=4)
    runs = expand(suite)
    assert len(runs) == 4 * (2 * 2 + 1)
    assert len({r.run_id for r in runs}) == len(runs)
    assert [r.index for r in runs] == list(range(len(runs)))
    cells = {(r.agent.label, r.env.label) for r in runs}
    assert cells == {
        ("q_learning", "CliffWalking-v1"),
        ("q_learning", "FrozenLake-v1"),
        ("random", "CliffWalking-v1"),
        ("random", "FrozenLake-v1"),
        ("sarsa", "lake_det"),
    }
    # Seed-major: every cell's first seed comes before any second seed.
    assert [r.seed_index for r in runs[:5]] == [0] * 5
    # Each run carries its grid's budget and protocol.
    sarsa = next(r for r in runs if r.agent.label == "sarsa")
    assert sarsa.budget == Budget(steps=100) and sarsa.protocol.eval_episodes == 2
    assert all(type(r).from_dict(r.to_dict()) == r for r in runs)


def test_seed_derivation_matches_an_independent_computation():
    # SeedSequence([base, first 4 bytes of sha256(env label) little-endian, index]).
    key = int.from_bytes(hashlib.sha256(b"FrozenLake-v1").digest()[:4], "little")
    expected = int(np.random.SeedSequence([7, key, 3]).generate_state(1)[0])
    assert derive_seed(7, "FrozenLake-v1", 3) == expected


def test_seeds_are_shared_across_agents_and_independent_of_other_cells():
    runs = expand(_suite(seeds=3))
    by = {(r.agent.label, r.env.label, r.seed_index): r.seed for r in runs}
    for i in range(3):  # common random numbers: same env, same index, same seed
        assert by[("q_learning", "FrozenLake-v1", i)] == by[("random", "FrozenLake-v1", i)]
    assert len({by[("q_learning", "FrozenLake-v1", i)] for i in range(3)}) == 3
    assert by[("q_learning", "FrozenLake-v1", 0)] != by[("q_learning", "CliffWalking-v1", 0)]
    # Fewer seeds are a prefix; dropping a grid changes no other run's seed.
    fewer = {(r.agent.label, r.env.label, r.seed_index): r.seed for r in expand(_suite(seeds=2))}
    assert all(by[k] == v for k, v in fewer.items())
    small = Suite(name="t", grids=_suite().grids[:1], seeds=3)
    assert all(by[(r.agent.label, r.env.label, r.seed_index)] == r.seed for r in expand(small))
    # Another base seed, other seeds.
    other = expand(_suite(seeds=3, base_seed=1))
    assert {r.seed for r in other}.isdisjoint({r.seed for r in runs})


def test_hash_is_stable_and_tracks_what_changes_results():
    a, b = _suite(), _suite()
    assert a.hash == b.hash and len(a.hash) == 16
    assert Suite.from_dict(a.to_dict()) == a and Suite.from_dict(a.to_dict()).hash == a.hash
    assert _suite(description="other words").hash == a.hash
    assert _suite(seeds=4).hash != a.hash
    assert a.with_seeds(4).hash == _suite(seeds=4).hash
    assert _suite(base_seed=2).hash != a.hash
    changed = Suite(
        name="t",
        grids=(
            Grid(
                agents=(AgentSpec("agents.q_learning", {"alpha": 0.4}),),
                envs=(EnvSpec("FrozenLake-v1"),),
                budget=Budget(episodes=3),
            ),
        ),
        seeds=3,
    )
    same_but_alpha = Suite(
        name="t",
        grids=(
            Grid(
                agents=(AgentSpec("agents.q_learning", {"alpha": 0.5}),),
                envs=(EnvSpec("FrozenLake-v1"),),
                budget=Budget(episodes=3),
            ),
        ),
        seeds=3,
    )
    assert changed.hash != same_but_alpha.hash


def test_specs_are_frozen():
    spec = AgentSpec("agents.sarsa", {"alpha": 0.1})
    with pytest.raises(AttributeError):
        spec.name = "agents.q_learning"
    with pytest.raises(TypeError):
        spec.config["alpha"] = 0.2


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: _suite(seeds=0), "seeds=0"),
        (lambda: Budget(), "episodes=N and/or steps=N"),
        (lambda: Budget(episodes=0), "budget episodes=0"),
        (lambda: AgentSpec("agents.sarsa", {"seed": 1}), "seeds come from the suite"),
        (lambda: AgentSpec("agents.sarsa", {"f": object()}), "JSON values"),
        (lambda: AgentSpec("sarsa"), "registry name"),
        (lambda: AgentSpec("agents.sarsa", label="a b"), "label"),
        (lambda: AgentSpec("agents.sarsa", label="a__b"), "without '__'"),
        (lambda: EnvSpec("FrozenLake-v1", score_range=(1.0, 0.0)), "low < high"),
        (lambda: EvalProtocol(score="evaluation"), "eval_episodes >= 1"),
        (lambda: EvalProtocol(score="best"), "is not one of"),
    ],
)
def test_bad_specs_raise_clear_errors(build, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build()


def test_a_cell_appears_once():
    grid = Grid(
        agents=(AgentSpec("agents.sarsa"),),
        envs=(EnvSpec("FrozenLake-v1"),),
        budget=Budget(episodes=1),
    )
    with pytest.raises(ValueError, match="appears in grid 0 and grid 1"):
        Suite(name="dup", grids=(grid, grid))
    renamed = Grid(
        agents=(AgentSpec("agents.q_learning", label="sarsa"),),
        envs=(EnvSpec("CliffWalking-v1"),),
        budget=Budget(episodes=1),
    )
    with pytest.raises(ValueError, match="names both"):
        Suite(name="dup", grids=(grid, renamed))


def test_builtin_suites_are_registered_and_load_by_name():
    assert rlcore.get("suites.smoke") is load_suite("smoke") is load_suite("suites.smoke")
    assert load_suite("suites.classic").name == "classic"
    with pytest.raises(rlcore.UnknownNameError, match="suites.smoke"):
        load_suite("suites.smok")
