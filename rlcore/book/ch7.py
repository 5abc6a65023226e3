"""Chapter 7 (n-step bootstrapping) of Sutton & Barto (2018): Figure 7.2, through the batched
engine (``rlcore.tabular.run_batched`` with the ``n_step_td`` learner)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rlcore.book import walk19
from rlcore.book.plotting import close, pyplot, result, save, spread
from rlcore.registry import export

N_VALUES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def alphas_for(quick: bool) -> np.ndarray:
    """The step sizes of the chapter 7 and 12 sweeps (the book's x axis runs from 0 to 1)."""
    return np.round(np.linspace(0.1, 0.9, 5) if quick else np.linspace(0.05, 1.0, 20), 3)


@export("figures.figure_7_2")
def figure_7_2(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 7.2: n-step TD on the 19-state random walk, for n = 1, 2, 4, ..., 512.

    y: RMS error over the 19 states after each of the first 10 episodes, averaged over those
    episodes and 100 runs (book). Checks (figure readings): intermediate n learn best, the lowest
    curve being n = 4 (log2 n = 2, +-1), and its minimum lies near 0.27 (the lowest point of the
    book's plot sits between 0.25 and 0.3; tolerance 0.03 plus the run-to-run spread).
    """
    runs = 10 if quick else 100
    n_values = (1, 2, 4, 8, 16) if quick else N_VALUES
    alphas = alphas_for(quick)
    errors = walk19.sweep("n_step_td", "n", n_values, alphas, runs, np.random.default_rng(seed))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    walk19.plot(ax, errors, n_values, alphas, "n")
    ax.set_title(f"n-step TD on the 19-state random walk ({runs} runs)")
    png = save(fig, out_dir, "figure_7_2")
    i, j, low = walk19.best(errors)
    checks = {
        "best_n_log2": close(np.log2(n_values[i]), 2.0, 1.0),
        "minimum_rms": close(low, 0.27, 0.03 + spread(errors[i, j])),
    }
    notes = [
        f"{runs} runs per (n, alpha); lowest mean error {low:.3f} at n = {n_values[i]}, "
        f"alpha = {alphas[j]:g}. Bands: 95% CI over runs; diverging settings are clipped at 1.",
    ]
    return result("figure_7_2", "n-step TD on the 19-state random walk", [png], checks, notes)
