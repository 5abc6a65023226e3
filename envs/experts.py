"""Scripted experts by environment id: what ``rlcore data collect`` rolls out by default."""

from __future__ import annotations

from typing import Any

# env id -> registry name of its scripted expert (a Policy with reset()).
EXPERTS: dict[str, str] = {
    "rlcore/Navigation2D-v0": "envs.navigation_expert",
    "rlcore/MultimodalBandit-v0": "envs.bandit_behaviour",
    "rlcore/PointMaze-UMaze-v0": "envs.point_maze_umaze_dataset_expert",
    "rlcore/PointMaze-Medium-v0": "envs.point_maze_medium_dataset_expert",
    "rlcore/PointMaze-Large-v0": "envs.point_maze_large_dataset_expert",
}


def expert_for(env_id: str, **kwargs: Any) -> Any:
    """A fresh scripted expert for ``env_id`` (``kwargs`` go to its constructor).

    Raises:
        ValueError: no expert is known for ``env_id``; the message lists the envs that have one.
    """
    from rlcore.registry import make

    if env_id not in EXPERTS:
        raise ValueError(
            f"no scripted expert for {env_id!r}; experts exist for {sorted(EXPERTS)}. Pass your "
            "own policy to rlcore.data.collect(..., policy=...)."
        )
    return make(EXPERTS[env_id], **kwargs)
