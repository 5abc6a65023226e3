"""The one interaction loop every rlcore agent shares.

``run(agent, env, episodes=... | steps=..., seed=...)``:

1. seeds the env (``reset(seed=...)`` once, then the env's own stream), its action space and the
   agent, from one ``numpy.random.SeedSequence`` so the same seed gives the same numbers;
2. for each step: ``a = agent.act(obs, explore=...)``, ``env.step(a)``, and, when learning,
   ``agent.observe(Transition(obs, a, r, next_obs, terminated, truncated))``;
3. distinguishes ``terminated`` (S_{t+1} is terminal: no bootstrap) from ``truncated`` (a time limit
   cut the episode: bootstrap from S_{t+1}); ``max_episode_steps`` truncates like a TimeLimit;
4. records per-episode return, length, wall time and whatever metrics ``observe`` returns into a
   ``History``, logs them to TensorBoard (``charts/...``) and CSV/JSON when ``logdir`` is given, and
   shows a progress bar on long runs when attached to a terminal.

With ``checkpoint_dir`` the loop writes a full training checkpoint (``rlcore.training_state``:
agent, replay, generators, env state, loop position, History) every ``checkpoint_every`` steps
and at the end; ``resume=DIR`` continues such a run where it stopped, bit for bit on CPU.

Action masks: when the env's ``info`` carries ``action_mask`` (gymnasium's convention: shape
(n_actions,), 1 = the state offers the action; the info of ``reset`` and of each ``step``
describes the state it returns) and the agent's ``act`` takes ``mask=``, the loop hands each
state's mask to ``act(obs, explore=..., mask=...)``; the transition's ``info`` carries the mask
of S_{t+1}. Every mask is checked first: an env that gives masks for some states only, or a mask
that offers no action, stops the run with a ValueError. A policy whose ``act`` has no ``mask``
parameter is called as before (it does not see masks); so is every agent in a resumed run (a
checkpoint keeps no mask; the resumable agents, ``agents.dqn``, take none).

Vector envs (``gymnasium.vector.VectorEnv``) run through the same loop with batched ``act`` and
``observe``; they must use ``autoreset_mode=SAME_STEP`` so every transition in a batch is real
(the final observation of an ending episode is substituted into ``next_obs``).
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlcore.protocols import Agent, Policy
from rlcore.types import History, Transition
from rlcore.validation import check_int


class Callback:
    """Hooks into ``run``. Override what you need; the loop calls only overridden hooks per step.

    ``on_step`` and ``on_episode_end`` may return True to stop the run early.
    """

    def on_run_start(self, history: History) -> None:
        """Called once before the first step."""

    def on_step(
        self, step: int, transition: Transition, metrics: Mapping[str, float] | None
    ) -> bool | None:
        """Called after every environment step (after ``observe`` when learning)."""

    def on_episode_end(self, episode: int, history: History) -> bool | None:
        """Called when an episode ends; ``history`` already holds it."""

    def on_run_end(self, history: History) -> None:
        """Called once at the end."""


def make_env(env: str | gym.Env, **env_kwargs: Any) -> gym.Env:
    """An env from a gymnasium id (``"rlcore/..."`` ids included) or an env passed through."""
    if isinstance(env, str):
        if env not in gym.registry:
            import difflib

            close = difflib.get_close_matches(env, list(gym.registry), n=3, cutoff=0.5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise gym.error.NameNotFound(
                f"unknown environment id {env!r}.{hint} List ids with `rlcore envs`."
            )
        return gym.make(env, **env_kwargs)
    if env_kwargs:
        raise TypeError("env_kwargs are only used when env is given as an id string")
    if not isinstance(env, (gym.Env, gym.vector.VectorEnv)):
        raise TypeError(
            f"env must be a gymnasium Env, VectorEnv or an env id, got {type(env).__name__}"
        )
    return env


def make_vector_env(
    env_id: str, num_envs: int, *, asynchronous: bool = False, **env_kwargs: Any
) -> gym.vector.VectorEnv:
    """A vector env of ``num_envs`` copies of ``env_id`` with SAME_STEP autoreset, as ``run`` needs.

    Synchronous by default: for cheap envs the process overhead of ``AsyncVectorEnv`` made it
    8-9x slower on a 2-core machine (FIELD-NOTES).
    """
    check_int("num_envs", num_envs, 1)
    if env_id not in gym.registry:
        make_env(env_id)  # raises with suggestions
    return gym.make_vec(
        env_id,
        num_envs,
        vectorization_mode="async" if asynchronous else "sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        **env_kwargs,
    )


def run(
    agent: Policy,
    env: str | gym.Env | gym.vector.VectorEnv,
    *,
    episodes: int | None = None,
    steps: int | None = None,
    seed: int | None = None,
    learn: bool | None = None,
    explore: bool | None = None,
    max_episode_steps: int | None = None,
    callbacks: Sequence[Callback] = (),
    logdir: str | Path | None = None,
    progress: bool | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
    resume: str | Path | None = None,
) -> History:
    """Run ``agent`` in ``env`` for a number of episodes and/or steps.

    Args:
        agent: a Policy; if it is an Agent (has ``observe``) it learns by default.
        env: a gymnasium Env, a SAME_STEP-autoreset VectorEnv, or an env id.
        episodes: stop after this many finished episodes.
        steps: stop after this many environment steps (a vector env step counts num_envs).
            At least one of ``episodes`` / ``steps`` is required; with both, the first reached.
        seed: seeds env, action space and agent; the same seed gives the same History on CPU.
        learn: call ``agent.observe``; default True for Agents, False for plain Policies.
        explore: passed to ``agent.act``; default equals ``learn``.
        max_episode_steps: truncate episodes at this length (in addition to the env's own limit).
        callbacks: ``Callback`` objects.
        logdir: if given, writes TensorBoard events, ``metrics.csv``, ``history.json`` and
            ``episodes.csv`` there.
        progress: show a tqdm bar; default: only when stderr is a terminal.
        env_kwargs: keyword arguments for ``gymnasium.make`` when ``env`` is an id.
        checkpoint_dir: write a full training checkpoint here (``rlcore.training_state``) at the
            end of the run, and every ``checkpoint_every`` steps if given; the agent must be
            ``Resumable`` (``agents.dqn`` is).
        checkpoint_every: steps between checkpoints (needs ``checkpoint_dir``).
        resume: a checkpoint directory: restore the agent's training state, the env's state,
            every generator, the loop's position and the History, and continue. Build ``agent``
            and ``env`` as for the run that wrote it; ``seed`` is then not used, and the budgets
            count from the start of the original run (``steps=2000`` after a checkpoint at step
            1000 takes 1000 more steps). Logs in ``logdir`` are appended to.

    Returns:
        The run's History.
    """
    learn, explore = _check_run(
        agent, episodes, steps, max_episode_steps, learn, explore, callbacks
    )
    saver = _Checkpoints.build(agent, checkpoint_dir, checkpoint_every, resume)

    owns_env = isinstance(env, str)
    env = make_env(env, **dict(env_kwargs or {})) if owns_env else make_env(env)
    history = _start_history(agent, env, seed, episodes, steps, learn, explore, saver, resume)
    loop = _vector_loop if isinstance(env, gym.vector.VectorEnv) else _single_loop
    logger = _scalar_logger(logdir, append=saver.resumed is not None)
    bar = _progress_bar(progress, episodes, steps)
    try:
        for cb in callbacks:
            cb.on_run_start(history)
        # fmt: off
        loop(_Run(agent, env, history, episodes, steps, seed, learn, explore, max_episode_steps,
                  callbacks, logger, bar, saver))
        # fmt: on
        for cb in callbacks:
            cb.on_run_end(history)
    finally:
        if bar is not None:
            bar.close()
        if logger is not None:
            logger.close()
        if owns_env:
            env.close()
    if logdir is not None:
        history.save(logdir)
    return history


def _check_run(
    agent: Any,
    episodes: int | None,
    steps: int | None,
    max_episode_steps: int | None,
    learn: bool | None,
    explore: bool | None,
    callbacks: Sequence[Callback],
) -> tuple[bool, bool]:
    """Validate ``run``'s arguments; return (learn, explore) with their defaults filled in."""
    if episodes is None and steps is None:
        raise ValueError(
            "run() needs a budget: pass episodes=N and/or steps=N (positive integers)."
        )
    if episodes is not None:
        check_int("episodes", episodes, 1, hint="Pass a positive number of episodes.")
    if steps is not None:
        check_int("steps", steps, 1, hint="Pass a positive number of steps.")
    if max_episode_steps is not None:
        check_int("max_episode_steps", max_episode_steps, 1)
    if not isinstance(agent, Policy):
        raise TypeError(
            f"{type(agent).__name__} does not implement the Policy protocol: it needs "
            "act(obs, *, explore=False), seed(seed) and reset() (see rlcore.protocols)."
        )
    is_agent = isinstance(agent, Agent)
    if learn is None:
        learn = is_agent
    elif learn and not is_agent:
        raise TypeError(
            f"learn=True needs an Agent with observe(transition); {type(agent).__name__} has none."
        )
    if explore is None:
        explore = learn
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be rlcore.Callback instances, got {type(cb).__name__}")
    return learn, explore


def _start_history(
    agent: Any,
    env: Any,
    seed: int | None,
    episodes: int | None,
    steps: int | None,
    learn: bool,
    explore: bool,
    saver: Any,
    resume: str | Path | None,
) -> History:
    """A new History, or the checkpoint's when resuming (refused if it already meets the budget)."""
    history = History(
        config={
            "agent": _describe(agent),
            "env": _env_name(env),
            "seed": seed,
            "episodes": episodes,
            "steps": steps,
            "learn": learn,
            "explore": explore,
        }
    )
    if saver.resumed is not None:
        done = saver.resumed.step
        if (steps is not None and done >= steps) or (
            episodes is not None and len(saver.resumed.header["history"]["returns"]) >= episodes
        ):
            raise ValueError(
                f"the checkpoint in {resume} is at step {done} with "
                f"{len(saver.resumed.header['history']['returns'])} episodes, which already meets "
                f"the budget (steps={steps}, episodes={episodes}); budgets count from the start "
                "of the original run, so pass a larger one."
            )
        config = history.config
        history = History.from_dict(saver.resumed.header["history"])
        history.config = {**config, "resumed_from_step": saver.resumed.step}
    return history


def _seeds(seed: int | None) -> tuple[int | None, int | None, int | None]:
    """Independent (env, action space, agent) seeds from one seed."""
    if seed is None:
        return None, None, None
    check_int("seed", seed, 0, hint="Use a non-negative integer or None.")
    children = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint32)
    return int(children[0]), int(children[1]), int(children[2])


