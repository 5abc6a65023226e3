"""Uncertainty read-outs of value ensembles and the check that they mean something.

- ``spread(predictions)``: the standard deviation across an ensemble's leading axis: members
  (``StackedValue.transform(s).T``, bagged critics) or boosting stages
  (``np.stack(list(boosted.staged_predict(s)))[-k:]``, how much the last stages still move Q).
- ``calibration(spread, error)``: does the spread predict the actual error against ground truth
  (dynamic programming)? Reports the Spearman rank correlation between spread and |error|, the
  least-squares slope of |error| on spread, and the coverage of the intervals +- z * spread
  against the Gaussian nominal coverage (Kuleshov, Fenner & Ermon 2018, "Accurate uncertainties
  for deep learning using calibrated regression", use the same reading: an interval that claims
  68% should hold 68% of the truths).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlcore.registry import export
from rlcore.validation import check_int


@export("estimators.spread")
def spread(predictions: Any, axis: int = 0, ddof: int = 0) -> np.ndarray:
    """Standard deviation across the ensemble axis: sqrt(mean_m (f_m - mean f)^2).

    Args:
        predictions: (M, ...) one prediction per member (or stage) along ``axis``, M >= 2.
        axis: the member axis.
        ddof: 0 (population) or 1 (sample) standard deviation.

    Returns:
        The spread, shape of ``predictions`` without ``axis``.
    """
    p = np.asarray(predictions, dtype=np.float64)
    if p.ndim == 0 or p.shape[axis] < 2:
        raise ValueError(
            f"spread needs at least two members along axis {axis}, got shape {p.shape}; stack "
            "the members' predictions as (n_members, ...)."
        )
    check_int("ddof", ddof, 0, p.shape[axis] - 1)
    return np.std(p, axis=axis, ddof=ddof)


@dataclass(frozen=True)
class Calibration:
    """What ``calibration`` measured (all floats; NaN where undefined, e.g. a constant spread).

    Attributes:
        spearman: rank correlation of spread and |error| (1: the spread orders the errors).
        slope: least-squares slope of |error| on spread through the origin (sqrt(2/pi) ~ 0.80
            for a spread that is the true standard deviation of a Gaussian error).
        coverage: {z: fraction of |error| <= z * spread} for z in ``z_values``.
        nominal: {z: the Gaussian coverage P(|N(0, 1)| <= z)}.
        n: number of points.
    """

    spearman: float
    slope: float
    coverage: dict[float, float]
    nominal: dict[float, float]
    n: int


@export("estimators.calibration")
def calibration(spread: Any, error: Any, z_values: tuple[float, ...] = (1.0, 2.0)) -> Calibration:
    """Compare an ensemble's spread with its actual error (prediction - truth).

    Args:
        spread: (n,) non-negative spreads.
        error: (n,) signed or absolute errors against the truth (e.g. DP values).
        z_values: interval half-widths in units of spread.

    Returns:
        A ``Calibration``.
    """
    from scipy.stats import spearmanr

    s = np.asarray(spread, dtype=np.float64).ravel()
    e = np.abs(np.asarray(error, dtype=np.float64)).ravel()
    if s.shape != e.shape or s.size < 2:
        raise ValueError(
            f"calibration needs spread and error of the same length >= 2, got {s.shape} and "
            f"{e.shape}."
        )
    if np.any(s < 0) or not (np.all(np.isfinite(s)) and np.all(np.isfinite(e))):
        raise ValueError("spread must be finite and >= 0 and error finite.")
    constant = np.ptp(s) == 0 or np.ptp(e) == 0
    rho = math.nan if constant else float(spearmanr(s, e).statistic)
    ss = float(s @ s)
    slope = float(s @ e) / ss if ss > 0 else math.nan
    coverage = {float(z): float(np.mean(e <= z * s)) for z in z_values}
    nominal = {float(z): math.erf(z / math.sqrt(2.0)) for z in z_values}
    return Calibration(rho, slope, coverage, nominal, int(s.size))


__all__ = ["Calibration", "calibration", "spread"]
