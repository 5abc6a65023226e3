"""Tabular methods, NumPy only (torch is never imported here)."""

from rlcore.tabular.batched import BatchedResult, run_batched, sample_episodes
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
    "BatchedResult",
    "DPResult",
    "FiniteMDP",
    "greedy_policy",
    "policy_evaluation",
    "policy_iteration",
    "q_from_v",
    "random_mdp",
    "run_batched",
    "sample_episodes",
    "value_iteration",
]
