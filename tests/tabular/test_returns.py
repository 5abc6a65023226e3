"""Properties of the pure return math (rlcore.returns) against naive sums and book identities."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rlcore import returns as R
from rlcore.tabular.policies import greedy_probs

floats = st.floats(-10, 10, allow_nan=False, allow_infinity=False)
probs01 = st.floats(0, 1, allow_nan=False)


@st.composite
def sequences(draw, max_len=8):
    """(r, d, v) of one random length T, with discounts in [0, 1] (zeros act as terminations)."""
    T = draw(st.integers(1, max_len))
    r = draw(arrays(np.float64, T, elements=floats))
    d = draw(arrays(np.float64, T, elements=probs01))
    v = draw(arrays(np.float64, T, elements=floats))
    return r, d, v


def naive_n_step(r, d, v, i, n):
    """sum_{k<m} (prod_{j<k} d_{i+j}) r_{i+k} + (prod_{j<m} d_{i+j}) v_{i+m-1}, m = min(n, T-i)."""
    T = len(r)
    m = min(n, T - i)
    total, weight = 0.0, 1.0
    for k in range(m):
        total += weight * r[i + k]
        weight *= d[i + k]
    return total + weight * v[i + m - 1]


@given(sequences())
def test_discounted_returns_equal_the_naive_sum(seq):
    r, d, v = seq
    G = R.discounted_returns(r, d, v)
    expected = [naive_n_step(r, d, v, i, len(r)) for i in range(len(r))]
    np.testing.assert_allclose(G, expected, rtol=1e-10, atol=1e-9)


@given(sequences(), st.integers(1, 10))
def test_n_step_returns_equal_the_naive_sum(seq, n):
    r, d, v = seq
    G = R.n_step_returns(r, d, v, n)
    expected = [naive_n_step(r, d, v, i, n) for i in range(len(r))]
    np.testing.assert_allclose(G, expected, rtol=1e-10, atol=1e-9)


@given(sequences())
def test_n_step_with_n_at_least_the_length_is_monte_carlo(seq):
    r, d, v = seq
    np.testing.assert_allclose(
        R.n_step_returns(r, d, v, len(r)), R.discounted_returns(r, d, v), atol=1e-9
    )


@given(sequences())
def test_one_step_return_is_the_td_target(seq):
    r, d, v = seq
    np.testing.assert_allclose(R.n_step_returns(r, d, v, 1), R.td_target(r, d, v), atol=1e-12)
    np.testing.assert_allclose(R.lambda_returns(r, d, v, 0.0), R.td_target(r, d, v), atol=1e-12)


@given(sequences())
def test_lambda_one_is_monte_carlo(seq):
    r, d, v = seq
    np.testing.assert_allclose(
        R.lambda_returns(r, d, v, 1.0), R.discounted_returns(r, d, v), atol=1e-9
    )


@given(sequences(), probs01)
def test_lambda_return_is_the_weighted_average_of_n_step_returns(seq, lam):
    # Sutton & Barto eq. 12.3: G^lambda_t = (1 - lam) sum_{n<T-t} lam^(n-1) G_{t:t+n}
    #                                       + lam^(T-t-1) G_t
    r, d, v = seq
    T = len(r)
    G = R.lambda_returns(r, d, v, lam)
    for t in range(T):
        expected = sum(
            (1 - lam) * lam ** (n - 1) * naive_n_step(r, d, v, t, n) for n in range(1, T - t)
        ) + lam ** (T - t - 1) * naive_n_step(r, d, v, t, T)
        assert G[t] == pytest.approx(expected, rel=1e-9, abs=1e-8)


@given(
    arrays(np.float64, (3, 5), elements=floats),
    arrays(np.float64, (3, 5), elements=probs01),
    arrays(np.float64, (3, 5), elements=floats),
    probs01,
)
def test_sequence_functions_broadcast_over_leading_axes(r, d, v, lam):
    for fn, args in (
        (R.discounted_returns, ()),
        (R.n_step_returns, (2,)),
        (R.lambda_returns, (lam,)),
    ):
        batched = fn(r, d, v, *args)
        for b in range(3):
            np.testing.assert_allclose(batched[b], fn(r[b], d[b], v[b], *args), atol=1e-12)


@given(floats, probs01, arrays(np.float64, 4, elements=floats))
def test_expected_sarsa_with_a_greedy_target_is_q_learning(r, d, q_t):
    target = R.expected_sarsa_target(r, d, q_t, greedy_probs(q_t))
    assert target == pytest.approx(R.q_learning_target(r, d, q_t), abs=1e-9)


@given(floats, probs01, arrays(np.float64, 4, elements=floats), st.integers(0, 3))
def test_one_step_tree_backup_with_a_greedy_target_is_q_learning(r, d, q_t, a_t):
    G = R.tree_backup_returns([r], [d], q_t[None], [a_t], greedy_probs(q_t)[None])
    assert G[0] == pytest.approx(R.q_learning_target(r, d, q_t), abs=1e-9)


@given(
    st.integers(1, 6).flatmap(
        lambda T: st.tuples(
            arrays(np.float64, T, elements=floats),
            arrays(np.float64, T, elements=probs01),
            arrays(np.float64, (T, 3), elements=floats),
            arrays(np.int64, T, elements=st.integers(0, 2)),
            arrays(np.float64, (T, 3), elements=st.floats(0.01, 1)),
        )
    )
)
def test_tree_backup_equals_its_expanded_sum(args):
    # Expanded form of eq. 7.16: each level adds the untaken actions' expected value, weighted by
    # the product of discounts and target probabilities of the actions taken on the way.
    r, d, q, a, w = args
    pi = w / w.sum(axis=1, keepdims=True)
    G = R.tree_backup_returns(r, d, q, a, pi)
    T = len(r)
    for t in range(T):
        total, weight = 0.0, 1.0
        for k in range(t, T):
            total += weight * r[k]
            expected_all = float(pi[k] @ q[k])
            if k == T - 1:
                total += weight * d[k] * expected_all
            else:
                total += weight * d[k] * (expected_all - pi[k, a[k]] * q[k, a[k]])
                weight *= d[k] * pi[k, a[k]]
        assert G[t] == pytest.approx(total, rel=1e-9, abs=1e-8)


@given(floats, probs01, arrays(np.float64, 4, elements=floats), st.integers(0, 3))
def test_one_step_targets_on_python_lists_match_arrays(r, d, q_t, a):
    row = q_t.tolist()
    assert R.q_learning_target(r, d, row) == pytest.approx(R.q_learning_target(r, d, q_t))
    assert R.sarsa_target(r, d, row, a) == pytest.approx(R.sarsa_target(r, d, q_t, a))
    assert R.double_q_learning_target(r, d, row, a) == pytest.approx(r + d * q_t[a])
    p = [0.1, 0.2, 0.3, 0.4]
    assert R.expected_sarsa_target(r, d, row, p) == pytest.approx(
        R.expected_sarsa_target(r, d, q_t, np.array(p))
    )


def test_batched_one_step_targets_pick_per_row():
    q_t = np.array([[1.0, 5.0], [3.0, 2.0]])
    np.testing.assert_allclose(R.sarsa_target(np.zeros(2), 1.0, q_t, np.array([0, 0])), [1, 3])
    # Row i takes q_t[i, a_i] whatever the memory layout: C order, action-major (the batched
    # engine's rows are a transposed view), and more leading axes.
    rng = np.random.default_rng(0)
    q = rng.normal(size=(7, 5))
    a = rng.integers(0, 5, size=7)
    expected = q[np.arange(7), a]
    for layout in (q, np.asfortranarray(q), np.ascontiguousarray(q.T).T):
        np.testing.assert_array_equal(R.sarsa_target(0.0, 1.0, layout, a), expected)
        np.testing.assert_array_equal(R.double_q_learning_target(0.0, 1.0, layout, a), expected)
    np.testing.assert_array_equal(
        R.sarsa_target(0.0, 1.0, q.reshape(7, 1, 5), a[:, None]), expected[:, None]
    )
    np.testing.assert_allclose(R.q_learning_target(np.zeros(2), 0.5, q_t), [2.5, 1.5])
    assert R.td_error(1.0, 2.0, 0.5, 4.0) == 3.0


@given(probs01, st.floats(0.001, 1))
def test_importance_ratio_is_the_probability_ratio(pi, b):
    assert R.importance_ratio(pi, b) == pytest.approx(pi / b)
    np.testing.assert_allclose(R.importance_ratio(np.array([pi]), np.array([b])), [pi / b])


def test_importance_ratio_needs_coverage():
    assert R.importance_ratio(0.0, 0.0) == 0.0
    np.testing.assert_array_equal(R.importance_ratio(np.zeros(2), np.zeros(2)), [0.0, 0.0])
    for pi, b in ((0.5, 0.0), (np.array([0.2, 0.5]), np.array([0.5, 0.0]))):
        with pytest.raises(ValueError, match=r"b=0 .*pi=0.5.*coverage"):
            R.importance_ratio(pi, b)


def test_bad_sequence_arguments_are_explained():
    with pytest.raises(ValueError, match=r"n=0 is outside \[1, inf\]"):
        R.n_step_returns([1.0], [1.0], [0.0], 0)
    with pytest.raises(ValueError, match="lambda_ must lie in"):
        R.lambda_returns([1.0], [1.0], [0.0], 1.5)
    with pytest.raises(ValueError, match="time axis"):
        R.discounted_returns(1.0, 1.0)
