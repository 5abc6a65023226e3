"""Action selection from action values: greedy, epsilon-greedy and softmax, each written once.

Two kinds of function, both pure (randomness comes in as uniform numbers ``u`` in [0, 1)):

- ``*_probs(q, ...)``: the distribution pi(. | s) from action values ``q`` of shape (..., A), for
  any number of leading axes (one state, a batch of runs, a whole (S, A) table).
- ``*_action(q, ..., u)``: one action per row, drawn with the given uniforms. The rule is fixed
  (below), so the same uniforms give the same actions for a batch of runs (NumPy, shape
  (..., A)) and for one state given as a Python list (the fast path the scalar agents use);
  a test checks that both paths agree and that the action frequencies equal ``*_probs``.

Action masks (gymnasium's ``info["action_mask"]``, 1 = the state offers the action): every
function takes ``mask=`` of shape (..., A) (bool or 0/1; a list for the list fast path) and then
ranges over the offered actions only, by one rule: the greedy choice is the greedy choice in
``where(mask, q, -inf)``; exploring picks uniformly among the offered actions (the
floor(u n)-th of the n offered); a max or an expectation runs over the offered actions. A row
that offers no action is an error. The scalar agents and the batched engine call these same
functions, so both give the same distributions (Sutton & Barto's Example 6.7 needs it: state
A offers 2 of the 10 actions).

Tie-breaking is random and uniform among the maximising actions (argmax would always favour the
lowest index, which biases learning from an all-zero initial table).

The fixed policies used as targets and behaviours in prediction and off-policy learning are
``TablePolicy`` objects (``policies.tabular``): an (S, A) probability table that samples actions.
``policies.greedy`` / ``policies.epsilon_greedy`` / ``policies.softmax`` build one from a q table.

Source: Sutton & Barto (2018) §2.2-2.3 (epsilon-greedy), §2.8 and §13.1 (softmax), §5.4
(epsilon-soft policies).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from rlcore.registry import export
from rlcore.validation import as_generator, check_range

PROB_TOLERANCE = 1e-6


# -- distributions -----------------------------------------------------------------------------
def greedy_probs(q: Any, mask: Any = None) -> np.ndarray:
    """pi(a | s) = 1/k for the k maximising (offered) actions of each row, 0 otherwise.

    Args:
        q: action values, shape (..., A), or a Python list for one state (fast path).
        mask: optional (..., A), the actions each row offers (see the module docstring).

    Returns:
        Probabilities, shape (..., A) (a list for a list).
    """
    if mask is not None:
        q = masked_values(q, mask)
    if isinstance(q, list):
        best = max(q)
        k = q.count(best)
        return [1.0 / k if value == best else 0.0 for value in q]
    q = np.asarray(q, dtype=np.float64)
    best = q == np.max(q, axis=-1, keepdims=True)  # (..., A)
    return best / np.sum(best, axis=-1, keepdims=True)


def epsilon_greedy_probs(q: Any, epsilon: float, mask: Any = None) -> np.ndarray:
    """pi(a | s) = epsilon / A + (1 - epsilon) / k for the k greedy actions (S&B (2018) §5.4).

    With ``mask``: epsilon / n for each of the n offered actions plus (1 - epsilon) / k for
    the k greedy ones among them, 0 for the others.

    Args:
        q: action values, shape (..., A), or a Python list for one state (fast path, epsilon
            not re-checked).
        epsilon: exploration probability in [0, 1] (scalar or broadcastable to (...,)).
        mask: optional (..., A), the actions each row offers.

    Returns:
        Probabilities, shape (..., A) (a list for a list).
    """
    if mask is not None:
        offered = _offered_flags(mask, q)
        greedy = greedy_probs(masked_values(q, offered))
        if isinstance(q, list):
            n = sum(offered)
            return [
                (epsilon / n if m else 0.0) + (1.0 - epsilon) * p for m, p in zip(offered, greedy)
            ]
        eps = np.asarray(_check_epsilon(epsilon), dtype=np.float64)[..., None]
        # epsilon / n at each offered action (written so that all offered gives epsilon / A)
        return eps / offered.sum(axis=-1, keepdims=True) * offered + (1.0 - eps) * greedy
    if isinstance(q, list):
        greedy = greedy_probs(q)
        return [epsilon / len(q) + (1.0 - epsilon) * p for p in greedy]
    eps = _check_epsilon(epsilon)
    greedy = greedy_probs(q)
    eps = np.asarray(eps, dtype=np.float64)[..., None]
    return eps / greedy.shape[-1] + (1.0 - eps) * greedy


def softmax_probs(q: Any, temperature: float = 1.0, mask: Any = None) -> np.ndarray:
    """pi(a | s) = exp(q_a / tau) / sum_b exp(q_b / tau) (S&B (2018) eq. 13.2, Boltzmann),
    the sums over the offered actions when ``mask`` is given (0 for the others).

    Args:
        q: action values, shape (..., A).
        temperature: tau > 0; small tau approaches greedy, large tau uniform.
        mask: optional (..., A), the actions each row offers.

    Returns:
        Probabilities, shape (..., A).
    """
    if mask is not None:
        q = masked_values(np.asarray(q, dtype=np.float64), mask)
    tau = check_range(
        "temperature",
        temperature,
        0.0,
        low_open=True,
        hint="Use a positive temperature; for greedy behaviour use greedy_probs instead.",
    )
    z = np.asarray(q, dtype=np.float64) / tau
    z = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return z / np.sum(z, axis=-1, keepdims=True)


def epsilon_greedy_value(q: Any, epsilon: Any, mask: Any = None) -> Any:
    """sum_a pi(a | s) q(s, a) for the epsilon-greedy pi: (1 - epsilon) max_a q + epsilon mean_a q.

    Equal to ``expected_value(q, epsilon_greedy_probs(q, epsilon))`` (the greedy ties share
    1 - epsilon and all have the maximal value); Expected Sarsa's bootstrap (S&B (2018) §6.6).
    With ``mask`` the max and the mean run over the offered actions.

    Args:
        q: action values, shape (..., A), or a Python list for one state (fast path).
        epsilon: exploration probability in [0, 1].
        mask: optional (..., A), the actions each row offers.

    Returns:
        Values, shape (...) (a float for one row).
    """
    if mask is not None:
        offered = _offered_flags(mask, q)
        if isinstance(q, list):
            values = [v for v, m in zip(q, offered) if m]
            return (1.0 - epsilon) * max(values) + epsilon * sum(values) / len(values)
        eps = _check_epsilon(epsilon)
        q = np.asarray(q, dtype=np.float64)
        best = np.max(np.where(offered, q, -np.inf), axis=-1)
        mean = np.sum(np.where(offered, q, 0.0), axis=-1) / np.sum(offered, axis=-1)
        return (1.0 - eps) * best + eps * mean
    if isinstance(q, list):
        return (1.0 - epsilon) * max(q) + epsilon * sum(q) / len(q)
    eps = _check_epsilon(epsilon)
    q = np.asarray(q, dtype=np.float64)
    return (1.0 - eps) * np.max(q, axis=-1) + eps * np.mean(q, axis=-1)


# -- sampling with given uniforms ---------------------------------------------------------------
def sample_action(probs: Any, u: Any) -> Any:
    """Inverse-CDF draw: the first a with sum_{b <= a} pi(b) > u * sum_b pi(b).

    Args:
        probs: probabilities, shape (..., A), or a Python list for one state (fast path).
        u: uniforms in [0, 1), shape (...).

    Returns:
        Integer actions, shape (...) (a Python int for one row).
    """
    if isinstance(probs, list):
        threshold = u * sum(probs)
        c = 0.0
        for a, p in enumerate(probs):
            c += p
            if c > threshold:
                return a
        return len(probs) - 1
    p = np.asarray(probs, dtype=np.float64)
    cdf = np.cumsum(p, axis=-1)  # (..., A)
    u = np.asarray(u, dtype=np.float64)
    a = np.sum(cdf <= (u * cdf[..., -1])[..., None], axis=-1)
    a = np.minimum(a, p.shape[-1] - 1)  # u * total can round up to total
    return int(a) if a.ndim == 0 else a


# Rows of up to 16 actions (the tabular case) are picked from through bitmasks: bit c of a row's
# mask is set where action c qualifies (is maximal; is offered), and the floor(u k)-th of its k
# set bits is read off a table. That is a dozen whole-array operations whatever the number of
# actions, about 3x faster than cumsum/argmax over the last axis for 100-1000 rows of 4 actions.
_BITMASK_MAX_ACTIONS = 16


@functools.cache
def _bitmask_tables(n_actions: int, ndim: int) -> tuple[np.ndarray, ...]:
    """(weights, every, count, nth, shift) for rows of ``n_actions`` actions in arrays of
    ``ndim`` dims: ``weights`` (A, 1, ...) holds 2**c for action c and ``every`` the mask of all
    actions; for every mask b, ``count[b]`` is its number of set bits and
    ``nth[(j << shift) | b]`` the position of its j-th set bit (0-based, increasing)."""
    shift = 8 if n_actions <= 8 else 16
    dtype = np.uint8 if shift == 8 else np.uint16
    weights = (1 << np.arange(n_actions)).astype(dtype).reshape((-1,) + (1,) * (ndim - 1))
    every = weights.sum(dtype=dtype)
    bits = (np.arange(1 << shift)[:, None] >> np.arange(shift)) & 1  # (2**shift, shift)
    count = bits.sum(axis=1).astype(np.intp)
    nth = np.argsort(1 - bits, axis=1, kind="stable")  # (mask, j): set bits first
    # Past the last set bit repeat it (u = 1 picks the last, as min(j, k - 1) would); mask 0
    # (a row of NaNs) gives action 0.
    last = nth[np.arange(1 << shift), np.maximum(count - 1, 0)]
    nth = np.where(np.arange(shift) < np.maximum(count, 1)[:, None], nth, last[:, None])
    return weights, every, count, nth.T.reshape(-1).astype(np.intp), shift


def _bitmask(flags: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(A, ...) bool -> (...) masks with bit c set where flags[c]."""
    return (flags * weights).sum(axis=0, dtype=weights.dtype)


