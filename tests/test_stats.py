"""Confidence intervals against known distributions: coverage at the stated rate."""

import numpy as np
import pytest

from rlcore.stats import bootstrap_ci, iqm, mean_ci


def test_mean_ci_covers_known_mean_at_stated_rate():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(2000, 10))  # 2000 experiments of 10 runs each
    ci = mean_ci(x, axis=1, confidence=0.9)
    coverage = np.mean((ci.low <= 3.0) & (3.0 <= ci.high))
    assert abs(coverage - 0.9) < 3 * np.sqrt(0.9 * 0.1 / 2000)


def test_bootstrap_mean_covers_known_mean():
    rng = np.random.default_rng(1)
    hits = 0
    trials = 200
    for i in range(trials):
        x = rng.exponential(1.0, size=40)
        ci = bootstrap_ci(x, "mean", confidence=0.9, n_resamples=500, rng=i)
        hits += ci.low <= 1.0 <= ci.high
    # Percentile bootstrap of a skewed mean under-covers a little at n = 40; allow for it.
    assert 0.8 <= hits / trials <= 0.97


def test_iqm_matches_definition():
    x = np.arange(1, 9, dtype=float)  # middle half: 3, 4, 5, 6
    assert iqm(x) == pytest.approx(4.5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="confidence"):
        mean_ci(np.ones(3), confidence=1.5)
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_ci(np.ones(1))