@dataclass
class _Run:
    """What the two inner loops share: the agent, the env, the budgets and the sinks of each
    step's results (History, logger, progress bar, callbacks, checkpoints)."""

    agent: Any
    env: Any
    history: History
    episodes: int | None
    steps: int | None
    seed: int | None
    learn: bool
    explore: bool
    max_len: int | None
    callbacks: Sequence[Callback]
    logger: Any
    bar: Any
    saver: _Checkpoints
    t_start: float = 0.0

    def __post_init__(self) -> None:
        # Only overridden on_step hooks are called per step.
        self.step_cbs = [cb for cb in self.callbacks if type(cb).on_step is not Callback.on_step]

    def seed_all(self) -> int | None:
        """Seed the agent and the action space (a fresh run); return the env's reset seed."""
        env_seed, space_seed, agent_seed = _seeds(self.seed)
        self.agent.seed(agent_seed)
        if space_seed is not None:
            self.env.action_space.seed(space_seed)
        return env_seed

    def start_clock(self) -> None:
        """Wall times continue from the History's last one (0 for a fresh run)."""
        wall = self.history.wall_times
        self.t_start = time.perf_counter() - (wall[-1] if wall else 0.0)

    def after_step(
        self, total: int, transition: Transition, metrics: Mapping[str, float] | None
    ) -> bool:
        """Record ``observe``'s metrics and call the step callbacks; True if one asks to stop."""
        if metrics:
            for tag, value in metrics.items():
                self.history.log(tag, total, value)
                if self.logger is not None:
                    self.logger.scalar(tag, value, total)
        stop = False
        for cb in self.step_cbs:
            stop = bool(cb.on_step(total, transition, metrics)) or stop
        return stop

    def end_episode(self, ep_return: float, ep_len: int, terminated: bool) -> bool:
        """Append a finished episode to the History and the logs; True if a callback stops."""
        history, logger = self.history, self.logger
        wall = time.perf_counter() - self.t_start
        history.returns.append(float(ep_return))
        history.lengths.append(int(ep_len))
        history.wall_times.append(wall)
        history.terminated.append(bool(terminated))
        if logger is not None:
            step = history.steps
            logger.scalar("charts/episodic_return", ep_return, step)
            logger.scalar("charts/episodic_length", ep_len, step)
            # Steps per second since the start of the run (agents may log a windowed charts/sps).
            logger.scalar("charts/run_sps", step / max(wall, 1e-9), step)
        if self.bar is not None and self.steps is None:
            self.bar.update(1)
        stop = False
        for cb in self.callbacks:
            if type(cb).on_episode_end is not Callback.on_episode_end:
                stop = bool(cb.on_episode_end(history.episodes - 1, history)) or stop
        return stop

    def show_steps(self, total: int) -> None:
        """Move a step-budget progress bar to ``total``."""
        if self.bar is not None and self.steps is not None:
            self.bar.n = min(total, self.steps)
            self.bar.refresh()


