"""Compiled per-run loops of n-step semi-gradient Sarsa with tile coding on Mountain Car, and of
TD(0) with state aggregation on a Markov reward process.

``run_linear_sarsa`` (``rlcore.approximation.batched``) steps all runs together in NumPy at a few
hundred microseconds per step, whatever the number of runs, so a figure with few runs and many
episodes is set by its serial depth: Figure 10.1's 9,000 episodes are about 1.2 million
sequential steps, several minutes. Here each run is a plain loop over its own steps, compiled
with numba (the ``fast`` extra, ``rlcore.tabular.compiled.jit_kernel``): a step is a few hundred
nanoseconds.

The loop is ``run_linear_sarsa``'s without traces (n-step semi-gradient Sarsa, S&B (2018)
§10.1-10.2, boxes pp. 244 and 247):

    A_t epsilon-greedy in q(S_t, ., w) (``policies.epsilon_greedy_action``'s rule: uniforms
    u_explore, u_pick; explore if u_explore < epsilon, action floor(u_pick A); else the
    floor(u_pick k)-th of the k greedy actions)
    G = R_{tau+1} + gamma R_{tau+2} + ... + gamma^n q(S_{tau+n}, A_{tau+n}, w)  (truncated at
        termination; the window of the last n steps is flushed when an episode ends)
    w <- w + alpha [G - q(S_tau, A_tau, w)] x(S_tau, A_tau)

with Mountain Car's dynamics (``mountain_car.mountain_car_step``, the same floating-point
operations) and a ``TileCoding`` without hashing (the tile numbers of ``tile_numbers``), state
features stacked per action (``features.state_action``: index a * n_features + tile). Episodes
start at x ~ U[-0.6, -0.4), v = 0; a cut episode (``max_episode_steps``) bootstraps. The random
stream is one Generator consumed run after run: the same seed gives the same numbers compiled or
not; against ``run_linear_sarsa`` the numbers differ (another order of draws) but not the
distribution (``tests/approximation/test_compiled_sarsa.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rlcore.approximation.batched import (
    _C_MIN,
    ControlRunResult,
    _per_run,
    _sarsa_config,
    _sarsa_lambda,
)
from rlcore.approximation.mountain_car import (
    FORCE,
    GOAL_POSITION,
    GRAVITY,
    MAX_POSITION,
    MAX_SPEED,
    MIN_POSITION,
)
from rlcore.approximation.tile_coding import TileCoding
from rlcore.tabular.base import check_option
from rlcore.tabular.compiled import _outcome, _row_cumulative, _start, jit_kernel, numba_available
from rlcore.validation import as_generator, check_int, check_range

_MC = np.array([MIN_POSITION, MAX_POSITION, GOAL_POSITION, MAX_SPEED, FORCE, GRAVITY])


def _car_step(x, v, a, mc):
    """Mountain Car's step, the operations of ``mountain_car_step``: (x', v', terminated)."""
    v = v + ((a - 1) * mc[4] + math.cos(3 * x) * (-mc[5]))
    v = min(max(v, -mc[3]), mc[3])
    x = min(max(x + v, mc[0]), mc[1])
    if x == mc[0] and v < 0:
        v = 0.0
    return x, v, x >= mc[2]


def _tiles(x, v, lo, hi, tiles_per_dim, offsets, cells, out):
    """Tile numbers of (x, v), one per tiling (``TileCoding.tile_numbers``), into ``out``."""
    f0 = (x - lo[0]) / (hi[0] - lo[0]) * tiles_per_dim[0]
    f1 = (v - lo[1]) / (hi[1] - lo[1]) * tiles_per_dim[1]
    per_tiling = cells[0] * cells[1]
    for t in range(offsets.shape[0]):
        c0 = int(math.floor(f0 + offsets[t, 0]))
        c1 = int(math.floor(f1 + offsets[t, 1]))
        out[t] = t * per_tiling + c0 * cells[1] + c1


def _q(w, tiles, a, n_state):
    total = 0.0
    for j in range(tiles.shape[0]):
        total += w[a * n_state + tiles[j]]
    return total


