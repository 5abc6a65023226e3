"""Value-function approximation, NumPy only: feature maps, linear and gradient-TD learners.

- ``features``: state aggregation, polynomial, Fourier, radial basis, one-hot, a given matrix
  and tile coding (``tile_coding``: tiles3 with an index hash table), and state-action
  stacking (Sutton & Barto (2018) §9.5, §10.1);
- ``linear``: gradient Monte Carlo, n-step semi-gradient TD and LSTD (chapter 9);
- ``control``: n-step semi-gradient Sarsa, Sarsa(lambda) with accumulating or replacing traces
  and true online Sarsa(lambda) (chapters 10 and 12);
- ``gradient_td``: semi-gradient off-policy TD, TDC (GTD(0)), GTD2 and emphatic TD (chapter 11);
- ``objectives``: exact ground truth from a finite model (on-policy distribution, VE, PBE, the TD
  fixed point);
- ``batched``: many independent runs of linear Sarsa at once (the book's learning curves).

Public names: ``agents.gradient_mc``, ``agents.semi_gradient_td``, ``agents.lstd``,
``agents.semi_gradient_sarsa``, ``agents.linear_sarsa_lambda`` (``agents.sarsa_lambda`` is the
tabular one), ``agents.true_online_sarsa_lambda``, ``agents.off_policy_td``, ``agents.tdc``
(alias ``agents.gtd0``), ``agents.gtd2``, ``agents.emphatic_td`` and ``features.*``.
"""

from rlcore.approximation.control import LinearSarsaLambda, SemiGradientSarsa, TrueOnlineSarsaLambda
from rlcore.approximation.features import (
    FeatureMap,
    Fourier,
    OneHot,
    Polynomial,
    RadialBasis,
    StateActionFeatures,
    StateAggregation,
    TileCoding,
    add_gradient_,
    dense_features,
    features_for_space,
    linear_value,
)
from rlcore.approximation.gradient_td import GTD2, TDC, EmphaticTD, OffPolicyTD
from rlcore.approximation.linear import LSTD, GradientMC, SemiGradientTD, lstd_solution

__all__ = [
    "GTD2",
    "LSTD",
    "TDC",
    "EmphaticTD",
    "FeatureMap",
    "Fourier",
    "GradientMC",
    "LinearSarsaLambda",
    "OffPolicyTD",
    "OneHot",
    "Polynomial",
    "RadialBasis",
    "SemiGradientSarsa",
    "SemiGradientTD",
    "StateActionFeatures",
    "StateAggregation",
    "TileCoding",
    "TrueOnlineSarsaLambda",
    "add_gradient_",
    "dense_features",
    "features_for_space",
    "linear_value",
    "lstd_solution",
]
