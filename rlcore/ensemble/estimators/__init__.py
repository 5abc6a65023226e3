"""Batch value estimators with scikit-learn's conventions (exported under ``estimators.*``).

``fqi`` (FQI, FQE, boosted FQI), ``values`` (Monte Carlo, fitted TD(lambda) and LSTD state-value
members), ``stacking`` (cross-validated stacking with folds by episode), ``ope`` (importance
sampling, weighted IS, doubly robust, OPERA), ``base`` (the contract, the data, the built-in
regressors) and ``datasets`` (uniform transitions and policy episodes from a finite model).
NumPy only; scikit-learn is imported only when a user picks one of its regressors.
"""

from rlcore.ensemble.estimators.base import (
    ConvergenceWarning,
    LeastSquares,
    NonNegativeLeastSquares,
    NotFittedError,
    clone,
)
from rlcore.ensemble.estimators.datasets import policy_episodes, uniform_transitions
from rlcore.ensemble.estimators.fqi import FQE, FQI, BoostedFQI
from rlcore.ensemble.estimators.ope import OPERA, DoublyRobust, ImportanceSampling, opera_weights
from rlcore.ensemble.estimators.stacking import StackedValue, episode_folds
from rlcore.ensemble.estimators.values import LSTDValue, MCValue, TDValue

__all__ = [
    "FQE",
    "FQI",
    "OPERA",
    "BoostedFQI",
    "ConvergenceWarning",
    "DoublyRobust",
    "ImportanceSampling",
    "LSTDValue",
    "LeastSquares",
    "MCValue",
    "NonNegativeLeastSquares",
    "NotFittedError",
    "StackedValue",
    "TDValue",
    "clone",
    "episode_folds",
    "opera_weights",
    "policy_episodes",
    "uniform_transitions",
]