def _single_loop(run: _Run) -> None:
    agent, env, history, saver, steps = run.agent, run.env, run.history, run.saver, run.steps
    act, observe = agent.act, agent.observe if run.learn else None
    explore, max_len = run.explore, run.max_len
    if saver.resumed is None:
        obs, info = env.reset(seed=run.seed_all())
        total, ep_return, ep_len, in_episode = 0, 0.0, 0, False
    else:
        position = saver.restore(agent, env)
        obs, total = position["obs"], position["total"]
        ep_return, ep_len, in_episode = (position[k] for k in ("ep_return", "ep_len", "in_episode"))
        info = {}  # a checkpoint keeps no action mask: a resumed run sees masks from its next state
    run.start_clock()
    # Masks: decided by the first state (None: unmasked, the plain fast path).
    watch = _takes_mask(agent) and saver.resumed is None  # an agent that honours masks
    masks = watch and "action_mask" in info
    mask = _checked_mask(info, env, agent, obs, False) if masks else None
    stop = False
    while not stop:
        if not in_episode:
            agent.reset()
            ep_return, ep_len = 0.0, 0
        in_episode = False
        while True:
            if saver.due(total):
                saver.save(agent, env, history, obs, total, ep_return, ep_len, True)
            if masks:
                action = act(obs, explore=explore, mask=mask)
            else:
                action = act(obs, explore=explore)
            next_obs, reward, terminated, truncated, info = env.step(action)
            if masks:
                mask = _checked_mask(info, env, agent, next_obs, terminated)
            elif watch and "action_mask" in info and not terminated:
                _masks_for_some_states_only(env, agent, next_obs, "has one, the first state none")
            ep_len += 1
            total += 1
            if max_len is not None and ep_len >= max_len and not terminated:
                truncated = True
            ep_return += float(reward)
            transition = Transition(obs, action, reward, next_obs, terminated, truncated, info)
            metrics = observe(transition) if observe is not None else None
            stop = run.after_step(total, transition, metrics) or stop
            obs = next_obs
            if terminated or truncated or (steps is not None and total >= steps) or stop:
                break
        history.steps = total
        if terminated or truncated:
            stop = run.end_episode(ep_return, ep_len, terminated) or stop
            obs, info = env.reset()
            if masks:
                mask = _checked_mask(info, env, agent, obs, False)
            elif watch and "action_mask" in info:
                _masks_for_some_states_only(env, agent, obs, "has one, the first state none")
        if (run.episodes is not None and history.episodes >= run.episodes) or (
            steps is not None and total >= steps
        ):
            stop = True
        run.show_steps(total)
    in_episode = not (terminated or truncated)
    saver.save(agent, env, history, obs, total, ep_return, ep_len, in_episode, final=True)


