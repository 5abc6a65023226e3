"""Tabular methods, NumPy only (torch is never imported here)."""

from rlcore.tabular.mdp import FiniteMDP, random_mdp
from rlcore.tabular.planning import (
    DPResult,
    greedy_policy,
    policy_evaluation,
    policy_iteration,
    q_from_v,
    value_iteration,
)

__all__ = [
    "DPResult",
    "FiniteMDP",
    "greedy_policy",
    "policy_evaluation",
    "policy_iteration",
    "q_from_v",
    "random_mdp",
    "value_iteration",
]