def _pick(q, epsilon, rng):
    """Epsilon-greedy action for action values q (A,) (``epsilon_greedy_action``'s rule)."""
    u_explore = rng.random()
    u_pick = rng.random()
    if u_explore < epsilon:
        return int(u_pick * q.shape[0])
    best = q.max()
    k = 0
    for a in range(q.shape[0]):
        if q[a] == best:
            k += 1
    j = int(u_pick * k)
    for a in range(q.shape[0]):
        if q[a] == best:
            if j == 0:
                return a
            j -= 1
    return q.shape[0] - 1  # unreachable


def _choose(w, tiles, n_state, n_actions, epsilon, rng):
    """Epsilon-greedy action in q(s, ., w)."""
    q = np.empty(n_actions)
    for a in range(n_actions):
        q[a] = _q(w, tiles, a, n_state)
    return _pick(q, epsilon, rng)


def _update_oldest(w, win_x, win_a, win_r, win_d, head, size, q_boot, alpha, n_state):
    """The n-step update of the window's oldest pair: G = r_0 + d_0 (r_1 + ... + d_{k-1} q_boot)
    (``rlcore.returns.discounted_returns``); returns the TD error (the window's head moves on)."""
    n = win_a.shape[0]
    g = q_boot
    for k in range(size - 1, -1, -1):
        idx = (head + k) % n
        g = win_r[idx] + win_d[idx] * g
    delta = g - _q(w, win_x[head], win_a[head], n_state)
    step = alpha * delta
    for j in range(win_x.shape[1]):
        w[win_a[head] * n_state + win_x[head, j]] += step
    return delta


def _sarsa_kernel(
    lo, hi, tiles_per_dim, offsets, cells, n_state, mc, alpha, epsilon, gamma, n, episodes,
    max_len, snap_at, rng, w_all, lengths, returns, capped, snapshots,
):  # fmt: skip
    n_actions = 3
    n_tilings = offsets.shape[0]
    x_next = np.zeros(n_tilings, dtype=np.int64)
    win_x = np.zeros((n, n_tilings), dtype=np.int64)  # x(S_tau) of the last n steps
    win_a = np.zeros(n, dtype=np.int64)
    win_r = np.zeros(n)
    win_d = np.zeros(n)  # gamma, or 0 where S_{tau+1} is terminal
    for i in range(alpha.shape[0]):
        w = w_all[i]
        for e in range(episodes):
            x = -0.6 + (-0.4 + 0.6) * rng.random()  # U[-0.6, -0.4), as rng.uniform(-0.6, -0.4)
            v = 0.0
            _tiles(x, v, lo, hi, tiles_per_dim, offsets, cells, x_next)
            a = _choose(w, x_next, n_state, n_actions, epsilon[i], rng)
            head, size, t = 0, 0, 0
            while True:
                pos = (head + size) % n  # the window takes (x(S_t), A_t) before S_t moves on
                win_x[pos, :] = x_next
                win_a[pos] = a
                x, v, term = _car_step(x, v, a, mc)
                t += 1
                cut = (not term) and max_len > 0 and t >= max_len
                win_r[pos] = -1.0
                win_d[pos] = 0.0 if term else gamma
                size += 1
                q_next = 0.0
                a2 = 0
                if not term:
                    _tiles(x, v, lo, hi, tiles_per_dim, offsets, cells, x_next)
                    a2 = _choose(w, x_next, n_state, n_actions, epsilon[i], rng)
                    q_next = _q(w, x_next, a2, n_state)
                if size == n:
                    delta = _update_oldest(
                        w, win_x, win_a, win_r, win_d, head, size, q_next, alpha[i], n_state
                    )
                    head, size = (head + 1) % n, size - 1
                    if not math.isfinite(delta):
                        return i  # the caller names the run
                if term or cut:  # flush the window (a cut episode bootstraps)
                    while size > 0:
                        _update_oldest(
                            w, win_x, win_a, win_r, win_d, head, size, q_next, alpha[i], n_state
                        )
                        head, size = (head + 1) % n, size - 1
                    break
                a = a2
            lengths[i, e] = t
            returns[i, e] = -float(t)
            capped[i, e] = not term
            for k in range(snap_at.shape[0]):
                if snap_at[k] == e + 1:
                    snapshots[k, i, :] = w
    return -1


