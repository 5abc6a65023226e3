"""Value ensembles: N members that differ (initialisation, bootstrap masks, priors, snapshots),
combined by a reduction over the leading member axis.

Layout: ``reductions`` (NumPy and torch alike, no torch import, so the NumPy tabular agents use
it too), ``members`` (stacked torch parameters with loop / vmap / batched-linear backends),
``bagging`` (bootstrap masks, head sampling, out-of-bag evaluation), ``estimators`` (batch value
estimators: FQI, boosted FQI, stacking, OPERA). This package imports no agent and, at import
time, no torch.
``calibration``: spread across members or boosting stages, and its check against DP truth.
"""
