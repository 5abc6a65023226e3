"""Stratified bootstrap (rliable's method): coverage at the stated rate, and the identities that
separate it from an ordinary bootstrap of the pooled runs."""

import numpy as np
import pytest

from rlcore.stats import bootstrap_ci, iqm, stratified_bootstrap_ci


def _coverage(statistic, true_value, trials=300, sizes=(12, 12, 12), locs=(0.0, 2.0, 5.0)):
    rng = np.random.default_rng(7)
    hits = 0
    for t in range(trials):
        strata = [rng.normal(loc, 1.0, size=n) for loc, n in zip(locs, sizes)]
        ci = stratified_bootstrap_ci(strata, statistic, confidence=0.9, n_resamples=400, rng=t)
        hits += ci.low <= true_value <= ci.high
    return hits / trials


def test_stratified_mean_covers_the_known_aggregate_mean_at_the_stated_rate():
    # Equal run counts: the pooled mean estimates the average of the task means, 7/3.
    coverage = _coverage("mean", true_value=7 / 3, sizes=(30, 30, 30))
    # 300 trials: binomial sd 0.017 around 0.9. Percentile intervals run narrow at small n (the
    # bootstrap variance has the factor (n - 1) / n; measured 0.87 with 1000 trials, identical to
    # a plain-loop implementation), so the band is 0.9 - 0.09 .. 0.9 + 0.05.
    assert 0.81 <= coverage <= 0.95


def test_stratified_iqm_covers_the_known_aggregate_iqm():
    # With several tasks the target is the IQM of the pooled population: the 25%-trimmed mean of
    # an equal mixture of N(0,1), N(2,1), N(5,1), computed here by numerical quantiles.
    rng = np.random.default_rng(123)
    big = np.concatenate([rng.normal(loc, 1.0, 400_000) for loc in (0.0, 2.0, 5.0)])
    lo, hi = np.quantile(big, [0.25, 0.75])
    target = big[(big >= lo) & (big <= hi)].mean()
    coverage = _coverage("iqm", true_value=target, sizes=(20, 20, 20))
    assert 0.82 <= coverage <= 0.97


def test_one_task_is_the_ordinary_bootstrap():
    x = np.random.default_rng(3).exponential(size=15)
    a = stratified_bootstrap_ci([x], "mean", n_resamples=500, rng=11)
    b = bootstrap_ci(x, "mean", n_resamples=500, rng=11)
    assert (a.low, a.high) == (b.low, b.high)


def test_resampling_stays_within_tasks():
    # Two tasks at 0 and 10 with tiny noise: a replicate that keeps each task's count has a mean
    # within the noise of 5; an unstratified bootstrap mixes the counts and spreads to about +-1.5.
    rng = np.random.default_rng(5)
    strata = [rng.normal(0, 0.01, 10), rng.normal(10, 0.01, 10)]
    stratified = stratified_bootstrap_ci(strata, "mean", n_resamples=1000, rng=0)
    pooled = bootstrap_ci(np.concatenate(strata), "mean", n_resamples=1000, rng=0)
    assert stratified.high - stratified.low < 0.02
    assert pooled.high - pooled.low > 1.0
    assert stratified.low <= 5.0 <= stratified.high


def test_fixed_tasks_and_point_estimate():
    strata = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([7.0]), np.array([2.0, 2.0])]
    ci = stratified_bootstrap_ci(strata, "iqm", n_resamples=200, rng=0)
    assert ci.estimate == pytest.approx(iqm(np.array([1, 2, 3, 4, 7, 2, 2.0])))
    assert ci.low <= ci.estimate <= ci.high
    constant = stratified_bootstrap_ci([np.ones(3), np.full(2, 4.0)], "mean")
    assert constant.low == constant.high == pytest.approx(2.2)


def test_bad_inputs():
    with pytest.raises(ValueError, match="one per task"):
        stratified_bootstrap_ci(np.ones((3, 2)))
    with pytest.raises(ValueError, match="at least 2 runs"):
        stratified_bootstrap_ci([np.ones(1)])
    with pytest.raises(ValueError, match="non-finite"):
        stratified_bootstrap_ci([np.array([1.0, np.nan])])
    with pytest.raises(ValueError, match="shape"):
        stratified_bootstrap_ci([np.ones((2, 2))])
