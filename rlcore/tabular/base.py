"""What every tabular agent shares: table sizes from the spaces, configs, randomness, checkpoints.

``TabularAgent`` is the base of the scalar tabular agents (``rlcore.tabular.td``, ``n_step``,
``traces``, ``monte_carlo``, ``dyna``), with two specialisations: ``ControlAgent`` (a q table,
epsilon-greedy acting, an optional pre-chosen next action for on-policy methods) and
``PredictionAgent`` (a v table and a fixed policy to evaluate). Each agent subclasses one of them
and is final. None of them owns a learning rule: the math is in ``rlcore.returns`` and
``rlcore.tabular.policies``.

Action masks (gymnasium's ``info["action_mask"]``, 1 = allowed), one mechanism for every agent:
``rlcore.run`` hands the mask of S_t to ``act(obs, explore=..., mask=...)`` and the step's
``info`` (whose ``action_mask`` describes S_{t+1}) with the transition. The agent records each
state's offered actions in ``_offered`` (None until the env gives a mask, so unmasked runs keep
the plain fast path) with ``_see_mask`` / ``_see_next``; ``_policy_action`` then acts, and
``_row`` / ``_mask`` give the rows and masks its targets use (max, expectation, greedy pick), all
through the ``mask=`` of ``rlcore.tabular.policies``, the same rule the batched engine uses.
An agent's ``observe`` starts with ``if self._offered is not None: self._see_next(transition)``.

Speed: tables live as Python lists of lists, not NumPy arrays, because one-element reads and
writes on lists are about 1.7x faster (FIELD-NOTES); the ``q`` / ``v`` properties return NumPy
copies. Uniform random numbers are drawn from the agent's Generator in blocks.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from rlcore.tabular.policies import (
    TablePolicy,
    as_probability_table,
    epsilon_greedy_action,
    greedy_action,
    masked_probs,
    masked_values,
    sample_action,
)
from rlcore.validation import as_generator, check_choice, check_int, check_range, discrete_size

UNIFORM_BLOCK = 2048


# -- validation of the book's symbols (used by every config's __post_init__) ------------------
def check_alpha(alpha: Any) -> float:
    return check_range(
        "alpha",
        alpha,
        0.0,
        1.0,
        low_open=True,
        hint="The step size alpha must lie in (0, 1]; typical values are 0.01-0.5.",
    )


def check_epsilon(epsilon: Any, name: str = "epsilon") -> float:
    return check_range(
        name,
        epsilon,
        0.0,
        1.0,
        hint=f"{name} is the probability of a random action: use a value in [0, 1], e.g. 0.1.",
    )


def check_gamma(gamma: Any) -> float:
    return check_range(
        "gamma",
        gamma,
        0.0,
        1.0,
        hint="The discount gamma must lie in [0, 1]; use 1.0 for undiscounted episodic tasks.",
    )


def check_lambda(lambda_: Any) -> float:
    return check_range(
        "lambda_",
        lambda_,
        0.0,
        1.0,
        hint="The trace-decay lambda_ must lie in [0, 1] (0: one-step TD, 1: Monte Carlo).",
    )


def check_n(n: Any, what: str = "steps") -> int:
    return check_int("n", n, 1, hint=f"n counts {what}: use a positive integer such as 4.")


def check_initial(value: Any) -> float:
    return check_range("initial_value", value, hint="Use a finite initial table value.")


def check_option(name: str, value: Any, options: tuple[str, ...]) -> str:
    return check_choice(name, value, options)


# -- spaces ------------------------------------------------------------------------------------
def table_shape(env: Any, what: str) -> tuple[int, int]:
    """(n_states, n_actions) from an env or an ``(observation_space, action_space)`` pair."""
    if isinstance(env, tuple) and len(env) == 2:
        obs_space, act_space = env
    else:
        obs_space = getattr(env, "observation_space", None)
        act_space = getattr(env, "action_space", None)
        if obs_space is None or act_space is None:
            raise TypeError(
                f"{what} needs an env (with observation_space and action_space) or a pair "
                f"(observation_space, action_space) first, got {type(env).__name__}."
            )
    return discrete_size(obs_space, what), discrete_size(act_space, what, role="action")


def make_config(cls: type, config: Any, kwargs: Mapping[str, Any], what: str) -> Any:
    """A config of dataclass ``cls`` from ``config`` and/or keyword overrides (validated)."""
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in kwargs if k not in fields]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, fields, n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise TypeError(
            f"{what} got unknown keyword argument(s) {', '.join(hints)}; its settings are "
            f"{', '.join(fields)} ({cls.__name__})."
        )
    if config is None:
        return cls(**kwargs)
    if not isinstance(config, cls):
        raise TypeError(f"{what} needs config={cls.__name__}(...), got {type(config).__name__}.")
    return dataclasses.replace(config, **kwargs) if kwargs else config


class SeededUniforms:
    """The randomness of an agent (tabular or linear): a numpy Generator from ``seed`` and
    uniforms in [0, 1) drawn from it in blocks of ``UNIFORM_BLOCK`` (popping one from a list is
    far cheaper than one ``Generator.random()`` call). Same seed, same numbers."""

    def seed(self, seed: int | None) -> None:
        """Reset the agent's generator (and its block of cached uniforms) from ``seed``."""
        self._rng = as_generator(seed)
        self._uniforms: list[float] = []

    def _uniform(self) -> float:
        """One uniform in [0, 1) from the agent's generator (drawn in blocks)."""
        try:
            return self._uniforms.pop()
        except IndexError:
            self._uniforms = self._rng.random(UNIFORM_BLOCK).tolist()
            return self._uniforms.pop()

    def _uniform_block(self) -> list[float]:
        """The block of cached uniforms, refilled so that at least two remain (pop from it)."""
        if len(self._uniforms) < 2:
            self._uniforms = self._rng.random(UNIFORM_BLOCK).tolist()
        return self._uniforms


