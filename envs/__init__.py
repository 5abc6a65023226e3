"""Book environments, installed as ``rlcore.envs`` and registered with gymnasium as ``rlcore/...``.

Registration uses string entry points, so importing this package (which ``import rlcore`` does)
is cheap: an env's module is imported only when ``gymnasium.make`` builds it.
"""

from __future__ import annotations

import gymnasium as gym

from rlcore.envs._finite import FiniteModelEnv

# (id, entry point, registration kwargs). Keep ids stable: they are public names.
_ENVS: tuple[tuple[str, str, dict], ...] = (
    # Sutton & Barto (2018) book environments (finite models P, see each class docstring).
    ("rlcore/RandomWalk-v0", "rlcore.envs.random_walk:RandomWalkEnv", {}),
    ("rlcore/RandomWalk1000-v0", "rlcore.envs.random_walk:RandomWalk1000Env", {}),
    ("rlcore/Gridworld4x4-v0", "rlcore.envs.gridworld:Gridworld4x4Env", {}),
    ("rlcore/WindyGridworld-v0", "rlcore.envs.windy_gridworld:WindyGridworldEnv", {}),
    ("rlcore/Racetrack-v0", "rlcore.envs.racetrack:RacetrackEnv", {}),
    ("rlcore/DynaMaze-v0", "rlcore.envs.maze:MazeEnv", {"kwargs": {"maze": "dyna"}}),
    ("rlcore/BlockingMaze-v0", "rlcore.envs.maze:MazeEnv", {"kwargs": {"maze": "blocking"}}),
    ("rlcore/ShortcutMaze-v0", "rlcore.envs.maze:MazeEnv", {"kwargs": {"maze": "shortcut"}}),
    ("rlcore/ShortCorridor-v0", "rlcore.envs.short_corridor:ShortCorridorEnv", {}),
    ("rlcore/MaximizationBias-v0", "rlcore.envs.maximization_bias:MaximizationBiasEnv", {}),
    ("rlcore/Baird-v0", "rlcore.envs.baird:BairdEnv", {"max_episode_steps": 1000}),
    (
        "rlcore/Navigation2D-v0",
        "rlcore.envs.navigation:Navigation2DEnv",
        {"max_episode_steps": 100},
    ),
    ("rlcore/GamblersProblem-v0", "rlcore.envs.gambler:GamblersProblemEnv", {}),
    (
        "rlcore/JacksCarRental-v0",
        "rlcore.envs.jacks_car_rental:JacksCarRentalEnv",
        {"max_episode_steps": 365},
    ),
    # Osband et al. (2019) bsuite's deep exploration task; size=N, mapping_seed, one_hot.
    ("rlcore/DeepSea-v0", "rlcore.envs.deep_sea:DeepSeaEnv", {}),
    # Offline RL with generative policies (issue 16).
    ("rlcore/MultimodalBandit-v0", "rlcore.envs.bandit:MultimodalBanditEnv", {}),
    (
        "rlcore/PointMaze-UMaze-v0",
        "rlcore.envs.point_maze:PointMazeEnv",
        {"kwargs": {"layout": "umaze"}, "max_episode_steps": 300},
    ),
    (
        "rlcore/PointMaze-Medium-v0",
        "rlcore.envs.point_maze:PointMazeEnv",
        {"kwargs": {"layout": "medium"}, "max_episode_steps": 600},
    ),
    (
        "rlcore/PointMaze-Large-v0",
        "rlcore.envs.point_maze:PointMazeEnv",
        {"kwargs": {"layout": "large"}, "max_episode_steps": 800},
    ),
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
