"""Chapter 8 (planning and learning) of Sutton & Barto (2018): Figures 8.2, 8.4 and 8.5, through
the batched engine (``dyna_q`` / ``dyna_q_plus`` learners; the blocking and shortcut mazes switch
their wall after each run's 1000th / 3000th step, ``SwitchingModelEnv``).

Ground truth from DP on the maze models: a first episode with all-zero values is a uniform random
walk (random tie-breaking), whose expected length is solved exactly; "optimal performance" under
epsilon-greedy exploration is the exact expected episode length of epsilon-greedy in q*.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import rlcore.envs  # noqa: F401  (registers the rlcore/... ids)
from rlcore.book.plotting import band, close, pyplot, result, save, spread, within
from rlcore.registry import export
from rlcore.tabular import FiniteMDP, planning
from rlcore.tabular.batched import run_batched
from rlcore.tabular.policies import epsilon_greedy_probs

DYNA = {"alpha": 0.1, "epsilon": 0.1, "gamma": 0.95}  # Example 8.1


def _expected_steps(mdp: FiniteMDP, pi: np.ndarray) -> float:
    """Exact expected episode length from the start under policy pi (reward -1 per step)."""
    steps = FiniteMDP(
        mdp.n_states,
        mdp.n_actions,
        mdp.indptr,
        mdp.next_state,
        mdp.prob,
        np.full(mdp.prob.size, -1.0),
        mdp.terminated,
        mdp.initial,
    )
    v = planning.policy_evaluation(steps, pi, gamma=1.0, method="exact").v
    return float(-v[int(np.argmax(mdp.initial))])


def _first_reached(curve: np.ndarray, level: float) -> int:
    """1-based index of the first episode whose mean length is at or below ``level``."""
    below = np.flatnonzero(curve <= level)
    return int(below[0]) + 1 if below.size else curve.size + 1


@export("figures.figure_8_2")
def figure_8_2(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 8.2: Dyna-Q on the Dyna maze with n = 0, 5, 50 planning steps per real step
    (alpha 0.1, epsilon 0.1, gamma 0.95; 50 episodes, 30 repetitions as in the book).

    Checks: the first episode (all values 0: a uniform random walk) against its exact expected
    length; and the book's "the n = 50 agent took only about three episodes to reach optimal
    performance, whereas the nonplanning agent took about 25 episodes" (reached: the first
    episode whose mean length is within 25% of the exact epsilon-greedy optimum; readings +-1
    and +-8).
    """
    runs = 10 if quick else 30
    env = gym.make("rlcore/DynaMaze-v0")
    mdp = FiniteMDP.from_env(env)
    lengths = {
        n: run_batched(
            "dyna_q",
            env,
            runs=runs,
            episodes=50,
            seed=np.random.default_rng([seed, n]),
            planning_steps=n,
            **DYNA,
        ).lengths
        for n in (0, 5, 50)
    }
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(2, 51)
    for n, steps in lengths.items():
        band(ax, x, steps[:, 1:], f"{n} planning steps" if n else "0 planning steps (direct RL)")
    ax.set(
        xlabel="Episodes",
        ylabel="Steps per episode",
        ylim=(0, 800),
        title=f"Dyna maze ({runs} runs)",
    )
    ax.legend()
    png = save(fig, out_dir, "figure_8_2")

    first = np.concatenate([steps[:, 0] for steps in lengths.values()]).astype(float)
    walk = _expected_steps(mdp, np.full((mdp.n_states, mdp.n_actions), 0.25))
    q_star = planning.value_iteration(mdp, gamma=DYNA["gamma"]).q
    optimum = _expected_steps(mdp, epsilon_greedy_probs(q_star, DYNA["epsilon"]))
    level = 1.25 * optimum
    reached = {n: _first_reached(steps.mean(axis=0), level) for n, steps in lengths.items()}
    checks = {
        "first_episode_is_a_random_walk": close(
            first.mean(), walk, spread(first), source="derived"
        ),
        "episodes_to_optimal_n50": close(reached[50], 3, 1),
        "episodes_to_optimal_n0": close(reached[0], 25, 8),
    }
    notes = [
        f"{runs} runs per n. Exact expected first-episode length {walk:.1f} steps (the first "
        "episode of every n pooled); exact epsilon-greedy optimum "
        f"{optimum:.2f} steps, 'reached' below {level:.1f}.",
        f"Episodes to reach it: n=0: {reached[0]}, n=5: {reached[5]}, n=50: {reached[50]}.",
    ]
    return result("figure_8_2", "Dyna maze: planning steps", [png], checks, notes)


def _changing_maze(env_id: str, steps: int, runs: int, seed: int, **settings) -> dict:
    """Cumulative reward (R, T) of Dyna-Q and Dyna-Q+ on a maze whose wall moves."""
    env = gym.make(env_id)
    out = {}
    for k, method in enumerate(("dyna_q", "dyna_q_plus")):
        extra = {} if method == "dyna_q" else {"kappa": settings["kappa"]}
        res = run_batched(
            method,
            env,
            runs=runs,
            steps=steps,
            seed=np.random.default_rng([seed, k]),
            alpha=settings["alpha"],
            epsilon=0.1,
            gamma=0.95,
            planning_steps=settings["planning_steps"],
            **extra,
        )
        out[method] = np.cumsum(res.step_rewards, axis=1)
    return out


