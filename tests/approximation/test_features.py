"""Feature maps: tile-coding invariants against a plain re-implementation of Sutton's tiles3,
the index hash table, basis dimensions and formulas, bounds and shapes, and the two feature forms
(index sets and dense vectors) agreeing."""

import math

import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given
from hypothesis import strategies as st

import rlcore
from rlcore.approximation.features import (
    Fourier,
    OneHot,
    Polynomial,
    RadialBasis,
    StateActionFeatures,
    StateAggregation,
    TileCoding,
    add_gradient_,
    dense_features,
    features_for_space,
    linear_value,
)

MC_LOW, MC_HIGH = [-1.2, -0.07], [0.5, 0.07]


def tiles3_coords(u, n_tilings, tiles_per_dim):
    """Sutton's tiles3 ``tiles`` without hashing: the integer coordinates of each tiling's tile.

    floats scaled so that one tile is one unit; q = floor(f * n); tiling t adds t * (2j + 1) in
    dimension j before integer division by n (the displacement vector 1, 3, 5, ...).
    """
    out = []
    q = [math.floor(ui * tiles_per_dim * n_tilings) for ui in u]
    for t in range(n_tilings):
        coords, b = [t], t
        for qj in q:
            coords.append((qj + b) // n_tilings)
            b += 2 * t
        out.append(tuple(coords))
    return out


unit_points = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=2, max_size=2)


@given(unit_points, unit_points)
def test_tile_coding_partitions_equal_tiles3(u, v):
    """Two states share a tile in tiling t exactly when tiles3 puts them in the same tile."""
    coder = TileCoding([0.0, 0.0], [1.0, 1.0], n_tilings=8, tiles_per_dim=4)
    a, b = coder(np.array(u)), coder(np.array(v))
    ref_a, ref_b = tiles3_coords(u, 8, 4), tiles3_coords(v, 8, 4)
    for t in range(8):
        assert (a[t] == b[t]) == (ref_a[t] == ref_b[t])


@given(st.lists(st.tuples(st.floats(-1.2, 0.5), st.floats(-0.07, 0.07)), min_size=1, max_size=20))
def test_each_tiling_activates_exactly_one_tile(states):
    coder = TileCoding(MC_LOW, MC_HIGH, n_tilings=8, tiles_per_dim=8)
    x = coder(np.array(states))
    assert x.shape == (len(states), 8)
    per_tiling = coder.n_tiles // coder.n_tilings
    tiling_of = x // per_tiling
    np.testing.assert_array_equal(tiling_of, np.broadcast_to(np.arange(8), x.shape))
    assert np.all((x >= 0) & (x < coder.n_features))


def test_tilings_are_offset_by_the_books_displacements():
    # 1-D: tile width 200 states, 50 tilings: tiling t is shifted by t * 4 states (Figure 9.10).
    coder = TileCoding(1, 1000, n_tilings=50, tiles_per_dim=5, discrete=True)
    x = coder(np.arange(1, 1001))
    for t in (0, 1, 7, 49):
        boundaries = np.flatnonzero(np.diff(x[:, t])) + 2  # first state of each new tile
        assert np.all((boundaries - 1 + 4 * t) % 200 == 0), (t, boundaries)
    assert len(np.unique(x)) == 299  # tiling 0 uses 5 tiles, the 49 shifted ones 6 each


