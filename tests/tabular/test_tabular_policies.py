"""Action selection (rlcore.tabular.policies): distributions, sampling rules, fixed policies."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import rlcore
from rlcore.tabular import policies as P

# Few distinct values so that ties are common.
q_rows = arrays(np.float64, st.integers(1, 5), elements=st.sampled_from([-1.0, 0.0, 0.5, 2.0]))
uniforms = st.floats(0, 1, exclude_max=True)


@given(q_rows, st.floats(0, 1))
def test_epsilon_greedy_probs_follow_the_book_formula(q, eps):
    A = len(q)
    best = q == q.max()
    expected = np.where(best, eps / A + (1 - eps) / best.sum(), eps / A)
    np.testing.assert_allclose(P.epsilon_greedy_probs(q, eps), expected, atol=1e-12)
    np.testing.assert_allclose(P.epsilon_greedy_probs(q, 0.0), P.greedy_probs(q), atol=1e-12)


@given(q_rows, st.floats(0.05, 20))
def test_softmax_probs_are_the_normalised_exponentials(q, tau):
    e = np.exp(q / tau)
    np.testing.assert_allclose(P.softmax_probs(q, tau), e / e.sum(), rtol=1e-10)


@given(q_rows, st.floats(0, 1), uniforms, uniforms)
def test_list_fast_path_and_array_path_pick_the_same_action(q, eps, u1, u2):
    row = q.tolist()
    assert P.greedy_action(row, u2) == P.greedy_action(q, u2)
    assert P.epsilon_greedy_action(row, eps, u1, u2) == P.epsilon_greedy_action(q, eps, u1, u2)
    p = P.softmax_probs(q, 1.0)
    assert P.sample_action(p.tolist(), u1) == P.sample_action(p, u1)


q_rows_of_3 = arrays(np.float64, 3, elements=st.sampled_from([-1.0, 0.0, 0.5, 2.0]))


@given(st.lists(q_rows_of_3, min_size=1, max_size=4), st.data())
def test_batched_actions_equal_row_by_row(rows, data):
    q = np.stack(rows)
    u1 = np.array([data.draw(uniforms) for _ in rows])
    u2 = np.array([data.draw(uniforms) for _ in rows])
    batched = P.epsilon_greedy_action(q, 0.3, u1, u2)
    assert batched.tolist() == [
        P.epsilon_greedy_action(r.tolist(), 0.3, a, b) for r, a, b in zip(rows, u1, u2)
    ]


def _naive_epsilon_greedy(row, eps, u1, u2, offered):
    """One row, written out: explore among the offered actions, else the floor(u2 k)-th of the
    k offered maximisers (the rule the array paths implement with bitmasks and tables)."""
    actions = [c for c in range(len(row)) if offered[c]]
    if u1 < eps:
        return actions[int(u2 * len(actions))]
    best = max(row[c] for c in actions)
    maximisers = [c for c in actions if row[c] == best]
    return maximisers[int(u2 * len(maximisers))]


# 1-20 actions: the bitmask paths (up to 8 and up to 16 actions) and the general one (17+).
@given(st.integers(1, 20), st.integers(1, 6), st.floats(0, 1), st.data())
def test_array_paths_equal_the_row_by_row_rule_for_every_number_of_actions(A, k, eps, data):
    values = st.sampled_from([-1.0, 0.0, 0.5, 2.0])
    q = data.draw(arrays(np.float64, (k, A), elements=values))
    # Every row offers at least one action: a random mask plus one forced action per row (a
    # filter on "every row offers one" would reject most draws when A is small and k large).
    offered = data.draw(arrays(bool, (k, A)))
    forced = data.draw(arrays(np.int64, k, elements=st.integers(0, A - 1)))
    offered[np.arange(k), forced] = True
    u1 = data.draw(arrays(np.float64, k, elements=uniforms))
    u2 = data.draw(arrays(np.float64, k, elements=uniforms))
    every = np.ones(A, dtype=bool)
    rows = list(zip(q.tolist(), u1, u2))
    assert P.greedy_action(q, u2).tolist() == [
        _naive_epsilon_greedy(r, 0.0, 1.0, b, every) for r, _, b in rows
    ]
    assert P.epsilon_greedy_action(q, eps, u1, u2).tolist() == [
        _naive_epsilon_greedy(r, eps, a, b, every) for r, a, b in rows
    ]
    assert P.epsilon_greedy_action(q, eps, u1, u2, mask=offered).tolist() == [
        _naive_epsilon_greedy(r, eps, a, b, m) for (r, a, b), m in zip(rows, offered)
    ]
    # The scalar agents' list path (one row, a list mask) follows the same rule.
    assert [
        P.epsilon_greedy_action(r, eps, a, b, mask=m.tolist())
        for (r, a, b), m in zip(rows, offered)
    ] == [_naive_epsilon_greedy(r, eps, a, b, m) for (r, a, b), m in zip(rows, offered)]
    # Leading axes are independent rows; one row gives a Python int.
    split = P.epsilon_greedy_action(q[None], eps, u1[None], u2[None])
    assert (
        split.shape == (1, k)
        and split[0].tolist() == P.epsilon_greedy_action(q, eps, u1, u2).tolist()
    )
    assert P.greedy_action(q[0], u2[0]) == _naive_epsilon_greedy(q[0].tolist(), 0, 1, u2[0], every)


@pytest.mark.parametrize("eps", [0.0, 0.25, 1.0])
def test_epsilon_greedy_action_frequencies_match_its_probs(eps):
    # The sampling rule is a deterministic map of (u1, u2); on a fine grid of uniforms the
    # action frequencies equal the probabilities up to the grid resolution.
    q = np.array([1.0, 3.0, 3.0, -2.0, 3.0])
    grid = (np.arange(400) + 0.5) / 400
    u1, u2 = np.meshgrid(grid, grid)
    actions = P.epsilon_greedy_action(np.broadcast_to(q, u1.shape + (5,)), eps, u1, u2)
    freq = np.bincount(actions.ravel(), minlength=5) / actions.size
    np.testing.assert_allclose(freq, P.epsilon_greedy_probs(q, eps), atol=2e-3)


@given(arrays(np.float64, 4, elements=st.floats(0, 1)).filter(lambda w: w.sum() > 0.1))
def test_sample_action_inverts_the_cdf(w):
    p = w / w.sum()
    grid = (np.arange(2000) + 0.5) / 2000
    freq = np.bincount(P.sample_action(np.broadcast_to(p, (2000, 4)), grid), minlength=4) / 2000
    np.testing.assert_allclose(freq, p, atol=1e-3)
    assert all(p[P.sample_action(p, u)] > 0 for u in (0.0, 0.5, 0.999999))


def test_table_policy_samples_its_probabilities_and_is_seeded():
    table = np.array([[0.2, 0.8, 0.0], [0.0, 0.0, 1.0]])
    pol = rlcore.make("policies.tabular", table, seed=3)
    actions = [pol.act(0) for _ in range(4000)]
    assert np.bincount(actions, minlength=3)[2] == 0
    assert np.mean(np.asarray(actions) == 1) == pytest.approx(0.8, abs=0.03)
    assert pol.act(1) == 2
    pol.seed(7)
    first = [pol.act(0) for _ in range(20)]
    pol.seed(7)
    assert [pol.act(0) for _ in range(20)] == first
    assert isinstance(pol, rlcore.TabularPolicy)
    np.testing.assert_allclose(pol.probs(0), table[0])


def test_policies_from_q_tables():
    q = np.array([[0.0, 1.0], [2.0, 2.0]])
    np.testing.assert_allclose(rlcore.make("policies.greedy", q).table, [[0, 1], [0.5, 0.5]])
    np.testing.assert_allclose(
        rlcore.make("policies.epsilon_greedy", q, 0.2).table, [[0.1, 0.9], [0.5, 0.5]]
    )
    np.testing.assert_allclose(rlcore.make("policies.softmax", q, 1.0).table.sum(axis=1), 1)


def test_table_policy_round_trips_through_save_and_load(tmp_path):
    pol = P.TablePolicy([[0.5, 0.5], [1.0, 0.0]])
    rlcore.save(pol, tmp_path)
    np.testing.assert_array_equal(rlcore.load(tmp_path).table, pol.table)


def test_bad_policy_arguments_are_explained():
    with pytest.raises(ValueError, match="offers no action"):
        P.epsilon_greedy_action(
            np.zeros((2, 3)), 0.1, np.zeros(2), np.zeros(2), mask=[[1, 0, 0], [0, 0, 0]]
        )
    with pytest.raises(ValueError, match=r"epsilon=1.5 is outside \[0, 1\]"):
        P.epsilon_greedy_probs(np.zeros(3), 1.5)
    with pytest.raises(ValueError, match=r"temperature=0"):
        P.softmax_probs(np.zeros(3), 0)
    with pytest.raises(ValueError, match="state 1 sums to 0.5"):
        P.TablePolicy([[1.0, 0.0], [0.25, 0.25]])
    with pytest.raises(ValueError, match="shape"):
        P.as_probability_table(np.full((2, 2), 0.5), 3, 2, "policy")
