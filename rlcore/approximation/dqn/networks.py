"""Q-networks: an MLP from observations to one value per action, with an optional dueling head.

``nn.Module`` holds the structure (the layers and their weights); the stateless operations
(activation, flattening, the dueling aggregation) are ``torch.nn.functional`` calls and the pure
functions of ``rlcore.approximation.dqn.targets``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rlcore.approximation.dqn.targets import dueling_aggregate
from rlcore.registry import export
from rlcore.validation import check_int

__all__ = ["QNetwork", "resolve_device"]


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``: CUDA when present, else the CPU; other values are passed to ``torch.device``.

    Raises:
        ValueError: CUDA was asked for but is not available.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu' or 'cuda[:index]'."
        ) from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} asks for CUDA, which is not available here; use device='auto' "
            "(CUDA when present, else the CPU) or 'cpu'."
        )
    return resolved


@export("networks.q_network")
class QNetwork(nn.Module):
    """Q(s, .) = MLP(flatten(s)): hidden ReLU layers, then one output per action.

    With ``dueling=True`` the last hidden layer feeds two heads, V(s) (one unit) and A(s, .)
    (``n_actions`` units), combined by ``dueling_aggregate`` (Wang et al. 2016, eq. 9). The
    architecture of Mnih et al. (2015) without the convolutions; SB3's ``MlpPolicy`` for DQN is
    the non-dueling case with ``hidden=(64, 64)`` by default.

    Args:
        obs_dim: number of input features (the flattened observation size).
        n_actions: number of discrete actions.
        hidden: sizes of the hidden layers (may be empty: a linear Q-function).
        dueling: use the dueling head.
    """

    def __init__(
        self, obs_dim: int, n_actions: int, hidden: Sequence[int] = (64, 64), dueling: bool = False
    ) -> None:
        super().__init__()
        self.obs_dim = check_int("obs_dim", obs_dim, 1)
        self.n_actions = check_int("n_actions", n_actions, 1)
        self.hidden = tuple(check_int("hidden layer size", h, 1) for h in hidden)
        self.dueling = bool(dueling)
        sizes = (self.obs_dim, *self.hidden)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], self.n_actions)  # Q(s, .) or, dueling, A(s, .)
        self.value_head = nn.Linear(sizes[-1], 1) if self.dueling else None

    def forward(self, obs: Tensor) -> Tensor:
        """Q(s, .) for observations of shape (B, *obs_shape) -> (B, n_actions)."""
        h = obs.flatten(1)  # (B, obs_dim)
        if h.shape[1] != self.obs_dim:
            raise ValueError(
                f"QNetwork expects {self.obs_dim} input features per observation, got "
                f"{h.shape[1]} (observations of shape {tuple(obs.shape[1:])})."
            )
        # F.linear on the layers' parameters: the same maths as calling the nn.Linear modules,
        # without their per-call hook machinery (a third of the cost of acting on one state).
        for layer in self.layers:
            h = F.relu(F.linear(h, layer.weight, layer.bias))  # (B, hidden)
        q_or_advantage = F.linear(h, self.head.weight, self.head.bias)  # (B, A)
        if self.value_head is None:
            return q_or_advantage
        value = F.linear(h, self.value_head.weight, self.value_head.bias)  # (B, 1)
        return dueling_aggregate(value, q_or_advantage)
