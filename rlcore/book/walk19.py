"""The 19-state random-walk experiments shared by Figures 7.2, 12.3, 12.6 and 12.8.

Sutton & Barto (2018) §7.1 and §12.1-12.5: 19 non-terminal states, -1 on the left exit, +1 on
the right, gamma = 1, V_0 = 0; the measure is the RMS error over the 19 states after each of the
first 10 episodes, averaged over those episodes (and then over runs). One batched call per
setting runs every step size for every run at once (an (R,) alpha array).
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

import rlcore.envs  # noqa: F401  (registers the rlcore/... ids)
from rlcore.book.plotting import band
from rlcore.tabular.batched import run_batched

EPISODES = 10


def sweep(
    method: str,
    param: str,
    values: Sequence[float],
    alphas: np.ndarray,
    runs: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Average RMS error over the first 10 episodes, shape (len(values), len(alphas), runs).

    Args:
        method: a batched prediction learner (``"n_step_td"``, ``"offline_lambda_return"``, ...).
        param: its parameter swept across curves (``"n"`` or ``"lambda_"``).
        values: the parameter's values, one curve each.
        alphas: step sizes (the x axis).
        runs: independent runs per (value, alpha).
        rng: the random stream.
    """
    env = gym.make("rlcore/RandomWalk-v0", n_states=19)
    true_inner = env.unwrapped.true_values[1:-1]

    def rms(learner, r: np.ndarray) -> np.ndarray:
        return np.sqrt(np.mean((learner.v[r, 1:-1] - true_inner) ** 2, axis=1))

    out = np.empty((len(values), len(alphas), runs))
    alpha = np.repeat(alphas, runs)
    for i, value in enumerate(values):
        # Large steps with long traces or windows diverge (the book's curves leave the plot):
        # overflow to inf is the result there, not an error.
        with np.errstate(over="ignore", invalid="ignore"):
            res = run_batched(
                method,
                env,
                runs=alpha.size,
                episodes=EPISODES,
                seed=rng,
                alpha=alpha,
                metrics={"rms": rms},
                **{param: value},
            )
            err = res.metrics["rms"][:, 1:].mean(axis=1)
        out[i] = np.where(np.isfinite(err), err, np.inf).reshape(len(alphas), runs)
    return out


def plot(ax, errors: np.ndarray, values: Sequence, alphas: np.ndarray, label: str) -> None:
    """One curve (mean and 95% band over runs) per parameter value, clipped like the book."""
    for value, curve in zip(values, errors):
        shown = np.where(np.isfinite(curve), curve, np.nan)
        band(ax, alphas, np.minimum(shown.T, 1.0), f"{label}={value:g}")
    ax.set(
        xlabel="alpha",
        ylim=(0.25, 0.55),
        ylabel=f"Average RMS error over 19 states and first {EPISODES} episodes",
    )
    ax.legend(fontsize=7, ncol=2)


def best(errors: np.ndarray) -> tuple[int, int, float]:
    """(value index, alpha index, mean error) of the lowest mean curve point."""
    means = errors.mean(axis=2)
    i, j = np.unravel_index(np.argmin(means), means.shape)
    return int(i), int(j), float(means[i, j])
