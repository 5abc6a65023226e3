"""What every linear agent shares: features from the spaces, configs, randomness, checkpoints.

``LinearAgent`` is the base of the scalar linear agents of ``rlcore.approximation.linear``,
``control`` and ``gradient_td``, with two specialisations: ``LinearPredictionAgent`` (weights w
of v(s, w) = w . x(s) and a fixed policy to evaluate or to behave with) and ``LinearControlAgent``
(weights of q(s, a, w) = w . x(s, a) with state-action features stacked per action, epsilon-greedy
acting and a pre-chosen next action for on-policy methods). Each agent subclasses one of them and
is final. The math is in pure functions (``rlcore.returns``, ``rlcore.approximation.features``,
the ``*_direction`` functions of ``linear`` and ``gradient_td``).

Features: ``features=`` takes a feature map (``rlcore.names('features.')``), its JSON spec
``{"name": "features.tile_coding", "config": {...}}`` (as the CLI passes it), or None for the
default of the observation space (one-hot for ``Discrete``, 8x8 tile coding with 8 tilings for a
bounded ``Box``: ``features.for_space``).

A non-finite TD error or weight stops learning with ``FloatingPointError`` naming the step and the
quantity (a step size too large for the features usually); experiments where divergence is the
result (Baird's counterexample) call the pure functions and record it instead.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from rlcore.approximation.features import (
    FeatureMap,
    StateActionFeatures,
    feature_map_config,
    feature_map_from_config,
    features_for_space,
    linear_value,
)
from rlcore.tabular.base import SeededUniforms, make_config
from rlcore.tabular.policies import (
    as_probability_table,
    epsilon_greedy_action,
    greedy_action,
    sample_action,
)
from rlcore.validation import discrete_size


def spaces_of(env: Any, what: str) -> tuple[Any, Any]:
    """(observation_space, action_space) of an env or of a pair of spaces."""
    if isinstance(env, tuple) and len(env) == 2:
        return env
    obs_space = getattr(env, "observation_space", None)
    act_space = getattr(env, "action_space", None)
    if obs_space is None or act_space is None:
        raise TypeError(
            f"{what} needs an env (with observation_space and action_space) or a pair "
            f"(observation_space, action_space), got {type(env).__name__}."
        )
    return obs_space, act_space


def resolve_features(features: Any, obs_space: Any, what: str) -> Any:
    """A feature map from a map, a JSON spec or None (the space's default); checks its shape."""
    if features is None:
        fmap = features_for_space(obs_space)
    elif isinstance(features, Mapping):
        fmap = feature_map_from_config(dict(features))
    else:
        fmap = features
    if not isinstance(fmap, FeatureMap) or isinstance(fmap, StateActionFeatures):
        raise TypeError(
            f"{what}: features must be a state feature map (rlcore.names('features.')), its spec "
            f"dict or None, got {features!r}."
        )
    expected = () if isinstance(obs_space, spaces.Discrete) else tuple(obs_space.shape or ())
    if tuple(fmap.state_shape) != expected:
        raise ValueError(
            f"{what}: the feature map takes states of shape {tuple(fmap.state_shape)} but the "
            f"env's observations have shape {expected} ({obs_space!r}); build the map with "
            f"bounds of length {expected[0] if expected else 'scalar'}."
        )
    return fmap


def check_finite(value: Any, quantity: str, step: int, what: str) -> None:
    """Raise FloatingPointError if ``value`` holds NaN or inf, naming the step and quantity."""
    ok = math.isfinite(value) if isinstance(value, float) else bool(np.all(np.isfinite(value)))
    if not ok:
        raise FloatingPointError(
            f"{what}: at step {step} the {quantity} went non-finite ({value!r}); learning "
            "stopped. The step size is probably too large for these features (try a smaller "
            "alpha, e.g. divided by the number of active features) or the method diverges "
            "off-policy (Sutton & Barto §11.3, the deadly triad)."
        )


class LinearAgent(SeededUniforms):
    """Base of the linear agents (subclassed once by each agent, never deeper).

    Subclasses set ``Config`` (a frozen dataclass) and ``name``, implement ``act``, ``observe``
    and ``reset``, and list extra arrays to checkpoint in ``_arrays`` / ``_load_arrays``.
    """

    Config: ClassVar[type]
    name: ClassVar[str]

    def __init__(
        self, env: Any, features: Any, config: Any, kwargs: Mapping[str, Any], seed: int | None
    ) -> None:
        obs_space, act_space = spaces_of(env, self.name)
        self.n_actions = discrete_size(act_space, self.name, role="action")
        self.observation_space = obs_space
        self.action_space = spaces.Discrete(self.n_actions)
        self.features = resolve_features(features, obs_space, self.name)
        self.config = make_config(self.Config, config, kwargs, self.name)
        self.steps = 0  # transitions observed, for error messages
        self.seed(seed)

    def _check(self, value: Any, quantity: str) -> None:
        check_finite(value, quantity, self.steps, self.name)

    def _policy_table(self, policy: Any, what: str) -> np.ndarray | None:
        """An (S, A) probability table from an array or tabular policy (None stays None)."""
        if policy is None:
            return None
        if not isinstance(self.observation_space, spaces.Discrete):
            raise TypeError(
                f"{self.name}: a {what} table needs Discrete observations; with continuous "
                "states the agent follows the uniform random policy (policy=None)."
            )
        n = int(self.observation_space.n)
        return as_probability_table(policy, n, self.n_actions, f"{self.name} {what}")

    def _table_action(self, rows: list[list[float]] | None, obs: Any) -> int:
        """A draw from a policy table's row for ``obs`` (uniform over actions when None)."""
        if rows is None:
            return min(int(self._uniform() * self.n_actions), self.n_actions - 1)
        return sample_action(rows[int(obs) - int(self.observation_space.start)], self._uniform())

    # -- checkpoints ----------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(config, arrays) for ``rlcore.save``: settings, spaces, feature map and weights."""
        spec, feature_arrays = feature_map_config(self.features)
        config = {
            "config": dataclasses.asdict(self.config),
            "features": spec,
            "observation_space": _space_config(self.observation_space),
            "n_actions": self.n_actions,
        }
        arrays = {f"features/{k}": v for k, v in feature_arrays.items()}
        arrays.update(self._arrays())
        return config, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> LinearAgent:
        prefix = "features/"
        feature_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        fmap = feature_map_from_config(config["features"], feature_arrays)
        obs_space = _space_from_config(config["observation_space"])
        spaces_ = (obs_space, spaces.Discrete(config["n_actions"]))
        agent = cls._rebuild(spaces_, fmap, cls.Config(**config["config"]), arrays)
        agent._load_arrays(arrays)
        return agent

    @classmethod
    def _rebuild(cls, spaces_: tuple, fmap: Any, config: Any, arrays: dict[str, Any]) -> Any:
        return cls(spaces_, fmap, config=config)

    def save(self, directory: str | Path) -> Path:
        """Write a checkpoint (JSON config + npz arrays); ``rlcore.load(directory)`` reads it."""
        from rlcore.checkpoint import save

        return save(self, directory)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"w": self.w}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        self.w = np.array(arrays["w"], dtype=np.float64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.features!r}, {self.config})"