def _maximisers(q: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(..., A) values -> (...) masks of the maximising actions."""
    cols = q.transpose(q.ndim - 1, *range(q.ndim - 1))  # (A, ...), a view; the rows that
    # ``ActionValues.rows`` hands out are action-major, so each action's values are contiguous
    return _bitmask(cols == cols.max(axis=0), weights)


def _pick(masks: np.ndarray, u: Any, count: np.ndarray, nth: np.ndarray, shift: int) -> Any:
    """The floor(u k)-th (0-based) of the k set bits of each mask (u in [0, 1), so j < k)."""
    j = (np.asarray(u) * count[masks]).astype(np.intp)
    return nth[(j << shift) | masks]


def greedy_action(q: Any, u: Any, mask: Any = None) -> Any:
    """argmax_a q[..., a], ties broken uniformly: the floor(u k)-th of the k maximisers (among
    the offered actions, with ``mask``).

    Args:
        q: action values, shape (..., A), or a Python list for one state (fast path).
        u: uniforms in [0, 1), shape (...).
        mask: optional (..., A), the actions each row offers.

    Returns:
        Integer actions, shape (...) (a Python int for one row).
    """
    if mask is not None:
        q = masked_values(q, mask)
    if isinstance(q, list):
        best = max(q)
        k = q.count(best)
        if k == 1:
            return q.index(best)
        j = int(u * k)
        for a, value in enumerate(q):
            if value == best:
                if j == 0:
                    return a
                j -= 1
    q = np.asarray(q, dtype=np.float64)
    n_actions = q.shape[-1]
    if n_actions <= _BITMASK_MAX_ACTIONS:
        weights, _, count, nth, shift = _bitmask_tables(n_actions, q.ndim)
        a = _pick(_maximisers(q, weights), u, count, nth, shift)
    else:
        best = q == np.max(q, axis=-1, keepdims=True)  # (..., A)
        k = np.sum(best, axis=-1)
        j = np.minimum((np.asarray(u) * k).astype(np.int64), k - 1)
        a = np.argmax(np.cumsum(best, axis=-1) > j[..., None], axis=-1)
    return int(a) if a.ndim == 0 else a


def epsilon_greedy_action(
    q: Any, epsilon: Any, u_explore: Any, u_pick: Any, mask: Any = None
) -> Any:
    """Epsilon-greedy draw: if u_explore < epsilon, action floor(u_pick A); else greedy_action(q,
    u_pick). Its distribution is ``epsilon_greedy_probs(q, epsilon)``.

    With ``mask`` both draws range over the actions a row offers: the floor(u_pick n)-th of its
    n offered actions, or the greedy one among them.

    The fast path (q a Python list, no mask) does not re-check epsilon: agents check it once,
    in their config.

    Args:
        q: action values, shape (..., A), or a Python list for one state.
        epsilon: exploration probability in [0, 1], scalar or shape (...).
        u_explore, u_pick: uniforms in [0, 1), shape (...).
        mask: optional (..., A) bool, the actions each row offers (at least one per row).

    Returns:
        Integer actions, shape (...) (a Python int for one row).
    """
    if isinstance(q, list):
        if mask is None:
            if u_explore < epsilon:
                return int(u_pick * len(q))
            return greedy_action(q, u_pick)
        offered = _offered_flags(mask, q)
        if u_explore < epsilon:  # the floor(u n)-th of the n offered actions
            return [a for a, m in enumerate(offered) if m][int(u_pick * sum(offered))]
        return greedy_action(masked_values(q, offered), u_pick)
    _check_epsilon(epsilon)
    q = np.asarray(q, dtype=np.float64)
    n_actions = q.shape[-1]
    if mask is not None:
        mask = _offered_flags(mask, q)
        q = np.where(mask, q, -np.inf)
    explore = np.asarray(u_explore) < epsilon
    if n_actions <= _BITMASK_MAX_ACTIONS:
        weights, every, count, nth, shift = _bitmask_tables(n_actions, q.ndim)
        offered = every if mask is None else _bitmask(np.moveaxis(mask, -1, 0), weights)
        # Exploring picks among the offered actions' mask: one lookup serves both draws.
        masks = np.where(explore, offered, _maximisers(q, weights))
        a = _pick(masks, u_pick, count, nth, shift)
    else:
        if mask is None:
            random_a = np.minimum((np.asarray(u_pick) * n_actions).astype(np.int64), n_actions - 1)
        else:
            random_a = sample_action(mask.astype(np.float64), u_pick)
        a = np.where(explore, random_a, greedy_action(q, u_pick))
    return int(a) if a.ndim == 0 else a


def softmax_action(q: Any, temperature: float, u: Any, mask: Any = None) -> Any:
    """A draw from ``softmax_probs(q, temperature, mask)`` with uniforms ``u`` of shape (...)."""
    return sample_action(softmax_probs(q, temperature, mask), u)


# -- action masks ------------------------------------------------------------------------------
def _offered_flags(mask: Any, q: Any) -> Any:
    """``mask`` checked against ``q``: a list of bools for a list row, else a bool array of
    q's shape; raises when a row offers no action."""
    if isinstance(q, list) and isinstance(mask, list | tuple):
        flags = [bool(m) for m in mask]
        if len(flags) != len(q) or not any(flags):
            _bad_mask(mask, len(q))
        return flags
    flags = np.asarray(mask).astype(bool, copy=False)
    shape = np.shape(q)
    if flags.shape[-1:] != shape[-1:] or not flags.any(axis=-1).all():
        _bad_mask(mask, shape[-1])
    return flags.tolist() if isinstance(q, list) else flags


def _bad_mask(mask: Any, n_actions: int) -> None:
    flags = np.asarray(mask)
    if flags.shape[-1:] != (n_actions,):
        raise ValueError(
            f"an action mask must have one entry per action ({n_actions}), got shape "
            f"{flags.shape}; gymnasium's convention is info['action_mask'] of shape (n_actions,)."
        )
    raise ValueError(
        f"an action mask offers no action ({flags.tolist()}); every state must offer at least "
        "one (1 = allowed, gymnasium's info['action_mask'] convention)."
    )


def masked_values(q: Any, mask: Any) -> Any:
    """q with -inf where ``mask`` offers no action: its max, argmax and greedy policy are those
    over the offered actions. A list for a list row, else an array (..., A)."""
    offered = _offered_flags(mask, q)
    if isinstance(q, list):
        return [v if m else -math.inf for v, m in zip(q, offered)]
    return np.where(offered, np.asarray(q, dtype=np.float64), -np.inf)


def masked_probs(probs: Any, mask: Any, what: str = "the policy") -> Any:
    """pi restricted to the offered actions: pi(a | s) mask_a / sum_b pi(b | s) mask_b.

    A fixed policy (a ``policies.tabular`` table, a prediction agent's pi) acting where a state
    offers fewer actions than it has is conditioned on the offered ones. Raises when pi gives
    the offered actions no probability.

    Args:
        probs: pi(. | s), shape (A,) (a list or an array).
        mask: (A,), the actions the state offers.
        what: the policy's name, for the message.
    """
    offered = _offered_flags(mask, list(probs))
    if all(offered):
        return list(probs)
    kept = [p if m else 0.0 for p, m in zip(probs, offered)]
    total = sum(kept)
    if not total > 0.0:
        raise ValueError(
            f"{what} gives probability 0 to every action the state offers (mask "
            f"{[int(m) for m in offered]}, probabilities {[float(p) for p in probs]}); give "
            "the offered actions positive probability, e.g. an epsilon-soft policy."
        )
    return [p / total for p in kept]


def _check_epsilon(epsilon: Any) -> Any:
    if type(epsilon) is float and 0.0 <= epsilon <= 1.0:  # the hot path: a valid Python float
        return epsilon
    eps = np.asarray(epsilon, dtype=np.float64)
    if eps.ndim == 0:
        return check_range(
            "epsilon", float(eps), 0.0, 1.0, hint="epsilon is a probability: use a value in [0, 1]."
        )
    if np.any(~np.isfinite(eps) | (eps < 0) | (eps > 1)):
        raise ValueError(
            f"epsilon values must lie in [0, 1], got range [{eps.min():g}, {eps.max():g}]."
        )
    return eps


# -- fixed policies ------------------------------------------------------------------------------
def check_probability_table(probs: Any, what: str = "policy") -> np.ndarray:
    """Return ``probs`` as a float (S, A) array after checking each row is a distribution."""
    p = np.array(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError(f"{what} must be an (n_states, n_actions) array, got shape {p.shape}.")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{what} has negative or non-finite probabilities.")
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > PROB_TOLERANCE)
    if bad.size:
        s = int(bad[0])
        raise ValueError(
            f"{what} row for state {s} sums to {sums[s]:.9g}, not 1: each row must be a "
            "probability distribution over actions."
        )
    return p


def as_probability_table(policy: Any, n_states: int, n_actions: int, what: str) -> np.ndarray:
    """The (S, A) table of a fixed policy: an array, a ``TablePolicy``, or any TabularPolicy.

    A TabularPolicy (``probs(obs)``) is read state by state once; the result must not change
    later (prediction and off-policy methods assume a fixed policy).
    """
    from rlcore.protocols import TabularPolicy

    if isinstance(policy, TablePolicy):
        table = policy.table
    elif isinstance(policy, TabularPolicy):
        table = np.stack([np.asarray(policy.probs(s), dtype=np.float64) for s in range(n_states)])
    elif isinstance(policy, np.ndarray | list | tuple):
        table = np.asarray(policy, dtype=np.float64)
    else:
        raise TypeError(
            f"{what} must be an (n_states, n_actions) probability array or a tabular policy "
            f"(rlcore.make('policies.tabular', probs) / 'policies.epsilon_greedy'), got "
            f"{type(policy).__name__}."
        )
    table = check_probability_table(table, what)
    if table.shape != (n_states, n_actions):
        raise ValueError(
            f"{what} has shape {table.shape}, but the env has {n_states} states and {n_actions} "
            "actions."
        )
    return table


@export("policies.tabular")
class TablePolicy:
    """A fixed stochastic policy given by a table pi[s, a] (a TabularPolicy).

    Args:
        probs: (n_states, n_actions) probabilities, each row summing to one.
        seed: seed of the policy's generator (used by ``act``).
    """

    def __init__(self, probs: Any, seed: int | None = None) -> None:
        self._table = check_probability_table(probs, "policies.tabular probs")
        self._table.flags.writeable = False
        self._rows = self._table.tolist()
        self.n_states, self.n_actions = self._table.shape
        self.seed(seed)

    @classmethod
    def uniform(cls, n_states: int, n_actions: int, seed: int | None = None) -> TablePolicy:
        """The equiprobable random policy over ``n_actions`` actions."""
        return cls(np.full((n_states, n_actions), 1.0 / n_actions), seed)

    @property
    def table(self) -> np.ndarray:
        """The (S, A) probability table (read-only)."""
        return self._table

    def seed(self, seed: int | None) -> None:
        self._rng = as_generator(seed)

    def reset(self) -> None:
        """Nothing to clear between episodes."""

    def probs(self, obs: int, *, explore: bool = False, mask: Any = None) -> np.ndarray:
        """pi(. | obs), shape (A,); with ``mask`` (A,) conditioned on the offered actions
        (``masked_probs``). ``explore`` is ignored: the policy is fixed."""
        if mask is None:
            return self._table[int(obs)].copy()
        return np.asarray(masked_probs(self._rows[int(obs)], mask, "policies.tabular"))

    def prob(self, obs: int, action: int) -> float:
        """pi(action | obs) as a float."""
        return float(self._table[int(obs), int(action)])

    def act(self, obs: int, *, explore: bool = False, mask: Any = None) -> int:
        """A draw from pi(. | obs), among the offered actions when ``mask`` is given (the
        loop passes the env's ``info["action_mask"]``)."""
        row = self._rows[int(obs)]
        if mask is not None:
            row = masked_probs(row, mask, "policies.tabular")
        return sample_action(row, self._rng.random())

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {}, {"probs": self._table}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> TablePolicy:
        return cls(arrays["probs"])


@export("policies.greedy")
def greedy(q: Any, seed: int | None = None, *, mask: Any = None) -> TablePolicy:
    """The greedy policy of an (S, A) q table, ties shared evenly (a fixed TablePolicy);
    with ``mask`` (S, A) among each state's offered actions."""
    q = _q_table(q)
    return TablePolicy(greedy_probs(q, _mask_table(mask, q)), seed)


@export("policies.epsilon_greedy")
def epsilon_greedy(
    q: Any, epsilon: float, seed: int | None = None, *, mask: Any = None
) -> TablePolicy:
    """The epsilon-greedy policy of an (S, A) q table (a fixed TablePolicy); with ``mask``
    (S, A) it explores and exploits among each state's offered actions."""
    q = _q_table(q)
    return TablePolicy(epsilon_greedy_probs(q, epsilon, _mask_table(mask, q)), seed)


@export("policies.softmax")
def softmax(
    q: Any, temperature: float = 1.0, seed: int | None = None, *, mask: Any = None
) -> TablePolicy:
    """The softmax (Boltzmann) policy of an (S, A) q table (a fixed TablePolicy); with
    ``mask`` (S, A) over each state's offered actions."""
    q = _q_table(q)
    return TablePolicy(softmax_probs(q, temperature, _mask_table(mask, q)), seed)


def _q_table(q: Any) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2:
        raise ValueError(f"q must be an (n_states, n_actions) table, got shape {q.shape}.")
    return q


def _mask_table(mask: Any, q: np.ndarray) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != q.shape:
        raise ValueError(
            f"mask must have the q table's shape {q.shape} (one row of offered actions per "
            f"state), got {mask.shape}."
        )
    return mask


__all__ = [
    "TablePolicy",
    "as_probability_table",
    "check_probability_table",
    "epsilon_greedy",
    "epsilon_greedy_action",
    "epsilon_greedy_probs",
    "epsilon_greedy_value",
    "greedy",
    "greedy_action",
    "greedy_probs",
    "masked_values",
    "masked_probs",
    "sample_action",
    "softmax",
    "softmax_action",
    "softmax_probs",
]