def _vector_loop(run: _Run) -> None:
    agent, env, history, saver = run.agent, run.env, run.history, run.saver
    mode = env.metadata.get("autoreset_mode")
    if mode != gym.vector.AutoresetMode.SAME_STEP:
        raise ValueError(
            f"rlcore.run needs vector envs with autoreset_mode=SAME_STEP, got {mode!r}: create it "
            "with rlcore.make_vector_env(id, num_envs)."
        )
    if run.max_len is not None:
        raise ValueError(
            "max_episode_steps is not supported with vector envs; wrap each env in a TimeLimit."
        )
    n = env.num_envs
    if saver.resumed is None:
        env_seed = run.seed_all()
        total = 0
        obs, _ = env.reset(seed=env_seed)
        agent.reset()
        ep_return = np.zeros(n)
        ep_len = np.zeros(n, dtype=np.int64)
    else:
        position = saver.restore(agent, env)
        obs, total, ep_return, ep_len = (
            position[k] for k in ("obs", "total", "ep_return", "ep_len")
        )
    run.start_clock()
    stop = False
    while not stop:
        if saver.due(total):
            saver.save(agent, env, history, obs, total, ep_return, ep_len, True)
        action = agent.act(obs, explore=run.explore)
        next_obs, reward, terminated, truncated, info = env.step(action)
        total += n
        ep_return += reward
        ep_len += 1
        done = terminated | truncated
        real_next = next_obs
        if done.any():
            real_next = np.array(next_obs, copy=True)
            for i in np.flatnonzero(done):
                real_next[i] = info["final_obs"][i]
        transition = Transition(obs, action, reward, real_next, terminated, truncated, info)
        metrics = agent.observe(transition) if run.learn else None
        stop = run.after_step(total, transition, metrics) or stop
        history.steps = total
        for i in np.flatnonzero(done):
            stop = run.end_episode(ep_return[i], int(ep_len[i]), bool(terminated[i])) or stop
            ep_return[i], ep_len[i] = 0.0, 0
            if run.episodes is not None and history.episodes >= run.episodes:
                stop = True
                break
        obs = next_obs
        if run.steps is not None and total >= run.steps:
            stop = True
        run.show_steps(total)
    saver.save(agent, env, history, obs, total, ep_return, ep_len, True, final=True)


