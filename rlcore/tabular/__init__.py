"""Tabular methods, NumPy only (torch is never imported here)."""

from rlcore.tabular.mdp import FiniteMDP, random_mdp

__all__ = ["FiniteMDP", "random_mdp"]
