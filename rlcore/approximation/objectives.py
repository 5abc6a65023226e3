"""Ground truth for linear prediction from a finite model: distributions, errors, fixed points.

Everything here is exact linear algebra on a ``FiniteMDP`` (or its matrices), used by the tests
and the book figures to check what the learners converge to (Sutton & Barto (2018) ch. 9, 11):

- ``on_policy_distribution``: mu(s), the fraction of time spent in s (eqs. 9.2-9.3 for episodic
  tasks, the stationary distribution for continuing ones);
- ``policy_model``: (P_pi, r_pi), the continuation matrix and expected reward under a policy;
- ``value_error``: VE(w) = sum_s mu(s) [v_pi(s) - v(s, w)]^2 (eq. 9.1);
- ``ve_minimizer``: argmin_w VE(w), where gradient Monte Carlo converges (§9.3);
- ``td_fixed_point``: w_TD = A^{-1} b, A = X^T D (I - gamma P) X, b = X^T D r (eqs. 9.11-9.12);
- ``bellman_error`` / ``projected_bellman_error``: delta_w = r + gamma P X w - X w and
  PBE(w) = ||Pi delta_w||^2_mu (§11.4), zero exactly at w_TD;
- ``model_transitions``: every (s, a, s') outcome with its probability under a behaviour, for
  expected ("DP") updates such as Figures 11.2, 11.5 and 11.6.

X is the (S, d) feature matrix (rows x(s)^T), D = diag(mu).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from rlcore.tabular.mdp import FiniteMDP


def _dense(m: Any) -> np.ndarray:
    return m.toarray() if sp.issparse(m) else np.asarray(m, dtype=np.float64)


def policy_model(mdp: FiniteMDP, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P_pi, r_pi): P_pi[s, s'] the probability of continuing from s to s' (terminal outcomes
    excluded, so rows of an episodic task sum to less than 1) and r_pi[s] the expected reward.

    Args:
        mdp: the model. policy: (S, A) action probabilities.
    """
    p_pi, r_pi = mdp.policy_matrices(np.asarray(policy, dtype=np.float64))
    return _dense(p_pi), np.asarray(r_pi, dtype=np.float64)


def on_policy_distribution(mdp: FiniteMDP, policy: np.ndarray) -> np.ndarray:
    """mu(s): the on-policy distribution (Sutton & Barto (2018) §9.2).

    Episodic (the policy terminates): eta = h + P_pi^T eta, the expected visits per episode from
    the start distribution h (eq. 9.2), normalised (eq. 9.3). Continuing (no termination): the
    stationary distribution mu = P_pi^T mu, sum mu = 1.

    Returns:
        (S,) distribution.
    """
    p_pi, _ = policy_model(mdp, policy)
    S = mdp.n_states
    system = np.eye(S) - p_pi.T
    if np.all(np.abs(p_pi.sum(axis=1) - 1.0) < 1e-12):  # continuing: stationary distribution
        lhs = np.vstack([system, np.ones((1, S))])
        rhs = np.concatenate([np.zeros(S), [1.0]])
        mu = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
    else:
        eta = np.linalg.solve(system, mdp.initial)
        mu = eta / eta.sum()
    return np.maximum(mu, 0.0)


def value_error(v_hat: np.ndarray, v_true: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """VE = sum_s mu(s) [v_pi(s) - v(s, w)]^2 (eq. 9.1); v_hat may carry leading run axes."""
    return np.sum(mu * (np.asarray(v_true) - np.asarray(v_hat)) ** 2, axis=-1)


def ve_minimizer(X: np.ndarray, v_true: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """argmin_w sum_s mu(s) [v_pi(s) - w . x(s)]^2 (weighted least squares; min-norm if not
    unique). Gradient Monte Carlo converges here (Sutton & Barto (2018) §9.3)."""
    sq = np.sqrt(np.asarray(mu, dtype=np.float64))[:, None]
    return np.linalg.lstsq(sq * X, sq[:, 0] * v_true, rcond=None)[0]


def td_fixed_point(
    X: np.ndarray, mu: np.ndarray, p_pi: np.ndarray, r_pi: np.ndarray, gamma: float
) -> np.ndarray:
    """w_TD = A^{-1} b with A = X^T D (I - gamma P_pi) X, b = X^T D r_pi (eqs. 9.11-9.12).

    Semi-gradient TD(0), LSTD and TDC converge here (for on-policy mu); it is the projected
    Bellman fixed point Pi T w = w, where PBE = 0 (§11.4).
    """
    D = np.asarray(mu, dtype=np.float64)[:, None]
    A = X.T @ (D * (X - gamma * (_dense(p_pi) @ X)))
    b = X.T @ (D[:, 0] * r_pi)
    return np.linalg.solve(A, b)


def bellman_error(
    w: np.ndarray, X: np.ndarray, p_pi: np.ndarray, r_pi: np.ndarray, gamma: float
) -> np.ndarray:
    """The Bellman error vector delta_w(s) = r_pi(s) + gamma sum_s' P_pi(s, s') v(s') - v(s)
    (§11.4); w of shape (..., d) gives (..., S)."""
    v = np.asarray(w) @ X.T  # (..., S)
    return r_pi + gamma * v @ _dense(p_pi).T - v


def projected_bellman_error(
    w: np.ndarray,
    X: np.ndarray,
    mu: np.ndarray,
    p_pi: np.ndarray,
    r_pi: np.ndarray,
    gamma: float,
) -> np.ndarray:
    """PBE(w) = ||Pi delta_w||^2_mu = (X^T D delta_w)^T (X^T D X)^{-1} (X^T D delta_w)
    (§11.4 and §11.7), with Pi the mu-weighted projection onto the span of X (§11.4)."""
    delta = bellman_error(w, X, p_pi, r_pi, gamma)  # (..., S)
    g = (delta * mu) @ X  # (..., d): X^T D delta
    c = X.T @ (np.asarray(mu)[:, None] * X)  # X^T D X
    return np.einsum("...i,...i->...", g, np.linalg.lstsq(c, g.T, rcond=None)[0].T)


def model_transitions(
    mdp: FiniteMDP, behavior: np.ndarray, mu: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every outcome (s, a, r, s', terminated) of the model with its probability
    mu(s) b(a | s) p(s', r | s, a) (mu: the behaviour's on-policy distribution by default).

    An expected update is the probability-weighted sum of one-step updates over these rows
    (e.g. Figure 11.2's semi-gradient DP, eq. 11.9, and the expected TDC and emphatic TD of
    Figures 11.5-11.6).

    Returns:
        dict of (K,) arrays ``s``, ``a``, ``r``, ``s_next``, ``terminated``, ``prob``.
    """
    b = np.asarray(behavior, dtype=np.float64)
    mu = on_policy_distribution(mdp, b) if mu is None else np.asarray(mu, dtype=np.float64)
    counts = np.diff(mdp.indptr)
    rows = np.repeat(np.arange(mdp.n_states * mdp.n_actions), counts)
    s, a = rows // mdp.n_actions, rows % mdp.n_actions
    return {
        "s": s,
        "a": a,
        "r": mdp.reward.copy(),
        "s_next": mdp.next_state.copy(),
        "terminated": mdp.terminated.copy(),
        "prob": mu[s] * b[s, a] * mdp.prob,
    }


__all__ = [
    "bellman_error",
    "model_transitions",
    "on_policy_distribution",
    "policy_model",
    "projected_bellman_error",
    "td_fixed_point",
    "value_error",
    "ve_minimizer",
]
