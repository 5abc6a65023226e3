"""Stacking (folds by episode, the meta-learner recovering known weights), off-policy estimators
against dynamic programming, OPERA on estimators with known bias and variance, and the
calibration read-outs."""

import math

import numpy as np
import pytest

import rlcore
from rlcore.ensemble.calibration import calibration, spread
from rlcore.ensemble.estimators import (
    OPERA,
    DoublyRobust,
    ImportanceSampling,
    LeastSquares,
    LSTDValue,
    MCValue,
    NonNegativeLeastSquares,
    NotFittedError,
    StackedValue,
    episode_folds,
    opera_weights,
    policy_episodes,
)
from rlcore.tabular import planning
from rlcore.tabular.mdp import random_mdp


class Fixed:
    """A member that ignores the data and predicts a fixed function of a scalar observation;
    it records the observations it was fit on."""

    def __init__(self, fn):
        self.fn = fn

    def get_params(self):
        return {"fn": self.fn}

    def fit(self, data):
        self.seen_ = set(np.asarray(data.observations).tolist())
        return self

    def predict(self, observations):
        return self.fn(np.asarray(observations, dtype=np.float64))


def _one_step_episodes(obs, rewards):
    n = len(rewards)
    return {
        "observations": np.asarray(obs),
        "actions": np.zeros(n, int),
        "rewards": np.asarray(rewards, dtype=np.float64),
        "next_observations": np.asarray(obs),
        "terminations": np.ones(n, bool),
        "truncations": np.zeros(n, bool),
    }


def test_episode_folds_are_balanced_and_seeded():
    folds = episode_folds(23, 5, 0)
    assert sorted(np.bincount(folds)) == [4, 4, 5, 5, 5]
    np.testing.assert_array_equal(folds, episode_folds(23, 5, 0))
    np.testing.assert_array_equal(episode_folds(6, 3, shuffle=False), [0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError, match=r"cv=7 is outside \[2, 6\].*number of episodes"):
        episode_folds(6, 7)


class Spy(Fixed):
    """Refuses to predict an observation it was trained on (observations identify episodes)."""

    def predict(self, observations):
        obs = np.asarray(observations).tolist()
        assert not (set(obs) & self.seen_) or len(self.seen_) > 40  # the full refit sees all
        return np.zeros(len(obs))


def test_stacking_folds_never_share_an_episode():
    # 40 episodes of 3 steps; observation = episode id, so a leak would show as a seen id.
    lengths = np.full(40, 3)
    ep = np.repeat(np.arange(40), 3).astype(np.float64)
    term = np.tile([False, False, True], 40)
    data = {
        "observations": ep,
        "actions": np.zeros(120, int),
        "rewards": np.ones(120),
        "next_observations": ep,
        "terminations": term,
        "truncations": np.zeros(120, bool),
        "episode_lengths": lengths,
    }
    spy = Spy(lambda x: 0 * x)
    stack = StackedValue([("spy", spy), ("one", Fixed(lambda x: 1 + 0 * x))], cv=4).fit(data)
    fold = stack.fold_of_step_.reshape(40, 3)
    assert np.all(fold == fold[:, :1])  # every step of an episode in the same fold
    assert sorted(np.bincount(fold[:, 0])) == [10, 10, 10, 10]


def test_meta_learner_recovers_known_weights():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 4000)
    f1, f2, f3 = (lambda s: np.sin(3 * s)), (lambda s: s**2), (lambda s: s)
    g = 0.3 * f1(x) + 0.7 * f2(x) + 0.1 * rng.normal(size=x.size)
    members = [("sin", Fixed(f1)), ("sq", Fixed(f2)), ("lin", Fixed(f3))]
    stack = rlcore.make("estimators.stacked_value", members, cv=5).fit(_one_step_episodes(x, g))
    w = stack.weights_
    assert abs(w["sin"] - 0.3) < 0.02 and abs(w["sq"] - 0.7) < 0.02 and w["lin"] < 0.02
    z = stack.transform(x[:5])
    assert z.shape == (5, 3)
    np.testing.assert_allclose(stack.predict(x[:5]), z @ stack.final_estimator_.coef_)
    ridge = StackedValue(members, final_estimator="ridge").fit(_one_step_episodes(x, g))
    assert abs(ridge.weights_["sq"] - 0.7) < 0.05
    for target, final in (("td", "lstd"), ("returns", None), ("returns", "nnls")):
        other = StackedValue(members, meta_target=target, final_estimator=final)
        w = other.fit(_one_step_episodes(x, g)).weights_
        assert abs(w["sin"] - 0.3) < 0.03 and abs(w["sq"] - 0.7) < 0.03, (target, final)