class TabularAgent(SeededUniforms):
    """Base of the scalar tabular agents (subclassed once by each agent, never deeper).

    Subclasses set ``Config`` (a frozen dataclass), implement ``act``, ``observe``, ``reset`` and
    ``_arrays`` / ``_load_arrays`` for their tables, and call ``super().__init__``.
    """

    Config: ClassVar[type]
    name: ClassVar[str]  # the public registry name, for messages
    # Tables as NumPy arrays instead of lists: for agents whose updates touch whole tables
    # (eligibility traces), where vector operations win.
    numpy_tables: ClassVar[bool] = False

    def __init__(self, env: Any, config: Any, kwargs: Mapping[str, Any], seed: int | None):
        self.n_states, self.n_actions = table_shape(env, self.name)
        self.config = make_config(self.Config, config, kwargs, self.name)
        self.observation_space = spaces.Discrete(self.n_states)
        self.action_space = spaces.Discrete(self.n_actions)
        # The actions each state offers, a list of bools per state, once the env gives masks
        # (None before: the unmasked fast path); a state not yet seen offers every action.
        self._offered: list[list[bool] | None] | None = None
        self.seed(seed)

    # -- action masks ---------------------------------------------------------------------------
    def _see_mask(self, s: int, mask: Any) -> None:
        """Record the actions state ``s`` offers: ``mask`` (A,), 1 = allowed (gymnasium)."""
        flags = mask.tolist() if isinstance(mask, np.ndarray) else list(mask)
        if len(flags) != self.n_actions or not any(flags):
            raise ValueError(
                f"{self.name}: the action mask of state {s} is {flags}; it needs one entry per "
                f"action ({self.n_actions}) and at least one allowed action (1 = allowed, "
                "gymnasium's info['action_mask'] convention)."
            )
        if self._offered is None:
            self._offered = [None] * self.n_states
        self._offered[s] = [bool(f) for f in flags]

    def _see_next(self, transition: Any) -> None:
        """Record the offered actions of S_{t+1} from the transition's ``info["action_mask"]``
        (a step's info describes the state it reached); nothing when S_{t+1} is terminal."""
        info = transition[6] if len(transition) > 6 else None
        if info is not None and not transition[4]:
            mask = info.get("action_mask")
            if mask is not None:
                self._see_mask(transition[3], mask)

    def _mask(self, s: int) -> list[bool] | None:
        """The actions state ``s`` offers (None: every action)."""
        return None if self._offered is None else self._offered[s]

    # -- tables ---------------------------------------------------------------------------------
    def _table(self, value: float, n_cols: int | None = None) -> Any:
        """A table of ``value``: (S,) or (S, n_cols), a list (of lists) or a NumPy array."""
        if self.numpy_tables:
            shape = (self.n_states,) if n_cols is None else (self.n_states, n_cols)
            return np.full(shape, value, dtype=np.float64)
        if n_cols is None:
            return [value] * self.n_states
        return [[value] * n_cols for _ in range(self.n_states)]

    def _fixed_policy(self, policy: Any, what: str) -> TablePolicy:
        """A fixed TablePolicy from an array, a TablePolicy or a TabularPolicy (None: uniform)."""
        if policy is None:
            return TablePolicy.uniform(self.n_states, self.n_actions)
        table = as_probability_table(policy, self.n_states, self.n_actions, f"{self.name} {what}")
        return TablePolicy(table)

    # -- checkpoints ----------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(config, arrays) for ``rlcore.save``: the config dataclass, sizes and the tables."""
        config = {
            "n_states": self.n_states,
            "n_actions": self.n_actions,
            "config": dataclasses.asdict(self.config),
        }
        return config, self._arrays()

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> TabularAgent:
        spaces_ = (spaces.Discrete(config["n_states"]), spaces.Discrete(config["n_actions"]))
        agent = cls._rebuild(spaces_, cls.Config(**config["config"]), arrays)
        agent._load_arrays(arrays)
        return agent

    @classmethod
    def _rebuild(cls, spaces_: tuple, config: Any, arrays: dict[str, Any]) -> TabularAgent:
        """Construct an agent for ``from_state`` (agents with fixed policies override this)."""
        return cls(spaces_, config=config)

    def save(self, directory: str | Path) -> Path:
        """Write a checkpoint (JSON config + npz tables); ``rlcore.load(directory)`` reads it."""
        from rlcore.checkpoint import save

        return save(self, directory)

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        raise NotImplementedError

    def _set_table(self, name: str, value: Any, shape: tuple[int, ...]) -> Any:
        """A validated copy of ``value`` as a table (list or NumPy, see ``numpy_tables``)."""
        array = np.array(value, dtype=np.float64)
        if array.shape != shape:
            raise ValueError(f"{self.name}: {name} must have shape {shape}, got {array.shape}.")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{self.name}: {name} holds non-finite values.")
        return array if self.numpy_tables else array.tolist()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.n_states} states, {self.n_actions} actions, {self.config})"


