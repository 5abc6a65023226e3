"""Input checks with errors that teach: one place for every layer's boundary validation.

Each check names the value, the allowed range or options, and what to do. Nothing is clamped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np


def check_range(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
) -> float:
    """Return ``float(value)`` if it lies in the interval, else raise ``ValueError``.

    The interval is [low, high] with ``low_open`` / ``high_open`` making an end exclusive.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__}).")
    v = float(value)
    ok = math.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        interval = f"{left}{lo}, {hi}{right}"
        raise ValueError(f"{name}={value!r} is outside {interval}." + (f" {hint}" if hint else ""))
    return v


def check_int(
    name: str, value: Any, low: int | None = None, high: int | None = None, *, hint: str = ""
) -> int:
    """Return ``int(value)`` for an integer in [low, high], else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise ValueError(f"{name}={v} is outside [{lo}, {hi}]." + (f" {hint}" if hint else ""))
    return v


def check_choice(name: str, value: Any, options: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``options``, else raise listing them."""
    options = tuple(options)
    if value not in options:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(repr(o) for o in options)}.")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is True or False (not 0, 1 or a string), else raise naming it."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return value


def discrete_size(space: Any, what: str, *, role: str = "observation") -> int:
    """Number of elements of a ``gymnasium.spaces.Discrete`` space (with ``start == 0``).

    Args:
        space: the space to check.
        what: who needs it, for the message (e.g. ``"agents.sarsa"``).
        role: ``"observation"`` or ``"action"``.
    """
    from gymnasium import spaces

    if not isinstance(space, spaces.Discrete):
        raise TypeError(
            f"{what} needs a Discrete {role} space, got {space!r}. Tabular methods index a table "
            f"by {role}; for a continuous or structured space use a feature map "
            "(rlcore.names('features.')) with a linear or neural agent, or discretise the "
            "env with a wrapper."
        )
    if int(space.start) != 0:
        raise ValueError(
            f"{what} needs a Discrete {role} space starting at 0, got start={int(space.start)}; "
            "wrap the env so the index starts at 0."
        )
    return int(space.n)


def as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A NumPy Generator from a seed, an existing Generator (returned as is), or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"seed must be an int, a numpy Generator or None, got {seed!r}.")
    if seed is not None and seed < 0:
        raise ValueError(f"seed={seed} is negative; use a non-negative integer.")
    return np.random.default_rng(seed)


def env_spaces(env: Any, what: str) -> tuple[Any, Any]:
    """(observation space, action space) of one env: a gymnasium ``Env``, a ``VectorEnv`` (its
    single-env spaces) or a pair ``(observation_space, action_space)``.

    Raises:
        TypeError: anything else, naming ``what`` (the public entry point) and what it accepts.
    """
    import gymnasium as gym

    if isinstance(env, tuple) and len(env) == 2:
        return env
    if isinstance(env, gym.vector.VectorEnv):
        return env.single_observation_space, env.single_action_space
    if isinstance(env, gym.Env):
        return env.observation_space, env.action_space
    raise TypeError(
        f"{what} needs a gymnasium Env, a VectorEnv or a pair (observation_space, "
        f"action_space), got {type(env).__name__}."
    )
