"""Batch value estimators against ground truth: value iteration, LSTD's closed form, identities
between the methods (boosting = FQI, LSTD(1) = MC, LSTD(lambda) = fitted TD(lambda)), and the
contract (parameters, not-fitted errors, checkpoints without pickle, bad input)."""

import numpy as np
import pytest

import rlcore
from rlcore.ensemble.estimators import (
    FQE,
    FQI,
    BoostedFQI,
    LeastSquares,
    LSTDValue,
    MCValue,
    NotFittedError,
    TDValue,
    clone,
    policy_episodes,
    uniform_transitions,
)
from rlcore.tabular import planning
from rlcore.tabular.mdp import random_mdp

S, A, GAMMA = 8, 2, 0.8


@pytest.fixture(scope="module")
def mdp():
    return random_mdp(S, A, np.random.default_rng(0))


@pytest.fixture(scope="module")
def q_star(mdp):
    return planning.value_iteration(mdp, GAMMA, theta=1e-12).q


@pytest.fixture(scope="module")
def uniform(mdp):
    return uniform_transitions(mdp, 20_000, seed=1)


def test_fqi_with_defaults_converges_to_value_iterations_q_star(uniform, q_star):
    fqi = rlcore.make("estimators.fqi", n_states=S, n_actions=A, gamma=GAMMA).fit(uniform)
    assert fqi.converged_ and fqi.changes_[-1] < fqi.tol
    assert np.max(np.abs(fqi.predict(np.arange(S)) - q_star)) <= 0.05