class ControlAgent(TabularAgent):
    """A tabular control agent: a q table (S, A) and epsilon-greedy acting.

    On-policy methods choose A_{t+1} while learning from (S_t, A_t, R_{t+1}, S_{t+1}) with
    ``_next_action``; the next ``act(s2, explore=True)`` returns that action, so the action
    learned about is the action taken. The config needs ``epsilon`` and ``initial_value``.
    """

    def __init__(self, env: Any, config: Any, kwargs: Mapping[str, Any], seed: int | None):
        super().__init__(env, config, kwargs, seed)
        self._epsilon = self.config.epsilon
        self._q = self._table(float(self.config.initial_value), self.n_actions)
        self._next: tuple[int, int] | None = None  # (S_{t+1}, A_{t+1}) chosen in observe

    @property
    def q(self) -> np.ndarray:
        """Action values Q(s, a), shape (n_states, n_actions) (a copy; assign to replace)."""
        return np.array(self._q)

    @q.setter
    def q(self, value: Any) -> None:
        self._q = self._set_table("q", value, (self.n_states, self.n_actions))

    def reset(self) -> None:
        """Start an episode: forget the pre-chosen action (subclasses also clear buffers)."""
        self._next = None

    def act(self, obs: int, *, explore: bool = False, mask: Any = None) -> int:
        """Epsilon-greedy (explore=True) or greedy action, ties broken at random, among the
        actions ``mask`` (A,) offers if given; the pre-chosen action when ``obs`` is the state
        it was chosen for."""
        if mask is not None:
            self._see_mask(obs, mask)
        nxt = self._next
        if nxt is not None and explore and nxt[0] == obs:
            self._next = None
            return nxt[1]
        return self._policy_action(obs, explore)

    def _policy_action(self, obs: int, explore: bool) -> int:
        row = self._q[obs]
        if self.numpy_tables:
            row = row.tolist()
        mask = None if self._offered is None else self._offered[obs]
        u = self._uniform_block()
        if explore:
            return epsilon_greedy_action(row, self._epsilon, u.pop(), u.pop(), mask)
        return greedy_action(row, u.pop(), mask)

    def _row(self, s: int, q: Any = None) -> Any:
        """Q(s, .) of ``q`` (default the agent's table) for a target: -inf at the actions ``s``
        does not offer, so its max and greedy action range over the offered ones."""
        row = (self._q if q is None else q)[s]
        mask = None if self._offered is None else self._offered[s]
        return row if mask is None else masked_values(row, mask)

    def _choose_next(self, s2: int) -> int:
        """Choose A_{t+1} in S_{t+1} with the behaviour policy and keep it for ``act``."""
        a2 = self._policy_action(s2, True)
        self._next = (s2, a2)
        return a2

    def _next_action(self, s2: int, terminated: bool, truncated: bool) -> int | None:
        """A_{t+1} to bootstrap from: None when S_{t+1} is terminal; else chosen with
        ``_choose_next`` and kept for ``act`` unless the episode was cut (truncated)."""
        if terminated:
            self._next = None
            return None
        a2 = self._choose_next(s2)
        if truncated:
            self._next = None
        return a2

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"q": self.q}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        self.q = arrays["q"]