def test_hashing_is_deterministic_and_first_come_first_served():
    rng = np.random.default_rng(0)
    states = rng.uniform(MC_LOW, MC_HIGH, size=(200, 2))
    a = TileCoding(MC_LOW, MC_HIGH, n_tilings=8, tiles_per_dim=8, size=4096)
    b = TileCoding(MC_LOW, MC_HIGH, n_tilings=8, tiles_per_dim=8, size=4096)
    assert not a.hashing  # 8 * 9 * 9 = 648 tiles fit: each tile its own index
    small = [TileCoding(MC_LOW, MC_HIGH, n_tilings=8, tiles_per_dim=8, size=600) for _ in range(2)]
    assert small[0].hashing
    np.testing.assert_array_equal(a(states), b(states))
    first = small[0](states[:50])
    np.testing.assert_array_equal(first, small[1](states[:50]))
    np.testing.assert_array_equal(small[0](states[:50]), first)  # asked again: same indices
    # consecutive indices in first-seen order (row-major over the batch)
    seen = list(dict.fromkeys(small[0].tile_numbers(states[:50]).ravel().tolist()))
    mapping = dict(zip(small[0].tile_numbers(states[:50]).ravel().tolist(), first.ravel().tolist()))
    assert [mapping[k] for k in seen] == list(range(len(seen)))


def test_small_table_warns_once_with_the_fill_ratio():
    rng = np.random.default_rng(1)
    coder = TileCoding(MC_LOW, MC_HIGH, n_tilings=8, tiles_per_dim=8, size=64)
    with pytest.warns(RuntimeWarning, match=r"fill ratio (\d+\.\d+)") as record:
        x = coder(rng.uniform(MC_LOW, MC_HIGH, size=(100, 2)))
    assert len(record) == 1
    assert np.all((x >= 0) & (x < 64))
    assert coder.fill_ratio > 1.0
    coder(rng.uniform(MC_LOW, MC_HIGH, size=(100, 2)))  # no second warning (-W error)
    # collisions within the tolerance stay silent
    quiet = TileCoding(MC_LOW, MC_HIGH, size=640, collision_tolerance=0.5)
    quiet(rng.uniform(MC_LOW, MC_HIGH, size=(500, 2)))


def test_tile_coder_round_trips_with_its_table(tmp_path):
    rng = np.random.default_rng(2)
    coder = TileCoding(MC_LOW, MC_HIGH, size=300, collision_tolerance=0.99)
    states = rng.uniform(MC_LOW, MC_HIGH, size=(30, 2))
    x = coder(states)
    rlcore.save(coder, tmp_path / "tc")
    loaded = rlcore.load(tmp_path / "tc")
    np.testing.assert_array_equal(loaded(states), x)
    for fmap in (Fourier(0, 1, 3), StateAggregation([0, 0], [1, 2], [3, 4]), OneHot(5, low=1)):
        rlcore.save(fmap, tmp_path / type(fmap).__name__)
        again = rlcore.load(tmp_path / type(fmap).__name__)
        probe = (
            np.array([0.3, 1.5])
            if fmap.state_shape == (2,)
            else np.array(3 if fmap.sparse else 0.3)
        )
        np.testing.assert_array_equal(again(probe), fmap(probe))


@pytest.mark.parametrize("order, dim", [(0, 1), (5, 1), (3, 2), (2, 3)])
def test_fourier_and_polynomial_dimensions(order, dim):
    low, high = [0.0] * dim, [1.0] * dim
    for cls in (Fourier, Polynomial):
        fmap = cls(low, high, order)
        assert fmap.n_features == (order + 1) ** dim
        x = fmap(np.full((4, dim), 0.3))
        assert x.shape == (4, (order + 1) ** dim)
        np.testing.assert_allclose(x[:, 0], 1.0)  # the constant feature


@given(st.floats(0, 1), st.floats(0, 1))
def test_fourier_and_polynomial_formulas_in_two_dimensions(u1, u2):
    f = Fourier([0, 0], [1, 1], 1)(np.array([u1, u2]))
    np.testing.assert_allclose(
        f, [1, np.cos(np.pi * u2), np.cos(np.pi * u1), np.cos(np.pi * (u1 + u2))], atol=1e-12
    )
    p = Polynomial([0, 0], [1, 1], 1)(np.array([u1, u2]))
    np.testing.assert_allclose(p, [1, u2, u1, u1 * u2], atol=1e-12)


