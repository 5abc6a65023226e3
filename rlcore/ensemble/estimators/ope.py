"""Off-policy evaluation of J(pi) from episodes of a behaviour policy b, and OPERA's blend.

J(pi) = E[sum_t gamma^t R_{t+1} | S_0 ~ d_0, A_t ~ pi] is estimated from E episodes of b (tabular
policies as (S, A) tables, integer states). With w_t = prod_{k <= t} rho_k, rho_k =
pi(A_k | S_k) / b(A_k | S_k) (``rlcore.returns.importance_ratio``; Precup et al. 2000):

- per-decision importance sampling (S&B (2018) §5.9):
      IS  = 1/E sum_i sum_t gamma^t w_t^i R^i_{t+1};
- per-decision weighted IS: WIS = sum_t gamma^t (sum_i w_t^i R^i_{t+1}) / (sum_i w_t^i), an
  ended episode keeping its last weight (Thomas 2015, §3.8);
- doubly robust (Jiang & Li 2016, eq. 10; Thomas & Brunskill 2016 eq. 12), with a Q-estimate
  Q^ (FQE by default) and V^(s) = sum_a pi(a | s) Q^(s, a):
      DR = 1/E sum_i sum_t gamma^t [w_t R_{t+1} - (w_t Q^(S_t, A_t) - w_{t-1} V^(S_t))], w_{-1} = 1;
- FQE (``estimators.fqe``): the mean of V^(S_0) over the episodes' first states.

OPERA (Nie, Chandak, Yuan, Badrinath, Flet-Berliac & Brunskill 2024, "OPERA: automatic offline
policy evaluation with re-weighted aggregates of multiple estimators", Algorithm 1) blends K such
estimates theta_k as sum_k alpha_k theta_k with the weights that minimise the estimated mean
squared error,
      alpha = argmin_{sum alpha = 1} alpha^T Sigma alpha,   Sigma_jk ~ E[(theta_j - J)(theta_k - J)],
Sigma estimated by the bootstrap over episodes: Sigma = (m / E) mean_b (theta^b - theta)(theta^b -
theta)^T with bootstrap samples of m = round(sample_fraction * E) episodes (m < E is the
m-out-of-n bootstrap; m / E rescales the variance to E episodes). The bootstrap sees each
estimator's variance and the part of its bias that depends on the sample size (the O(1/n) bias
of WIS, the bias of a shrinking estimator); a bias that does not shrink with data (a misspecified
FQE) is invisible to it, which is OPERA's stated limitation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rlcore.ensemble.estimators.base import (
    Estimator,
    Steps,
    as_steps,
    check_actions,
    clone,
    display_name,
    policy_probs,
    policy_table,
)
from rlcore.ensemble.estimators.fqi import FQE
from rlcore.registry import export
from rlcore.validation import as_generator, check_int, check_range


class _Episodes:
    """Padded (E, L) per-decision quantities of the data under pi and b."""

    def __init__(self, estimator: Any, data: Any, what: str) -> None:
        from rlcore.returns import importance_ratio

        self.gamma = check_range("gamma", estimator.gamma, 0.0, 1.0)
        self.pi = policy_table(estimator.target_policy, f"{what} target_policy")
        b = policy_table(estimator.behavior_policy, f"{what} behavior_policy")
        if b.shape != self.pi.shape:
            raise ValueError(
                f"{what}: behavior_policy has shape {b.shape} but target_policy {self.pi.shape}; "
                "both are (n_states, n_actions) tables of the same MDP."
            )
        self.steps = steps = as_steps(data, what)
        a = check_actions(steps.actions, self.pi.shape[1], what)
        rows = steps.padded_rows()  # (E, L)
        self.live = live = rows >= 0
        self.rows = np.where(live, rows, 0)
        s = steps.observations
        pi_a = policy_probs(self.pi, s, what)[np.arange(steps.n_steps), a]
        b_a = policy_probs(b, s, what)[np.arange(steps.n_steps), a]
        rho = np.where(live, importance_ratio(pi_a, b_a)[self.rows], 1.0)  # (E, L)
        self.w = np.cumprod(rho, axis=1)  # w_t, an ended episode keeps its last weight
        self.r = np.where(live, steps.rewards[self.rows], 0.0)
        self.discount = self.gamma ** np.arange(rows.shape[1])  # (L,) gamma^t


@export("estimators.importance_sampling")
class ImportanceSampling(Estimator):
    """Per-decision (weighted) importance sampling estimate of J(pi) (module docstring).

    Args:
        target_policy, behavior_policy: (S, A) probability tables (or ``policies.tabular``).
        gamma: discount in [0, 1].
        weighted: per-decision weighted IS instead of ordinary.

    Attributes:
        value_: the estimate of J(pi).
    """

    _fitted = ("value_",)

    def __init__(
        self,
        target_policy: Any,
        behavior_policy: Any,
        *,
        gamma: float = 1.0,
        weighted: bool = False,
    ) -> None:
        self.target_policy = target_policy
        self.behavior_policy = behavior_policy
        self.gamma = gamma
        self.weighted = weighted

    def fit(self, data: Any) -> ImportanceSampling:
        ep = _Episodes(self, data, "estimators.importance_sampling")
        wr = ep.w * ep.r  # (E, L)
        if self.weighted:
            total = ep.w.sum(axis=0)  # (L,)
            per_t = np.divide(wr.sum(axis=0), total, out=np.zeros_like(total), where=total > 0)
            self.value_ = float(np.sum(ep.discount * per_t))
        else:
            self.value_ = float(np.mean(np.sum(ep.discount * wr, axis=1)))
        return self


@export("estimators.doubly_robust")
class DoublyRobust(Estimator):
    """Doubly robust estimate of J(pi) (Jiang & Li 2016) with an FQE Q-model (module docstring).

    Args:
        target_policy, behavior_policy, gamma: as ``estimators.importance_sampling``.
        q_estimator: an unfitted ``estimators.fqe`` for Q^ (cloned and fit on the same data); None
            builds ``FQE(target_policy, gamma=gamma, n_states=S)``.

    Attributes:
        value_: the estimate. q_estimator_: the fitted Q-model.
    """

    _fitted = ("value_", "q_estimator_")

    def __init__(
        self,
        target_policy: Any,
        behavior_policy: Any,
        *,
        gamma: float = 1.0,
        q_estimator: Any = None,
    ) -> None:
        self.target_policy = target_policy
        self.behavior_policy = behavior_policy
        self.gamma = gamma
        self.q_estimator = q_estimator

    def fit(self, data: Any) -> DoublyRobust:
        what = "estimators.doubly_robust"
        ep = _Episodes(self, data, what)
        steps = ep.steps
        if self.q_estimator is None:
            q_model = FQE(self.target_policy, gamma=ep.gamma, n_states=ep.pi.shape[0])
        else:
            q_model = clone(self.q_estimator)
        q_model.fit(steps)
        q = q_model.predict(steps.observations)  # (N, A) Q^(S_t, .)
        n = np.arange(steps.n_steps)
        q_sa = q[n, steps.actions.astype(np.int64)]
        v_s = np.sum(policy_probs(ep.pi, steps.observations, what) * q, axis=1)
        q_sa = np.where(ep.live, q_sa[ep.rows], 0.0)  # (E, L)
        v_s = np.where(ep.live, v_s[ep.rows], 0.0)
        w_prev = np.concatenate([np.ones((ep.w.shape[0], 1)), ep.w[:, :-1]], axis=1)
        terms = ep.w * ep.r - (ep.w * q_sa - w_prev * v_s)
        self.value_ = float(np.mean(np.sum(ep.discount * terms, axis=1)))
        self.q_estimator_ = q_model
        return self


def _named(estimators: Any) -> list[tuple[str, Any]]:
    if not isinstance(estimators, Sequence) or isinstance(estimators, str) or len(estimators) < 2:
        raise ValueError(
            "estimators.opera: estimators must be a list of at least two OPE estimators (or "
            "(name, estimator) pairs), e.g. importance sampling, weighted IS, doubly robust, FQE."
        )
    named = []
    for i, e in enumerate(estimators):
        pair = isinstance(e, (tuple, list)) and len(e) == 2 and isinstance(e[0], str)
        name, est = e if pair else (None, e)
        if not callable(getattr(est, "fit", None)):
            raise TypeError(
                f"estimators.opera: estimator {i} ({est!r}) has no fit(data); it must set value_."
            )
        named.append((name or f"{display_name(est)}_{i}", est))
    return named


@export("estimators.opera")
class OPERA(Estimator):
    """OPERA: bootstrap-MSE-weighted blend of OPE estimates (Nie et al. 2024; module docstring).

    Args:
        estimators: OPE estimators (fit(data) sets ``value_``) or (name, estimator) pairs, >= 2.
        n_bootstrap: bootstrap samples B >= 2.
        sample_fraction: m / E in (0, 1], episodes per bootstrap sample as a fraction of E.
        nonnegative: also constrain alpha >= 0 (then a convex combination).
        seed: seeds the bootstrap.

    Attributes:
        estimates_: (K,) the estimators' values on all data. mse_matrix_: (K, K) Sigma.
        weights_: (K,) alpha. value_: sum_k alpha_k estimates_k. estimated_mse_: alpha^T Sigma
        alpha. estimator_names_: the K names.
    """

    _fitted = (
        "value_",
        "estimates_",
        "mse_matrix_",
        "weights_",
        "estimated_mse_",
        "estimator_names_",
    )

    def __init__(
        self,
        estimators: Any,
        *,
        n_bootstrap: int = 100,
        sample_fraction: float = 1.0,
        nonnegative: bool = False,
        seed: int | None = 0,
    ) -> None:
        self.estimators = estimators
        self.n_bootstrap = n_bootstrap
        self.sample_fraction = sample_fraction
        self.nonnegative = nonnegative
        self.seed = seed

    def fit(self, data: Any) -> OPERA:
        what = "estimators.opera"
        named = _named(self.estimators)
        B = check_int("n_bootstrap", self.n_bootstrap, 2, hint="Use e.g. 100 bootstrap samples.")
        fraction = check_range("sample_fraction", self.sample_fraction, 0.0, 1.0, low_open=True)
        steps = as_steps(data, what)
        E = steps.n_episodes
        m = max(1, round(fraction * E))
        rng = as_generator(self.seed)
        theta = self._estimates(named, steps)
        deviations = np.empty((B, theta.size))
        for b in range(B):
            sample = steps.select_episodes(rng.integers(E, size=m))
            deviations[b] = self._estimates(named, sample) - theta
        sigma = (m / E) * deviations.T @ deviations / B  # (K, K)
        alpha = opera_weights(sigma, nonnegative=bool(self.nonnegative))
        self.estimates_, self.mse_matrix_, self.weights_ = theta, sigma, alpha
        self.value_ = float(alpha @ theta)
        self.estimated_mse_ = float(alpha @ sigma @ alpha)
        self.estimator_names_ = [name for name, _ in named]
        return self

    @staticmethod
    def _estimates(named: list[tuple[str, Any]], steps: Steps) -> np.ndarray:
        return np.asarray([float(clone(e).fit(steps).value_) for _, e in named])


def opera_weights(sigma: np.ndarray, *, nonnegative: bool = False) -> np.ndarray:
    """alpha = argmin alpha^T Sigma alpha subject to sum(alpha) = 1 (and alpha >= 0).

    Without the sign constraint alpha = Sigma^{-1} 1 / (1^T Sigma^{-1} 1); Sigma gets a ridge of
    1e-10 * trace / K so that redundant (identical) estimators stay solvable. With it, SLSQP.

    Args:
        sigma: (K, K) symmetric positive semi-definite MSE matrix.
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    K = sigma.shape[0]
    reg = sigma + (1e-10 * max(np.trace(sigma), 1e-300) / K) * np.eye(K)
    ones = np.ones(K)
    alpha = np.linalg.solve(reg, ones)
    alpha = alpha / alpha.sum()
    if nonnegative and np.any(alpha < 0):
        from scipy.optimize import minimize

        res = minimize(
            lambda a: a @ reg @ a,
            np.full(K, 1.0 / K),
            jac=lambda a: 2 * reg @ a,
            bounds=[(0.0, 1.0)] * K,
            constraints=({"type": "eq", "fun": lambda a: a.sum() - 1.0},),
            method="SLSQP",
        )
        alpha = np.clip(res.x, 0.0, None)
        alpha = alpha / alpha.sum()
    return alpha


__all__ = ["DoublyRobust", "ImportanceSampling", "OPERA", "opera_weights"]
