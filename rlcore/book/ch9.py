"""Chapter 9 (on-policy prediction with approximation): Figures 9.1, 9.2, 9.5 and 9.10.

All four use the 1000-state random walk (Example 9.1, ``rlcore/RandomWalk1000-v0``). Its true
values come from exact dynamic programming on the env's model (``planning.policy_evaluation``)
and its on-policy distribution mu from the model too (eqs. 9.2-9.3); the asymptotic solutions the
learners approach are computed exactly: the VE minimiser for gradient Monte Carlo (§9.3) and the
TD fixed point for semi-gradient TD (eq. 9.12).

Prediction episodes do not depend on what is learned, so each figure samples its episodes first,
all at once (``rlcore.tabular.batched.sample_episodes`` on the walk's model), and then runs the
learners of R independent runs (and several step sizes) together in NumPy with a leading run
axis, applying the same updates as ``agents.gradient_mc`` / ``agents.semi_gradient_td`` (the
tests replay episodes through both). Learning curves carry 95% confidence bands over runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import rlcore.envs  # noqa: F401  (registers the rlcore/... ids)
from rlcore.approximation import objectives
from rlcore.approximation.compiled import run_aggregated_td0
from rlcore.approximation.features import (
    Fourier,
    Polynomial,
    StateAggregation,
    TileCoding,
    dense_features,
)
from rlcore.book.plotting import band, close, pyplot, result, save, spread, within
from rlcore.registry import export
from rlcore.tabular import FiniteMDP, planning
from rlcore.tabular.batched import as_batched_env, sample_episodes
from rlcore.tabular.compiled import numba_available

N = 1000  # non-terminal states 1..1000; 0 and 1001 are the terminal ends
STATES = np.arange(1, N + 1)
CHUNK = 4000  # episodes sampled per call (memory: CHUNK x longest episode)


def beats(gap: np.ndarray) -> dict:
    """A check that a method is better: the mean per-run gap (worse - better) must exceed the
    99% CI half-width of that mean (reported as the interval [half-width, large])."""
    half = spread(gap)
    return within(float(np.mean(gap)), half, max(1e4, 2.0 * half))


def _rng(seed: int, k: int) -> np.random.Generator:
    """The k-th independent stream of a figure's seed."""
    return np.random.default_rng([seed, 9, k])


@lru_cache(maxsize=1)
def walk() -> dict[str, Any]:
    """The walk's model and exact ground truth: mu, v_pi (DP), the batched env."""
    mdp = FiniteMDP.from_env(gym.make("rlcore/RandomWalk1000-v0"))
    pi = np.ones((N + 2, 1))
    v = planning.policy_evaluation(mdp, pi, 1.0, method="exact").v
    return {
        "mdp": mdp,
        "benv": as_batched_env(mdp),
        "v": v,
        "mu": objectives.on_policy_distribution(mdp, pi),
        "policy": pi,
    }


def feature_matrix(fmap: Any) -> np.ndarray:
    """(N + 2, d) dense features of every state, zero rows for the terminal ends."""
    X = np.zeros((N + 2, fmap.n_features))
    X[1:-1] = dense_features(fmap(STATES), fmap.n_features)
    return X


def sqrt_ve(v_hat: np.ndarray) -> np.ndarray:
    """sqrt(VE) = sqrt(sum_s mu(s) [v(s) - v_hat(s)]^2) (eq. 9.1), v_hat (..., N + 2)."""
    w = walk()
    return np.sqrt(objectives.value_error(v_hat, w["v"], w["mu"]))


