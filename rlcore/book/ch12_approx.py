"""Chapter 12 with function approximation: Figure 12.10 (Sarsa(lambda) on Mountain Car).

(The tabular figures of chapter 12 live in ``rlcore.book.ch12``.) Sarsa(lambda) with replacing
traces and the Mountain Car tile coding of chapter 10 (``rlcore.book.ch10.mountain_car_tiles``),
epsilon = 0, weights initialised to 0; many runs and step sizes at once in
``rlcore.approximation.batched.run_linear_sarsa`` (lazily applied traces, equal to
``agents.linear_sarsa_lambda`` step for step), or, with numba installed, the same algorithm as
compiled per-run loops (``rlcore.approximation.compiled.run_mountain_car_sarsa``, equal in
distribution, tested). lambda = 0 is run as one-step semi-gradient Sarsa, which it equals
(tested).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rlcore.book.ch9 import beats
from rlcore.book.ch10 import MAX_STEPS, QUICK_MAX_STEPS, mountain_car_sarsa, mountain_car_tiles
from rlcore.book.plotting import band, pyplot, result, save, within
from rlcore.registry import export

# alpha x 8 per lambda: the book's curves stop where performance degrades (large lambda, alpha)
ALPHA_GRID = {
    0.0: (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6),
    0.68: (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6),
    0.84: (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4),
    0.92: (0.2, 0.4, 0.6, 0.8, 1.0, 1.2),
    0.96: (0.2, 0.4, 0.6, 0.8, 1.0),
    0.98: (0.2, 0.4, 0.6, 0.8),
    0.99: (0.2, 0.3, 0.4, 0.5),
}
QUICK_GRID = {0.0: (0.4, 0.8, 1.2), 0.92: (0.4, 0.8, 1.2), 0.99: (0.2, 0.4)}


def _rng(seed: int, k: int) -> np.random.Generator:
    return np.random.default_rng([seed, 12, k])


@export("figures.figure_12_10")
def figure_12_10(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 12.10: early performance of Sarsa(lambda) with replacing traces on Mountain Car:
    steps per episode averaged over the first 50 episodes and 100 runs (book), against
    alpha x 8, for lambda = 0, .68, .84, .92, .96, .98, .99.

    Checks: an intermediate lambda does best, as in the book: the best lambda's minimum is
    below lambda = 0's (one-step Sarsa) and below lambda = .99's by more than the 99% spread of
    the difference; the best minimum lies in the book's range, about 170-210 steps (read from
    the figure).
    """
    runs, episodes = (1, 1) if quick else (100, 50)
    grid = QUICK_GRID if quick else ALPHA_GRID
    coder = mountain_car_tiles()
    per_run: dict[float, np.ndarray] = {}  # lambda -> (alpha, R) mean steps over the episodes
    capped = 0
    for k, (lam, alphas) in enumerate(grid.items()):
        a = np.repeat(np.asarray(alphas) / 8, runs)
        res = mountain_car_sarsa(
            coder,
            runs=a.size,
            episodes=episodes,
            alpha=a,
            lambda_=None if lam == 0.0 else lam,
            trace="replacing",
            max_episode_steps=QUICK_MAX_STEPS if quick else MAX_STEPS,
            seed=_rng(seed, k),
        )
        capped += int(res.capped.sum())
        per_run[lam] = res.lengths.mean(axis=1).reshape(len(alphas), runs)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for lam, alphas in grid.items():
        band(ax, np.asarray(alphas), per_run[lam].T, f"lambda={lam:g}", marker="o", markersize=3)
    ax.set(
        xlabel="alpha x number of tilings (8)",
        ylim=(150, 300),
        ylabel=f"Steps per episode, first {episodes} episodes, {runs} runs",
        title="Sarsa(lambda) with replacing traces on Mountain Car",
    )
    ax.legend(fontsize=8)
    png = save(fig, out_dir, "figure_12_10")
    best_alpha = {lam: int(np.argmin(v.mean(axis=1))) for lam, v in per_run.items()}
    minima = {lam: per_run[lam][best_alpha[lam]] for lam in per_run}  # (R,) at the best alpha
    best = min(minima, key=lambda lam: minima[lam].mean())
    ends = (min(grid), max(grid))
    checks = {}
    for lam in ends:
        gap = minima[lam] - minima[best]
        checks[f"best_lambda_beats_lambda_{lam:g}"] = beats(gap)
    checks["best_average_steps"] = within(float(minima[best].mean()), 170.0, 210.0, source="book")
    notes = [
        f"{runs} runs per (lambda, alpha) x {episodes} episodes; best lambda {best:g}; {capped} "
        f"episodes were cut at the {QUICK_MAX_STEPS if quick else MAX_STEPS}-step guard.",
        "Minimum over alpha of the mean steps: "
        + ", ".join(f"lambda={lam:g}: {m.mean():.1f}" for lam, m in minima.items()),
        "The runs at the best alpha of each lambda are independent, so the gaps' spread is the "
        "CI of a difference of independent means (computed on runs paired by index).",
    ]
    if quick:
        notes.append("quick: 3 lambdas, 1 episode: a smoke run, its checks are not meaningful.")
    return result("figure_12_10", "Sarsa(lambda) on Mountain Car", [png], checks, notes)
