"""Chapter 12 (eligibility traces) of Sutton & Barto (2018): Figures 12.3, 12.6 and 12.8 on the
19-state random walk, through the batched engine.

Figure 12.3: the offline lambda-return algorithm; 12.6: TD(lambda) with accumulating traces;
12.8: true online TD(lambda). Each sweeps alpha for lambda in {0, .4, .8, .9, .95, .975, .99, 1},
100 runs (book), measuring the RMS error over the 19 states averaged over the first 10 episodes.
The checks compare the methods as the book does: the offline lambda-return is comparable to
n-step TD (best at intermediate lambda, minimum near 0.27); TD(lambda) matches it at its best
but becomes unstable at large alpha and lambda; true online TD(lambda) does at least as well
as the offline lambda-return.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.book import walk19
from rlcore.book.ch7 import alphas_for
from rlcore.book.plotting import close, pyplot, result, save, spread, within
from rlcore.registry import export

LAMBDAS = (0.0, 0.4, 0.8, 0.9, 0.95, 0.975, 0.99, 1.0)
METHODS = {
    "offline_lambda_return": ("figure_12_3", "Offline lambda-return algorithm"),
    "td_lambda": ("figure_12_6", "TD(lambda), accumulating traces"),
    "true_online_td_lambda": ("figure_12_8", "True online TD(lambda)"),
}


@lru_cache(maxsize=8)
def _errors(method: str, quick: bool, seed: int) -> np.ndarray:
    """(lambdas, alphas, runs) errors of one method; cached so that the figures comparing
    methods reuse the offline lambda-return sweep. Each method has its own stream."""
    runs = 10 if quick else 100
    k = list(METHODS).index(method)
    errors = walk19.sweep(
        method, "lambda_", LAMBDAS, alphas_for(quick), runs, np.random.default_rng([seed, k])
    )
    errors.setflags(write=False)
    return errors


def _figure(method: str, out_dir: str | Path, quick: bool, seed: int) -> tuple[np.ndarray, str]:
    name, title = METHODS[method]
    errors = _errors(method, quick, seed)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    walk19.plot(ax, errors, LAMBDAS, alphas_for(quick), "lambda")
    ax.set_title(f"{title} ({errors.shape[2]} runs)")
    return errors, save(fig, out_dir, name)


def _minimum(errors: np.ndarray) -> tuple[float, float]:
    """(lowest mean error, its 99% CI half-width)."""
    i, j, low = walk19.best(errors)
    return low, spread(errors[i, j])


@export("figures.figure_12_3")
def figure_12_3(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 12.3: the offline lambda-return algorithm on the 19-state random walk.

    Checks (figure readings): best performance at an intermediate lambda (0.4-0.95), with a
    minimum near 0.27, "comparable to the n-step methods" of Figure 7.2 (+-0.03 plus spread).
    """
    errors, png = _figure("offline_lambda_return", out_dir, quick, seed)
    i, j, low = walk19.best(errors)
    checks = {
        "best_lambda_is_intermediate": within(LAMBDAS[i], 0.4, 0.95, source="book"),
        "minimum_rms": close(low, 0.27, 0.03 + spread(errors[i, j])),
    }
    notes = [
        f"Lowest mean error {low:.3f} at lambda = {LAMBDAS[i]:g}, alpha = {alphas_for(quick)[j]:g}."
    ]
    return result("figure_12_3", METHODS["offline_lambda_return"][1], [png], checks, notes)


@export("figures.figure_12_6")
def figure_12_6(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 12.6: TD(lambda) on the 19-state random walk.

    Checks: its best point is as good as the offline lambda-return's (within 0.02 plus the
    spread: "TD(lambda) approximates the offline lambda-return algorithm well" at its best), and
    for lambda = 0.99 at the largest alpha the median run leaves the book's plot (error above
    0.55, capped at 10 when it diverges): "at larger alpha ... TD(lambda) can be unstable".
    """
    errors, png = _figure("td_lambda", out_dir, quick, seed)
    low, low_spread = _minimum(errors)
    ref, ref_spread = _minimum(_errors("offline_lambda_return", quick, seed))
    unstable = float(min(np.median(errors[LAMBDAS.index(0.99), -1]), 10.0))
    checks = {
        "best_matches_offline_lambda_return": close(
            low, ref, 0.02 + float(np.hypot(low_spread, ref_spread)), source="derived"
        ),
        "unstable_at_large_alpha_and_lambda": within(unstable, 0.55, 10.0, source="book"),
    }
    notes = [f"Lowest mean error {low:.3f} (offline lambda-return: {ref:.3f})."]
    return result("figure_12_6", METHODS["td_lambda"][1], [png], checks, notes)


@export("figures.figure_12_8")
def figure_12_8(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 12.8: true online TD(lambda) on the 19-state random walk.

    Check: its best point is at least as good as the offline lambda-return's ("true online
    TD(lambda) performs as well as or better than", the difference may not exceed the spread).
    """
    errors, png = _figure("true_online_td_lambda", out_dir, quick, seed)
    low, low_spread = _minimum(errors)
    ref, ref_spread = _minimum(_errors("offline_lambda_return", quick, seed))
    margin = float(np.hypot(low_spread, ref_spread))
    checks = {"at_least_as_good_as_offline": within(low - ref, -1.0, margin, source="book")}
    notes = [
        f"Lowest mean error {low:.3f} (offline lambda-return: {ref:.3f}); the difference "
        f"may not exceed the 99% CI half-width of the two ({margin:.3f})."
    ]
    return result("figure_12_8", METHODS["true_online_td_lambda"][1], [png], checks, notes)
