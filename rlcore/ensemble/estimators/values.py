"""State-value estimators from a batch of episodes: the members of ``estimators.stacked_value``.

Each estimates v(s) of the policy that generated the data (on-policy prediction) as a regression
on state features x(s) (one-hot from ``n_states``, a ``features.*`` map, or raw observations):

- ``estimators.mc_value``: regress the Monte Carlo returns G_t on x(S_t) (Sutton & Barto (2018)
  §9.3 in batch form; unbiased targets, high variance).
- ``estimators.td_value``: fitted TD(lambda): iterate v_k = Regress(x(S_t); G^lambda_t(v_{k-1}))
  with the lambda-returns of ``rlcore.returns.lambda_returns`` (S&B eq. 12.3) bootstrapping from
  v_{k-1}(S_{t+1}); lambda = 0 is fitted TD(0) (FQE for state values), lambda = 1 is Monte Carlo.
  With least squares its fixed point for lambda = 0 is the TD fixed point (LSTD's).
- ``estimators.lstd_value``: LSTD(lambda)'s closed form w = A^{-1} b (S&B §9.8, eq. 9.20 for
  lambda = 0; Boyan 2002 with traces), the fixed point fitted TD(lambda) with least squares
  converges to, in one solve.

``predict(observations)`` returns (n,) values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlcore.ensemble.estimators.base import (
    Estimator,
    as_steps,
    check_featurization,
    clone,
    episode_returns,
    featurize,
    make_regressor,
    warn_not_converged,
)
from rlcore.registry import export
from rlcore.validation import check_int, check_range


class _ValueEstimator(Estimator):
    """Shared by the value members: featurisation and prediction through ``regressor_``."""

    _fitted = ("regressor_",)

    def _setup(self, data: Any, what: str) -> tuple[Any, np.ndarray]:
        check_range("gamma", self.gamma, 0.0, 1.0, hint="gamma is a discount in [0, 1].")
        check_featurization(self.n_states, self.features, what)
        steps = as_steps(data, what)
        return steps, featurize(steps.observations, self.n_states, self.features, what)

    def predict(self, observations: Any) -> np.ndarray:
        """(n,) v(s) for a batch of observations."""
        self._check_fitted()
        x = featurize(observations, self.n_states, self.features, type(self).__name__)
        return np.asarray(self.regressor_.predict(x), dtype=np.float64)


@export("estimators.mc_value")
class MCValue(_ValueEstimator):
    """v = Regress(x(S_t); G_t), G_t the discounted return to the end of the episode.

    Args:
        gamma: discount in [0, 1].
        n_states, features: see ``base`` (one-hot, a feature map, or raw observations).
        regressor: None / 'least_squares' / 'extra_trees' / an object with fit and predict.

    Attributes:
        regressor_: the fitted regressor.
    """

    def __init__(
        self,
        *,
        gamma: float = 1.0,
        n_states: int | None = None,
        features: Any = None,
        regressor: Any = None,
    ) -> None:
        self.gamma = gamma
        self.n_states = n_states
        self.features = features
        self.regressor = regressor

    def fit(self, data: Any) -> MCValue:
        what = "estimators.mc_value"
        steps, x = self._setup(data, what)
        self.regressor_ = make_regressor(self.regressor, what).fit(
            x, episode_returns(steps, self.gamma)
        )
        return self


@export("estimators.td_value")
class TDValue(_ValueEstimator):
    """Fitted TD(lambda): v_k = Regress(x(S_t); G^lambda_t) with G^lambda from v_{k-1}.

    G^lambda_t = R_{t+1} + gamma_t [(1 - lambda) v_{k-1}(S_{t+1}) + lambda G^lambda_{t+1}], the
    last step of an episode bootstrapping fully from v_{k-1}(S_T) (0 where terminal).

    Args:
        gamma, n_states, features, regressor: as ``estimators.mc_value``.
        lambda_: in [0, 1].
        tol: stop when max |v_k - v_{k-1}| over the data's states is below tol (> 0).
        max_iterations: cap (a ``ConvergenceWarning`` if reached).

    Attributes:
        regressor_, n_iter_, converged_.
    """

    _fitted = ("regressor_", "n_iter_", "converged_")

    def __init__(
        self,
        *,
        gamma: float = 1.0,
        lambda_: float = 0.0,
        n_states: int | None = None,
        features: Any = None,
        regressor: Any = None,
        tol: float = 1e-6,
        max_iterations: int = 1000,
    ) -> None:
        self.gamma = gamma
        self.lambda_ = lambda_
        self.n_states = n_states
        self.features = features
        self.regressor = regressor
        self.tol = tol
        self.max_iterations = max_iterations

    def fit(self, data: Any) -> TDValue:
        from rlcore.returns import lambda_returns

        what = "estimators.td_value"
        lam = check_range("lambda_", self.lambda_, 0.0, 1.0)
        tol = check_range("tol", self.tol, 0.0, low_open=True)
        cap = check_int("max_iterations", self.max_iterations, 1)
        steps, x_tm1 = self._setup(data, what)
        x_t = featurize(steps.next_observations, self.n_states, self.features, what)
        regressor = make_regressor(self.regressor, what)
        rows = steps.padded_rows()  # (E, L), -1 past the end
        live = rows >= 0
        last = steps.episode_lengths - 1
        r = np.where(live, steps.rewards[rows], 0.0)
        d = np.where(live, steps.discounts(self.gamma)[rows], 0.0)
        lam_t = np.where(live, lam, 0.0)
        lam_t[np.arange(rows.shape[0]), last] = 0.0  # the last step bootstraps fully
        v_tm1, v_t = np.zeros(steps.n_steps), np.zeros(steps.n_steps)
        self.converged_ = False
        for k in range(1, cap + 1):
            v_pad = np.where(live, v_t[rows], 0.0)  # v_{k-1}(S_{t+1}), (E, L)
            g = lambda_returns(r, d, v_pad, lam_t)[live]  # (N,) in row order
            self.regressor_ = fitted = clone(regressor).fit(x_tm1, g)
            new_tm1, new_t = fitted.predict(x_tm1), fitted.predict(x_t)
            change = float(max(np.abs(new_tm1 - v_tm1).max(), np.abs(new_t - v_t).max()))
            v_tm1, v_t = new_tm1, new_t
            self.n_iter_ = k
            if change < tol:
                self.converged_ = True
                break
        if not self.converged_:
            warn_not_converged(what, cap, change, tol)
        return self


@export("estimators.lstd_value")
class LSTDValue(_ValueEstimator):
    """LSTD(lambda): w = (epsilon I + sum_t z_t (x_t - gamma_t x_{t+1})^T)^{-1} sum_t z_t R_{t+1}.

    Boyan (2002), "Technical update: least-squares temporal difference learning"; the traces
    z_t = gamma lambda z_{t-1} + x_t (``rlcore.returns.accumulating_trace``, S&B (2018) eq. 12.5)
    restart at each episode. lambda = 0 gives z_t = x_t, LSTD's closed form of S&B §9.8 (eq. 9.20;
    equal to ``rlcore.approximation.linear.lstd_solution``), the batch TD(0) fixed point;
    lambda = 1 gives the least-squares Monte Carlo fit. v(s) = w . x(s).

    Args:
        gamma, n_states, features: as ``estimators.mc_value``.
        lambda_: trace decay in [0, 1].
        epsilon: regulariser > 0 (A starts as epsilon I).

    Attributes:
        coef_: (d,) weights.
    """

    _fitted = ("coef_",)

    def __init__(
        self,
        *,
        gamma: float = 1.0,
        lambda_: float = 0.0,
        n_states: int | None = None,
        features: Any = None,
        epsilon: float = 1e-3,
    ) -> None:
        self.gamma = gamma
        self.lambda_ = lambda_
        self.n_states = n_states
        self.features = features
        self.epsilon = epsilon

    def fit(self, data: Any) -> LSTDValue:
        from rlcore.returns import accumulating_trace

        what = "estimators.lstd_value"
        lam = check_range("lambda_", self.lambda_, 0.0, 1.0)
        eps = check_range("epsilon", self.epsilon, 0.0, low_open=True, hint="Use e.g. 1e-3.")
        steps, x_tm1 = self._setup(data, what)
        x_t = featurize(steps.next_observations, self.n_states, self.features, what)
        discount_t = steps.discounts(self.gamma)
        z = x_tm1  # lambda = 0: no trace
        if lam > 0:
            rows = steps.padded_rows()  # (E, L)
            z = np.empty_like(x_tm1)
            z_e = np.zeros((rows.shape[0], x_tm1.shape[1]))  # one trace per episode
            for t in range(rows.shape[1]):
                live = rows[:, t] >= 0
                r_live = rows[live, t]
                decay = self.gamma * lam if t else 0.0  # within an episode nothing terminated yet
                z_e[live] = accumulating_trace(z_e[live], x_tm1[r_live], decay)
                z[r_live] = z_e[live]
        A = eps * np.eye(x_tm1.shape[1]) + z.T @ (x_tm1 - discount_t[:, None] * x_t)
        self.coef_ = np.linalg.solve(A, z.T @ steps.rewards)
        return self

    def predict(self, observations: Any) -> np.ndarray:
        self._check_fitted()
        return featurize(observations, self.n_states, self.features, "LSTDValue") @ self.coef_


__all__ = ["LSTDValue", "MCValue", "TDValue"]