def _space_config(space: Any) -> dict[str, Any]:
    if isinstance(space, spaces.Discrete):
        return {"type": "discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        return {
            "type": "box",
            "low": np.asarray(space.low, dtype=np.float64).tolist(),
            "high": np.asarray(space.high, dtype=np.float64).tolist(),
            "shape": list(space.shape),
            "dtype": str(space.dtype),
        }
    raise TypeError(f"linear agents support Discrete and Box observation spaces, got {space!r}")


def _space_from_config(config: dict[str, Any]) -> Any:
    if config["type"] == "discrete":
        return spaces.Discrete(config["n"], start=config["start"])
    dtype = np.dtype(config.get("dtype", "float64"))
    low, high = (np.asarray(config[k], dtype=dtype) for k in ("low", "high"))
    return spaces.Box(low, high, shape=tuple(config["shape"]), dtype=dtype)


class LinearPredictionAgent(LinearAgent):
    """Estimates v_pi(s) = w . x(s) for a fixed policy it acts with.

    ``policy``: an (S, A) probability array or a tabular policy (discrete observations only), or
    None for the uniform random policy; it is saved with the agent.
    """

    def __init__(
        self,
        env: Any,
        features: Any,
        policy: Any,
        config: Any,
        kwargs: Mapping[str, Any],
        seed: int | None,
    ) -> None:
        super().__init__(env, features, config, kwargs, seed)
        self.policy = self._policy_table(policy, "policy")
        self._pi_rows = None if self.policy is None else self.policy.tolist()
        self.w = np.zeros(self.features.n_features)

    def value(self, state: Any) -> np.ndarray:
        """v(s, w) for a state or a batch of states."""
        return linear_value(self.w, self.features(state))

    def reset(self) -> None:
        """Start an episode (subclasses clear their buffers)."""

    def act(self, obs: Any, *, explore: bool = False) -> int:
        """An action of the policy (for prediction, ``explore`` changes nothing)."""
        return self._table_action(self._pi_rows, obs)

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"w": self.w}
        if self.policy is not None:
            arrays["policy"] = self.policy
        return arrays

    @classmethod
    def _rebuild(cls, spaces_: tuple, fmap: Any, config: Any, arrays: dict[str, Any]) -> Any:
        return cls(spaces_, fmap, policy=arrays.get("policy"), config=config)