class _Checkpoints:
    """The loop's side of ``rlcore.training_state``: when to write, what the loop's position is."""

    def __init__(self, directory: Path | None, every: int | None, resumed: Any) -> None:
        self.directory, self.every, self.resumed = directory, every, resumed
        self._last = resumed.step if resumed is not None else 0

    @classmethod
    def build(cls, agent: Any, directory: Any, every: int | None, resume: Any) -> _Checkpoints:
        if every is not None:
            check_int("checkpoint_every", every, 1, hint="Pass a positive number of steps.")
            if directory is None:
                raise ValueError(
                    "checkpoint_every needs checkpoint_dir: pass the directory to write to."
                )
        resumed = None
        if directory is not None or resume is not None:
            from rlcore.training_state import check_resumable, read_training_state

            check_resumable(agent)
            resumed = read_training_state(resume) if resume is not None else None
        return cls(None if directory is None else Path(directory), every, resumed)

    def due(self, total: int) -> bool:
        return self.every is not None and total // self.every > self._last // self.every

    def restore(self, agent: Any, env: Any) -> dict[str, Any]:
        """Load the checkpoint into agent and env; returns the loop's position."""
        state = self.resumed
        state.restore(agent, env)
        position = dict(state.header["loop"])
        for key, value in state.section("loop").items():
            position[key] = value if value.ndim else value[()]
        return position

    def save(self, agent, env, history, obs, total, ep_return, ep_len, in_episode, final=False):
        """Write the checkpoint (periodic, or ``final`` at the end of the run)."""
        if self.directory is None or (final and total == self._last and self._written):
            return
        from rlcore.training_state import save_training_state

        loop: dict[str, Any] = {"total": int(total), "in_episode": bool(in_episode)}
        arrays: dict[str, np.ndarray] = {}
        for key, value in (("obs", obs), ("ep_return", ep_return), ("ep_len", ep_len)):
            if isinstance(value, int | float) and not isinstance(value, bool):
                loop[key] = value
            else:
                arrays[key] = np.asarray(value)
        record = history.to_dict()
        save_training_state(
            self.directory, agent=agent, env=env, loop=loop, loop_arrays=arrays, history=record
        )
        self._last, self._written = total, True

    _written = False