def test_radial_basis_peaks_at_its_centres():
    rbf = RadialBasis(0.0, 10.0, 5, sigma=0.1)
    x = rbf(np.array([1.0, 3.0, 5.0]))  # centres at (m + 1/2) / 5 of the box
    np.testing.assert_allclose(x[[0, 1, 2], [0, 1, 2]], 1.0)
    assert np.all(np.argmax(x, axis=1) == [0, 1, 2])


def test_state_aggregation_of_the_1000_state_walk():
    agg = StateAggregation(1, 1000, 10, discrete=True)
    s = np.arange(1, 1001)
    np.testing.assert_array_equal(agg(s)[:, 0], (s - 1) // 100)


def test_states_outside_the_bounds_or_of_the_wrong_shape_are_refused():
    coder = TileCoding(MC_LOW, MC_HIGH)
    with pytest.raises(ValueError, match=r"outside the declared bounds \[-1.2, 0.5\]"):
        coder(np.array([0.55, 0.0]))
    with pytest.raises(ValueError, match="outside"):
        coder(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match=r"expects states of shape \(2,\)"):
        coder(np.array([0.1, 0.0, 0.2]))
    with pytest.raises(ValueError, match="must be integers"):
        OneHot(5)(2.5)
    with pytest.raises(ValueError, match="finite low < high"):
        Fourier(1.0, 1.0, 3)
    with pytest.raises(ValueError, match="action"):
        StateActionFeatures(coder, 3)(np.array([0.0, 0.0]), 3)


@given(st.integers(0, 2**31))
def test_index_sets_and_dense_vectors_agree(seed):
    rng = np.random.default_rng(seed)
    coder = TileCoding(MC_LOW, MC_HIGH, n_tilings=4, tiles_per_dim=3)
    states = rng.uniform(MC_LOW, MC_HIGH, size=(5, 2))
    idx = coder(states)
    dense = dense_features(idx, coder.n_features)
    w = rng.normal(size=coder.n_features)
    np.testing.assert_allclose(linear_value(w, idx), linear_value(w, dense))
    w1, w2 = w.copy(), w.copy()
    add_gradient_(w1, idx[0], 0.3)
    add_gradient_(w2, dense[0], 0.3)
    np.testing.assert_allclose(w1, w2)
    # a run axis: (R, d) weights with one state per run
    W = rng.normal(size=(5, coder.n_features))
    np.testing.assert_allclose(linear_value(W, idx), [W[i] @ dense[i] for i in range(5)])
    W1, W2 = W.copy(), W.copy()
    scale = rng.normal(size=5)
    add_gradient_(W1, idx, scale)
    add_gradient_(W2, dense, scale)
    np.testing.assert_allclose(W1, W2)


@pytest.mark.parametrize("base", [TileCoding(MC_LOW, MC_HIGH), Fourier(MC_LOW, MC_HIGH, 2)])
def test_state_action_values_are_the_per_action_linear_values(base):
    rng = np.random.default_rng(3)
    sa = StateActionFeatures(base, 3)
    w = rng.normal(size=sa.n_features)
    states = rng.uniform(MC_LOW, MC_HIGH, size=(4, 2))
    q = sa.values(w, base(states))
    for a in range(3):
        np.testing.assert_allclose(q[:, a], linear_value(w, sa(states, np.full(4, a))))
    W = rng.normal(size=(4, sa.n_features))
    q_runs = sa.values(W, base(states))
    for i in range(4):
        np.testing.assert_allclose(q_runs[i], sa.values(W[i], base(states[i])))


def test_default_features_for_spaces():
    assert isinstance(features_for_space(spaces.Discrete(7)), OneHot)
    box = spaces.Box(np.array(MC_LOW, np.float32), np.array(MC_HIGH, np.float32))
    tc = features_for_space(box)
    assert isinstance(tc, TileCoding) and tc.n_tilings == 8 and tc.tiles_per_dim == (8, 8)
    with pytest.raises(TypeError, match="no default feature map"):
        features_for_space(spaces.Box(-np.inf, np.inf, shape=(2,)))
    assert "features.tile_coding" in rlcore.names("features.")
