"""Generator proposes, ensemble ranks: choose an action among n samples of a generative model.

Given a state s, a generator proposes candidates a_1..a_n ~ p(a | s), a value ensemble scores
them, Q_m(s, a_i) for members m = 1..M, a reduction over the member axis turns the (M, B, n)
scores into one score per candidate (``ensembles.min``, ``ensembles.mix`` = BCQ's
lambda min + (1 - lambda) max, ``ensembles.lcb`` = mean - k std, ...), and a selection rule picks:

    "argmax":  i* = argmax_i score_i                         (BCQ, Fujimoto et al. 2019, §4.1;
                                                               IDQL's greedy variant)
    "softmax": i* ~ softmax(score / temperature)             (Diffusion-QL's evaluation)
    weights:   i* ~ w_i / sum_j w_j for a callable w(s, a, score) >= 0
                                                              (IDQL's expectile weights)

IDQL's action selection and BCQ's are instances; Diffusion-QL reuses it at evaluation. With one
candidate the policy *is* the generator's sample (no scoring changes it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rlcore.registry import export
from rlcore.validation import check_int, check_range

Proposer = Callable[[Tensor, int, "torch.Generator | None"], Tensor]
"""propose(s (B, obs_dim), n, generator) -> candidate actions (B, n, action_dim)."""
Ranker = Callable[[Tensor, Tensor], Tensor]
"""value(s (B, obs_dim), a (B, n, action_dim)) -> member scores (M, B, n)."""
Reduction = Callable[[Tensor], Tensor]
"""reduce(scores (M, B, n)) -> (B, n) over the member axis 0 (any ``ensembles.*``)."""
SELECTIONS = ("argmax", "softmax")


def resolve_reduction(reduction: str | Reduction) -> Reduction:
    """A callable reduction from a name (``"min"``, ``"ensembles.lcb"``) or a callable
    (``ensembles.as_reduction``)."""
    from rlcore.ensemble.reductions import as_reduction

    return as_reduction(reduction)


def select_candidates(
    scores: Tensor,
    select: str | Callable[[Tensor], Tensor] = "argmax",
    *,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Index (B,) of the chosen candidate per row of ``scores`` (B, n).

    ``select`` is "argmax", "softmax" (sample from softmax(scores / temperature)) or a callable
    giving non-negative weights (B, n) from the scores, sampled in proportion.
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must be (B, n), got {tuple(scores.shape)}.")
    if scores.shape[1] == 1:
        return torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
    if isinstance(select, str):
        if select == "argmax":
            return scores.argmax(dim=1)
        if select != "softmax":
            raise ValueError(f"select={select!r} is not one of {SELECTIONS} or a callable.")
        probs = torch.softmax(scores / temperature, dim=1)
    else:
        weights = select(scores)
        if weights.shape != scores.shape or bool((weights < 0).any()):
            raise ValueError(
                f"selection weights must be non-negative with the scores' shape "
                f"{tuple(scores.shape)}, got {tuple(weights.shape)}."
            )
        probs = weights / weights.sum(dim=1, keepdim=True)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


@export("policies.propose_and_rank")
class ProposeAndRank:
    """A Policy: any generator proposes ``n`` actions, any value ensemble ranks them.

    Args:
        propose: ``propose(s (B, obs_dim), n, generator) -> (B, n, action_dim)``, in the env's
            action units (e.g. ``ActionModel``-backed agents' ``propose``).
        value: ``value(s, a) -> (M, B, n)`` member scores of each candidate.
        reduction: a callable over the member axis 0 or a registry name (``"ensembles.min"``).
        n: number of candidates, >= 1.
        select: "argmax", "softmax" or a callable weights(scores) (see module docstring).
        temperature: softmax temperature (> 0).
        seed: seeds the proposal and selection noise.

    Shapes: ``act(obs (obs_dim,))`` -> (action_dim,); ``choose(s (B, obs_dim))`` -> (B, action_dim).
    """

    def __init__(
        self,
        propose: Proposer,
        value: Ranker,
        reduction: str | Reduction,
        n: int = 64,
        *,
        select: str | Callable[[Tensor], Tensor] = "argmax",
        temperature: float = 1.0,
        seed: int | None = 0,
    ) -> None:
        if not callable(propose) or not callable(value):
            raise TypeError("propose and value must be callables (see the class docstring).")
        self.propose = propose
        self.value = value
        self.reduction = resolve_reduction(reduction)
        self.n = check_int("n", n, 1, hint="the number of candidates to draw; 1 = no ranking.")
        if isinstance(select, str) and select not in SELECTIONS:
            raise ValueError(f"select={select!r} is not one of {SELECTIONS} or a callable.")
        self.select = select
        self.temperature = check_range("temperature", temperature, 0.0, low_open=True)
        self.generator = torch.Generator()
        self.seed(seed)

    def seed(self, seed: int | None) -> None:
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))

    def reset(self) -> None:
        """Stateless between steps: nothing to forget."""

    @torch.no_grad()
    def choose(self, s: Tensor) -> Tensor:
        """The chosen action for each state of s (B, obs_dim); (B, action_dim)."""
        candidates = self.propose(s, self.n, self.generator)  # (B, n, A)
        if candidates.dim() != 3 or candidates.shape[:2] != (s.shape[0], self.n):
            raise ValueError(
                f"propose returned {tuple(candidates.shape)}; expected (B, n, action_dim) = "
                f"({s.shape[0]}, {self.n}, action_dim)."
            )
        if self.n == 1:
            return candidates[:, 0]
        scores = self.reduction(self.value(s, candidates))  # (M, B, n) -> (B, n)
        if scores.shape != candidates.shape[:2]:
            raise ValueError(
                f"the reduced scores have shape {tuple(scores.shape)}, expected (B, n) = "
                f"{tuple(candidates.shape[:2])}: value must return (M, B, n) and the reduction "
                "reduce axis 0."
            )
        index = select_candidates(
            scores, self.select, temperature=self.temperature, generator=self.generator
        )
        return candidates[torch.arange(s.shape[0]), index]

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        """One action (float32) for one observation; ``explore`` is ignored."""
        s = torch.as_tensor(np.asarray(obs, dtype=np.float32)).reshape(1, -1)
        return self.choose(s)[0].cpu().numpy().astype(np.float32)