class PredictionAgent(TabularAgent):
    """A tabular prediction agent: estimates v_pi (S,) for a fixed policy pi it acts with.

    The policy is an (S, A) probability array, a ``policies.tabular`` or any TabularPolicy
    (default: uniform random); it is saved with the agent. The config needs ``initial_value``.
    """

    def __init__(
        self, env: Any, policy: Any, config: Any, kwargs: Mapping[str, Any], seed: int | None
    ):
        super().__init__(env, config, kwargs, seed)
        self.policy = self._fixed_policy(policy, "policy")
        self._pi_rows = self.policy.table.tolist()
        self._v = self._table(float(self.config.initial_value))

    @property
    def v(self) -> np.ndarray:
        """State values V(s), shape (n_states,) (a copy; assign to replace)."""
        return np.array(self._v)

    @v.setter
    def v(self, value: Any) -> None:
        self._v = self._set_table("v", value, (self.n_states,))

    def reset(self) -> None:
        """Start an episode (subclasses clear their buffers)."""

    def act(self, obs: int, *, explore: bool = False, mask: Any = None) -> int:
        """An action of the evaluated policy (for prediction, ``explore`` changes nothing); with
        ``mask`` (A,) pi is conditioned on the offered actions (``policies.masked_probs``)."""
        if mask is None:
            return sample_action(self._pi_rows[obs], self._uniform())
        self._see_mask(obs, mask)
        return sample_action(masked_probs(self._pi_rows[obs], mask, self.name), self._uniform())

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"v": self.v, "policy": self.policy.table}

    def _load_arrays(self, arrays: dict[str, Any]) -> None:
        self.v = arrays["v"]

    @classmethod
    def _rebuild(cls, spaces_: tuple, config: Any, arrays: dict[str, Any]) -> TabularAgent:
        return cls(spaces_, arrays["policy"], config=config)
