"""Fitted Q-iteration, fitted Q-evaluation and boosted FQI: batch Q estimators on any regressor.

All three repeat a regression on the same transitions (S_t, A_t, R_{t+1}, S_{t+1}) with targets
that bootstrap from the previous iterate; q(s, a) is one regressor per action on state features
x(s) (``base.fit_per_action``). In ``rlcore.returns``' names, q_tm1 = Q(S_t, .) and
q_t = Q(S_{t+1}, .), both (N, A) over the dataset's rows.

- FQI (Ernst, Geurts & Wehenkel 2005, "Tree-based batch mode RL", Algorithm 1):
      Q_k = Regress( x(S_t), A_t ; R_{t+1} + gamma_t max_a Q_{k-1}(S_{t+1}, a) ),   Q_0 = 0.
- FQE (Le, Voloshin & Yue 2019): the same with the target policy's expectation
      R_{t+1} + gamma_t sum_a pi(a | S_{t+1}) Q_{k-1}(S_{t+1}, a),
  and the policy value J(pi) = mean over episode starts of sum_a pi(a | S_0) Q(S_0, a).
- Boosted FQI (Tosatto, Pirotta, D'Eramo & Restelli 2017, "Boosted Fitted Q-Iteration", eq. 4):
  each stage fits a weak regressor to the Bellman residual of the current sum,
      rho_k = Regress( x(S_t), A_t ; R_{t+1} + gamma_t max_a Q_{k-1}(S_{t+1}, a) - Q_{k-1}(S_t, A_t) ),
      Q_k = Q_{k-1} + learning_rate * rho_k,   so Q_K = learning_rate * sum_k rho_k;
  with learning_rate = 1 and a regressor that projects exactly (tabular least squares) every
  stage equals an FQI iteration, Q_k = Pi T Q_{k-1}.

``gamma_t = gamma * (1 - terminated)``: a terminal transition does not bootstrap; a truncated one
does. FQI and FQE iterate until the largest change of Q over the dataset's states is below
``tol`` (at most ``max_iterations``) unless ``n_iterations`` fixes the count; with one-hot
features (only ``n_states``, ``n_actions``, ``gamma`` given) FQI then converges to the Q* of the
data's empirical MDP, which is value iteration's Q* as the data grows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from rlcore.ensemble.estimators.base import (
    Estimator,
    LeastSquares,
    Monitor,
    as_steps,
    check_action_coverage,
    check_actions,
    check_featurization,
    featurize,
    fit_per_action,
    make_regressor,
    policy_probs,
    policy_table,
    predict_per_action,
    warn_not_converged,
)
from rlcore.registry import export
from rlcore.validation import check_int, check_range


class _QProblem:
    """The arrays every fitted-Q method regresses on, checked once per fit."""

    def __init__(self, estimator: Any, data: Any, what: str) -> None:
        n_actions = check_int(
            "n_actions", estimator.n_actions, 1, hint="Give the env's action count."
        )
        check_range("gamma", estimator.gamma, 0.0, 1.0, hint="gamma is a discount in [0, 1].")
        check_featurization(estimator.n_states, estimator.features, what)
        self.steps = as_steps(data, what)
        self.n_actions = n_actions
        self.a_tm1 = check_actions(self.steps.actions, n_actions, what)
        self.x_tm1 = featurize(
            self.steps.observations, estimator.n_states, estimator.features, what
        )
        # a terminal S_{t+1} is never evaluated (its value is 0, gamma_t = 0), so it needs no
        # features: a feature map may not even cover it (Mountain Car's goal lies past the tiling)
        live = ~self.steps.terminations
        x_live = featurize(
            self.steps.next_observations[live], estimator.n_states, estimator.features, what
        )
        self.x_t = np.zeros((self.steps.n_steps, x_live.shape[1]))
        self.x_t[live] = x_live
        self.r_t = self.steps.rewards
        self.discount_t = self.steps.discounts(estimator.gamma)
        self.regressor = make_regressor(estimator.regressor, what)
        self.rows = np.arange(self.steps.n_steps)


def _check_iterations(estimator: Any) -> None:
    if estimator.n_iterations is not None:
        check_int("n_iterations", estimator.n_iterations, 1, hint="Or None: iterate until tol.")
    check_range(
        "tol", estimator.tol, 0.0, low_open=True, hint="A small positive change, e.g. 1e-6."
    )
    check_int("max_iterations", estimator.max_iterations, 1)


class _PerActionRegression:
    """One regressor per action refit on the same inputs with new targets each iteration.

    ``fit(y)`` returns the A fitted regressors; ``predict(regressors, x)`` their (n, A) values on
    one of the problem's fixed input matrices. The built-in least squares without intercept has
    a fast path, since only the targets change between iterations: its d x d normal matrices
    G_a = X_a^T X_a + alpha I are Cholesky-factored once and each iteration solves
    G_a coef_a = X_a^T y_a, the same system as ``LeastSquares.fit``; the inputs are kept as
    sparse matrices (tile coding activates 8 of hundreds of features), so X^T y and X W cost
    O(nnz) instead of O(n d).
    """

    def __init__(
        self, regressor: Any, x_tm1: np.ndarray, a: np.ndarray, n_actions: int, what: str
    ) -> None:
        self.regressor, self.a, self.n_actions, self.what = regressor, a, n_actions, what
        self.x_tm1 = x_tm1
        self.fast = type(regressor) is LeastSquares and not regressor.fit_intercept
        if not self.fast:
            return
        from scipy import sparse
        from scipy.linalg import LinAlgError, cho_factor

        alpha = check_range("alpha", regressor.alpha, 0.0, hint="Use a small penalty, e.g. 1e-8.")
        check_action_coverage(a, n_actions, what)
        self.rows = [np.flatnonzero(a == action) for action in range(n_actions)]
        x = sparse.csr_matrix(x_tm1)
        self.x_rows_T = [x[r].T.tocsr() for r in self.rows]  # (d, n_a) each
        try:
            self.factors = [
                cho_factor((xt @ xt.T).toarray() + alpha * np.eye(x.shape[1]))
                for xt in self.x_rows_T
            ]
        except LinAlgError as err:
            raise ValueError(
                f"{what}: the features' X^T X is singular for some action; use the regressor "
                "LeastSquares(alpha > 0) (ridge) or fewer features."
            ) from err

    def inputs(self, x: np.ndarray) -> Any:
        """``x`` in the form ``predict`` takes (sparse on the fast path)."""
        if not self.fast:
            return x
        from scipy import sparse

        return sparse.csr_matrix(x)

    def fit(self, y: np.ndarray) -> list[Any]:
        if not self.fast:
            return fit_per_action(self.regressor, self.x_tm1, self.a, y, self.n_actions, self.what)
        from scipy.linalg import cho_solve

        fitted = []
        for r, xt, factor in zip(self.rows, self.x_rows_T, self.factors):
            reg = LeastSquares(alpha=self.regressor.alpha)
            reg.coef_, reg.intercept_ = cho_solve(factor, xt @ y[r]), 0.0
            fitted.append(reg)
        return fitted

    def predict(self, regressors: list[Any], x: Any) -> np.ndarray:
        if not self.fast:
            return predict_per_action(regressors, x)
        return np.asarray(x @ np.stack([reg.coef_ for reg in regressors], axis=1))


def _iterate(
    estimator: Any,
    problem: _QProblem,
    backup: Callable[[np.ndarray], np.ndarray],
    monitor: Monitor | None,
    what: str,
) -> None:
    """Q_k = Regress(x, a; r + gamma_t backup(Q_{k-1}(S_{t+1}, .))) until converged; sets the
    fitted attributes ``regressors_``, ``n_iter_``, ``changes_``, ``converged_``."""
    p = problem
    n, A = p.steps.n_steps, p.n_actions
    q_tm1, q_t = np.zeros((n, A)), np.zeros((n, A))  # Q_{k-1}(S_t, .), Q_{k-1}(S_{t+1}, .)
    fixed = estimator.n_iterations
    cap = fixed if fixed is not None else estimator.max_iterations
    changes: list[float] = []
    estimator.converged_ = False
    reg = _PerActionRegression(p.regressor, p.x_tm1, p.a_tm1, A, what)
    x_tm1, x_t = reg.inputs(p.x_tm1), reg.inputs(p.x_t)
    for k in range(1, cap + 1):
        y = p.r_t + p.discount_t * backup(q_t)  # (N,) the regression targets
        regressors = reg.fit(y)
        new_tm1, new_t = reg.predict(regressors, x_tm1), reg.predict(regressors, x_t)
        changes.append(float(max(np.abs(new_tm1 - q_tm1).max(), np.abs(new_t - q_t).max())))
        q_tm1, q_t = new_tm1, new_t
        estimator.regressors_, estimator.n_iter_ = regressors, k
        estimator.changes_ = np.asarray(changes)
        if not np.all(np.isfinite(new_t)):
            raise FloatingPointError(
                f"{what}: Q went non-finite at iteration {k}; the regressor extrapolates without "
                "bound (Baird-style divergence). Use a more conservative regressor (averagers "
                "such as trees or tabular features are non-expansions) or a smaller gamma."
            )
        if monitor is not None and monitor(k, estimator):
            break
        if fixed is None and changes[-1] < estimator.tol:
            estimator.converged_ = True
            break
    if fixed is None and not estimator.converged_ and estimator.n_iter_ == cap:
        warn_not_converged(what, cap, changes[-1], estimator.tol)


class _FittedQ(Estimator):
    """What FQI and FQE share: featurisation and the per-action prediction (final classes below)."""

    _fitted = ("regressors_", "n_iter_", "changes_", "converged_")

    def predict(self, observations: Any) -> np.ndarray:
        """(n, n_actions) Q(s, .) for a batch of observations."""
        self._check_fitted()
        x = featurize(observations, self.n_states, self.features, type(self).__name__)
        return predict_per_action(self.regressors_, x)


@export("estimators.fqi")
class FQI(_FittedQ):
    """Fitted Q-iteration (Ernst et al. 2005, Algorithm 1); see the module docstring.

    Args:
        n_actions: A (discrete actions 0..A-1).
        gamma: discount in [0, 1].
        n_states: integer states 0..n_states-1 as one-hot features, or None.
        features: a ``features.*`` state map, or None (see ``base``).
        regressor: None / 'least_squares' (built in, NumPy), 'extra_trees' (scikit-learn, the
            paper's choice) or any object with fit(X, y) / predict(X); cloned per action and
            iteration.
        n_iterations: a fixed number of iterations, or None to iterate until the largest change
            of Q over the data's states is below ``tol``.
        tol: convergence threshold (> 0) when ``n_iterations`` is None.
        max_iterations: cap on the iterations when ``n_iterations`` is None (a
            ``ConvergenceWarning`` if reached).

    Attributes:
        regressors_: the A fitted regressors of the last iteration.
        n_iter_, changes_ ((n_iter_,) max |Q_k - Q_{k-1}|), converged_.
    """

    def __init__(
        self,
        *,
        n_actions: int,
        gamma: float = 0.99,
        n_states: int | None = None,
        features: Any = None,
        regressor: Any = None,
        n_iterations: int | None = None,
        tol: float = 1e-6,
        max_iterations: int = 2000,
    ) -> None:
        self.n_actions = n_actions
        self.gamma = gamma
        self.n_states = n_states
        self.features = features
        self.regressor = regressor
        self.n_iterations = n_iterations
        self.tol = tol
        self.max_iterations = max_iterations

    def fit(self, data: Any, monitor: Monitor | None = None) -> FQI:
        """Fit on a dataset; ``monitor(k, self)`` is called after each iteration (scikit-learn's
        gradient-boosting hook): ``self`` predicts Q_k then, and a true return stops early."""
        _check_iterations(self)
        problem = _QProblem(self, data, "estimators.fqi")
        _iterate(self, problem, lambda q_t: q_t.max(axis=1), monitor, "estimators.fqi")
        return self


@export("estimators.fqe")
class FQE(_FittedQ):
    """Fitted Q-evaluation of a fixed target policy (Le et al. 2019); see the module docstring.

    Args:
        target_policy: (S, A) probabilities pi(a | s) (integer states) or ``policies.tabular``.
        gamma, n_states, features, regressor, n_iterations, tol, max_iterations: as FQI.
            ``n_actions`` is the table's second dimension.

    Attributes:
        regressors_, n_iter_, changes_, converged_: as FQI.
        value_: J(pi), the mean of sum_a pi(a | S_0) Q(S_0, a) over the episodes' first states.
    """

    _fitted = (*_FittedQ._fitted, "value_")

    def __init__(
        self,
        target_policy: Any,
        *,
        gamma: float = 0.99,
        n_states: int | None = None,
        features: Any = None,
        regressor: Any = None,
        n_iterations: int | None = None,
        tol: float = 1e-6,
        max_iterations: int = 2000,
    ) -> None:
        self.target_policy = target_policy
        self.gamma = gamma
        self.n_states = n_states
        self.features = features
        self.regressor = regressor
        self.n_iterations = n_iterations
        self.tol = tol
        self.max_iterations = max_iterations

    @property
    def n_actions(self) -> int:
        return int(policy_table(self.target_policy, "estimators.fqe target_policy").shape[1])

    def fit(self, data: Any, monitor: Monitor | None = None) -> FQE:
        what = "estimators.fqe"
        _check_iterations(self)
        table = policy_table(self.target_policy, f"{what} target_policy")
        problem = _QProblem(self, data, what)
        pi_t = policy_probs(table, problem.steps.next_observations, what)  # (N, A)
        _iterate(self, problem, lambda q_t: np.sum(pi_t * q_t, axis=1), monitor, what)
        s_0 = problem.steps.observations[problem.steps.episode_starts]
        self.value_ = float(np.mean(np.sum(policy_probs(table, s_0, what) * self.predict(s_0), 1)))
        return self


@export("estimators.boosted_fqi")
class BoostedFQI(Estimator):
    """Boosted fitted Q-iteration (Tosatto et al. 2017); see the module docstring.

    scikit-learn's boosting conventions: ``n_estimators`` stages, ``learning_rate`` shrinkage,
    ``estimators_`` after fit, ``staged_predict`` yielding Q_k after each stage (its last value
    equals ``predict``).

    Args:
        n_actions, gamma, n_states, features: as FQI.
        regressor: the weak learner (same choices as FQI); a fresh clone per stage and action.
        n_estimators: number of stages K >= 1.
        learning_rate: shrinkage > 0 of each stage (1 in the paper).

    Attributes:
        estimators_: K lists of A fitted regressors, estimators_[k][a] = rho_{k+1}(., a).
    """

    _fitted = ("estimators_",)

    def __init__(
        self,
        *,
        n_actions: int,
        gamma: float = 0.99,
        n_states: int | None = None,
        features: Any = None,
        regressor: Any = None,
        n_estimators: int = 100,
        learning_rate: float = 1.0,
    ) -> None:
        self.n_actions = n_actions
        self.gamma = gamma
        self.n_states = n_states
        self.features = features
        self.regressor = regressor
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate

    def fit(self, data: Any, monitor: Monitor | None = None) -> BoostedFQI:
        """Fit K stages; ``monitor(k, self)`` after each (a true return stops early)."""
        what = "estimators.boosted_fqi"
        K = check_int("n_estimators", self.n_estimators, 1, hint="Boosting needs >= 1 stage.")
        lr = check_range(
            "learning_rate", self.learning_rate, 0.0, low_open=True, hint="Use e.g. 1.0 or 0.5."
        )
        p = _QProblem(self, data, what)
        q_tm1 = np.zeros((p.steps.n_steps, p.n_actions))  # Q_{k-1}(S_t, .)
        q_t = np.zeros_like(q_tm1)  # Q_{k-1}(S_{t+1}, .)
        self.estimators_ = []
        reg = _PerActionRegression(p.regressor, p.x_tm1, p.a_tm1, p.n_actions, what)
        x_tm1, x_t = reg.inputs(p.x_tm1), reg.inputs(p.x_t)
        for k in range(1, K + 1):
            # 1. the Bellman residual of the current sum at the sampled pairs (eq. 4)
            y = p.r_t + p.discount_t * q_t.max(axis=1) - q_tm1[p.rows, p.a_tm1]
            # 2. a weak regressor per action fit to it, 3. added with shrinkage
            stage = reg.fit(y)
            q_tm1 = q_tm1 + lr * reg.predict(stage, x_tm1)
            q_t = q_t + lr * reg.predict(stage, x_t)
            self.estimators_.append(stage)
            if monitor is not None and monitor(k, self):
                break
        return self

    def staged_predict(self, observations: Any) -> Iterator[np.ndarray]:
        """Yield Q_k(s, .) of shape (n, n_actions) after each stage k = 1..K."""
        self._check_fitted()
        x = featurize(observations, self.n_states, self.features, "estimators.boosted_fqi")
        q = np.zeros((x.shape[0], len(self.estimators_[0])))
        for stage in self.estimators_:
            q = q + self.learning_rate * predict_per_action(stage, x)
            yield q

    def predict(self, observations: Any) -> np.ndarray:
        """(n, n_actions) Q_K(s, .) = learning_rate * sum_k rho_k(s, .)."""
        *_, q_last = self.staged_predict(observations)
        return q_last


__all__ = ["FQE", "FQI", "BoostedFQI"]
