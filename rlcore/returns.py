"""The pure math of value learning: TD errors, bootstrapped targets, multi-step returns, ratios.

Every function is arrays in, arrays out, with no state and no randomness, so one transition and a
batch of independent runs go through the same code (leading axes broadcast). The one-step
targets also accept plain Python floats and, for the action values of one state, a Python list
(the fast path the scalar tabular agents use).

Naming (rlax's convention, see ``rlcore.types``): a transition observed at time t is
(S_{t-1}, A_{t-1}, R_t, S_t) in these names, so

- ``v_tm1`` / ``q_tm1``: value of the state (or state-action) being updated, V(S_{t-1});
- ``r_t``: the reward R_t received on the transition;
- ``discount_t``: gamma, or 0 where S_t is terminal (``gamma * (1 - terminated)``); a truncated
  episode keeps ``gamma`` (its last state is not terminal, so the target bootstraps from it);
- ``v_t`` / ``q_t``: value(s) of the next state S_t, ``q_t`` of shape (..., A);
- ``a_t``: the next action A_t (Sarsa), ``probs_t``: pi(. | S_t) of shape (..., A).

Sequence functions (``discounted_returns``, ``n_step_returns``, ``lambda_returns``,
``tree_backup_returns``) take sequences along the LAST axis: ``r_t[..., i]`` is the reward of step
i, ``discount_t[..., i]`` its discount and ``v_t[..., i]`` the value of the state reached by it;
the returns come back with the same shape, ``G[..., i]`` being the return from the state before
step i. Leading axes are independent sequences (a batch of runs).

Sources: Sutton & Barto (2018), chapters 5-7 and 12; rlax ``value_learning.py`` and
``multistep.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ArrayLike = Any  # a float, a Python list of floats (one row) or a numpy array


# -- one-step targets and errors --------------------------------------------------------------
def td_target(r_t: ArrayLike, discount_t: ArrayLike, v_t: ArrayLike) -> ArrayLike:
    """The one-step TD target R_t + gamma_t V(S_t) (Sutton & Barto (2018) eq. 6.2).

    Args:
        r_t: reward(s), shape (...).
        discount_t: gamma, 0 at termination, shape (...).
        v_t: bootstrap value(s) of the next state, shape (...).

    Returns:
        The target, shape (...). Plain floats in, a plain float out.
    """
    return r_t + discount_t * v_t


def td_error(v_tm1: ArrayLike, r_t: ArrayLike, discount_t: ArrayLike, v_t: ArrayLike) -> ArrayLike:
    """The TD error delta = R_t + gamma_t V(S_t) - V(S_{t-1}) (Sutton & Barto (2018) eq. 6.5).

    Args:
        v_tm1: value(s) being updated, shape (...).
        r_t, discount_t, v_t: as in ``td_target``.

    Returns:
        delta, shape (...).
    """
    return r_t + discount_t * v_t - v_tm1


def _select(q_t: ArrayLike, a_t: ArrayLike) -> ArrayLike:
    """q_t[..., a_t]: one entry per row, for a list row, a 1-D array or a batch (..., A)."""
    if isinstance(q_t, np.ndarray) and q_t.ndim == 2:  # a batch of rows: a flat gather
        n = q_t.shape[0]
        if q_t.flags.f_contiguous:  # action-major rows (the batched engine's): a view of (A, n)
            return q_t.T.reshape(-1)[np.asarray(a_t) * n + np.arange(n)]
        return q_t[np.arange(n), a_t]  # (both about 2x faster than take_along_axis)
    if isinstance(q_t, np.ndarray) and q_t.ndim > 2:
        a = np.asarray(a_t)[..., None]
        return np.take_along_axis(q_t, a, axis=-1)[..., 0]
    return q_t[a_t]


def _max(q_t: ArrayLike) -> ArrayLike:
    """max_a q_t[..., a] for a list row or an array."""
    if isinstance(q_t, list):
        return max(q_t)
    return np.max(q_t, axis=-1)


def sarsa_target(
    r_t: ArrayLike, discount_t: ArrayLike, q_t: ArrayLike, a_t: ArrayLike
) -> ArrayLike:
    """Sarsa's target R_t + gamma_t Q(S_t, A_t) (Sutton & Barto (2018) eq. 6.7).

    Args:
        r_t, discount_t: shape (...).
        q_t: action values of the next state, shape (..., A) (or a Python list for one state).
        a_t: the next action, the one the behaviour policy will take, integer shape (...).
    """
    return r_t + discount_t * _select(q_t, a_t)


def q_learning_target(r_t: ArrayLike, discount_t: ArrayLike, q_t: ArrayLike) -> ArrayLike:
    """Q-learning's target R_t + gamma_t max_a Q(S_t, a) (Sutton & Barto (2018) eq. 6.8).

    Args:
        r_t, discount_t: shape (...).
        q_t: action values of the next state, shape (..., A) (or a Python list for one state).
    """
    return r_t + discount_t * _max(q_t)


def expected_value(q_t: ArrayLike, probs_t: ArrayLike) -> ArrayLike:
    """sum_a pi(a | S_t) Q(S_t, a), the state value under pi; shapes (..., A) -> (...)."""
    if isinstance(q_t, list):
        return sum(p * q for p, q in zip(probs_t, q_t))
    return np.sum(np.asarray(probs_t) * q_t, axis=-1)


def expected_sarsa_target(
    r_t: ArrayLike, discount_t: ArrayLike, q_t: ArrayLike, probs_t: ArrayLike
) -> ArrayLike:
    """Expected Sarsa's target R_t + gamma_t sum_a pi(a | S_t) Q(S_t, a) (S&B (2018) eq. 6.9).

    With a greedy pi this is Q-learning's target.

    Args:
        r_t, discount_t: shape (...).
        q_t: action values of the next state, shape (..., A).
        probs_t: the target policy pi(. | S_t), shape (..., A).
    """
    return r_t + discount_t * expected_value(q_t, probs_t)


def double_q_learning_target(
    r_t: ArrayLike, discount_t: ArrayLike, q_t_value: ArrayLike, a_star_t: ArrayLike
) -> ArrayLike:
    """Double Q-learning's target R_t + gamma_t Q2(S_t, argmax_a Q1(S_t, a)) (S&B (2018) §6.7).

    The caller picks ``a_star_t`` greedily from the selecting table Q1 (with random tie-breaking,
    ``rlcore.tabular.policies.greedy_action``); this function evaluates it with the other table.

    Args:
        r_t, discount_t: shape (...).
        q_t_value: the evaluating table's values of the next state Q2(S_t, .), shape (..., A).
        a_star_t: argmax_a Q1(S_t, a), integer shape (...).
    """
    return r_t + discount_t * _select(q_t_value, a_star_t)


# -- importance sampling -----------------------------------------------------------------------
def importance_ratio(pi_prob: ArrayLike, b_prob: ArrayLike) -> ArrayLike:
    """rho = pi(A | S) / b(A | S) for the action the behaviour policy b took (S&B (2018) eq. 5.3).

    Where both probabilities are zero the ratio is 0 (b never takes that action, so it never
    appears in data). Where b gives probability 0 to an action pi takes, importance sampling is
    undefined (the coverage assumption of §5.5 fails) and this raises.

    Args:
        pi_prob: target-policy probability pi(A | S), shape (...).
        b_prob: behaviour-policy probability b(A | S), shape (...).

    Raises:
        ValueError: some b_prob is 0 (or negative) where pi_prob > 0.
    """
    if isinstance(pi_prob, float | int) and isinstance(b_prob, float | int):
        if b_prob > 0:
            return pi_prob / b_prob
        if pi_prob > 0 or b_prob < 0:
            _coverage_error(pi_prob, b_prob)
        return 0.0
    pi, b = np.broadcast_arrays(
        np.asarray(pi_prob, dtype=np.float64), np.asarray(b_prob, dtype=np.float64)
    )
    bad = (b < 0) | ((b == 0) & (pi > 0))
    if np.any(bad):
        i = int(np.flatnonzero(bad.ravel())[0])
        _coverage_error(pi.ravel()[i], b.ravel()[i])
    return np.divide(pi, b, out=np.zeros(pi.shape), where=b > 0)


def _coverage_error(pi_prob: float, b_prob: float) -> None:
    raise ValueError(
        f"importance ratio undefined: the behaviour policy gives probability b={float(b_prob):g} "
        f"to an action the target policy takes with probability pi={float(pi_prob):g}. "
        "Off-policy learning needs coverage, b(a|s) > 0 wherever pi(a|s) > 0 (Sutton & Barto "
        "§5.5): use a behaviour policy that explores every action the target may take, e.g. "
        "epsilon-greedy with epsilon > 0 or the uniform random policy."
    )


# -- multi-step returns along the last axis ----------------------------------------------------
def _sequences(*arrays: ArrayLike) -> list[np.ndarray]:
    out = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in arrays))
    if out[0].ndim == 0:
        raise ValueError("sequence inputs need a time axis (the last axis); got scalars")
    return out


def discounted_returns(r_t: ArrayLike, discount_t: ArrayLike, v_t: ArrayLike = 0.0) -> np.ndarray:
    """Returns G_i = r_i + d_i G_{i+1}, bootstrapped with v at the end (S&B (2018) eq. 3.9).

    G_{T-1} = r_{T-1} + d_{T-1} v_{T-1}: the last step bootstraps from the value of the state it
    reached (0 for a terminal state, where d = 0 anyway). This is the Monte Carlo return of every
    step of an episode.

    Args:
        r_t: rewards, shape (..., T).
        discount_t: discounts, shape (..., T) or broadcastable (a scalar gamma).
        v_t: values of the states reached, shape (..., T) (only the last is used), or a scalar or
            (...,) bootstrap value for the end.

    Returns:
        G, shape (..., T).
    """
    r, d = _sequences(r_t, discount_t)
    v = np.asarray(v_t, dtype=np.float64)
    g = v[..., -1] if v.ndim == r.ndim else v
    out = np.empty(r.shape)
    g = np.broadcast_to(g, r.shape[:-1]).astype(np.float64)
    for i in range(r.shape[-1] - 1, -1, -1):
        g = r[..., i] + d[..., i] * g
        out[..., i] = g
    return out


def n_step_returns(r_t: ArrayLike, discount_t: ArrayLike, v_t: ArrayLike, n: int) -> np.ndarray:
    """n-step returns G_{i:i+n} = r_i + d_i r_{i+1} + ... + (d_i...d_{i+n-1}) v_{i+n-1}.

    Sutton & Barto (2018) eq. 7.1. Near the end of the sequence the window is cut at the end
    and bootstraps from ``v_t[..., -1]`` (so n >= T gives ``discounted_returns``; n = 1 gives
    ``td_target`` at every step).

    Args:
        r_t, discount_t, v_t: shape (..., T) (``discount_t`` may be a scalar gamma).
        n: number of steps, >= 1.

    Returns:
        G, shape (..., T).
    """
    from rlcore.validation import check_int

    n = check_int("n", n, 1, hint="The n-step return needs at least one step (n >= 1).")
    r, d, v = _sequences(r_t, discount_t, v_t)
    T = r.shape[-1]
    out = np.empty(r.shape)
    for i in range(T):
        end = min(i + n, T)  # steps i .. end-1 are summed, then bootstrap from v[end-1]
        g = v[..., end - 1]
        for j in range(end - 1, i - 1, -1):
            g = r[..., j] + d[..., j] * g
        out[..., i] = g
    return out


def lambda_returns(
    r_t: ArrayLike, discount_t: ArrayLike, v_t: ArrayLike, lambda_: ArrayLike = 1.0
) -> np.ndarray:
    """lambda-returns by the recursion G_i = r_i + d_i ((1 - lambda) v_i + lambda G_{i+1}).

    Sutton & Barto (2018) eq. 12.2-12.3 in recursive form (rlax ``multistep.lambda_returns``):
    the last step is G_{T-1} = r_{T-1} + d_{T-1} v_{T-1}. lambda = 1 gives the Monte Carlo return
    (``discounted_returns``), lambda = 0 the one-step TD target.

    Args:
        r_t, discount_t, v_t: shape (..., T) (``discount_t`` may be a scalar gamma).
        lambda_: scalar or shape (..., T), each in [0, 1].

    Returns:
        G^lambda, shape (..., T).
    """
    r, d, v, lam = _sequences(r_t, discount_t, v_t, lambda_)
    if np.any((lam < 0) | (lam > 1)):
        raise ValueError(
            f"lambda_ must lie in [0, 1], got values in [{lam.min():g}, {lam.max():g}]."
        )
    out = np.empty(r.shape)
    g = v[..., -1]
    for i in range(r.shape[-1] - 1, -1, -1):
        g = r[..., i] + d[..., i] * ((1.0 - lam[..., i]) * v[..., i] + lam[..., i] * g)
        out[..., i] = g
    return out


def tree_backup_returns(
    r_t: ArrayLike, discount_t: ArrayLike, q_t: ArrayLike, a_t: ArrayLike, probs_t: ArrayLike
) -> np.ndarray:
    """n-step tree-backup returns, one per step of the sequence (S&B (2018) eq. 7.16).

    G_i = r_i + d_i [ sum_{a != a_i} pi(a | S_{i+1}) Q(S_{i+1}, a)
                      + pi(a_i | S_{i+1}) G_{i+1} ],
    and the last step backs up the full expectation, G_{T-1} = r_{T-1} + d_{T-1} sum_a pi Q.
    Here S_{i+1} is the state reached by step i and ``a_t[..., i]`` the action taken there
    (A_{i+1} in the book; the last one is not used). With one step (T = 1) and a greedy pi this
    is Q-learning's target.

    Args:
        r_t: rewards, shape (..., T).
        discount_t: discounts, shape (..., T) or a scalar gamma.
        q_t: action values of the states reached, shape (..., T, A).
        a_t: actions taken in the states reached, integer shape (..., T).
        probs_t: target policy pi(. | S_{i+1}), shape (..., T, A).

    Returns:
        G, shape (..., T).
    """
    q = np.asarray(q_t, dtype=np.float64)
    pi = np.asarray(probs_t, dtype=np.float64)
    r, d = _sequences(r_t, discount_t)
    if q.shape[:-1] != r.shape or pi.shape != q.shape:
        raise ValueError(
            f"tree_backup_returns: r_t has shape {r.shape}, so q_t and probs_t need shape "
            f"{r.shape + (q.shape[-1],)}; got q_t {q.shape}, probs_t {pi.shape}."
        )
    a = np.asarray(a_t)[..., None]
    q_a = np.take_along_axis(q, a, axis=-1)[..., 0]  # (..., T)
    pi_a = np.take_along_axis(pi, a, axis=-1)[..., 0]  # (..., T)
    v = np.sum(pi * q, axis=-1)  # (..., T) expected value under pi
    out = np.empty(r.shape)
    g = r[..., -1] + d[..., -1] * v[..., -1]
    out[..., -1] = g
    for i in range(r.shape[-1] - 2, -1, -1):
        g = r[..., i] + d[..., i] * (v[..., i] - pi_a[..., i] * q_a[..., i] + pi_a[..., i] * g)
        out[..., i] = g
    return out


# -- eligibility traces (Sutton & Barto (2018) chapter 12) --------------------------------------
def accumulating_trace(z_tm1: ArrayLike, x_t: ArrayLike, discount_lambda: ArrayLike) -> np.ndarray:
    """z_t = gamma lambda z_{t-1} + x_t (S&B (2018) eq. 12.5; x_t = grad v(S_t), one-hot in the
    tabular case).

    Args:
        z_tm1: previous trace, shape (..., d).
        x_t: feature vector of the state (or state-action) visited, shape (..., d).
        discount_lambda: gamma * lambda, scalar or shape (...).

    Returns:
        z_t, shape (..., d).
    """
    return np.asarray(discount_lambda)[..., None] * z_tm1 + x_t


def replacing_trace(z_tm1: ArrayLike, x_t: ArrayLike, discount_lambda: ArrayLike) -> np.ndarray:
    """z_t,i = 1 where x_t,i = 1, else gamma lambda z_{t-1,i}: the replacing trace for binary
    features (Singh & Sutton 1996; discussed in Sutton & Barto (2018) chapter 12).

    Args: as ``accumulating_trace`` (``x_t`` binary).
    """
    decayed = np.asarray(discount_lambda)[..., None] * z_tm1
    return np.where(np.asarray(x_t) > 0, 1.0, decayed)


def dutch_trace(
    z_tm1: ArrayLike, x_t: ArrayLike, discount_lambda: ArrayLike, alpha: ArrayLike
) -> np.ndarray:
    """z_t = gamma lambda z_{t-1} + (1 - alpha gamma lambda z_{t-1}^T x_t) x_t (S&B (2018)
    eq. 12.11; van Seijen & Sutton 2014). In the tabular case the visited entry becomes
    (1 - alpha) gamma lambda z + 1.

    Args: as ``accumulating_trace``, plus the step size ``alpha`` (scalar or shape (...)).
    """
    gl = np.asarray(discount_lambda)[..., None]
    zx = np.sum(np.asarray(z_tm1) * x_t, axis=-1, keepdims=True)  # (..., 1)
    return gl * z_tm1 + (1.0 - np.asarray(alpha)[..., None] * gl * zx) * x_t


__all__ = [
    "accumulating_trace",
    "dutch_trace",
    "replacing_trace",
    "discounted_returns",
    "double_q_learning_target",
    "expected_sarsa_target",
    "expected_value",
    "importance_ratio",
    "lambda_returns",
    "n_step_returns",
    "q_learning_target",
    "sarsa_target",
    "td_error",
    "td_target",
    "tree_backup_returns",
]