def test_convex_meta_learner_against_a_brute_force_search_on_the_simplex():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 2)) + np.array([1.0, 2.0])
    y = 0.25 * X[:, 0] + 0.75 * X[:, 1] + rng.normal(size=200)
    w = NonNegativeLeastSquares(sum_to_one=True).fit(X, y).coef_
    grid = np.linspace(0, 1, 100_001)
    sse = [np.sum((X @ np.array([1 - t, t]) - y) ** 2) for t in grid[::100]]
    t = grid[::100][int(np.argmin(sse))]
    assert w.sum() == pytest.approx(1.0) and np.all(w >= 0)
    assert w[1] == pytest.approx(t, abs=1e-3)
    # a combination outside the simplex is projected onto it: an edge when one member wins
    w = NonNegativeLeastSquares(sum_to_one=True).fit(X, 2.0 * X[:, 1]).coef_
    np.testing.assert_allclose(w, [0.0, 1.0], atol=1e-9)


def test_fitted_td_meta_with_least_squares_converges_to_the_lstd_meta():
    import gymnasium as gym

    import rlcore.envs  # noqa: F401
    from rlcore.tabular.mdp import FiniteMDP

    env = gym.make("rlcore/RandomWalk-v0", n_states=5)
    data = policy_episodes(FiniteMDP.from_env(env), np.ones((7, 1)), 40, seed=2)
    members = [MCValue(n_states=7), LSTDValue(n_states=7, lambda_=0.5)]
    lstd = StackedValue(members, cv=4, final_estimator="lstd").fit(data)  # the closed form
    fitted = StackedValue(members, cv=4, final_estimator=LeastSquares(alpha=0.0)).fit(data)
    np.testing.assert_allclose(
        fitted.final_estimator_.coef_, lstd.final_estimator_.coef_, atol=1e-5
    )


def test_passthrough_appends_the_features():
    x = np.arange(30) % 3
    g = (x == 1).astype(float)
    stack = StackedValue(
        [("zero", Fixed(lambda s: 0 * s))], passthrough=True, n_states=3, final_estimator="ridge"
    ).fit(_one_step_episodes(x, g))
    assert stack.final_estimator_.coef_.shape == (4,)


def test_stack_on_a_random_walk_is_close_to_dp_and_round_trips(tmp_path):
    import gymnasium as gym

    import rlcore.envs  # noqa: F401
    from rlcore.tabular.mdp import FiniteMDP

    env = gym.make("rlcore/RandomWalk-v0", n_states=5)
    mdp, truth = FiniteMDP.from_env(env), env.unwrapped.true_values
    data = policy_episodes(mdp, np.ones((7, 1)), 200, seed=0)
    members = [MCValue(n_states=7), LSTDValue(n_states=7), LSTDValue(n_states=7, lambda_=0.5)]
    stack = StackedValue(members, cv=5, seed=1, meta_target="td").fit(data)
    states = np.arange(1, 6)
    assert np.max(np.abs(stack.predict(states) - truth[1:-1])) < 0.1
    assert stack.member_names_ == ["mc_value", "lstd_value", "lstd_value_2"]
    loaded = rlcore.load(stack.save(tmp_path / "stack"))
    np.testing.assert_array_equal(loaded.predict(states), stack.predict(states))
    again = StackedValue(members, cv=5, seed=1, meta_target="td").fit(data)
    np.testing.assert_array_equal(again.predict(states), stack.predict(states))


def test_stacking_bad_input():
    data = _one_step_episodes(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="cv=5 is outside"):
        StackedValue([MCValue()]).fit(data)
    with pytest.raises(ValueError, match="non-empty list"):
        StackedValue([]).fit(data)
    with pytest.raises(TypeError, match="no fit/predict"):
        StackedValue([object()], cv=2).fit(data)
    with pytest.raises(ValueError, match="meta_target='mc'"):
        StackedValue([MCValue()], cv=2, meta_target="mc").fit(data)
    with pytest.raises(ValueError, match="'lstd' is a TD meta-learner"):
        StackedValue([MCValue()], cv=2, meta_target="returns", final_estimator="lstd").fit(data)
    with pytest.raises(ValueError, match="'convex', 'nnls', 'ridge'"):
        StackedValue([MCValue()], cv=2, final_estimator="lasso").fit(data)
    with pytest.raises(NotFittedError):
        StackedValue([MCValue()]).transform(np.zeros(2))


# -- off-policy evaluation -----------------------------------------------------------------------
S, A, GAMMA = 6, 2, 0.9


@pytest.fixture(scope="module")
def ope_task():
    rng = np.random.default_rng(5)
    mdp = random_mdp(S, A, rng, terminal_prob=0.25)
    b = np.full((S, A), 0.5)
    pi = rng.dirichlet(np.ones(A), size=S)
    v = planning.policy_evaluation(mdp, pi, GAMMA, method="exact").v
    return mdp, b, pi, float(mdp.initial @ v)


def test_off_policy_estimators_are_close_to_the_dp_value(ope_task):
    mdp, b, pi, truth = ope_task
    data = policy_episodes(mdp, b, 4000, seed=0)
    for est in (
        ImportanceSampling(pi, b, gamma=GAMMA),
        ImportanceSampling(pi, b, gamma=GAMMA, weighted=True),
        DoublyRobust(pi, b, gamma=GAMMA),
        rlcore.make("estimators.fqe", pi, gamma=GAMMA, n_states=S),
    ):
        assert abs(est.fit(data).value_ - truth) < 0.1, type(est).__name__