def _takes_mask(agent: Any) -> bool:
    """Whether ``agent.act`` has a ``mask`` parameter (then the loop hands it action masks)."""
    try:
        return "mask" in inspect.signature(agent.act).parameters
    except (TypeError, ValueError):
        return False


def _checked_mask(info, env, agent, obs, terminated) -> np.ndarray | None:
    """The ``info["action_mask"]`` of state ``obs``, checked: present for every state the agent
    acts in once the first state had one, one entry per action, at least one allowed."""
    mask = info.get("action_mask")
    if mask is None:
        if terminated:
            return None  # nothing is taken in a terminal state
        _masks_for_some_states_only(env, agent, obs, "has none, the first state one")
    mask = np.asarray(mask)
    n = getattr(env.action_space, "n", None)
    if mask.ndim != 1 or (n is not None and mask.shape[0] != n):
        raise ValueError(
            f"{_env_name(env)}: info['action_mask'] of state {obs!r} has shape {mask.shape}; "
            f"it needs one entry per action, shape ({n},) (gymnasium's convention)."
        )
    if not terminated and not mask.any():
        raise ValueError(
            f"{_env_name(env)}: info['action_mask'] of state {obs!r} offers no action "
            f"({mask.tolist()}); a non-terminal state must offer at least one (1 = allowed)."
        )
    return mask


def _masks_for_some_states_only(env, agent, obs, which: str) -> None:
    raise ValueError(
        f"{_env_name(env)} gives info['action_mask'] for some states only: state {obs!r} "
        f"{which}. {_describe(agent)} honours action masks, so every non-terminal state "
        "needs one (1 = allowed): give every state a mask (all ones where every action is "
        "allowed), or none at all."
    )


def _scalar_logger(logdir: str | Path | None, append: bool) -> Any:
    """TensorBoard + CSV scalars in ``logdir`` (None: no logging)."""
    if logdir is None:
        return None
    from rlcore.logger import ScalarLogger

    return ScalarLogger(logdir, append=append)


def _progress_bar(progress: bool | None, episodes: int | None, steps: int | None):
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm.auto import tqdm

    if steps is not None:
        return tqdm(total=steps, unit="step", dynamic_ncols=True)
    return tqdm(total=episodes, unit="ep", dynamic_ncols=True)


def _describe(agent: Any) -> str:
    from rlcore.registry import UnknownNameError, name_of

    try:
        return name_of(agent)
    except UnknownNameError:
        return f"{type(agent).__module__}.{type(agent).__qualname__}"


def _env_name(env: Any) -> str:
    spec = getattr(env, "spec", None)
    return spec.id if spec is not None else type(getattr(env, "unwrapped", env)).__name__