class LinearControlAgent(LinearAgent):
    """q(s, a, w) = w . x(s, a) with per-action stacked features, epsilon-greedy acting.

    On-policy methods choose A_{t+1} while learning from (S_t, A_t, R_{t+1}, S_{t+1}) with
    ``_choose_next``; the next ``act(S_{t+1}, explore=True)`` returns that action, so the action
    learned about is the action taken. Ties are broken at random. Configs need ``epsilon``.
    """

    def __init__(
        self, env: Any, features: Any, config: Any, kwargs: Mapping[str, Any], seed: int | None
    ) -> None:
        super().__init__(env, features, config, kwargs, seed)
        self.sa_features = StateActionFeatures(self.features, self.n_actions)
        self.w = np.zeros(self.sa_features.n_features)
        self._next: tuple[Any, int] | None = None

    def q_values(self, state: Any) -> np.ndarray:
        """q(s, ., w), shape batch + (n_actions,)."""
        return self.sa_features.values(self.w, self.features(state))

    def reset(self) -> None:
        """Start an episode: forget the pre-chosen action (subclasses also clear traces)."""
        self._next = None

    def act(self, obs: Any, *, explore: bool = False) -> int:
        """Epsilon-greedy (explore=True) or greedy action; the pre-chosen action when ``obs`` is
        the state it was chosen for."""
        nxt = self._next
        if nxt is not None and explore and np.array_equal(nxt[0], obs):
            self._next = None
            return nxt[1]
        return self._policy_action(self.q_values(obs).tolist(), explore)

    def _policy_action(self, q_row: list[float], explore: bool) -> int:
        u_explore, u_pick = self._uniform(), self._uniform()
        if explore:
            return epsilon_greedy_action(q_row, self.config.epsilon, u_explore, u_pick)
        return greedy_action(q_row, u_pick)

    def _choose_next(self, obs: Any, q_row: list[float]) -> int:
        """Choose A_{t+1} in S_{t+1} epsilon-greedily from its action values; keep it for act."""
        a = self._policy_action(q_row, True)
        self._next = (obs, a)
        return a