# -- episodes as per-run streams --------------------------------------------------------------
def streams(rng: np.random.Generator, runs: int, episodes: int) -> Iterator[dict[str, np.ndarray]]:
    """Each run's episodes, concatenated into one stream of steps, in chunks of episodes.

    Yields dicts of (R, K) arrays (K the longest stream of the chunk; ``valid`` marks real
    steps): ``s`` S_t, ``s_next`` S_{t+1} (0 where terminal), ``r`` R_{t+1}, ``g`` the episode's
    return G_t (gamma = 1), ``terminal`` S_{t+1} is terminal, and ``end_episode`` the index of
    the episode that ends at that step (-1 elsewhere, counted from 0 over the whole run).
    """
    w = walk()
    per_chunk = max(1, CHUNK // runs)
    done = 0
    while done < episodes:
        e = min(per_chunk, episodes - done)
        ep = sample_episodes(w["benv"], w["policy"], runs * e, rng, max_steps=100_000)
        lengths = ep["lengths"].reshape(runs, e)
        L = ep["states"].shape[1]
        valid = np.arange(L) < ep["lengths"][:, None]  # (runs * e, L)
        t = np.broadcast_to(np.arange(L), valid.shape)
        last = t == (ep["lengths"][:, None] - 1)
        s_next = np.concatenate([ep["states"][:, 1:], np.zeros((runs * e, 1), np.int64)], 1)
        g = np.broadcast_to(
            ep["rewards"][np.arange(runs * e), ep["lengths"] - 1][:, None], (runs * e, L)
        )
        ep_id = np.broadcast_to(done + np.arange(runs * e)[:, None] % e, valid.shape)
        run_of = np.repeat(np.arange(runs), e * L).reshape(runs * e, L)
        total = lengths.sum(axis=1)
        K = int(total.max())
        pos = np.cumsum(valid.reshape(runs, -1), axis=1).reshape(runs * e, L) - 1
        out = {
            "s": np.zeros((runs, K), np.int64),
            "s_next": np.zeros((runs, K), np.int64),
            "r": np.zeros((runs, K)),
            "g": np.zeros((runs, K)),
            "terminal": np.zeros((runs, K), bool),
            "end_episode": np.full((runs, K), -1, np.int64),
            "valid": np.arange(K) < total[:, None],
        }
        idx = (run_of[valid], pos[valid])
        out["s"][idx] = ep["states"][valid]
        out["s_next"][idx] = np.where(last, 0, s_next)[valid]
        out["r"][idx] = ep["rewards"][valid]
        out["g"][idx] = g[valid]
        out["terminal"][idx] = last[valid]
        out["end_episode"][idx] = np.where(last, ep_id, -1)[valid]
        done += e
        yield out


# -- Figure 9.1 ---------------------------------------------------------------------------------
def _aggregation_truth(n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, w_VE, w_TD) of state aggregation into n_groups equal groups."""
    w = walk()
    X = feature_matrix(StateAggregation(1, N, n_groups, discrete=True))
    P, r = objectives.policy_model(w["mdp"], w["policy"])
    return (
        X,
        objectives.ve_minimizer(X, w["v"], w["mu"]),
        objectives.td_fixed_point(X, w["mu"], P, r, 1.0),
    )


def gradient_mc_aggregation(rng, runs: int, episodes: int, alpha: float, n_groups: int):
    """Gradient MC with state aggregation for R runs: (w (R, groups), visit counts (R, N + 2)).

    Here gamma = 1 and the only reward comes at termination, so every G_t of an episode equals
    its return G; the episode's updates w_g <- w_g + alpha (G - w_g), applied once per visit of
    group g in order (the box of §9.3), compose exactly to w_g <- G + (1 - alpha)^k (w_g - G)
    for a group visited k times. Only the visit counts per episode are needed.
    """
    agg = StateAggregation(1, N, n_groups, discrete=True)
    group = np.zeros(N + 2, np.int64)
    group[1:-1] = agg(STATES)[:, 0]
    w = np.zeros((runs, n_groups))
    visits = np.zeros((runs, N + 2))
    per_chunk = max(1, CHUNK // runs)
    done = 0
    while done < episodes:
        e = min(per_chunk, episodes - done)
        ep = sample_episodes(walk()["benv"], walk()["policy"], runs * e, rng, max_steps=100_000)
        valid = np.arange(ep["states"].shape[1]) < ep["lengths"][:, None]
        rows = np.broadcast_to(np.arange(runs * e)[:, None], valid.shape)[valid]
        run_state = (rows // e) * (N + 2) + ep["states"][valid]
        visits += np.bincount(run_state, minlength=runs * (N + 2)).reshape(runs, N + 2)
        k = np.bincount(rows * n_groups + group[ep["states"][valid]], minlength=runs * e * n_groups)
        decay = ((1.0 - alpha) ** k).reshape(runs, e, n_groups)
        G = ep["rewards"][np.arange(runs * e), ep["lengths"] - 1].reshape(runs, e, 1)
        for i in range(e):
            w = G[:, i] + decay[:, i] * (w - G[:, i])
        done += e
    return w, visits


def mean_path(X: np.ndarray, target: np.ndarray, method: str, alpha: float, episodes: int):
    """The learner's expected weights after ``episodes`` episodes, to first order in alpha.

    Per episode the expected update is alpha Phi (w* - w) with eta the expected visits per
    episode (eq. 9.2) and Phi = X^T diag(eta) X for gradient MC, X^T diag(eta) (I - P) X for
    TD(0) (the A matrix of eq. 9.11 scaled to an episode), so from w = 0:
        E[w_episodes] ~ w* - (I - alpha Phi)^episodes w*.
    The checks compare the mean over runs with this path: the within-episode interaction of
    updates is O(alpha^2).
    """
    truth = walk()
    eta = truth["mu"] * _expected_steps()
    if method == "mc":
        phi = X.T @ (eta[:, None] * X)
    else:
        P, _ = objectives.policy_model(truth["mdp"], truth["policy"])
        phi = X.T @ (eta[:, None] * (X - P @ X))
    decay = np.linalg.matrix_power(np.eye(X.shape[1]) - alpha * phi, episodes)
    return target - decay @ target


@export("figures.figure_9_1")
def figure_9_1(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 9.1: gradient MC with state aggregation (10 groups of 100) on the 1000-state walk,
    alpha = 2e-5, 100,000 episodes (book: one run; here R runs for a confidence band).

    Checks: the learned staircase equals the VE minimiser, the mu-weighted mean of v_pi over each
    group (§9.3; tolerance: the 99% CI over runs plus the transient (1 - alpha eta_g)^episodes
    w*_g left from w = 0), and the visit frequencies equal the on-policy distribution (eq. 9.3).
    """
    runs, episodes, alpha = (2, 500, 4e-3) if quick else (5, 100_000, 2e-5)
    truth = walk()
    X, w_ve, _ = _aggregation_truth(10)
    w_runs, visits = gradient_mc_aggregation(_rng(seed, 1), runs, episodes, alpha, 10)
    mu_runs = visits / visits.sum(axis=1, keepdims=True)  # (R, N + 2) visit frequencies
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(STATES, truth["v"][1:-1], "r", label="True value $v_\\pi$")
    v_runs = w_runs @ X[1:-1].T  # (R, N)
    band(ax, STATES, v_runs, f"Approximate MC value ({runs} runs)", drawstyle="steps-mid")
    ax.set(xlabel="State", ylabel="Value scale", ylim=(-1, 1))
    ax2 = ax.twinx()
    ax2.bar(STATES, mu_runs.mean(axis=0)[1:-1], width=1.0, color="0.7", alpha=0.6)
    ax2.set(ylabel="Distribution scale (grey: state distribution)", ylim=(0, 0.0175))
    ax.legend(loc="upper left")
    ax.set_title(f"Gradient MC, state aggregation, alpha={alpha:g}, {episodes} episodes")
    png = save(fig, out_dir, "figure_9_1")
    expected_w = mean_path(X, w_ve, "mc", alpha, episodes)
    transient = float(np.max(np.abs(expected_w - w_ve)))
    stair_err = np.abs(w_runs.mean(axis=0) - expected_w)
    group_mass = mu_runs @ X  # (R, 10)
    checks = {
        "staircase_max_error_vs_expected_path": close(
            float(stair_err.max()), 0.0, spread(w_runs), source="derived"
        ),
        "group_distribution_max_error_vs_eq_9_3": close(
            float(np.max(np.abs(group_mass.mean(axis=0) - X.T @ truth["mu"]))),
            0.0,
            spread(group_mass, confidence=0.999),
            source="derived",
        ),
        "state_distribution_peak_at_500": close(
            float(mu_runs[:, 500].mean()),
            float(truth["mu"][500]),
            spread(mu_runs[:, 500], confidence=0.999),
            source="derived",
        ),
    }
    notes = [
        f"{runs} runs x {episodes} episodes; v_pi by exact DP on the model; mu from eq. 9.2-9.3 "
        f"(peak mu(500) = {truth['mu'][500]:.4f}).",
        "Staircase: the mean weights over runs vs their expected path (``mean_path``) to the VE "
        "minimiser (each group's mu-weighted mean of v_pi), which it is within "
        f"{transient:.2g} of at the end; tolerance: 99% CI over runs.",
        "Distribution checks: 99.9% CI over runs of the visit frequencies.",
    ]
    return result("figure_9_1", "Gradient MC with state aggregation", [png], checks, notes)


def _expected_steps() -> float:
    """Expected episode length of the walk from its start state (exact)."""
    w = walk()
    P, _ = objectives.policy_model(w["mdp"], w["policy"])
    steps = np.linalg.solve(np.eye(N + 2) - P, np.ones(N + 2))
    return float(steps[N // 2])


# -- Figure 9.2 ---------------------------------------------------------------------------------
def td0_aggregation(rng, runs: int, episodes: int, alpha: float, n_groups: int) -> np.ndarray:
    """Semi-gradient TD(0) with state aggregation for R runs (box p. 203), step by step:
    w_g(S) <- w_g(S) + alpha [R + v(S') - w_g(S)], v(terminal) = 0. Returns w (R, groups)."""
    group = np.full(N + 2, n_groups, np.int64)  # terminal ends: an extra weight fixed at 0
    group[1:-1] = StateAggregation(1, N, n_groups, discrete=True)(STATES)[:, 0]
    w = np.zeros((runs, n_groups + 1))
    rows = np.arange(runs)
    for chunk in streams(rng, runs, episodes):
        g, g_next = group[chunk["s"]], group[np.where(chunk["terminal"], 0, chunk["s_next"])]
        step_size = alpha * chunk["valid"]
        for k in range(g.shape[1]):
            gk = g[:, k]
            delta = chunk["r"][:, k] + w[rows, g_next[:, k]] - w[rows, gk]
            w[rows, gk] += step_size[:, k] * delta
    return w[:, :n_groups]


def td0_aggregation_runs(rng, runs: int, episodes: int, alpha: float, n_groups: int):
    """``td0_aggregation``'s weights (R, groups): compiled per-run loops that sample the walk as
    they learn (``run_aggregated_td0``) when numba is installed (5 x 100,000 episodes, about 42
    million sequential steps, in seconds instead of minutes), else ``td0_aggregation``."""
    if not numba_available():
        return td0_aggregation(rng, runs, episodes, alpha, n_groups)
    group = np.full(N + 2, n_groups, np.int64)  # terminal ends: a weight never read
    group[1:-1] = StateAggregation(1, N, n_groups, discrete=True)(STATES)[:, 0]
    res = run_aggregated_td0(walk()["mdp"], group, runs=runs, episodes=episodes, alpha=alpha,
                             seed=rng)  # fmt: skip
    return res["w"][:, :n_groups]


def n_step_td_sweep(rng, runs, episodes, alphas, ns, n_groups) -> np.ndarray:
    """n-step semi-gradient TD with state aggregation (§9.4, eq. 9.15) for every (n, alpha).

    All (alpha, run) pairs learn from the same R runs' episodes (common random numbers across
    settings). The n-step returns' reward part and bootstrap weight come from
    ``rlcore.returns.n_step_returns`` on each episode; the bootstrap value v(S_{tau+n}) is read
    with the weights of the moment, as in the book's algorithm. Returns the RMS error over the
    1000 states at the end of each episode, (len(ns), len(alphas), R, episodes).
    """
    truth = walk()
    X = feature_matrix(StateAggregation(1, N, n_groups, discrete=True))
    group = np.argmax(X, axis=1)
    group[[0, N + 1]] = n_groups  # terminal: a weight fixed at 0
    eps = sample_episodes(truth["benv"], truth["policy"], runs * episodes, rng, max_steps=100_000)
    states = eps["states"].reshape(runs, episodes, -1)
    rewards = eps["rewards"].reshape(runs, episodes, -1)
    lengths = eps["lengths"].reshape(runs, episodes)
    A = len(alphas)
    alpha = np.repeat(np.asarray(alphas, dtype=np.float64), runs)  # (A * R,)
    rms = np.zeros((len(ns), A, runs, episodes))
    for i, n in enumerate(ns):
        w = np.zeros((A * runs, n_groups + 1))
        rows = np.arange(A * runs)
        for e in range(episodes):
            T = np.tile(lengths[:, e], A)  # (A * R,)
            L = int(T.max())
            s = np.tile(states[:, e, :L], (A, 1))
            r = np.tile(rewards[:, e, :L], (A, 1))
            t = np.arange(L)
            valid = t < T[:, None]
            r_part, boot_w = _n_step_parts(np.where(valid, r, 0.0), T, n)
            s_boot = np.take_along_axis(s, np.minimum(t + n, L - 1)[None].repeat(A * runs, 0), 1)
            for tau in range(L):
                live = valid[:, tau]
                g_tau = group[s[:, tau]]
                target = r_part[:, tau] + boot_w[:, tau] * w[rows, group[s_boot[:, tau]]]
                w[rows, g_tau] += np.where(live, alpha * (target - w[rows, g_tau]), 0.0)
            v_hat = w[:, group[1:-1]]  # (A * R, N)
            err = np.sqrt(np.mean((v_hat - truth["v"][1:-1]) ** 2, axis=1))
            rms[i, :, :, e] = err.reshape(A, runs)
    return rms


def _n_step_parts(r: np.ndarray, T: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """G_{tau:tau+n} = r_part[tau] + boot_w[tau] v(S_{tau+n}) for undiscounted episodes.

    With gamma = 1, r_part is the sum of the rewards in the window and boot_w is 1 while the
    window ends before termination, else 0 (``rlcore.returns.n_step_returns`` with discounts
    1, and 0 on the last step, gives the same; a test checks it). O(T) instead of O(T n).

    Args:
        r: (B, L) rewards R_{t+1}, zero past each episode's end. T: (B,) lengths. n: steps.
    """
    L = r.shape[1]
    c = np.concatenate([np.zeros((r.shape[0], 1)), np.cumsum(r, axis=1)], axis=1)  # (B, L + 1)
    end = np.minimum(np.arange(L)[None, :] + n, T[:, None])  # (B, L) first index not summed
    r_part = np.take_along_axis(c, end, axis=1) - c[:, :L]
    boot_w = (np.arange(L)[None, :] + n < T[:, None]).astype(np.float64)
    return r_part, boot_w


@export("figures.figure_9_2")
def figure_9_2(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 9.2: semi-gradient TD on the 1000-state walk.

    Left: TD(0) with 10 groups, alpha = 2e-4, 100,000 episodes (book: one run); checked against
    the TD fixed point w_TD = A^{-1} b (eq. 9.12) with the 99% CI over runs plus the transient
    bound. Right: n-step TD with 20 groups, RMS error over the 1000 states averaged over the
    first 10 episodes and 100 runs, against alpha for n = 1, 2, 4, ..., 512 (book). Check: the
    best n is 4, as in the book, within a factor of 2.
    """
    truth = walk()
    runs_l, episodes_l = (2, 300) if quick else (5, 100_000)
    alpha_l = 2e-2 if quick else 2e-4
    X, _, w_td = _aggregation_truth(10)
    w_left = td0_aggregation_runs(_rng(seed, 2), runs_l, episodes_l, alpha_l, 10)
    runs_r = 5 if quick else 100
    ns = [1, 4, 16] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    alphas = np.array(
        [0.0, 0.1, 0.4, 0.8] if quick else [0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]
    )
    rms = n_step_td_sweep(_rng(seed, 3), runs_r, 10, alphas, ns, 20)
    avg = rms.mean(axis=3)  # (n, alpha, R): average over the first 10 episodes
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.plot(STATES, truth["v"][1:-1], "r", label="True value $v_\\pi$")
    band(left, STATES, w_left @ X[1:-1].T, f"Approximate TD value ({runs_l} runs)")
    left.set(xlabel="State", ylabel="Value", ylim=(-1, 1), title=f"TD(0), alpha={alpha_l:g}")
    left.legend()
    for i, n in enumerate(ns):
        band(right, alphas, avg[i].T, f"n={n}")
    right.set(
        xlabel="alpha",
        ylabel=f"Average RMS error (first 10 episodes, {runs_r} runs)",
        ylim=(0.25, 0.55),
        title="n-step semi-gradient TD, 20 groups",
    )
    right.legend(fontsize=7, ncol=2)
    png = save(fig, out_dir, "figure_9_2")
    expected_w = mean_path(X, w_td, "td", alpha_l, episodes_l)
    transient = float(np.max(np.abs(expected_w - w_td)))
    curve = avg.mean(axis=2)  # (n, alpha)
    best_n = ns[int(np.argmin(curve[:, 1:].min(axis=1)))]
    checks = {
        "td0_max_error_vs_expected_path": close(
            float(np.max(np.abs(w_left.mean(axis=0) - expected_w))),
            0.0,
            spread(w_left),
            source="derived",
        ),
        "best_n_log2": close(np.log2(best_n), 2.0, 1.0),
        "best_average_rms": close(float(curve[:, 1:].min()), 0.3, 0.05),
    }
    notes = [
        f"Left: {runs_l} runs x {episodes_l} episodes; the mean weights vs their expected path "
        f"(``mean_path``) to w_TD (eq. 9.12), which it is within {transient:.2g} of at the end.",
        f"Right: {runs_r} runs, the same episodes for every (n, alpha); best n = {best_n} "
        f"(book: an intermediate n, 4); best average RMS {curve[:, 1:].min():.3f} (read from "
        "the book's figure: about 0.3, tolerance 0.05).",
    ]
    return result("figure_9_2", "Semi-gradient TD on the 1000-state walk", [png], checks, notes)


# -- Figures 9.5 and 9.10: gradient MC with several feature maps --------------------------------
def gradient_mc_curves(rng, runs: int, episodes: int, settings: list[tuple[np.ndarray, float]]):
    """Gradient MC (box p. 202) for several (features, alpha) settings on the same R runs.

    ``settings``: (X, alpha) with X either (N + 2, d) dense features (all settings dense, any d)
    or (N + 2, k) integer active indices of every state. Every G_t of an episode is its return
    (gamma = 1, one terminal reward), so the per-step updates w <- w + alpha [G - v(S_t)] x(S_t)
    can be applied online, in the book's order, as each run's stream of steps goes by.

    Returns:
        (sqrt(VE) of shape (C, R, episodes + 1), column 0 before learning; final weights per
        setting, (R, d_c)).
    """
    C = len(settings)
    sparse = [np.issubdtype(X.dtype, np.integer) for X, _ in settings]
    if any(sparse) and not all(sparse):
        raise ValueError("gradient_mc_curves: use all dense or all index-set feature matrices")
    dims = [int(X.max()) + 1 if sp else X.shape[1] for (X, _), sp in zip(settings, sparse)]
    values = [_value_matrix(X, d) for (X, _), d in zip(settings, dims)]  # (N + 2, d_c) dense
    curves = np.full((C, runs, episodes + 1), float(sqrt_ve(np.zeros(N + 2))))
    alpha = np.array([a for _, a in settings])[:, None]  # (C, 1)
    rows = np.arange(runs)
    if all(sparse):
        ws = [np.zeros((runs, d)) for d in dims]
    else:  # dense: stack the settings, zero-padded to the largest d
        d_max = max(dims)
        X_all = np.stack([np.pad(X, ((0, 0), (0, d_max - X.shape[1]))) for X, _ in settings])
        W = np.zeros((C, runs, d_max))
    for chunk in streams(rng, runs, episodes):
        ends = np.argwhere(chunk["end_episode"] >= 0)  # (run, step) pairs
        ends = ends[np.argsort(ends[:, 1], kind="stable")]
        j = 0
        for k in range(chunk["s"].shape[1]):
            s, g, live = chunk["s"][:, k], chunk["g"][:, k], chunk["valid"][:, k]
            if all(sparse):
                for (X, a), w in zip(settings, ws):
                    x = X[s]  # (R, k) active indices
                    v_hat = w[rows[:, None], x].sum(axis=1)
                    w[rows[:, None], x] += (a * live * (g - v_hat))[:, None]
            else:
                x = X_all[:, s]  # (C, R, d)
                v_hat = np.einsum("crd,crd->cr", W, x)
                W += (alpha * (live * (g - v_hat)))[..., None] * x
            while j < len(ends) and ends[j, 1] == k:
                r = ends[j, 0]
                e = chunk["end_episode"][r, k]
                for c in range(C):
                    w_r = ws[c][r] if all(sparse) else W[c, r, : dims[c]]
                    curves[c, r, e + 1] = sqrt_ve(values[c] @ w_r)
                j += 1
    final = ws if all(sparse) else [W[c, :, : dims[c]] for c in range(C)]
    return curves, final


def _value_matrix(X: np.ndarray, d: int) -> np.ndarray:
    return dense_features(X, d) if np.issubdtype(X.dtype, np.integer) else X


def _path_error(X: np.ndarray, w_runs: np.ndarray, alpha: float, episodes: int):
    """(max over states |mean_r v_r(s) - v_path(s)|, the largest 99% CI half-width over states)
    with v_path = X mean_path(...) the expected values after ``episodes`` (gradient MC)."""
    truth = walk()
    Xd = _value_matrix(X, w_runs.shape[1])
    target = objectives.ve_minimizer(Xd, truth["v"], truth["mu"])
    expected_v = Xd[1:-1] @ mean_path(Xd, target, "mc", alpha, episodes)
    v_runs = w_runs @ Xd[1:-1].T
    return float(np.max(np.abs(v_runs.mean(axis=0) - expected_v))), spread(v_runs)


@export("figures.figure_9_5")
def figure_9_5(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 9.5: Fourier vs polynomial bases of orders 5, 10 and 20 on the 1000-state walk,
    gradient MC, alpha = 1e-4 (polynomial) and 5e-5 (Fourier), 5000 episodes, 30 runs (book).

    States are normalised to [0, 1]. Checks: at each order the Fourier basis ends with the lower
    sqrt(VE) (the book's claim), the difference exceeding its 99% spread; and every basis's mean
    value function after the last episode matches its expected path to the VE minimiser
    (``mean_path``) within the 99% CI over runs.
    """
    # quick: 10x the step sizes for a 25th of the episodes (the curves scale with alpha x time)
    runs, episodes, speed = (4, 200, 10.0) if quick else (30, 5000, 1.0)
    orders = (5, 10, 20)
    settings, labels = [], []
    for cls, alpha in ((Polynomial, 1e-4), (Fourier, 5e-5)):
        for n in orders:
            settings.append((feature_matrix(cls(1, N, n, discrete=True)), speed * alpha))
            labels.append(f"{cls.__name__} order {n}")
    curves, ws = gradient_mc_curves(_rng(seed, 5), runs, episodes, settings)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = np.arange(episodes + 1)
    for c, label in enumerate(labels):
        band(ax, x, curves[c], label, linestyle="-" if c >= len(orders) else "--")
    ax.set(
        xlabel="Episodes",
        ylabel=f"sqrt(VE) averaged over {runs} runs",
        ylim=(0, 0.5),
        title="Gradient MC: Fourier (solid) vs polynomial (dashed) bases",
    )
    ax.legend(fontsize=8)
    png = save(fig, out_dir, "figure_9_5")
    checks = {}
    for i, n in enumerate(orders):
        gap = curves[i, :, -1] - curves[len(orders) + i, :, -1]  # polynomial - Fourier
        checks[f"fourier_beats_polynomial_order_{n}"] = beats(gap)
    for c, label in enumerate(labels):
        err, tol = _path_error(settings[c][0], ws[c], settings[c][1], episodes)
        checks[f"{label.lower().replace(' ', '_')}_values_vs_expected_path"] = close(
            err, 0.0, tol, source="derived"
        )
    notes = [
        f"{runs} runs x {episodes} episodes, the same episodes for every basis"
        + (" (quick: step sizes x10)." if quick else "."),
        "Ordering checks: (polynomial - Fourier) sqrt(VE) after the last episode must exceed its "
        "99% CI half-width (book: the Fourier basis learned faster and better at every order).",
        "Path checks: the mean value function over runs vs X mean_path (first order in alpha); "
        "tolerance: the largest 99% CI half-width over the states.",
    ]
    return result("figure_9_5", "Fourier vs polynomial bases", [png], checks, notes)


@export("figures.figure_9_10")
def figure_9_10(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 9.10: one tiling vs 50 tilings on the 1000-state walk, gradient MC, tiles 200
    states wide, tilings offset by 4 states, alpha = 1e-4 (one tiling) and 1e-4 / 50 (50
    tilings, the same initial learning rate), 5000 episodes, 30 runs (book).

    Checks: 50 tilings end with the lower sqrt(VE) and a lower average over all episodes (the
    book's point: coarse coding learns faster and better), each difference exceeding its 99%
    spread; both mean value functions match their expected paths (``mean_path``). One tiling is
    state aggregation into groups of 200, whose path ends at the VE minimiser.
    """
    # quick: 10x the step sizes for a 25th of the episodes (the curves scale with alpha x time)
    runs, episodes, speed = (4, 200, 10.0) if quick else (30, 5000, 1.0)
    one = TileCoding(1, N, n_tilings=1, tiles_per_dim=5, discrete=True)
    many = TileCoding(1, N, n_tilings=50, tiles_per_dim=5, discrete=True)
    settings = []
    for coder, alpha in ((one, speed * 1e-4), (many, speed * 1e-4 / 50)):
        X = np.zeros((N + 2, coder.n_active), np.int64)
        X[1:-1] = coder(STATES)
        X[[0, N + 1]] = coder.n_features  # terminal ends: never updated (never a step's S_t)
        settings.append((X, alpha))
    curves, ws = gradient_mc_curves(_rng(seed, 10), runs, episodes, settings)
    ws = [w[:, : coder.n_features] for w, coder in zip(ws, (one, many))]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = np.arange(episodes + 1)
    band(ax, x, curves[0], "State aggregation (one tiling)")
    band(ax, x, curves[1], "Tile coding (50 tilings)")
    ax.set(
        xlabel="Episodes",
        ylabel=f"sqrt(VE) averaged over {runs} runs",
        ylim=(0, 0.5),
        title="Gradient MC: one tiling vs 50 tilings",
    )
    ax.legend()
    png = save(fig, out_dir, "figure_9_10")
    gap_end = curves[0, :, -1] - curves[1, :, -1]
    gap_mean = curves[0].mean(axis=1) - curves[1].mean(axis=1)
    checks = {
        "tile_coding_lower_error_at_the_end": beats(gap_end),
        "tile_coding_lower_average_error": beats(gap_mean),
    }
    for name, (X, alpha), w in zip(("one_tiling", "fifty_tilings"), settings, ws):
        Xd = dense_features(X, w.shape[1] + 1)[:, : w.shape[1]]  # drop the terminal slot
        err, tol = _path_error(Xd, w, alpha, episodes)
        checks[f"{name}_values_vs_expected_path"] = close(err, 0.0, tol, source="derived")
    notes = [
        f"{runs} runs x {episodes} episodes, the same episodes for both"
        + (" (quick: step sizes x10)." if quick else "."),
        "Ordering checks: (one tiling - 50 tilings) sqrt(VE), at the last episode and averaged "
        "over all episodes, must exceed its 99% CI half-width.",
    ]
    return result("figure_9_10", "Coarse coding: one tiling vs 50 tilings", [png], checks, notes)
