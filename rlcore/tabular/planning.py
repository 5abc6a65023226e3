"""Dynamic programming on a known finite MDP: policy evaluation, policy iteration, value iteration.

Sutton & Barto (2018) chapter 4. Every function takes the model in one of three forms:

- a :class:`~rlcore.tabular.mdp.FiniteMDP`;
- a gymnasium env whose unwrapped env exposes the model ``P[s][a] -> [(p, s', r, terminated)]``
  (gymnasium's FrozenLake-v1, CliffWalking-v1, Taxi-v4 and the ``rlcore/...`` book envs), or a
  ``finite_mdp()`` method (:class:`ExposesFiniteMDP`, for models too large for a list of tuples);
- a pair of arrays ``(P, R)``: P of shape (S, A, S), R of shape (S, A) or (S, A, S), with no
  terminal states (use ``FiniteMDP.from_arrays(P, R, terminal=...)`` for episodic arrays).

Backups use the model's outcome table: q(s, a) = r(s, a) + gamma * sum_s' P_c(s' | s, a) v(s'),
where P_c leaves out outcomes that terminate the episode (eq. 4.6).

Exactness. Iterative methods stop after the first sweep whose largest change ``delta`` is below
``theta``. Both the synchronous and the in-place (Gauss-Seidel) sweep are gamma-contractions in the
max norm, so for gamma < 1 the returned values satisfy

    max_s |v(s) - v_true(s)| <= gamma * delta / (1 - gamma) < gamma * theta / (1 - gamma),

reported as ``DPResult.error_bound`` (v_true is v_pi for evaluation, v* for value iteration).
With gamma = 1 (episodic tasks) there is no such a-priori bound (``error_bound`` is inf); the
iteration converges only if every evaluated policy (policy evaluation) or the optimal one (value
iteration) is *proper*: it reaches a terminal state with probability one from every state.
``method="exact"`` solves (I - gamma P_pi) v = r_pi with a sparse LU factorisation.

Greedy policies split ties: actions with q(s, a) >= max_a q(s, a) - tie_tol share the
probability equally. For gamma < 1 the default ``tie_tol`` is the largest difference that the
stopping error can create between two truly tied actions (2 * gamma * error_bound, at least
1e-9 * max|q|), so truly optimal actions are never dropped; actions whose true q lies within
that tolerance of the best are also reported as tied. For gamma = 1 there is no such bound and
the default is 10 * theta (at least 1e-9 * max|q|): pass ``tie_tol`` where it matters.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import MatrixRankWarning, spsolve

from rlcore.registry import export
from rlcore.tabular.mdp import ExposesFiniteMDP, FiniteMDP
from rlcore.validation import check_choice, check_int, check_range

__all__ = [
    "DPResult",
    "ExposesFiniteMDP",
    "greedy_policy",
    "policy_evaluation",
    "policy_iteration",
    "q_from_v",
    "value_iteration",
]

_ROW_SUM_TOLERANCE = 1e-6
_IMPROPER_HINT = (
    "With gamma=1 the values are finite only for a proper policy (one that reaches a terminal "
    "state with probability 1 from every state, e.g. not one that loops forever in place); use "
    "gamma < 1, start from a proper policy, or check that the model has terminal states."
)


@export("planning.dp_result")
@dataclass(frozen=True, eq=False)
class DPResult:
    """What a dynamic-programming solver returns. Arrays are read-only.

    Attributes:
        v: (S,) state values: v_pi for policy evaluation, v* (approximately) otherwise.
        q: (S, A) one-step lookahead of ``v``: q(s, a) = r(s, a) + gamma sum_s' P_c v(s').
        policy: (S, A) greedy policy with respect to ``q``, ties split uniformly. For value and
            policy iteration this is an optimal policy; for policy evaluation it is the improved
            policy of §4.2 (not the evaluated one), as in Figure 4.1's right-hand column.
        sweeps: sweeps over the state space (all evaluations together for policy iteration;
            0 with exact evaluation).
        improvements: policy iteration only: how many improvement steps changed the policy, so
            the final policy is pi_{improvements}; 0 for the other solvers.
        delta: largest value change in the last sweep (0.0 for exact evaluation).
        error_bound: bound on max_s |v(s) - v_true(s)|: gamma * delta / (1 - gamma) for
            iterative methods with gamma < 1, inf with gamma = 1, 0.0 for exact evaluation
            (exact up to floating-point rounding).
        tie_tol: tolerance used to split ties in ``policy``.
        history: with ``record_history``: v_0, v_1, ... after each sweep (policy and value
            iteration's sweeps, history[k] = v_k), or v_{pi_0}, v_{pi_1}, ... for policy
            iteration; else empty.
        policies: policy iteration with ``record_history``: pi_0, pi_1, ..., each (S, A).
    """

    v: np.ndarray
    q: np.ndarray
    policy: np.ndarray
    sweeps: int
    improvements: int
    delta: float
    error_bound: float
    tie_tol: float
    history: tuple[np.ndarray, ...] = ()
    policies: tuple[np.ndarray, ...] = ()

    def __post_init__(self) -> None:
        for arr in (self.v, self.q, self.policy, *self.history, *self.policies):
            arr.flags.writeable = False


# -- model and argument handling ---------------------------------------------------------------


def _as_mdp(model: Any) -> FiniteMDP:
    """The FiniteMDP behind a FiniteMDP, an env with a finite model, or a (P, R) pair."""
    if isinstance(model, FiniteMDP):
        return model
    if isinstance(model, tuple) and len(model) == 2:
        return FiniteMDP.from_arrays(*model)
    import gymnasium as gym

    if isinstance(model, gym.Env):
        return FiniteMDP.from_env(model)  # raises TypeError when the env has no model P
    raise TypeError(
        f"dynamic programming needs a finite model: a FiniteMDP, a gymnasium env exposing "
        f"env.unwrapped.P, or a pair (P, R) of arrays shaped (S, A, S) and (S, A); got "
        f"{type(model).__name__}."
    )


def _check_common(
    gamma: Any, theta: Any, max_sweeps: Any, tie_tol: Any
) -> tuple[float, float, int]:
    gamma = check_range(
        "gamma", gamma, 0.0, 1.0, hint="Use a discount in [0, 1]; 1 only for episodic tasks."
    )
    theta = check_range(
        "theta",
        theta,
        0.0,
        None,
        low_open=True,
        hint="theta is the stopping threshold on the largest value change; use e.g. 1e-8.",
    )
    max_sweeps = check_int("max_sweeps", max_sweeps, 1)
    if tie_tol is not None:
        check_range("tie_tol", tie_tol, 0.0, None)
    return gamma, theta, max_sweeps


def _as_policy(policy: Any, n_states: int, n_actions: int) -> np.ndarray:
    """(S, A) action probabilities from an (S, A) array or an (S,) array of action indices."""
    pi = np.asarray(policy)
    if pi.shape == (n_states,) and np.issubdtype(pi.dtype, np.integer):
        if pi.min() < 0 or pi.max() >= n_actions:
            raise ValueError(
                f"policy holds action indices outside [0, {n_actions - 1}] "
                f"(min {pi.min()}, max {pi.max()})."
            )
        return np.eye(n_actions)[pi]
    if pi.shape != (n_states, n_actions):
        raise ValueError(
            f"policy has shape {pi.shape}; expected ({n_states}, {n_actions}) action "
            f"probabilities or ({n_states},) integer actions for this model."
        )
    pi = pi.astype(np.float64)
    if not np.all(np.isfinite(pi)) or np.any(pi < 0):
        raise ValueError("policy probabilities must be finite and non-negative.")
    sums = pi.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > _ROW_SUM_TOLERANCE)
    if bad.size:
        raise ValueError(
            f"policy row {int(bad[0])} sums to {sums[bad[0]]:.9g}, not 1 (tolerance "
            f"{_ROW_SUM_TOLERANCE:g}); each row is pi(. | s)."
        )
    return pi


def _as_values(v0: Any, n_states: int) -> np.ndarray:
    if v0 is None:
        return np.zeros(n_states)
    v = np.array(v0, dtype=np.float64)
    if v.shape != (n_states,) or not np.all(np.isfinite(v)):
        raise ValueError(f"v0 must be a finite array of shape ({n_states},), got shape {v.shape}.")
    return v


def _error_bound(gamma: float, delta: float) -> float:
    return gamma * delta / (1.0 - gamma) if gamma < 1.0 else math.inf


def _tie_tol(
    tie_tol: float | None, gamma: float, theta: float, bound: float, q: np.ndarray
) -> float:
    """The given tolerance, or one that covers the stopping error of q (see module docstring)."""
    if tie_tol is not None:
        return check_range("tie_tol", tie_tol, 0.0, None)
    floor = 1e-9 * max(1.0, float(np.max(np.abs(q))))
    if math.isinf(bound):  # gamma = 1: no a-priori bound; a few stopping thresholds
        return max(floor, 10.0 * theta)
    return max(floor, 2.0 * gamma * bound)


# -- pure pieces -------------------------------------------------------------------------------


@export("planning.q_from_v")
def q_from_v(model: Any, v: np.ndarray, gamma: float) -> np.ndarray:
    """One-step lookahead q(s, a) = r(s, a) + gamma * sum_s' p(s' | s, a) v(s') (eq. 4.6).

    Args:
        model: a FiniteMDP, an env with a finite model, or a (P, R) pair.
        v: (S,) state values.
        gamma: discount in [0, 1].

    Returns:
        (S, A) action values; outcomes that end the episode contribute no bootstrap.
    """
    mdp = _as_mdp(model)
    gamma = check_range("gamma", gamma, 0.0, 1.0)
    return mdp.q_from_v(_as_values(v, mdp.n_states), gamma)


@export("planning.greedy_policy")
def greedy_policy(q: np.ndarray, tie_tol: float = 1e-9) -> np.ndarray:
    """pi(a | s) uniform over {a : q(s, a) >= max_b q(s, b) - tie_tol} (§4.2, ties split).

    Args:
        q: (S, A) action values (or (..., A), any leading axes).
        tie_tol: actions this close to the best count as tied.

    Returns:
        Action probabilities with q's shape, each row summing to one.
    """
    q = np.asarray(q, dtype=np.float64)
    tie_tol = check_range("tie_tol", tie_tol, 0.0, None)
    tied = q >= q.max(axis=-1, keepdims=True) - tie_tol
    return tied / tied.sum(axis=-1, keepdims=True)


def _outcome_blocks(mdp: FiniteMDP, gamma: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """For in-place backups: gamma * p * (1 - terminated) per outcome and, per state, the
    offsets of its actions' outcome rows within the state's block."""
    A = mdp.n_actions
    weight = gamma * np.where(mdp.terminated, 0.0, mdp.prob)
    offsets = [mdp.indptr[s * A : (s + 1) * A] - mdp.indptr[s * A] for s in range(mdp.n_states)]
    return weight, offsets


def _sweep_optimal_in_place(
    v: np.ndarray, r: np.ndarray, mdp: FiniteMDP, weight: np.ndarray, offsets: list[np.ndarray]
) -> float:
    """One Gauss-Seidel sweep of v(s) <- max_a q(s, a) in state order (§4.4 pseudo-code)."""
    A, ns, ptr = mdp.n_actions, mdp.next_state, mdp.indptr
    delta = 0.0
    for s in range(mdp.n_states):
        lo, hi = ptr[s * A], ptr[(s + 1) * A]
        v_s = float((r[s] + np.add.reduceat(weight[lo:hi] * v[ns[lo:hi]], offsets[s])).max())
        delta = max(delta, abs(v_s - v[s]))
        v[s] = v_s
    return delta


def _sweep_policy_in_place(v: np.ndarray, r_pi: np.ndarray, gp_pi: sp.csr_matrix) -> float:
    """One Gauss-Seidel sweep of v(s) <- r_pi(s) + gamma sum_s' P_pi(s, s') v(s') (§4.1)."""
    data, idx, ptr = gp_pi.data, gp_pi.indices, gp_pi.indptr
    delta = 0.0
    for s in range(v.shape[0]):
        v_s = float(r_pi[s] + data[ptr[s] : ptr[s + 1]] @ v[idx[ptr[s] : ptr[s + 1]]])
        delta = max(delta, abs(v_s - v[s]))
        v[s] = v_s
    return delta


def _not_converged(
    what: str, max_sweeps: int, delta: float, theta: float, gamma: float
) -> RuntimeError:
    hint = _IMPROPER_HINT if gamma == 1.0 else "Raise max_sweeps (gamma close to 1 needs more)."
    return RuntimeError(
        f"{what} did not converge in max_sweeps={max_sweeps} sweeps: the last sweep changed a "
        f"value by {delta:.3g} >= theta={theta:g}. {hint}"
    )


def _evaluate_iterative(
    mdp: FiniteMDP,
    pi: np.ndarray,
    gamma: float,
    theta: float,
    in_place: bool,
    max_sweeps: int,
    v: np.ndarray,
    history: list[np.ndarray] | None,
) -> tuple[np.ndarray, int, float]:
    p_pi, r_pi = mdp.policy_matrices(pi)
    gp_pi = (gamma * p_pi).tocsr()
    delta = math.inf
    for sweep in range(1, max_sweeps + 1):
        if in_place:
            delta = _sweep_policy_in_place(v, r_pi, gp_pi)
        else:
            v_new = r_pi + gp_pi @ v
            delta = float(np.max(np.abs(v_new - v)))
            v = v_new
        if not np.all(np.isfinite(v)):
            raise RuntimeError(f"policy evaluation diverged (non-finite values). {_IMPROPER_HINT}")
        if history is not None:
            history.append(v.copy())
        if delta < theta:
            return v, sweep, delta
    raise _not_converged("policy evaluation", max_sweeps, delta, theta, gamma)


def _evaluate_exact(mdp: FiniteMDP, pi: np.ndarray, gamma: float) -> np.ndarray:
    """Solve (I - gamma P_pi) v = r_pi (eq. 4.4 as a linear system)."""
    p_pi, r_pi = mdp.policy_matrices(pi)
    system = (sp.identity(mdp.n_states, format="csc") - gamma * p_pi).tocsc()
    with warnings.catch_warnings():
        warnings.simplefilter("error", MatrixRankWarning)
        try:
            v = np.atleast_1d(spsolve(system, r_pi))
        except (RuntimeError, MatrixRankWarning) as err:
            raise ValueError(f"(I - gamma P_pi) is singular ({err}). {_IMPROPER_HINT}") from None
    residual = float(np.max(np.abs(system @ v - r_pi))) if np.all(np.isfinite(v)) else math.inf
    if residual > 1e-8 * max(1.0, float(np.max(np.abs(v)))):
        raise ValueError(f"(I - gamma P_pi) is (nearly) singular. {_IMPROPER_HINT}")
    return v


# -- solvers -----------------------------------------------------------------------------------


@export("planning.policy_evaluation")
def policy_evaluation(
    model: Any,
    policy: Any,
    gamma: float,
    *,
    theta: float = 1e-8,
    method: Literal["iterative", "exact"] = "iterative",
    in_place: bool = True,
    max_sweeps: int = 10_000,
    v0: np.ndarray | None = None,
    record_history: bool = False,
    tie_tol: float | None = None,
) -> DPResult:
    """v_pi(s) = sum_a pi(a|s) [r(s, a) + gamma sum_s' p(s'|s, a) v_pi(s')] (eq. 4.5, §4.1).

    Iterative policy evaluation sweeps v_{k+1} = r_pi + gamma P_pi v_k until the largest change is
    below ``theta``; ``method="exact"`` solves (I - gamma P_pi) v = r_pi instead.

    Args:
        model: a FiniteMDP, an env with a finite model, or a (P, R) pair (module docstring).
        policy: (S, A) action probabilities, or (S,) integer actions of a deterministic policy.
        gamma: discount in [0, 1]; 1 needs a proper policy.
        theta: stopping threshold (> 0) on max_s |v_{k+1}(s) - v_k(s)|.
        method: ``"iterative"`` (the book's sweeps) or ``"exact"`` (sparse linear solve).
        in_place: update v(s) in place, state by state (the book's pseudo-code), instead of
            computing all of v_{k+1} from v_k (synchronous, as in Figure 4.1's numbers).
        max_sweeps: give up (RuntimeError) after this many sweeps.
        v0: (S,) initial values; default zeros.
        record_history: keep v after every sweep in ``history`` (history[0] = v0).
        tie_tol: tie tolerance for the greedy ``policy`` of the result (module docstring).

    Returns:
        DPResult with v = v_pi and ``policy`` greedy with respect to v_pi.

    Raises:
        ValueError: bad gamma, theta, policy or v0; a singular system for ``method="exact"``.
        TypeError: a model that is not finite.
        RuntimeError: no convergence within ``max_sweeps`` (typically gamma = 1, improper policy).
    """
    mdp = _as_mdp(model)
    gamma, theta, max_sweeps = _check_common(gamma, theta, max_sweeps, tie_tol)
    check_choice("method", method, ("iterative", "exact"))
    pi = _as_policy(policy, mdp.n_states, mdp.n_actions)
    v = _as_values(v0, mdp.n_states)
    history = [v.copy()] if record_history else None
    if method == "exact":
        v, sweeps, delta, bound = _evaluate_exact(mdp, pi, gamma), 0, 0.0, 0.0
        if history is not None:
            history.append(v.copy())
    else:
        v, sweeps, delta = _evaluate_iterative(
            mdp, pi, gamma, theta, in_place, max_sweeps, v, history
        )
        bound = _error_bound(gamma, delta)
    q = mdp.q_from_v(v, gamma)
    tol = _tie_tol(tie_tol, gamma, theta, bound, q)
    return DPResult(v, q, greedy_policy(q, tol), sweeps, 0, delta, bound, tol, tuple(history or ()))


@export("planning.value_iteration")
def value_iteration(
    model: Any,
    gamma: float,
    *,
    theta: float = 1e-8,
    in_place: bool = True,
    max_sweeps: int = 10_000,
    v0: np.ndarray | None = None,
    record_history: bool = False,
    tie_tol: float | None = None,
) -> DPResult:
    """v_{k+1}(s) = max_a [r(s, a) + gamma sum_s' p(s'|s, a) v_k(s')] (eq. 4.10, §4.4).

    Sweeps until the largest change is below ``theta``; then
    max_s |v(s) - v*(s)| <= gamma * theta / (1 - gamma) for gamma < 1.

    Args:
        model: a FiniteMDP, an env with a finite model, or a (P, R) pair.
        gamma: discount in [0, 1]; 1 for episodic tasks whose optimal policy is proper.
        theta: stopping threshold (> 0).
        in_place: Gauss-Seidel sweeps in state order (the book's pseudo-code) or synchronous.
        max_sweeps: give up (RuntimeError) after this many sweeps.
        v0: (S,) initial values; default zeros.
        record_history: keep v after every sweep in ``history`` (history[k] = v_k, as plotted
            in Figure 4.3).
        tie_tol: tie tolerance for the greedy ``policy``.

    Returns:
        DPResult with v ~ v*, q ~ q* and ``policy`` greedy (optimal, ties split).
    """
    mdp = _as_mdp(model)
    gamma, theta, max_sweeps = _check_common(gamma, theta, max_sweeps, tie_tol)
    v = _as_values(v0, mdp.n_states)
    history = [v.copy()] if record_history else None
    r = mdp.expected_reward
    if in_place:
        weight, offsets = _outcome_blocks(mdp, gamma)
    delta, sweeps = math.inf, 0
    while delta >= theta:
        if sweeps == max_sweeps:
            raise _not_converged("value iteration", max_sweeps, delta, theta, gamma)
        sweeps += 1
        if in_place:
            delta = _sweep_optimal_in_place(v, r, mdp, weight, offsets)
        else:
            v_new = mdp.q_from_v(v, gamma).max(axis=1)
            delta = float(np.max(np.abs(v_new - v)))
            v = v_new
        if not np.all(np.isfinite(v)):
            raise RuntimeError(f"value iteration diverged (non-finite values). {_IMPROPER_HINT}")
        if history is not None:
            history.append(v.copy())
    q = mdp.q_from_v(v, gamma)
    bound = _error_bound(gamma, delta)
    tol = _tie_tol(tie_tol, gamma, theta, bound, q)
    return DPResult(v, q, greedy_policy(q, tol), sweeps, 0, delta, bound, tol, tuple(history or ()))


def _improve(pi: np.ndarray, q: np.ndarray, tie_tol: float) -> tuple[np.ndarray, bool]:
    """Greedy improvement that keeps pi(.|s) wherever its actions are all greedy (within tie_tol).

    Keeping the old action on ties is the fix of Exercise 4.4: the book's "policy-stable" test
    can otherwise flip forever between equally good actions. A changed row becomes the exact
    argmax, which beats the old action by more than tie_tol, so the loop terminates.
    """
    greedy = q >= q.max(axis=1, keepdims=True) - tie_tol
    keep = np.all(greedy | (pi == 0.0), axis=1)  # (S,) old support within the greedy set
    new = np.where(keep[:, None], pi, np.eye(q.shape[1])[np.argmax(q, axis=1)])
    return new, not bool(keep.all())


@export("planning.policy_iteration")
def policy_iteration(
    model: Any,
    gamma: float,
    *,
    policy: Any = None,
    evaluation: Literal["iterative", "exact"] = "iterative",
    theta: float = 1e-8,
    in_place: bool = True,
    max_sweeps: int = 10_000,
    max_improvements: int = 1_000,
    record_history: bool = False,
    tie_tol: float | None = None,
) -> DPResult:
    """Policy iteration (§4.3): evaluate pi_k, then pi_{k+1}(s) = argmax_a q_{pi_k}(s, a).

    Stops when an improvement step changes no state: the policy is stable. A state keeps its
    action when that action is among the greedy ones (within ``tie_tol``), so the loop does not
    flip-flop between equally good actions (Exercise 4.4). Iterative evaluation of pi_{k+1}
    starts from v_{pi_k}.

    Args:
        model: a FiniteMDP, an env with a finite model, or a (P, R) pair.
        gamma: discount in [0, 1]; with 1 every policy visited must be proper.
        policy: pi_0 as (S, A) probabilities or (S,) actions; default uniformly random.
        evaluation: ``"iterative"`` sweeps or ``"exact"`` linear solves.
        theta, in_place, max_sweeps: as in :func:`policy_evaluation`, for each evaluation.
        max_improvements: give up (RuntimeError) after this many improvement steps.
        record_history: keep v_{pi_k} in ``history`` and pi_k in ``policies``.
        tie_tol: tolerance for "among the greedy actions"; default as in the module docstring.

    Returns:
        DPResult with v = v_{pi*}, ``improvements`` = k of the final pi_k, and ``policy`` greedy
        with respect to q_{pi*} (all optimal actions, ties split).
    """
    mdp = _as_mdp(model)
    gamma, theta, max_sweeps = _check_common(gamma, theta, max_sweeps, tie_tol)
    check_choice("evaluation", evaluation, ("iterative", "exact"))
    max_improvements = check_int("max_improvements", max_improvements, 1)
    S, A = mdp.n_states, mdp.n_actions
    pi = np.full((S, A), 1.0 / A) if policy is None else _as_policy(policy, S, A)
    v, sweeps, delta = np.zeros(S), 0, 0.0
    values, policies = [], []
    for k in range(max_improvements + 1):
        if evaluation == "exact":
            v, bound = _evaluate_exact(mdp, pi, gamma), 0.0
        else:
            v, n, delta = _evaluate_iterative(mdp, pi, gamma, theta, in_place, max_sweeps, v, None)
            sweeps, bound = sweeps + n, _error_bound(gamma, delta)
        q = mdp.q_from_v(v, gamma)
        tol = _tie_tol(tie_tol, gamma, theta, bound, q)
        if record_history:
            values.append(v.copy())
            policies.append(pi.copy())
        pi, changed = _improve(pi, q, tol)
        if not changed:
            return DPResult(
                v,
                q,
                greedy_policy(q, tol),
                sweeps,
                k,
                delta,
                bound,
                tol,
                tuple(values),
                tuple(policies),
            )
    raise RuntimeError(
        f"policy iteration did not reach a stable policy in max_improvements={max_improvements} "
        "steps; raise max_improvements, or tie_tol if the values are evaluated only roughly."
    )
