"""Many independent runs of linear Sarsa at once: the engine behind the chapter 10 and 12 curves.

The book's Mountain Car figures average 100 runs of hundreds of episodes for several step sizes.
``run_linear_sarsa`` keeps R learners' weights in an (R, F) array and steps all their episodes
together (each run restarts as soon as its own episode ends, so no run waits for another), with
the same math as the scalar agents ``agents.semi_gradient_sarsa`` (n-step) and
``agents.linear_sarsa_lambda``: ``rlcore.returns.discounted_returns`` for the n-step returns,
``rlcore.tabular.policies.epsilon_greedy_action`` for acting, binary (index-set) state features
stacked per action (``features.state_action``). A test checks step-for-step equality with the
scalar agents.

Traces without touching every weight. Sarsa(lambda) updates every weight with a non-zero trace at
every step (w <- w + alpha delta z, z <- gamma lambda z); with R = 700 runs and F = 1944
features that is most of the cost. Between visits of a feature its trace only decays, so the
engine stores z = c * zhat with a per-run scale c = (gamma lambda)^t and defers the weight
updates: with E = sum_t delta_t c_t (one number per run),

    w_i = wtilde_i + alpha zhat_i (E - Ehat_i),

which is materialised only for the features read or visited (Ehat_i = E at the last
materialisation). When c falls below ``_C_MIN`` every weight of that run is materialised and the
clock restarts (every ~log(1e-4) / log(gamma lambda) steps), which keeps the numbers well scaled.
The result equals the dense-trace algorithm up to rounding (tested).

Episodes longer than ``max_episode_steps`` are cut (truncated: the last update bootstraps) and
reported in ``capped``: with epsilon = 0 a Mountain Car episode can, rarely, last over 100,000
steps (FIELD-NOTES).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from rlcore.approximation.features import FeatureMap
from rlcore.returns import discounted_returns, td_target
from rlcore.tabular.base import check_option
from rlcore.tabular.policies import epsilon_greedy_action
from rlcore.validation import as_generator, check_int, check_range

_C_MIN = 1e-4  # rescale the lazy traces when (gamma lambda)^t falls below this


@runtime_checkable
class BatchControlEnv(Protocol):
    """R copies of an env with array states and discrete actions (e.g. ``MountainCarBatch``)."""

    n_actions: int

    def reset(self, runs: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...

    def step(
        self, runs: np.ndarray, state: np.ndarray, action: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@dataclass(frozen=True, eq=False)
class ControlRunResult:
    """What ``run_linear_sarsa`` produced.

    Attributes:
        lengths: (R, E) steps of each episode of each run.
        returns: (R, E) undiscounted returns.
        capped: (R, E) True where the episode was cut at ``max_episode_steps``.
        w: (R, F) final weights.
        snapshots: episode number (1-based) -> (R, F) weights at the end of that episode.
        wall_time: seconds.
        config: method, hyperparameters, runs, episodes, seed.
    """

    lengths: np.ndarray
    returns: np.ndarray
    capped: np.ndarray
    w: np.ndarray
    snapshots: dict[int, np.ndarray]
    wall_time: float
    config: dict[str, Any] = field(default_factory=dict)


def _per_run(
    name: str, value: Any, runs: int, low: float, high: float, low_open: bool
) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        check_range(name, float(arr), low, high, low_open=low_open)
        return np.full(runs, float(arr))
    if arr.shape != (runs,):
        raise ValueError(
            f"{name} must be a scalar or one value per run, shape ({runs},); got {arr.shape}"
        )
    bad = ~np.isfinite(arr) | (arr < low) | (arr > high) | ((arr == low) & low_open)
    if np.any(bad):
        raise ValueError(f"{name} values must lie in {'(' if low_open else '['}{low:g}, {high:g}]")
    return arr


class _NStepSarsa:
    """n-step semi-gradient Sarsa for R runs: a window of the last n steps per run."""

    def __init__(
        self, R: int, F: int, m: int, n: int, alpha: np.ndarray, gamma: float, w0: np.ndarray
    ):
        self.n, self.alpha, self.gamma = n, alpha, gamma
        self.w = w0.copy()
        self.win_x = np.zeros((R, n, m), dtype=np.int64)  # x(S_tau, A_tau), oldest at head
        self.win_r = np.zeros((R, n))
        self.win_d = np.zeros((R, n))
        self.size = np.zeros(R, dtype=np.int64)
        self.head = np.zeros(R, dtype=np.int64)

    def values(self, rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self.w.ravel().take(_flat(rows, idx, self.w.shape[1])).sum(axis=-1)

    def weights(self, rows: np.ndarray) -> np.ndarray:
        return self.w[rows].copy()

    def step(self, rows, x_sa, r, terminated, x_next, has_next) -> np.ndarray:
        if self.n == 1:  # one-step Sarsa: no window needed, G = R + gamma q(S', A')
            q_next = np.where(has_next, self.values(rows, x_next), 0.0)
            target = td_target(r, np.where(terminated, 0.0, self.gamma), q_next)
            delta = target - self.values(rows, x_sa)
            flat = _flat(rows, x_sa, self.w.shape[1])
            step = np.broadcast_to((self.alpha[rows] * delta)[:, None], flat.shape)
            np.add.at(self.w.ravel(), flat, step)
            return delta
        pos = (self.head[rows] + self.size[rows]) % self.n
        self.win_x[rows, pos] = x_sa
        self.win_r[rows, pos] = r
        self.win_d[rows, pos] = np.where(terminated, 0.0, self.gamma)
        self.size[rows] += 1
        full = self.size[rows] == self.n
        deltas = np.zeros(rows.size)
        if full.any():
            q_boot = np.where(has_next[full], self.values(rows[full], x_next[full]), 0.0)
            deltas[full] = self._update_oldest(rows[full], q_boot)
        return deltas

    def end(self, rows, x_next, truncated) -> None:
        """Flush the windows of ended episodes (bootstrapping after a time limit)."""
        keep = self.size[rows] > 0
        rows, x_next, truncated = rows[keep], x_next[keep], truncated[keep]
        while rows.size:
            q_boot = np.where(truncated, self.values(rows, x_next), 0.0)
            self._update_oldest(rows, q_boot)
            keep = self.size[rows] > 0
            rows, x_next, truncated = rows[keep], x_next[keep], truncated[keep]

    def _update_oldest(self, rows: np.ndarray, q_boot: np.ndarray) -> np.ndarray:
        order = (self.head[rows, None] + np.arange(self.n)) % self.n  # (k, n) oldest first
        valid = np.arange(self.n) < self.size[rows, None]
        r_win = np.where(valid, self.win_r[rows[:, None], order], 0.0)
        d_win = np.where(valid, self.win_d[rows[:, None], order], 1.0)  # padding: no discount
        g = discounted_returns(r_win, d_win, q_boot)[:, 0]
        x_tau = self.win_x[rows, self.head[rows]]  # (k, m)
        delta = g - self.values(rows, x_tau)
        flat = _flat(rows, x_tau, self.w.shape[1])
        np.add.at(
            self.w.ravel(), flat, np.broadcast_to((self.alpha[rows] * delta)[:, None], flat.shape)
        )
        self.head[rows] = (self.head[rows] + 1) % self.n
        self.size[rows] -= 1
        return delta


class _LazySarsaLambda:
    """Sarsa(lambda) for R runs with lazily applied traces (module docstring)."""

    def __init__(self, R, F, alpha, gamma, lambda_, trace, w0):
        self.alpha, self.gamma, self.trace = alpha, gamma, trace
        self.gl = gamma * lambda_  # (R,)
        self.wt = w0.copy()  # wtilde
        self.zh = np.zeros((R, F))  # zhat: z = c * zhat
        self.eh = np.zeros((R, F))  # Ehat
        self.E = np.zeros(R)
        self.c = np.ones(R)

    def values(self, rows: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return self._read(rows, idx).sum(axis=-1)

    def _read(self, rows, idx, flat=None):
        """True weights w at (rows, idx) from the deferred representation."""
        flat = _flat(rows, idx, self.wt.shape[1]) if flat is None else flat
        rr = rows.reshape((-1,) + (1,) * (idx.ndim - 1))
        zh, eh = self.zh.ravel().take(flat), self.eh.ravel().take(flat)
        return self.wt.ravel().take(flat) + self.alpha[rr] * zh * (self.E[rr] - eh)

    def weights(self, rows: np.ndarray) -> np.ndarray:
        a, e = self.alpha[rows, None], self.E[rows, None]
        return self.wt[rows] + a * self.zh[rows] * (e - self.eh[rows])

    def _rebase(self, rows: np.ndarray) -> None:
        self.wt[rows] = self.weights(rows)
        self.zh[rows] *= self.c[rows, None]
        self.eh[rows] = 0.0
        self.E[rows] = 0.0
        self.c[rows] = 1.0

    def step(self, rows, x_sa, r, terminated, x_next, has_next) -> np.ndarray:
        rr = rows[:, None]
        flat = _flat(rows, x_sa, self.wt.shape[1])
        w_sa = self._read(rows, x_sa, flat)  # (k, m)
        delta = r - w_sa.sum(axis=-1)
        # visit: materialise the active weights, then set (or add to) their traces
        self.wt.ravel()[flat] = w_sa
        self.eh.ravel()[flat] = np.broadcast_to(self.E[rr], flat.shape)
        inv_c = np.broadcast_to(1.0 / self.c[rr], flat.shape)
        if self.trace == "replacing":
            self.zh.ravel()[flat] = inv_c
        else:
            np.add.at(self.zh.ravel(), flat, inv_c)
        q_next = np.where(has_next, self.values(rows, x_next), 0.0)
        delta = delta + self.gamma * q_next
        self.E[rows] += delta * self.c[rows]  # w <- w + alpha delta z, deferred
        self.c[rows] *= self.gl[rows]  # z <- gamma lambda z
        small = rows[self.c[rows] < _C_MIN]
        if small.size:
            self._rebase(small)
        return delta

    def end(self, rows, x_next, truncated) -> None:
        """Episodes ended: traces cleared (z = 0), weights materialised."""
        self.wt[rows] = self.weights(rows)
        self.zh[rows] = 0.0
        self.eh[rows] = 0.0
        self.E[rows] = 0.0
        self.c[rows] = 1.0


def run_linear_sarsa(
    env: BatchControlEnv,
    features: Any,
    *,
    runs: int,
    episodes: int,
    alpha: float | np.ndarray,
    epsilon: float | np.ndarray = 0.0,
    gamma: float = 1.0,
    n: int = 1,
    lambda_: float | np.ndarray | None = None,
    trace: Literal["accumulating", "replacing"] = "replacing",
    max_episode_steps: int | None = None,
    seed: int | np.random.Generator | None = 0,
    w0: np.ndarray | None = None,
    snapshot_episodes: Sequence[int] = (),
) -> ControlRunResult:
    """R independent runs of linear Sarsa with binary state features stacked per action.

    ``lambda_=None``: n-step semi-gradient Sarsa (S&B (2018) §10.2; n = 1 is §10.1's one-step
    method). Otherwise Sarsa(lambda) with ``trace`` (§12.7; n must be 1).

    Args:
        env: a ``BatchControlEnv`` (``rlcore.approximation.mountain_car.MountainCarBatch``).
        features: a sparse state feature map (e.g. ``features.tile_coding``).
        runs: R. episodes: E per run.
        alpha: step size, scalar or (R,) to sweep it across runs (book convention: a / n_tilings).
        epsilon: exploration, scalar or (R,). gamma: discount.
        n: steps of the n-step return. lambda_: trace decay, scalar or (R,), or None.
        trace: ``"replacing"`` or ``"accumulating"`` (Sarsa(lambda) only).
        max_episode_steps: cut longer episodes (recorded in ``capped``).
        seed: seed or Generator of the one random stream (starts and exploration).
        w0: initial weights, (F,) or (R, F); default zeros (optimistic for reward -1 per step).
        snapshot_episodes: 1-based episode numbers at whose end to copy the weights.

    Returns:
        ControlRunResult.

    Raises:
        FloatingPointError: a TD error went non-finite (names the step and the run).
    """
    if not isinstance(features, FeatureMap) or not features.sparse:
        raise TypeError(
            f"run_linear_sarsa needs a sparse (index-set) feature map, got {features!r}"
        )
    if not isinstance(env, BatchControlEnv):
        raise TypeError(f"env must be a BatchControlEnv (reset/step over runs), got {env!r}")
    R = check_int("runs", runs, 1)
    E = check_int("episodes", episodes, 1)
    n = check_int("n", n, 1)
    check_range("gamma", gamma, 0.0, 1.0)
    if max_episode_steps is not None:
        check_int("max_episode_steps", max_episode_steps, 1)
    alpha_r = _per_run("alpha", alpha, R, 0.0, 1.0, True)
    eps_r = _per_run("epsilon", epsilon, R, 0.0, 1.0, False)
    A, n_state = int(env.n_actions), features.n_features
    F = A * n_state
    w_init = np.zeros((R, F)) if w0 is None else np.broadcast_to(np.asarray(w0, np.float64), (R, F))
    if lambda_ is None:
        learner: Any = _NStepSarsa(R, F, features.n_active, n, alpha_r, gamma, w_init)
        method = f"{n}-step semi-gradient Sarsa"
    else:
        lam = _sarsa_lambda(lambda_, n, trace, R)
        learner = _LazySarsaLambda(R, F, alpha_r, gamma, lam, trace, w_init)
        method = f"Sarsa(lambda), {trace} traces"
    rng = as_generator(seed)
    t0 = time.perf_counter()
    out = _loop(
        env, features, learner, R, E, A, eps_r, max_episode_steps, rng, set(snapshot_episodes)
    )
    lengths, returns, capped, snapshots = out
    return ControlRunResult(
        lengths=lengths,
        returns=returns,
        capped=capped,
        w=learner.weights(np.arange(R)),
        snapshots=snapshots,
        wall_time=time.perf_counter() - t0,
        config=_sarsa_config(method, alpha_r, eps_r, gamma, n, lambda_, E, max_episode_steps),
    )


def _sarsa_lambda(lambda_: Any, n: int, trace: str, runs: int) -> np.ndarray:
    """Sarsa(lambda)'s (R,) trace decays, after checking that n is 1 and the trace's name."""
    if n != 1:
        raise ValueError("Sarsa(lambda) is a one-step method: leave n=1 when lambda_ is given")
    check_option("trace", trace, ("accumulating", "replacing"))
    return _per_run("lambda_", lambda_, runs, 0.0, 1.0, False)


def _sarsa_config(
    method: str,
    alpha_r: np.ndarray,
    eps_r: np.ndarray,
    gamma: float,
    n: int,
    lambda_: Any,
    episodes: int,
    max_episode_steps: int | None,
    **extra: Any,
) -> dict[str, Any]:
    """The ``config`` of a Sarsa ``ControlRunResult`` (the run's settings, JSON-ready)."""
    runs = alpha_r.shape[0]
    return {
        "method": method,
        "alpha": alpha_r.tolist(),
        "epsilon": eps_r.tolist(),
        "gamma": gamma,
        "n": n,
        "lambda_": None if lambda_ is None else np.broadcast_to(lambda_, (runs,)).tolist(),
        "runs": runs,
        "episodes": episodes,
        "max_episode_steps": max_episode_steps,
        **extra,
    }


def _flat(rows: np.ndarray, idx: np.ndarray, F: int) -> np.ndarray:
    """Flat indices into a C-ordered (R, F) array of the entries (rows[i], idx[i, ...])."""
    return rows.reshape((-1,) + (1,) * (idx.ndim - 1)) * F + idx


def _choose(learner, rows, x_state, n_state, A, eps, rng) -> tuple[np.ndarray, np.ndarray]:
    """epsilon-greedy A for each row from q(s, .), and x(s, A) (k, m)."""
    idx = x_state[:, None, :] + (np.arange(A) * n_state)[None, :, None]  # (k, A, m)
    q = learner.values(rows, idx)  # (k, A)
    u = rng.random((2, rows.size))
    a = np.asarray(epsilon_greedy_action(q, eps[rows], u[0], u[1])).reshape(rows.size)
    return a, x_state + (a * n_state)[:, None]


def _loop(env, features, learner, R, E, A, eps, max_len, rng, snapshot_at):
    n_state = features.n_features
    lengths = np.zeros((R, E), dtype=np.int64)
    returns = np.zeros((R, E))
    capped = np.zeros((R, E), dtype=bool)
    snapshots = {e: np.zeros((R, A * n_state)) for e in snapshot_at if 1 <= e <= E}
    count = np.zeros(R, dtype=np.int64)
    ep_len = np.zeros(R, dtype=np.int64)
    ep_ret = np.zeros(R)
    live = np.arange(R)
    state = env.reset(live, rng)
    action, x_sa = _choose(learner, live, features(state), n_state, A, eps, rng)
    step = 0
    while live.size:
        step += 1
        s2, r, term = env.step(live, state, action, rng)
        ep_len[live] += 1
        ep_ret[live] += r
        trunc = ~term & (ep_len[live] >= max_len) if max_len is not None else np.zeros_like(term)
        cont = ~term
        a2 = np.zeros(live.size, dtype=np.int64)
        x2 = np.zeros_like(x_sa)
        if cont.any():
            a2[cont], x2[cont] = _choose(
                learner, live[cont], features(s2[cont]), n_state, A, eps, rng
            )
        with np.errstate(all="ignore"):  # a non-finite TD error is reported just below
            delta = learner.step(live, x_sa, r, term, x2, cont)
        if not np.all(np.isfinite(delta)):
            bad = int(live[np.flatnonzero(~np.isfinite(delta))[0]])
            raise FloatingPointError(
                f"run_linear_sarsa: the TD error went non-finite at step {step} of run {bad}; "
                "the step size is probably too large (the book divides it by the number of "
                "tilings)."
            )
        done = term | trunc
        if done.any():
            ended = live[done]
            learner.end(ended, x2[done], trunc[done])
            e = count[ended]
            lengths[ended, e] = ep_len[ended]
            returns[ended, e] = ep_ret[ended]
            capped[ended, e] = trunc[done]
            count[ended] += 1
            for k in snapshots:
                hit = ended[count[ended] == k]
                if hit.size:
                    snapshots[k][hit] = learner.weights(hit)
            ep_len[ended], ep_ret[ended] = 0, 0.0
        # continuing runs step on from S_{t+1}; runs with episodes left restart from a new S_0
        keep = ~done
        restart = live[done][count[live[done]] < E]
        live, state, action, x_sa = live[keep], s2[keep], a2[keep], x2[keep]
        if restart.size:
            s0 = env.reset(restart, rng)
            a0, x0 = _choose(learner, restart, features(s0), n_state, A, eps, rng)
            live = np.concatenate([live, restart])
            state, action, x_sa = (
                np.concatenate(p) for p in ((state, s0), (action, a0), (x_sa, x0))
            )
    return lengths, returns, capped, snapshots


__all__ = ["BatchControlEnv", "ControlRunResult", "run_linear_sarsa"]