def _plot_cumulative(out_dir, name, title, cumulative, switch):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(1, next(iter(cumulative.values())).shape[1] + 1)
    band(ax, x, cumulative["dyna_q_plus"], "Dyna-Q+")
    band(ax, x, cumulative["dyna_q"], "Dyna-Q")
    ax.axvline(switch, color="k", ls=":", lw=0.8)
    ax.set(xlabel="Time steps", ylabel="Cumulative reward", title=title)
    ax.legend()
    return save(fig, out_dir, name)


# The book does not list these settings; they are those of the widely used reference
# implementation (S. Zhang, reinforcement-learning-an-introduction, chapter08/maze.py).
BLOCKING = {"alpha": 1.0, "planning_steps": 10, "kappa": 1e-4}
SHORTCUT = {"alpha": 1.0, "planning_steps": 50, "kappa": 1e-3}


@export("figures.figure_8_4")
def figure_8_4(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 8.4: Dyna-Q and Dyna-Q+ on the blocking maze (the short path is blocked after
    1000 steps and a longer one opens), 3000 steps.

    Checks (book text): both agents found the first path within 1000 steps (reward earned
    before the switch); both found the new path (reward earned in the last 1000 steps); and
    Dyna-Q+ ends with more cumulative reward than Dyna-Q (by more than the spread).
    """
    runs = 30 if quick else 50
    cum = _changing_maze("rlcore/BlockingMaze-v0", 3000, runs, seed, **BLOCKING)
    png = _plot_cumulative(out_dir, "figure_8_4", f"Blocking maze ({runs} runs)", cum, 1000)
    gap = cum["dyna_q_plus"][:, -1].mean() - cum["dyna_q"][:, -1].mean()
    gap_spread = float(np.hypot(spread(cum["dyna_q_plus"][:, -1]), spread(cum["dyna_q"][:, -1])))
    before = min(cum[m][:, 999].mean() for m in cum)
    last = min((cum[m][:, -1] - cum[m][:, -1001]).mean() for m in cum)
    checks = {
        "both_found_a_path_before_the_switch": within(before, 1.0, 1000.0, source="book"),
        "both_found_the_new_path": within(last, 1.0, 1000.0, source="book"),
        "dyna_q_plus_ahead_at_3000": within(gap, gap_spread, 1000.0, source="book"),
    }
    notes = [
        f"{runs} runs; settings {BLOCKING} (not given in the book: those of S. Zhang's "
        "reference implementation), epsilon 0.1, gamma 0.95."
    ]
    return result("figure_8_4", "Blocking maze: Dyna-Q vs Dyna-Q+", [png], checks, notes)


def _long_path_rate(env_id: str) -> float:
    """Reward per step of epsilon-greedy(q*) on the maze's first layout (exact DP): the best
    rate of an agent that keeps to the old path (one reward per expected episode length)."""
    base = gym.make(env_id).unwrapped
    mdp = FiniteMDP.from_P(base.models["before"], initial=base.initial_state_distrib)
    q_star = planning.value_iteration(mdp, gamma=DYNA["gamma"]).q
    return 1.0 / _expected_steps(mdp, epsilon_greedy_probs(q_star, DYNA["epsilon"]))


@export("figures.figure_8_5")
def figure_8_5(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 8.5: Dyna-Q and Dyna-Q+ on the shortcut maze (a shorter path opens after 3000
    steps), 6000 steps.

    Checks (book text, against an exact bound): Dyna-Q+ ends ahead; "the regular Dyna-Q agent
    never switched to the shortcut": its reward per step over steps 4001-6000 does not exceed
    the exact rate of epsilon-greedy optimal behaviour on the old, long path (plus the spread),
    while Dyna-Q+, which found the shortcut, exceeds it by more than the spread. Quick mode
    plans 5 steps per real step instead of 50.
    """
    runs = 30 if quick else 50
    settings = dict(SHORTCUT, planning_steps=5) if quick else SHORTCUT
    cum = _changing_maze("rlcore/ShortcutMaze-v0", 6000, runs, seed, **settings)
    png = _plot_cumulative(out_dir, "figure_8_5", f"Shortcut maze ({runs} runs)", cum, 3000)
    rate = {m: (c[:, -1] - c[:, 3999]) / 2000 for m, c in cum.items()}  # reward per step
    bound = _long_path_rate("rlcore/ShortcutMaze-v0")
    gap = cum["dyna_q_plus"][:, -1].mean() - cum["dyna_q"][:, -1].mean()
    gap_spread = float(np.hypot(spread(cum["dyna_q_plus"][:, -1]), spread(cum["dyna_q"][:, -1])))
    checks = {
        "dyna_q_plus_ahead_at_6000": within(gap, gap_spread, 2000.0, source="book"),
        "dyna_q_never_takes_the_shortcut": within(
            rate["dyna_q"].mean(), 0.0, bound + spread(rate["dyna_q"]), source="book"
        ),
        "dyna_q_plus_takes_the_shortcut": within(
            rate["dyna_q_plus"].mean(), bound + spread(rate["dyna_q_plus"]), 1.0, source="book"
        ),
    }
    notes = [
        f"{runs} runs; settings {settings} (not given in the book: those of S. Zhang's "
        "reference implementation), epsilon 0.1, gamma 0.95.",
        f"Exact long-path rate of epsilon-greedy(q*): {bound:.4f} reward per step; measured "
        f"over steps 4001-6000: Dyna-Q {rate['dyna_q'].mean():.4f}, Dyna-Q+ "
        f"{rate['dyna_q_plus'].mean():.4f}.",
    ]
    return result("figure_8_5", "Shortcut maze: Dyna-Q vs Dyna-Q+", [png], checks, notes)