def _read(wt, zh, eh, big_e, alpha, i):
    """A weight of the lazy-trace representation: w_i = wt_i + alpha zh_i (E - eh_i)."""
    return wt[i] + alpha * zh[i] * (big_e - eh[i])


def _lambda_kernel(
    lo, hi, tiles_per_dim, offsets, cells, n_state, mc, alpha, epsilon, gamma, lam, replacing,
    c_min, episodes, max_len, snap_at, rng, w_all, lengths, returns, capped, snapshots,
):  # fmt: skip
    n_actions = 3
    n_tilings = offsets.shape[0]
    n_weights = w_all.shape[1]
    x_t = np.zeros(n_tilings, dtype=np.int64)
    x_next = np.zeros(n_tilings, dtype=np.int64)
    q = np.zeros(n_actions)
    zh = np.zeros(n_weights)  # z = c * zh
    eh = np.zeros(n_weights)
    for i in range(alpha.shape[0]):
        wt = w_all[i]  # materialised weights (all of them between episodes)
        al, gl = alpha[i], gamma * lam[i]
        for e in range(episodes):
            big_e, c = 0.0, 1.0
            x = -0.6 + (-0.4 + 0.6) * rng.random()  # U[-0.6, -0.4), as rng.uniform(-0.6, -0.4)
            v = 0.0
            _tiles(x, v, lo, hi, tiles_per_dim, offsets, cells, x_t)
            for b in range(n_actions):
                q[b] = 0.0
                for j in range(n_tilings):
                    q[b] += _read(wt, zh, eh, big_e, al, b * n_state + x_t[j])
            a = _pick(q, epsilon[i], rng)
            t = 0
            while True:
                x, v, term = _car_step(x, v, a, mc)
                t += 1
                cut = (not term) and max_len > 0 and t >= max_len
                a2 = 0
                if not term:
                    _tiles(x, v, lo, hi, tiles_per_dim, offsets, cells, x_next)
                    for b in range(n_actions):
                        q[b] = 0.0
                        for j in range(n_tilings):
                            q[b] += _read(wt, zh, eh, big_e, al, b * n_state + x_next[j])
                    a2 = _pick(q, epsilon[i], rng)
                # visit (S_t, A_t): materialise its weights, then set or add to their traces
                delta = -1.0
                for j in range(n_tilings):
                    k = a * n_state + x_t[j]
                    w_k = _read(wt, zh, eh, big_e, al, k)
                    delta -= w_k
                    wt[k] = w_k
                    eh[k] = big_e
                    zh[k] = 1.0 / c if replacing else zh[k] + 1.0 / c
                if not term:
                    q_next = 0.0
                    for j in range(n_tilings):
                        q_next += _read(wt, zh, eh, big_e, al, a2 * n_state + x_next[j])
                    delta += gamma * q_next
                if not math.isfinite(delta):
                    return i
                big_e += delta * c  # w <- w + alpha delta z, deferred
                c *= gl  # z <- gamma lambda z
                if c < c_min or term or cut:  # materialise every weight
                    for k in range(n_weights):
                        wt[k] = _read(wt, zh, eh, big_e, al, k)
                        zh[k] = 0.0 if (term or cut) else zh[k] * c
                        eh[k] = 0.0
                    big_e, c = 0.0, 1.0
                if term or cut:
                    break
                a = a2
                for j in range(n_tilings):
                    x_t[j] = x_next[j]
            lengths[i, e] = t
            returns[i, e] = -float(t)
            capped[i, e] = not term
            for k in range(snap_at.shape[0]):
                if snap_at[k] == e + 1:
                    snapshots[k, i, :] = wt
    return -1


def _check_car_coder(coder: Any, backend: str) -> None:
    """``run_mountain_car_sarsa``'s feature map and backend, else a message with the fix."""
    if not isinstance(coder, TileCoding) or coder.hashing or coder.box.dim != 2:
        raise TypeError(
            f"run_mountain_car_sarsa needs a 2-D TileCoding without hashing, got {coder!r}; "
            "use run_linear_sarsa for other feature maps."
        )
    check_option("backend", backend, ("numba", "python"))
    if backend == "numba" and not numba_available():
        raise ImportError("backend='numba' needs numba: pip install 'rlcore[fast]'.")


