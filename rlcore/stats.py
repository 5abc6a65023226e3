"""Summary statistics with confidence intervals, shared by figures and benchmark reports.

- ``mean_ci``: mean over runs with a Student-t interval, for learning-curve bands (per point).
- ``iqm``: interquartile mean (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical
  Precipice"), the mean of the middle 50% of scores.
- ``bootstrap_ci``: percentile / BCa bootstrap interval of any statistic via
  ``scipy.stats.bootstrap``, with a seeded Generator.
- ``stratified_bootstrap_ci``: the same for a statistic aggregated over several tasks, resampling
  runs with replacement within each task (rliable's stratified bootstrap, Agarwal et al. 2021).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as _stats

from rlcore.validation import as_generator, check_int, check_range


@dataclass(frozen=True)
class Interval:
    """A point estimate with a (low, high) confidence interval."""

    estimate: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray
    confidence: float


def mean_ci(x: np.ndarray, axis: int = 0, confidence: float = 0.95) -> Interval:
    """Mean of ``x`` along ``axis`` (the run axis) with a Student-t confidence interval.

    ``mean +- t_{(1+c)/2, n-1} * s / sqrt(n)``; with one run the interval is the point itself
    repeated (no spread can be estimated), never silently widened.
    """
    check_range("confidence", confidence, 0, 1, low_open=True, high_open=True)
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[axis]
    if n < 1:
        raise ValueError("mean_ci needs at least one run along the given axis")
    mean = x.mean(axis=axis)
    if n == 1:
        return Interval(mean, mean, mean, confidence)
    sem = x.std(axis=axis, ddof=1) / np.sqrt(n)
    half = _stats.t.ppf(0.5 + confidence / 2, df=n - 1) * sem
    return Interval(mean, mean - half, mean + half, confidence)


def iqm(x: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Interquartile mean: the mean of the scores between the 25th and 75th percentiles
    (scipy's 25%-trimmed mean, Agarwal et al. 2021)."""
    return _stats.trim_mean(np.asarray(x, dtype=np.float64), 0.25, axis=axis)


def bootstrap_ci(
    x: np.ndarray,
    statistic: Callable[..., np.ndarray] | Literal["mean", "iqm", "median"] = "mean",
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: Literal["percentile", "basic", "BCa"] = "percentile",
    rng: int | np.random.Generator | None = 0,
) -> Interval:
    """Bootstrap confidence interval of ``statistic`` over the first axis of ``x`` (the runs).

    Args:
        x: (n_runs,) or (n_runs, ...) scores; independent runs along axis 0.
        statistic: a callable ``f(sample, axis)`` or one of "mean", "iqm", "median".
        confidence: interval level in (0, 1).
        n_resamples: bootstrap resamples.
        method: scipy's interval method.
        rng: seed or Generator (same seed, same interval).
    """
    check_range("confidence", confidence, 0, 1, low_open=True, high_open=True)
    check_int("n_resamples", n_resamples, 1)
    fn = _STATISTICS[statistic] if isinstance(statistic, str) else statistic
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.shape[0] < 2:
        raise ValueError(f"bootstrap_ci needs at least 2 runs along axis 0, got shape {x.shape}")
    estimate = fn(x, axis=0)
    if np.all(x == x[0]):
        return Interval(estimate, estimate, estimate, confidence)
    res = _stats.bootstrap(
        (x,),
        fn,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method=method,
        vectorized=True,
        axis=0,
        rng=as_generator(rng),
    )
    return Interval(estimate, res.confidence_interval.low, res.confidence_interval.high, confidence)


def stratified_bootstrap_ci(
    samples: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray] | Literal["mean", "iqm", "median"] = "iqm",
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    method: Literal["percentile", "basic", "BCa"] = "percentile",
    rng: int | np.random.Generator | None = 0,
) -> Interval:
    """Stratified bootstrap interval of a statistic of the runs of several tasks pooled together.

    The aggregate is ``statistic(concat_k x_k)``, e.g. the IQM over every (run, task) score. Each
    bootstrap replicate redraws ``n_k`` runs with replacement *within* task ``k`` (the strata), so
    every replicate keeps each task's share of the pool; the interval is scipy's ``method``
    (percentile by default, as in rliable) over the replicates (Agarwal et al. 2021, "Deep RL at
    the Edge of the Statistical Precipice", §4 and rliable's ``StratifiedBootstrap``). With one
    task this is the ordinary bootstrap over runs.

    Args:
        samples: one 1-D array of run scores per task; shapes (n_1,), ..., (n_K,) may differ.
            A task with one run is kept as is in every replicate (nothing to resample).
        statistic: a callable ``f(pooled, axis)`` or one of "mean", "iqm", "median".
        confidence: interval level in (0, 1).
        n_resamples: bootstrap replicates.
        method: scipy's interval method.
        rng: seed or Generator (same seed, same interval).
    """
    check_range("confidence", confidence, 0, 1, low_open=True, high_open=True)
    check_int("n_resamples", n_resamples, 1)
    fn = _STATISTICS[statistic] if isinstance(statistic, str) else statistic
    if isinstance(samples, np.ndarray) or len(samples) == 0:
        raise ValueError(
            "samples must be a non-empty sequence of 1-D arrays, one per task (a list, so tasks "
            "may have different numbers of runs)."
        )
    strata = [np.asarray(x, dtype=np.float64) for x in samples]
    for k, x in enumerate(strata):
        if x.ndim != 1 or x.size == 0:
            raise ValueError(f"task {k} has scores of shape {x.shape}; expected (n_runs,) >= 1")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"task {k} has non-finite scores {x}; drop or fix those runs first")
    pooled = np.concatenate(strata)
    if pooled.size < 2:
        raise ValueError("stratified_bootstrap_ci needs at least 2 runs in all")
    estimate = fn(pooled, axis=0)
    # A task with one run, or with equal scores, is the same in every replicate.
    varies = [bool(np.any(x != x[0])) for x in strata]
    varying = [x for x, v in zip(strata, varies) if v]
    if not varying:
        return Interval(estimate, estimate, estimate, confidence)
    fixed = np.concatenate([np.empty(0), *(x for x, v in zip(strata, varies) if not v)])

    def pooled_statistic(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        # resampled[k]: (..., n_k) replicates of the k-th varying task, batched over leading axes.
        batch = resampled[0].shape[:-1]
        parts = [*resampled, np.broadcast_to(fixed, (*batch, fixed.size))]
        return fn(np.concatenate(parts, axis=-1), axis=-1)

    res = _stats.bootstrap(
        tuple(varying),
        pooled_statistic,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method=method,
        vectorized=True,
        axis=-1,
        rng=as_generator(rng),
    )
    return Interval(estimate, res.confidence_interval.low, res.confidence_interval.high, confidence)


_STATISTICS: dict[str, Callable[..., np.ndarray]] = {
    "mean": lambda x, axis: np.mean(x, axis=axis),
    "median": lambda x, axis: np.median(x, axis=axis),
    "iqm": iqm,
}
