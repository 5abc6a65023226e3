"""Q(s, a) critics for the actor-critic agents: N MLPs over concat(s, a), evaluated together.

Placeholder until rlcore.ensemble.members lands: stacked weights (N, in, out), one baddbmm per
layer. Outputs (N, B).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class QEnsemble(nn.Module):
    """N critics Q_k(s, a) = MLP_k(concat(s, a)) with stacked parameters (N, in, out)."""

    def __init__(self, n: int, in_dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.n = n
        sizes = (in_dim, *hidden, 1)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / fan_in**0.5  # nn.Linear's default initialisation, per member
            self.weights.append(nn.Parameter(torch.empty(n, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n, 1, fan_out).uniform_(-bound, bound)))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, in) shared by all members or (N, B, in) per member -> (N, B)."""
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.n, *x.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = F.relu(x)
        return x.squeeze(-1)


class Min:
    def __call__(self, x, *, generator=None):
        return x.amin(dim=0)


class Mean:
    def __call__(self, x, *, generator=None):
        return x.mean(dim=0)


class SubsetMin:
    def __init__(self, m):
        self.m = m

    def __call__(self, x, *, generator=None):
        idx = np.sort(generator.choice(x.shape[0], size=self.m, replace=False))
        return x[idx.tolist()].amin(dim=0)