def _car_kernel(
    common: tuple, n: int, lambda_: Any, trace: str, runs: int, backend: str
) -> tuple[str, Callable, tuple]:
    """(method name, kernel, its settings): n-step Sarsa, or Sarsa(lambda) when ``lambda_`` is
    given; the kernel jitted for ``backend="numba"``."""
    if lambda_ is None:
        method = f"{n}-step semi-gradient Sarsa"
        kernel = _sarsa_kernel
        helpers = (_car_step, _tiles, _q, _pick, _choose, _update_oldest)
        settings = (*common, n)
    else:
        lam = _sarsa_lambda(lambda_, n, trace, runs)
        method = f"Sarsa(lambda), {trace} traces"
        kernel = _lambda_kernel
        helpers = (_car_step, _tiles, _pick, _read)
        settings = (*common, lam, trace == "replacing", _C_MIN)
    if backend == "numba":
        kernel = jit_kernel(kernel, helpers)
    return method, kernel, settings


def _outputs(runs: int, episodes: int, width: int, snapshot_episodes: Sequence[int]) -> tuple:
    """The arrays a compiled control kernel fills: (snapshot episodes, w, lengths, returns,
    capped, snapshots), zeroed."""
    snap = np.array(sorted({int(e) for e in snapshot_episodes if 1 <= e <= episodes}), np.int64)
    return (
        snap,
        np.zeros((runs, width)),
        np.zeros((runs, episodes), dtype=np.int64),
        np.zeros((runs, episodes)),
        np.zeros((runs, episodes), dtype=bool),
        np.zeros((snap.size, runs, width)),
    )


def run_mountain_car_sarsa(
    coder: TileCoding,
    *,
    runs: int,
    episodes: int,
    alpha: float | np.ndarray,
    epsilon: float | np.ndarray = 0.0,
    gamma: float = 1.0,
    n: int = 1,
    lambda_: float | np.ndarray | None = None,
    trace: str = "replacing",
    max_episode_steps: int | None = None,
    seed: int | np.random.Generator | None = 0,
    snapshot_episodes: Sequence[int] = (),
    backend: str = "numba",
) -> ControlRunResult:
    """R runs of n-step semi-gradient Sarsa on Mountain Car with tile coding, one compiled loop
    per run; what ``run_linear_sarsa(MountainCarBatch(), coder, ...)`` computes (no traces,
    w0 = 0), in distribution.

    Args:
        coder: a ``TileCoding`` of the 2-D (position, velocity) box without hashing (``size``
            left at its default).
        runs, episodes, alpha, epsilon, gamma, n, lambda_, trace, max_episode_steps, seed,
            snapshot_episodes: as ``run_linear_sarsa`` (``lambda_``: Sarsa(lambda) with the
            same deferred ("lazy") trace updates, exact up to rounding).
        backend: "numba" (compiled; needs the ``fast`` extra) or "python" (the same loop
            uncompiled: the same numbers, for tests on small budgets).

    Returns:
        ControlRunResult (``returns`` = -lengths: every reward is -1).

    Raises:
        FloatingPointError: a TD error went non-finite (names the run).
    """
    _check_car_coder(coder, backend)
    R = check_int("runs", runs, 1)
    E = check_int("episodes", episodes, 1)
    n = check_int("n", n, 1)
    check_range("gamma", gamma, 0.0, 1.0)
    max_len = (
        0 if max_episode_steps is None else check_int("max_episode_steps", max_episode_steps, 1)
    )
    alpha_r = _per_run("alpha", alpha, R, 0.0, 1.0, True)
    eps_r = _per_run("epsilon", epsilon, R, 0.0, 1.0, False)
    n_state = coder.n_features
    snap, w, lengths, returns, capped, snapshots = _outputs(R, E, 3 * n_state, snapshot_episodes)
    common = (
        coder.box._lo.astype(np.float64), coder.box._hi.astype(np.float64),
        np.asarray(coder.tiles_per_dim, dtype=np.float64), coder._offsets.astype(np.float64),
        np.asarray(coder._cells, dtype=np.int64), n_state, _MC, alpha_r, eps_r, float(gamma),
    )  # fmt: skip
    method, kernel, settings = _car_kernel(common, n, lambda_, trace, R, backend)
    rng = as_generator(seed)
    t0 = time.perf_counter()
    bad = kernel(*settings, E, max_len, snap, rng, w, lengths, returns, capped, snapshots)
    if bad >= 0:
        raise FloatingPointError(
            f"run_mountain_car_sarsa: the TD error went non-finite in run {bad}; the step size is "
            "probably too large (the book divides it by the number of tilings)."
        )
    return ControlRunResult(
        lengths=lengths,
        returns=returns,
        capped=capped,
        w=w,
        snapshots={int(e): snapshots[k] for k, e in enumerate(snap)},
        wall_time=time.perf_counter() - t0,
        config=_sarsa_config(
            f"{method} (compiled per-run loops)",
            alpha_r,
            eps_r,
            gamma,
            n,
            lambda_,
            E,
            max_episode_steps,
            backend=backend,
        ),
    )


