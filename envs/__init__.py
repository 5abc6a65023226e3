"""Book environments, installed as ``rlcore.envs`` and registered with gymnasium as ``rlcore/...``.

Registration uses string entry points, so importing this package (which ``import rlcore`` does)
is cheap: an env's module is imported only when ``gymnasium.make`` builds it.
"""

from __future__ import annotations

import gymnasium as gym

from rlcore.envs._finite import FiniteModelEnv

# (id, entry point, registration kwargs). Keep ids stable: they are public names.
_ENVS: tuple[tuple[str, str, dict], ...] = (
    ("rlcore/Navigation2D-v0", "rlcore.envs.navigation:Navigation2DEnv", {"max_episode_steps": 100}),
    ("rlcore/GamblersProblem-v0", "rlcore.envs.gambler:GamblersProblemEnv", {}),
    ("rlcore/JacksCarRental-v0", "rlcore.envs.jacks_car_rental:JacksCarRentalEnv",
     {"max_episode_steps": 365}),
)


def _register() -> None:
    for env_id, entry_point, kwargs in _ENVS:
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, **kwargs)


def ids() -> list[str]:
    """The gymnasium ids rlcore registers, sorted."""
    return sorted(env_id for env_id, _, _ in _ENVS)


_register()

__all__ = ["FiniteModelEnv", "ids"]