def test_fqi_on_exact_data_equals_value_iteration(mdp, q_star):
    # Every outcome of every (s, a) once, as a dataset weighted by repetition: the empirical
    # MDP is the true one up to the rounding of the probabilities to 1/1000.
    rows = []
    for row in range(S * A):
        for k in range(mdp.indptr[row], mdp.indptr[row + 1]):
            rows += [(row // A, row % A, k)] * int(round(mdp.prob[k] * 1000))
    s, a, k = (np.asarray(c) for c in zip(*rows))
    term = mdp.terminated[k]
    data = {
        "observations": s,
        "actions": a,
        "rewards": mdp.reward[k],
        "next_observations": mdp.next_state[k],
        "terminations": term,
        "truncations": ~term,
    }
    q = FQI(n_states=S, n_actions=A, gamma=GAMMA, tol=1e-10).fit(data).predict(np.arange(S))
    assert np.max(np.abs(q - q_star)) < 5e-3


def test_boosted_fqi_with_learning_rate_one_and_exact_regressor_equals_fqi(uniform):
    boosted = BoostedFQI(n_states=S, n_actions=A, gamma=GAMMA, n_estimators=25).fit(uniform)
    fqi = FQI(n_states=S, n_actions=A, gamma=GAMMA, n_iterations=25).fit(uniform)
    states = np.arange(S)
    np.testing.assert_allclose(boosted.predict(states), fqi.predict(states), atol=1e-8)
    stages = list(boosted.staged_predict(states))
    assert len(stages) == len(boosted.estimators_) == 25
    assert all(len(stage) == A for stage in boosted.estimators_)
    np.testing.assert_array_equal(stages[-1], boosted.predict(states))
    fqi_10 = FQI(n_states=S, n_actions=A, gamma=GAMMA, n_iterations=10).fit(uniform)
    np.testing.assert_allclose(stages[9], fqi_10.predict(states), atol=1e-8)


def test_boosted_fqi_shrinkage_still_converges(uniform, q_star):
    boosted = BoostedFQI(
        n_states=S, n_actions=A, gamma=GAMMA, n_estimators=200, learning_rate=0.5
    ).fit(uniform)
    assert np.max(np.abs(boosted.predict(np.arange(S)) - q_star)) <= 0.05


def test_monitor_sees_every_iteration_and_can_stop(uniform):
    seen = []
    FQI(n_states=S, n_actions=A, gamma=GAMMA).fit(
        uniform, monitor=lambda k, est: seen.append((k, est.predict([0]).copy())) or k == 3
    )
    assert [k for k, _ in seen] == [1, 2, 3]


def test_fqe_of_a_policy_equals_policy_evaluation(mdp, uniform):
    pi = np.random.default_rng(3).dirichlet(np.ones(A), size=S)
    truth = planning.policy_evaluation(mdp, pi, GAMMA, method="exact")
    fqe = rlcore.make("estimators.fqe", pi, gamma=GAMMA, n_states=S).fit(uniform)
    assert np.max(np.abs(fqe.predict(np.arange(S)) - truth.q)) <= 0.05


def test_terminal_transitions_do_not_bootstrap():
    # One state, two actions, every step terminates: Q(0, a) is the mean reward of a.
    r = np.array([1.0, 3.0, -2.0, -4.0])
    data = {
        "observations": np.zeros(4, int),
        "actions": np.array([0, 0, 1, 1]),
        "rewards": r,
        "next_observations": np.zeros(4, int),
        "terminations": np.ones(4, bool),
        "truncations": np.zeros(4, bool),
    }
    q = FQI(n_states=1, n_actions=2, gamma=0.9).fit(data).predict([0])
    np.testing.assert_allclose(q, [[2.0, -3.0]], atol=1e-6)


def test_sklearn_regressors_plug_in(uniform, q_star):
    tree = pytest.importorskip("sklearn.tree")
    small = {k: getattr(uniform, k)[:3000] for k in ("observations", "actions", "rewards")}
    small.update(
        next_observations=uniform.next_observations[:3000],
        terminations=uniform.terminations[:3000],
        truncations=uniform.truncations[:3000],
    )
    trees = FQI(n_actions=A, gamma=GAMMA, regressor="extra_trees", n_iterations=5).fit(small)
    assert trees.predict(np.arange(S)).shape == (S, A)
    weak = tree.DecisionTreeRegressor(max_depth=1)
    boosted = BoostedFQI(n_actions=A, gamma=GAMMA, regressor=weak, n_estimators=4).fit(small)
    assert len(boosted.estimators_) == 4 and weak is not boosted.estimators_[0][0]
    with pytest.raises(TypeError, match="without pickle"):
        boosted.save("unused")


# -- state-value members ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def episodes(mdp):
    return policy_episodes(mdp, np.full((S, A), 1.0 / A), 60, seed=2)


def test_lstd_value_equals_lstd_solution(episodes):
    from rlcore.approximation.linear import lstd_solution

    est = LSTDValue(gamma=GAMMA, n_states=S).fit(episodes)
    eye = np.eye(S)
    w = lstd_solution(
        eye[episodes.observations],
        episodes.rewards,
        np.where(episodes.terminations, 0.0, GAMMA),
        eye[episodes.next_observations],
        1e-3,
    )
    np.testing.assert_allclose(est.coef_, w, atol=1e-10)


def test_lstd_lambda_is_the_fixed_point_of_fitted_td_lambda(episodes):
    states = np.arange(S)
    exact = LSTDValue(gamma=GAMMA, lambda_=0.6, n_states=S, epsilon=1e-10).fit(episodes)
    fitted = TDValue(gamma=GAMMA, lambda_=0.6, n_states=S, tol=1e-11).fit(episodes)
    assert fitted.converged_
    np.testing.assert_allclose(fitted.predict(states), exact.predict(states), atol=1e-7)
    mc = MCValue(gamma=GAMMA, n_states=S).fit(episodes)
    lstd_1 = LSTDValue(gamma=GAMMA, lambda_=1.0, n_states=S, epsilon=1e-10).fit(episodes)
    np.testing.assert_allclose(lstd_1.predict(states), mc.predict(states), atol=1e-7)


def test_value_members_approach_the_dp_value(mdp):
    b = np.full((S, A), 1.0 / A)
    v = planning.policy_evaluation(mdp, b, GAMMA, method="exact").v
    data = policy_episodes(mdp, b, 3000, seed=4)
    for est in (MCValue, LSTDValue, TDValue):
        kwargs = {"tol": 1e-8} if est is TDValue else {}
        pred = est(gamma=GAMMA, n_states=S, **kwargs).fit(data).predict(np.arange(S))
        assert np.max(np.abs(pred - v)) < 0.15, est.__name__


# -- contract ----------------------------------------------------------------------------------------
def test_params_are_stored_unchanged_and_clone_is_unfitted(uniform):
    reg = LeastSquares(alpha=0.5)
    fqi = FQI(n_actions=A, gamma=0.5, n_states=S, regressor=reg)
    assert fqi.get_params()["regressor"] is reg and fqi.get_params()["gamma"] == 0.5
    assert fqi.set_params(gamma=0.7) is fqi and fqi.gamma == 0.7
    with pytest.raises(ValueError, match="valid parameters"):
        fqi.set_params(gama=0.7)
    fitted = fqi.fit(uniform)
    assert fitted is fqi
    fresh = clone(fqi)
    assert fresh.get_params() == fqi.get_params() and not hasattr(fresh, "regressors_")


@pytest.mark.parametrize(
    "est",
    [
        FQI(n_actions=A, n_states=S),
        BoostedFQI(n_actions=A, n_states=S),
        MCValue(n_states=S),
        LSTDValue(n_states=S),
        FQE(np.full((S, A), 0.5), n_states=S),
    ],
    ids=lambda e: type(e).__name__,
)
def test_predict_before_fit_is_refused(est):
    with pytest.raises(NotFittedError, match="not fitted yet. Call 'fit'"):
        est.predict(np.arange(S))


def test_checkpoints_round_trip_without_pickle(tmp_path, uniform, episodes):
    states = np.arange(S)
    agg = rlcore.make("features.state_aggregation", 0, S - 1, 4, discrete=True)
    for est in (
        FQI(n_states=S, n_actions=A, gamma=GAMMA, n_iterations=5),
        BoostedFQI(n_states=S, n_actions=A, gamma=GAMMA, n_estimators=3),
        LSTDValue(gamma=GAMMA, features=agg),
        MCValue(gamma=GAMMA, n_states=S),
    ):
        data = uniform if isinstance(est, (FQI, BoostedFQI)) else episodes
        est.fit(data)
        path = est.save(tmp_path / type(est).__name__)
        loaded = rlcore.load(path)
        assert type(loaded) is type(est)
        np.testing.assert_array_equal(loaded.predict(states), est.predict(states))
    # An FQI without the default regressor still saves its settings? No: refused, named.
    with pytest.raises(TypeError, match="cannot be saved without pickle"):
        FQI(n_actions=A, regressor=object()).save(tmp_path / "bad")


def test_same_seed_same_numbers(mdp):
    d1 = policy_episodes(mdp, np.full((S, A), 0.5), 30, seed=7)
    d2 = policy_episodes(mdp, np.full((S, A), 0.5), 30, seed=7)
    np.testing.assert_array_equal(d1.rewards, d2.rewards)
    a = FQI(n_states=S, n_actions=A, gamma=GAMMA).fit(d1).predict(np.arange(S))
    b = FQI(n_states=S, n_actions=A, gamma=GAMMA).fit(d2).predict(np.arange(S))
    np.testing.assert_array_equal(a, b)


# -- bad input ---------------------------------------------------------------------------------------
def _steps(n=4, **override):
    data = {
        "observations": np.zeros(n, int),
        "actions": np.zeros(n, int),
        "rewards": np.zeros(n),
        "next_observations": np.zeros(n, int),
        "terminations": np.ones(n, bool),
        "truncations": np.zeros(n, bool),
    }
    data.update(override)
    return data


@pytest.mark.parametrize(
    ("make", "data", "error", "match"),
    [
        (lambda: FQI(n_actions=2, n_states=3), _steps(0), ValueError, "empty"),
        (
            lambda: FQI(n_actions=2, n_states=3),
            _steps(observations=np.array([0, 1, 3, 0])),
            ValueError,
            r"state 3 \(row 2\) is outside \[0, 2\]",
        ),
        (
            lambda: FQI(n_actions=2, n_states=3),
            _steps(actions=np.array([0, 2, 1, 0])),
            ValueError,
            r"action 2 at row 1 is outside \[0, 1\]",
        ),
        (lambda: FQI(n_actions=1, n_states=3, regressor=object()), _steps(), TypeError, "fit/pre"),
        (lambda: FQI(n_actions=1, n_states=3, regressor="trees"), _steps(), ValueError, "trees"),
        (lambda: BoostedFQI(n_actions=1, n_estimators=0), _steps(), ValueError, "n_estimators=0"),
        (lambda: BoostedFQI(n_actions=1, learning_rate=0.0), _steps(), ValueError, "learning_rate"),
        (lambda: FQI(n_actions=1, gamma=1.5), _steps(), ValueError, "gamma=1.5"),
        (lambda: FQI(n_actions=2, n_states=1), _steps(), ValueError, "no step with action 1"),
        (lambda: MCValue(n_states=1), _steps(terminations=np.zeros(4, bool)), ValueError, "no end"),
        (lambda: MCValue(), [1, 2], TypeError, "EpisodeDataset"),
    ],
)
def test_bad_input_is_refused_with_a_message(make, data, error, match):
    with pytest.raises(error, match=match):
        make().fit(data)


def test_importing_the_estimators_imports_neither_sklearn_nor_torch():
    import subprocess
    import sys

    code = (
        "import sys, rlcore, rlcore.ensemble.estimators; "
        "[rlcore.get(f'estimators.{n}') for n in ('fqi', 'fqe', 'boosted_fqi', 'mc_value', "
        "'td_value', 'lstd_value', 'stacked_value', 'opera', 'doubly_robust')]; "
        "bad = [m for m in ('sklearn', 'torch') if m in sys.modules]; "
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