def test_importance_sampling_is_unbiased_on_policy(ope_task):
    # pi = b: every ratio is one and IS is the average discounted return.
    mdp, b, _, _ = ope_task
    data = policy_episodes(mdp, b, 50, seed=1)
    est = ImportanceSampling(b, b, gamma=GAMMA).fit(data)
    from rlcore.ensemble.estimators.base import as_steps, episode_returns

    steps = as_steps(data, "test")
    g0 = episode_returns(steps, GAMMA)[steps.episode_starts]
    assert est.value_ == pytest.approx(g0.mean(), abs=1e-12)


class Noisy:
    """value_ = mean of a data column + bias / n_episodes (an O(1/n) bias, as WIS's)."""

    def __init__(self, column, bias=0.0):
        self.column, self.bias = column, bias

    def get_params(self):
        return {"column": self.column, "bias": self.bias}

    def fit(self, data):
        x = np.asarray(data.observations)[:, self.column]
        self.value_ = float(x.mean() + self.bias / x.size)
        return self


def _columns(rng, n, scales):
    obs = rng.normal(size=(n, len(scales))) * np.asarray(scales)
    return {
        "observations": obs,
        "actions": np.zeros(n, int),
        "rewards": np.zeros(n),
        "next_observations": obs,
        "terminations": np.ones(n, bool),
        "truncations": np.zeros(n, bool),
    }


def test_opera_weights_follow_the_known_variances():
    # Two independent unbiased estimators with variances 1/n and 4/n: optimal weights 0.8, 0.2.
    rng = np.random.default_rng(0)
    ests = [("a", Noisy(0)), ("b", Noisy(1))]
    opera = rlcore.make("estimators.opera", ests, n_bootstrap=400, seed=0)
    data = _columns(rng, 400, [1.0, 2.0])
    opera.fit(data)
    assert opera.weights_ == pytest.approx([0.8, 0.2], abs=0.07)
    again = OPERA(ests, n_bootstrap=400, seed=0).fit(data)  # same seed, same numbers
    np.testing.assert_array_equal(again.weights_, opera.weights_)
    assert opera.value_ == pytest.approx(opera.weights_ @ opera.estimates_)
    np.testing.assert_allclose(opera_weights(np.diag([1.0, 4.0])), [0.8, 0.2])
    np.testing.assert_allclose(opera_weights(np.ones((2, 2))), [0.5, 0.5])  # redundant pair


def test_opera_picks_the_lower_mse_mix_of_estimators_with_known_bias_and_variance():
    # a: unbiased, variance 4/n. b: variance 1/n but bias 40/n (MSE 1600/n^2 + 1/n). With
    # n = 100: MSE(a) = 0.04, MSE(b) = 0.17; the best mix leans on a. A bootstrap with
    # m = n/2 sees b's bias (it doubles at half the data).
    rng = np.random.default_rng(1)
    ests = [("a", Noisy(0)), ("b", Noisy(1, bias=40.0))]
    sq_err = {"a": [], "b": [], "opera": []}
    for _ in range(40):
        data = _columns(rng, 100, [2.0, 1.0])
        opera = OPERA(ests, n_bootstrap=100, sample_fraction=0.5, seed=int(rng.integers(1e6)))
        opera.fit(data)
        for name, value in zip(opera.estimator_names_, opera.estimates_):
            sq_err[name].append(value**2)
        sq_err["opera"].append(opera.value_**2)
        assert opera.weights_[0] > opera.weights_[1]
    mse = {k: float(np.mean(v)) for k, v in sq_err.items()}
    assert mse["opera"] < mse["b"] and mse["opera"] <= 1.1 * mse["a"], mse


def test_opera_bad_input_and_nonnegative(ope_task):
    with pytest.raises(ValueError, match="at least two"):
        OPERA([Noisy(0)]).fit(_columns(np.random.default_rng(0), 5, [1.0]))
    with pytest.raises(ValueError, match="n_bootstrap=1"):
        OPERA([Noisy(0), Noisy(0)], n_bootstrap=1).fit(_columns(np.random.default_rng(0), 5, [1]))
    alpha = opera_weights(np.array([[1.0, 0.9], [0.9, 1.0]]) + np.diag([0, 3.0]), nonnegative=True)
    assert np.all(alpha >= 0) and alpha.sum() == pytest.approx(1.0)


# -- calibration -------------------------------------------------------------------------------------
def test_spread_and_calibration_of_a_calibrated_ensemble():
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.1, 2.0, 20_000)
    error = sigma * rng.normal(size=sigma.size)
    report = calibration(sigma, error)
    assert report.coverage[1.0] == pytest.approx(math.erf(1 / math.sqrt(2)), abs=0.01)
    assert report.coverage[2.0] == pytest.approx(report.nominal[2.0], abs=0.01)
    assert report.slope == pytest.approx(math.sqrt(2 / math.pi), abs=0.02)
    assert report.spearman > 0.3
    members = np.stack([np.zeros(3), 2 * np.ones(3)])
    np.testing.assert_allclose(spread(members), np.ones(3))
    with pytest.raises(ValueError, match="at least two members"):
        spread(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="same length"):
        calibration(np.ones(3), np.ones(4))
