"""Chapter 10 (on-policy control with approximation): Figures 10.1, 10.2 and 10.4 (Mountain Car).

Semi-gradient Sarsa with tile coding on Mountain Car (Example 10.1): 8 tilings, each tile 1/8 of
the bounded distance in each dimension, the book's asymmetric offsets (``features.tile_coding``),
one copy of the tiles per action, weights initialised to 0 (optimistic: every reward is -1),
epsilon = 0, no discounting, step sizes written alpha = a / 8. Many independent runs (and step
sizes) run at once in ``rlcore.approximation.batched.run_linear_sarsa``, whose updates equal the
scalar agents' (``agents.semi_gradient_sarsa``; tested step for step); with numba installed (the
``fast`` extra) the figures run the same algorithm as compiled per-run loops instead
(``rlcore.approximation.compiled.run_mountain_car_sarsa``: Figure 10.1's 9,000 sequential episodes
in seconds; equal in distribution, tested). The book has no time limit;
episodes are cut at ``MAX_STEPS`` only as a guard and every cut is reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rlcore.approximation.batched import ControlRunResult, run_linear_sarsa
from rlcore.approximation.compiled import run_mountain_car_sarsa
from rlcore.approximation.features import StateActionFeatures, TileCoding
from rlcore.approximation.mountain_car import (
    TILING_HIGH,
    TILING_LOW,
    MountainCarBatch,
    mountain_car_step,
)
from rlcore.book.ch9 import beats
from rlcore.book.plotting import band, close, pyplot, result, save, within
from rlcore.registry import export
from rlcore.tabular.compiled import numba_available

MAX_STEPS = 20_000  # a guard: the book's episodes have no limit (cut episodes are reported)
QUICK_MAX_STEPS = 1000  # quick smoke runs cut the first, long episodes (reported as cut)


def _rng(seed: int, k: int) -> np.random.Generator:
    return np.random.default_rng([seed, 10, k])


def mountain_car_tiles() -> TileCoding:
    """The book's tile coder for Mountain Car (§10.1): 8 tilings of 8 x 8 tiles."""
    return TileCoding(list(TILING_LOW), list(TILING_HIGH), n_tilings=8, tiles_per_dim=8)


def mountain_car_sarsa(coder: TileCoding, **settings: Any) -> ControlRunResult:
    """n-step semi-gradient Sarsa or Sarsa(lambda) on Mountain Car: compiled per-run loops
    (``run_mountain_car_sarsa``) when numba is installed, else ``run_linear_sarsa`` (the same
    algorithm and distribution; minutes instead of seconds for Figure 10.1's 9,000 episodes)."""
    if numba_available():
        return run_mountain_car_sarsa(coder, **settings)
    return run_linear_sarsa(MountainCarBatch(), coder, **settings)


def capped_note(res: ControlRunResult) -> str:
    n, guard = int(res.capped.sum()), res.config["max_episode_steps"]
    return (
        f"{n} of {res.capped.size} episodes reached the {guard}-step guard and were cut "
        "(their length counts as the guard)."
    )


def greedy_rollout(w: np.ndarray, coder: TileCoding, starts: np.ndarray, limit: int = 5000):
    """Steps to the goal of the greedy policy of q(s, a, w) from each start state (no learning;
    ties broken towards the lowest action). Returns (steps (k,), reached (k,))."""
    sa = StateActionFeatures(coder, 3)
    s = np.array(starts, dtype=np.float64)
    steps = np.zeros(len(s), np.int64)
    live = np.ones(len(s), bool)
    for _ in range(limit):
        if not live.any():
            break
        q = sa.values(w, coder(s[live]))
        s2, _, term = mountain_car_step(s[live], np.argmax(q, axis=1))
        steps[live] += 1
        idx = np.flatnonzero(live)
        s[idx] = s2
        live[idx[term]] = False
    return steps, ~live


def cost_to_go(w: np.ndarray, coder: TileCoding, n: int = 60) -> tuple[np.ndarray, ...]:
    """-max_a q(s, a, w) on an n x n grid of (position, velocity)."""
    x = np.linspace(TILING_LOW[0], TILING_HIGH[0], n)
    v = np.linspace(TILING_LOW[1], TILING_HIGH[1], n)
    X, V = np.meshgrid(x, v, indexing="ij")
    q = StateActionFeatures(coder, 3).values(w, coder(np.stack([X, V], axis=-1).reshape(-1, 2)))
    return X, V, -q.max(axis=1).reshape(n, n)


