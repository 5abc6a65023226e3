"""Replay for the DQN family: the ring buffer, the sum tree, prioritized sampling and the n-step
windows, each against an independent computation (cumulative sums, closed-form probabilities and
weights, ``rlcore.returns.n_step_returns`` over whole episodes)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlcore.approximation.dqn.replay import (
    NStepWindows,
    PrioritizedReplay,
    ReplayBuffer,
    SumTree,
)
from rlcore.returns import n_step_returns


def _fill(buffer, values):
    """Add one transition per value v: obs = [v, -v], action v % 3, reward v, discount v / 100."""
    v = np.asarray(values, dtype=np.float32)
    obs = np.stack([v, -v], axis=1)
    return buffer.add(obs, v.astype(np.int64) % 3, v, v / 100, obs + 0.5)


# -- ring buffer ----------------------------------------------------------------------------------
def test_uniform_buffer_wraps_around_and_keeps_the_newest():
    buffer = ReplayBuffer(5, (2,))
    for v in range(3):
        _fill(buffer, [v])
    slots = _fill(buffer, [3, 4, 5, 6])  # crosses the end of the ring
    assert list(slots) == [3, 4, 0, 1]
    assert len(buffer) == 5 and buffer.pos == 2
    held = sorted(buffer.r_t.tolist())
    assert held == [2, 3, 4, 5, 6]  # 0 and 1 were overwritten
    for slot in range(5):  # every field of a slot belongs to the same transition
        v = buffer.r_t[slot]
        assert buffer.obs_tm1[slot].tolist() == [v, -v]
        assert buffer.obs_t[slot].tolist() == [v + 0.5, -v + 0.5]
        assert buffer.a_tm1[slot] == int(v) % 3
        assert buffer.discount_t[slot] == pytest.approx(v / 100)


def test_uniform_sampling_covers_the_buffer_evenly_and_in_batches_of_batches():
    buffer = ReplayBuffer(8, (2,))
    _fill(buffer, range(8))
    batch = buffer.sample(8, np.random.default_rng(0), shape=(2000,))
    assert batch.obs_tm1.shape == (2000, 8, 2) and batch.a_tm1.shape == (2000, 8)
    assert batch.weights is None
    counts = np.bincount(batch.r_t.astype(int).ravel(), minlength=8)
    expected = 2000 * 8 / 8
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))  # 5 sigma
    np.testing.assert_array_equal(batch.obs_tm1[..., 0], batch.r_t)  # rows stay aligned


def test_sampling_before_a_batch_is_held_raises():
    buffer = ReplayBuffer(100, (2,))
    _fill(buffer, range(3))
    with pytest.raises(ValueError, match="before it holds a batch: it has 3 .*needs 4"):
        buffer.sample(4, np.random.default_rng(0))
    per = PrioritizedReplay(100, (2,))
    with pytest.raises(ValueError, match="before it holds a batch"):
        per.sample(1, np.random.default_rng(0), beta=0.4)


def test_adding_mismatched_observation_shapes_raises():
    buffer = ReplayBuffer(10, (2,))
    with pytest.raises(ValueError, match=r"observations of shape \(2,\)"):
        buffer.add(np.zeros((1, 3)), np.zeros(1), np.zeros(1), np.zeros(1), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="capacity 10"):
        _fill(buffer, range(11))


# -- sum tree -------------------------------------------------------------------------------------
@given(
    st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 10.0)), min_size=1, max_size=40).filter(
        lambda v: sum(v) > 0
    ),
    st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=1, max_size=20),
)
def test_sum_tree_find_equals_searchsorted_on_the_cumulative_sum(values, fractions):
    tree = SumTree(len(values))
    tree.update(np.arange(len(values)), np.array(values))
    assert tree.total == pytest.approx(sum(values))
    mass = np.array(fractions) * tree.total
    found = tree.find(mass)
    cumsum = np.cumsum(values)
    naive = np.searchsorted(cumsum, mass, side="right")
    # away from the interval ends the leaf is exact; at an end (within rounding) either neighbour
    tol = 1e-9 * tree.total
    clear = np.min(np.abs(mass[:, None] - cumsum[None, :]), axis=1) > tol
    np.testing.assert_array_equal(found[clear], naive[clear])
    lower = cumsum[found] - np.array(values)[found]
    assert np.all((lower - tol <= mass) & (mass <= cumsum[found] + tol))
    assert np.all(np.array(values)[found] > 0)  # never a leaf without mass


def test_sum_tree_never_returns_an_empty_leaf_at_the_top_of_the_range():
    tree = SumTree(6)  # 8 leaves, the last two always empty
    tree.update(np.arange(6), np.array([0.1, 0.2, 0.0, 0.3, 0.0, 0.0]))
    found = tree.find(np.array([tree.total, np.nextafter(tree.total, 0), 0.0]))
    assert found.tolist() == [3, 3, 0]


def test_prioritized_sampling_frequencies_are_proportional_to_priorities():
    per = PrioritizedReplay(6, (2,), alpha=0.5, eps=1e-6)
    slots = _fill(per, range(6))
    td = np.array([0.0, 1.0, 2.0, 4.0, 8.0, 0.5])
    per.update_priorities(slots, td)
    p_alpha = (np.abs(td) + 1e-6) ** 0.5
    probs = p_alpha / p_alpha.sum()
    np.testing.assert_allclose(per.probabilities(slots), probs)
    rng = np.random.default_rng(0)
    counts = np.zeros(6)
    draws = 0
    for _ in range(4000):
        batch = per.sample(6, rng, beta=0.4)
        counts += np.bincount(batch.indices, minlength=6)
        draws += 6
    expected = draws * probs
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected) + 1)


def test_importance_weights_and_new_transitions_at_maximal_priority():
    per = PrioritizedReplay(10, (2,), alpha=0.7)
    slots = _fill(per, range(4))
    per.update_priorities(slots, np.array([0.5, 3.0, 1.0, 0.1]))
    assert per.max_priority == pytest.approx(3.0 + 1e-6)
    new = _fill(per, [9])
    assert per.tree.get(new)[0] == pytest.approx((3.0 + 1e-6) ** 0.7)
    batch = per.sample(5, np.random.default_rng(1), beta=0.6)
    p = per.tree.get(batch.indices) / per.tree.total
    w = (len(per) * p) ** -0.6
    np.testing.assert_allclose(batch.weights, w / w.max(), rtol=1e-6)
    with pytest.raises(FloatingPointError, match="non-finite TD errors"):
        per.update_priorities(batch.indices, np.full(5, np.nan))


# -- n-step windows ---------------------------------------------------------------------------------
def _episodes(rng, lengths, terminated, gamma, next_id):
    """Consecutive episodes of one env: (states S_0..S_T as ids, rewards, discounts) each."""
    out = []
    for length in lengths:
        states = np.arange(next_id, next_id + length + 1, dtype=np.float32)
        next_id += length + 1
        discounts = np.full(length, gamma)
        if terminated:
            discounts[-1] = 0.0
        out.append((states, rng.normal(size=length), discounts))
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 7])
@pytest.mark.parametrize("terminated", [True, False])
def test_n_step_windows_equal_n_step_returns_over_each_episode(n, terminated):
    rng = np.random.default_rng(n)
    gamma = 0.9
    v = rng.normal(size=100)  # a value for every state id
    # two envs stepped together (as a vector env): episodes end at different steps
    envs = [
        _episodes(rng, (6, 3), terminated, gamma, next_id=0),
        _episodes(rng, (9,), terminated, gamma, next_id=50),
    ]
    steps = [
        [(e, k, t) for k, (_, r, _) in enumerate(eps) for t in range(len(r))]
        for e, eps in enumerate(envs)
    ]
    windows = NStepWindows(n)
    emitted = []
    for i in range(9):
        rows = [envs[e][k] for e, k, t in (steps[0][i], steps[1][i])]
        ts = [steps[0][i][2], steps[1][i][2]]
        out = windows.push(
            np.array([[s[t]] for (s, _, _), t in zip(rows, ts)]),
            np.array([0, 1]),
            np.array([r[t] for (_, r, _), t in zip(rows, ts)]),
            np.array([d[t] for (_, _, d), t in zip(rows, ts)]),
            np.array([[s[t + 1]] for (s, _, _), t in zip(rows, ts)]),
            np.array([t == len(r) - 1 for (_, r, _), t in zip(rows, ts)]),
        )
        if out is not None:
            emitted.append(out)
    assert len(windows) == 0  # every episode ended, so every window was emitted
    obs_tm1, _, g, d, obs_t = (np.concatenate(c) for c in zip(*emitted))
    by_start = {int(o): (gi, di, int(b)) for o, gi, di, b in zip(obs_tm1[:, 0], g, d, obs_t[:, 0])}
    for states, rewards, discounts in envs[0] + envs[1]:
        # the agent's target G + D v(S_boot) against the sequence function over the episode
        target = [
            by_start[int(s)][0] + by_start[int(s)][1] * v[by_start[int(s)][2]] for s in states[:-1]
        ]
        expected = n_step_returns(rewards, discounts, v[states[1:].astype(int)], n)
        np.testing.assert_allclose(target, expected, rtol=1e-9)
    assert len(by_start) == len(g) == 6 + 3 + 9


def test_flush_bootstraps_from_the_last_state_like_a_truncation():
    windows = NStepWindows(4)
    for t in range(2):
        out = windows.push(
            np.array([[t]]),
            np.array([0]),
            np.array([1.0]),
            np.array([0.5]),
            np.array([[t + 1]]),
            np.array([False]),
        )
        assert out is None
    obs_tm1, _, g, d, obs_t = windows.flush()
    np.testing.assert_allclose(g, [1.5, 1.0])  # 1 + 0.5 * 1, then 1
    np.testing.assert_allclose(d, [0.25, 0.5])
    assert obs_tm1[:, 0].tolist() == [0, 1] and obs_t[:, 0].tolist() == [2, 2]
    assert windows.flush() is None
