"""Training windows against a plain per-episode loop; the [-1, 1] normaliser."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlcore.diffusion_policy.chunking import MinMaxNormalizer, chunk_indices


def _naive(lengths, n_obs, horizon):
    obs_rows, act_rows, start = [], [], 0
    for length in lengths:
        for t in range(length):
            window = []
            for k in range(horizon):
                i = t - n_obs + 1 + k
                i = 0 if i < 0 else (length - 1 if i >= length else i)  # repeat the edge rows
                window.append(start + i)
            obs_rows.append(window[:n_obs])
            act_rows.append(window)
        start += length
    return np.array(obs_rows), np.array(act_rows)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(1, 30), min_size=1, max_size=6),
    st.integers(1, 4),
    st.integers(0, 12),
)
def test_chunk_indices_match_a_plain_loop(lengths, n_obs, extra):
    horizon = n_obs + extra
    obs_idx, act_idx = chunk_indices(np.array(lengths), n_obs, horizon)
    naive_obs, naive_act = _naive(lengths, n_obs, horizon)
    np.testing.assert_array_equal(obs_idx, naive_obs)
    np.testing.assert_array_equal(act_idx, naive_act)


def test_chunk_indices_validate():
    with pytest.raises(ValueError, match="horizon"):
        chunk_indices(np.array([5]), 3, 2)
    with pytest.raises(ValueError, match="positive"):
        chunk_indices(np.array([5, 0]), 1, 2)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 50), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_normalizer_maps_the_data_range_onto_minus_one_one(n, d, seed):
    x = np.random.default_rng(seed).normal(size=(n, d)) * 5.0
    x[:, 0] = 3.0  # a constant coordinate stays finite
    norm = MinMaxNormalizer.fit(x)
    y = norm.normalize(x)
    assert np.all(y >= -1 - 1e-12) and np.all(y <= 1 + 1e-12) and np.all(np.isfinite(y))
    if n > 1:
        varying = x.max(axis=0) > x.min(axis=0)
        np.testing.assert_allclose(y.min(axis=0)[varying], -1.0)
        np.testing.assert_allclose(y.max(axis=0)[varying], 1.0)
    np.testing.assert_allclose(norm.unnormalize(y), x, atol=1e-9)


def test_normalizer_validates():
    with pytest.raises(ValueError, match="high >= low"):
        MinMaxNormalizer(np.array([1.0]), np.array([0.0]))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        MinMaxNormalizer.fit(np.zeros(3))