@export("figures.figure_10_1")
def figure_10_1(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 10.1: the cost-to-go -max_a q(s, a, w) learned on one run of semi-gradient Sarsa
    (alpha = 0.5/8) after episodes 1, 12, 104, 1000 and 9000.

    The figure's first panel is step 428 of episode 1; here it is the end of episode 1. Four runs
    are learned (the figure shows the first). Check: the mean length of the last 100 episodes
    lies in the range the same agent reaches late in Figure 10.2 (alpha = 0.5/8: 100-150 steps,
    read from the book's log-scale figure). Reported, not checked: how well the learned
    cost-to-go of the start states predicts the steps the greedy policy then takes (equal at a
    perfect fit, since gamma = 1 and every reward is -1; the tile coder's approximation error
    has no closed form to derive a tolerance from).
    """
    runs, episodes = (1, 2) if quick else (4, 9000)
    shown = [1, 2] if quick else [1, 12, 104, 1000, 9000]
    coder = mountain_car_tiles()
    res = mountain_car_sarsa(
        coder,
        runs=runs,
        episodes=episodes,
        alpha=0.5 / 8,
        max_episode_steps=QUICK_MAX_STEPS if quick else MAX_STEPS,
        seed=_rng(seed, 1),
        snapshot_episodes=shown,
    )
    plt = pyplot()
    fig = plt.figure(figsize=(4 * len(shown), 4))
    for i, e in enumerate(shown):
        ax = fig.add_subplot(1, len(shown), i + 1, projection="3d")
        X, V, C = cost_to_go(res.snapshots[e][0], coder)
        ax.plot_surface(X, V, C, cmap="viridis", linewidth=0)
        ax.set(title=f"Episode {e}", xlabel="Position", ylabel="Velocity")
    png = save(fig, out_dir, "figure_10_1")
    starts = np.stack([np.linspace(-0.6, -0.4, 21), np.zeros(21)], axis=-1)
    rel_err = []
    for r in range(runs):
        steps, reached = greedy_rollout(res.w[r], coder, starts, limit=500 if quick else 5000)
        q = StateActionFeatures(coder, 3).values(res.w[r], coder(starts)).max(axis=1)
        rel_err.append(np.mean(np.abs(-q - steps) / steps) if reached.all() else np.inf)
    last_100 = res.lengths[:, -100:].mean(axis=1)  # (R,)
    checks = {
        "mean_steps_last_100_episodes": within(float(last_100.mean()), 100.0, 150.0, source="book")
    }
    notes = [
        f"{runs} runs x {episodes} episodes, alpha = 0.5/8, epsilon = 0; {capped_note(res)}",
        f"Mean length of the last 100 episodes: {last_100.mean():.1f} steps (per run: "
        + ", ".join(f"{x:.1f}" for x in last_100)
        + ").",
        "Cost-to-go vs greedy steps from 21 start states (x in [-0.6, -0.4], v = 0): mean "
        "relative difference |(-max_a q) - steps| / steps per run: "
        + ", ".join(f"{x:.1%}" for x in rel_err)
        + ".",
    ]
    return result("figure_10_1", "Mountain Car cost-to-go, one run", [png], checks, notes)


@export("figures.figure_10_2")
def figure_10_2(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 10.2: steps per episode of semi-gradient Sarsa on Mountain Car for alpha = 0.1/8,
    0.2/8 and 0.5/8, 500 episodes, 100 runs (book), log scale.

    Checks: the book's ordering (larger alpha learns faster here): the mean steps per episode
    over all episodes differ, 0.5/8 < 0.2/8 < 0.1/8, each gap beyond its 99% spread; and the
    alpha = 0.5/8 curve ends between 100 and 200 steps (episodes 451-500; read from the book's
    log-scale figure).
    """
    runs, episodes = (1, 2) if quick else (100, 500)
    alphas = np.array([0.1, 0.2, 0.5]) / 8
    res = mountain_car_sarsa(
        mountain_car_tiles(),
        runs=3 * runs,
        episodes=episodes,
        alpha=np.repeat(alphas, runs),
        max_episode_steps=QUICK_MAX_STEPS if quick else MAX_STEPS,
        seed=_rng(seed, 2),
    )
    steps = res.lengths.reshape(3, runs, episodes).astype(np.float64)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = np.arange(1, episodes + 1)
    for i, a in enumerate((0.1, 0.2, 0.5)):
        band(ax, x, steps[i], f"alpha = {a}/8")
    ax.set(
        yscale="log",
        xlabel="Episode",
        ylim=(100, 1000),
        ylabel=f"Steps per episode (log scale), {runs} runs",
        title="Mountain Car",
    )
    ax.legend()
    png = save(fig, out_dir, "figure_10_2")
    mean_steps = steps.mean(axis=2)  # (alpha, R)
    gap_02_05 = mean_steps[1] - mean_steps[2]
    gap_01_02 = mean_steps[0] - mean_steps[1]
    tail = steps[2, :, -min(50, episodes) :].mean(axis=1)
    checks = {
        "alpha_0.5_beats_0.2": beats(gap_02_05),
        "alpha_0.2_beats_0.1": beats(gap_01_02),
    }
    checks["alpha_0.5_final_steps"] = within(float(tail.mean()), 100.0, 200.0, source="book")
    notes = [
        f"{runs} runs per alpha x {episodes} episodes; epsilon = 0; {capped_note(res)}",
        f"Mean steps per episode: {', '.join(f'{m:.0f}' for m in mean_steps.mean(axis=1))} "
        "(alpha = 0.1/8, 0.2/8, 0.5/8); alpha = 0.5/8 over the last 50 episodes: "
        f"{tail.mean():.1f}.",
    ]
    return result("figure_10_2", "Mountain Car learning curves", [png], checks, notes)


# alpha x 8 per n: the book's curves stop where performance degrades (large n with large alpha)
GRID_10_4 = {
    1: (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6),
    2: (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6),
    4: (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4),
    8: (0.2, 0.4, 0.6, 0.8, 1.0),
    16: (0.1, 0.2, 0.3, 0.4, 0.5, 0.6),
}
QUICK_GRID_10_4 = {1: (0.5, 1.0), 4: (0.5, 1.0), 16: (0.3, 0.5)}


@export("figures.figure_10_4")
def figure_10_4(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 10.4: average steps per episode over the first 50 episodes and 100 runs of n-step
    semi-gradient Sarsa on Mountain Car, against alpha x 8, for n = 1, 2, 4, 8, 16 (book).

    Checks: the best n (lowest curve minimum) is the book's n = 4 (within a factor of 2), and
    the best n's minimum lies in the book's range, about 200-240 steps (read from the figure).
    """
    runs, episodes = (1, 1) if quick else (100, 50)
    grid = QUICK_GRID_10_4 if quick else GRID_10_4
    ns = tuple(grid)
    coder = mountain_car_tiles()
    curves = {}
    capped = 0
    for k, n in enumerate(ns):
        a = np.repeat(np.asarray(grid[n]) / 8, runs)
        res = mountain_car_sarsa(
            coder,
            runs=a.size,
            episodes=episodes,
            alpha=a,
            n=n,
            max_episode_steps=QUICK_MAX_STEPS if quick else MAX_STEPS,
            seed=_rng(seed, 40 + k),
        )
        capped += int(res.capped.sum())
        curves[n] = res.lengths.mean(axis=1).reshape(len(grid[n]), runs)  # (alpha, R)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for n in ns:
        band(ax, np.asarray(grid[n]), curves[n].T, f"n={n}", marker="o", markersize=3)
    ax.set(
        xlabel="alpha x number of tilings (8)",
        ylim=(180, 300),
        ylabel=f"Steps per episode, first {episodes} episodes, {runs} runs",
        title="n-step semi-gradient Sarsa on Mountain Car",
    )
    ax.legend()
    png = save(fig, out_dir, "figure_10_4")
    minima = {n: float(curves[n].mean(axis=1).min()) for n in ns}
    best_n = min(minima, key=minima.get)
    checks = {
        "best_n_log2": close(np.log2(best_n), 2.0, 1.0),
        "best_average_steps": within(minima[best_n], 200.0, 240.0, source="book"),
    }
    notes = [
        f"{runs} runs per (n, alpha) x {episodes} episodes; {capped} episodes were cut at the "
        f"{QUICK_MAX_STEPS if quick else MAX_STEPS}-step guard.",
        "Minimum over alpha of the mean steps: "
        + ", ".join(f"n={n}: {m:.1f}" for n, m in minima.items()),
    ]
    return result("figure_10_4", "n-step semi-gradient Sarsa on Mountain Car", [png], checks, notes)