def _td0_kernel(
    indptr, cum, next_state, reward, terminated, initial_cdf, single_start, group, alpha,
    gamma, episodes, rng, w_all, visits,
):  # fmt: skip
    for i in range(w_all.shape[0]):
        w = w_all[i]
        for _ in range(episodes):
            s = _start(initial_cdf, single_start, rng)
            while True:
                k = _outcome(indptr, cum, s, rng)  # one action: row s
                s2, r = next_state[k], reward[k]
                v_next = 0.0 if terminated[k] else gamma * w[group[s2]]
                g = group[s]
                w[g] += alpha * (r + v_next - w[g])
                visits[i, s] += 1
                if terminated[k]:
                    break
                s = s2


def run_aggregated_td0(
    mdp: Any,
    group: np.ndarray,
    *,
    runs: int,
    episodes: int,
    alpha: float,
    gamma: float = 1.0,
    seed: int | np.random.Generator | None = 0,
    backend: str = "numba",
) -> dict[str, np.ndarray]:
    """R runs of semi-gradient TD(0) with state aggregation (S&B (2018) box p. 203, §9.3) on a
    Markov reward process, one compiled loop per run:

        w_{g(S)} <- w_{g(S)} + alpha [R + gamma w_{g(S')} - w_{g(S)}],   v(terminal) = 0.

    Args:
        mdp: a ``FiniteMDP`` with one action (the prediction problem's chain, e.g. the
            1000-state walk under its policy).
        group: (S,) group of each state, in [0, G).
        runs, episodes: R and E per run. alpha: step size in (0, 1]. gamma: discount.
        seed: seed or Generator of the one random stream. backend: "numba" or "python".

    Returns:
        dict with ``w`` (R, G) final weights and ``visits`` (R, S) visits of each state (S_t).
    """
    check_option("backend", backend, ("numba", "python"))
    if backend == "numba" and not numba_available():
        raise ImportError("backend='numba' needs numba: pip install 'rlcore[fast]'.")
    if mdp.n_actions != 1:
        raise ValueError(
            f"run_aggregated_td0 needs a one-action chain (a policy folded in), got "
            f"{mdp.n_actions} actions"
        )
    group = np.asarray(group, dtype=np.int64)
    if group.shape != (mdp.n_states,) or group.min() < 0:
        raise ValueError(f"group must hold a group >= 0 for each of the {mdp.n_states} states")
    R = check_int("runs", runs, 1)
    E = check_int("episodes", episodes, 1)
    check_range("alpha", alpha, 0.0, 1.0, low_open=True)
    check_range("gamma", gamma, 0.0, 1.0)
    w = np.zeros((R, int(group.max()) + 1))
    visits = np.zeros((R, mdp.n_states), dtype=np.int64)
    support = np.flatnonzero(mdp.initial > 0)
    kernel = _td0_kernel
    if backend == "numba":
        kernel = jit_kernel(_td0_kernel, (_start, _outcome))
    kernel(
        mdp.indptr.astype(np.int64), _row_cumulative(mdp), mdp.next_state.astype(np.int64),
        mdp.reward.astype(np.float64), mdp.terminated.astype(np.bool_), np.cumsum(mdp.initial),
        int(support[0]) if support.size == 1 else -1, group, float(alpha), float(gamma), E,
        as_generator(seed), w, visits,
    )  # fmt: skip
    return {"w": w, "visits": visits}


__all__ = ["run_aggregated_td0", "run_mountain_car_sarsa"]
