"""DQN on CartPole-v1: rlcore against Stable-Baselines3 with the rl-baselines3-zoo hyper-parameters.

    .venv/bin/python benchmarks/dqn_vs_sb3.py --out /tmp/dqn_vs_sb3 [--seeds 10] [--steps 50000]

Needs stable-baselines3 (``pip install "stable-baselines3==2.9.2"``, the ``sb3`` extra): a
benchmark dependency only, never imported by rlcore itself.

Arms (every seed runs every arm, one after another in this one process, in an order that rotates
with the seed, so all arms share the shared box's drifting load; torch uses one thread):

- ``sb3_zoo``: SB3's DQN with zoo's ``hyperparams/dqn.yml`` CartPole-v1 entry;
- ``rlcore_zoo``: rlcore's ``agents.dqn`` with the same hyper-parameters
  (``DQNConfig.preset("cartpole_zoo")``): the same algorithm, so the difference is the code;
- ``rlcore_fast``: rlcore's own CartPole preset (``DQNConfig.preset("cartpole_fast")``).

Protocol: one training env per run and the same step budget (``--steps``, zoo's 50,000). Every
``--eval-every`` steps the greedy policy plays ``--eval-episodes`` episodes of a separate
CartPole-v1 through ``rlcore.run`` (evaluation seeds shared by all arms). Both clocks (wall:
``perf_counter``; CPU: ``process_time``) are paused during evaluation, so every time is training
time only, for every arm. A run is solved when an evaluation averages >= 475 (CartPole-v1's
reward threshold); its time-to-475 is the training time at the first such evaluation.

Statistics (``rlcore.stats.bootstrap_ci``, percentile, resampling seeds with the arms paired,
since a seed's arms ran side by side): per arm the solve rate, the median time-to-475 (unsolved
runs count as never, +inf, so the median is finite while more than half solve) and the mean final
evaluation return; for each rlcore arm the ratios to SB3 of these with 95% intervals.

Outputs in --out: ``runs.jsonl`` (one line per finished run; a rerun skips finished runs),
``table.md``, ``dqn_vs_sb3.png`` and ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import rlcore  # noqa: E402
from rlcore.approximation.dqn import DQN, DQNConfig  # noqa: E402
from rlcore.stats import bootstrap_ci  # noqa: E402

ENV_ID = "CartPole-v1"
SOLVED = 475.0
LATE = 10  # evaluations averaged for the late return
ARMS = ("sb3_zoo", "rlcore_zoo", "rlcore_fast")
# rl-baselines3-zoo hyperparams/dqn.yml, CartPole-v1 (exploration_fraction is of the budget).
ZOO = dict(
    learning_rate=2.3e-3,
    batch_size=64,
    buffer_size=100_000,
    learning_starts=1000,
    gamma=0.99,
    target_update_interval=10,
    train_freq=256,
    gradient_steps=128,
    exploration_fraction=0.16,
    exploration_final_eps=0.04,
    policy_kwargs=dict(net_arch=[256, 256]),
)


class TrainingClock:
    """Wall and CPU seconds of training: ``pause()`` / ``resume()`` around each evaluation."""

    def start(self) -> None:
        self.wall, self.cpu = -time.perf_counter(), -time.process_time()  # running: + now

    def pause(self) -> tuple[float, float]:
        self.wall += time.perf_counter()
        self.cpu += time.process_time()
        return self.wall, self.cpu

    def resume(self) -> None:
        self.wall -= time.perf_counter()
        self.cpu -= time.process_time()


class Evaluator:
    """Greedy evaluations at fixed step counts; records (step, mean return, wall, cpu)."""

    def __init__(self, seed: int, episodes: int) -> None:
        self.seed, self.episodes = seed, episodes
        self.env = gym.make(ENV_ID)
        self.clock = TrainingClock()
        self.rows: list[tuple[int, float, float, float]] = []

    def __call__(self, step: int, policy: Any) -> None:
        wall, cpu = self.clock.pause()
        eval_seed = 10_000 * (self.seed + 1) + len(self.rows)  # the same for every arm
        history = rlcore.run(policy, self.env, episodes=self.episodes, seed=eval_seed)
        self.rows.append((step, float(np.mean(history.returns)), wall, cpu))
        self.clock.resume()


class _EveryNSteps(rlcore.Callback):
    def __init__(self, every: int, fn: Callable[[int], None], clock: TrainingClock) -> None:
        self.every, self.fn, self.clock = every, fn, clock
        self.done = 0  # evaluations so far

    def on_run_start(self, history: rlcore.History) -> None:
        self.clock.start()

    def on_step(self, step, transition, metrics) -> None:
        if step // self.every > self.done:  # a vector env step may jump over the multiple
            self.done = step // self.every
            self.fn(step)


def rlcore_config(arm: str, steps: int) -> DQNConfig:
    if arm == "rlcore_zoo":  # SB3 decays epsilon over exploration_fraction of the budget
        return DQNConfig.preset("cartpole_zoo", epsilon_decay_steps=int(0.16 * steps))
    return DQNConfig.preset("cartpole_fast")


def train_rlcore(arm: str, seed: int, steps: int, eval_every: int, episodes: int) -> Evaluator:
    env = gym.make(ENV_ID)
    agent = DQN(env, rlcore_config(arm, steps), seed=seed)
    policy = agent.greedy_policy()
    evaluator = Evaluator(seed, episodes)
    callback = _EveryNSteps(eval_every, lambda step: evaluator(step, policy), evaluator.clock)
    rlcore.run(agent, env, steps=steps, seed=seed, callbacks=[callback], progress=False)
    return evaluator


class _SB3Greedy:
    """argmax_a of SB3's Q-network, what ``model.predict(obs, deterministic=True)`` returns for
    an MlpPolicy on Box observations, as an rlcore Policy (for the shared evaluation loop)."""

    def __init__(self, model: Any) -> None:
        self.q_net = model.q_net

    def act(self, obs: Any, *, explore: bool = False) -> int:
        with torch.inference_mode():
            q = self.q_net(torch.as_tensor(obs, dtype=torch.float32)[None])
        return int(q.argmax(dim=1)[0])

    def seed(self, seed: int | None) -> None: ...

    def reset(self) -> None: ...


def train_sb3(arm: str, seed: int, steps: int, eval_every: int, episodes: int) -> Evaluator:
    try:
        from stable_baselines3 import DQN as SB3DQN
        from stable_baselines3.common.callbacks import BaseCallback
    except ImportError as err:
        raise SystemExit(
            "this benchmark compares against Stable-Baselines3, which is not installed: "
            'pip install "stable-baselines3==2.9.2" (the sb3 extra), or pass --arms without '
            "sb3_zoo."
        ) from err

    evaluator = Evaluator(seed, episodes)

    class Callback(BaseCallback):
        def _on_training_start(self) -> None:
            evaluator.clock.start()

        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                evaluator(self.num_timesteps, _SB3Greedy(self.model))
            return True

    model = SB3DQN("MlpPolicy", gym.make(ENV_ID), seed=seed, device="cpu", verbose=0, **ZOO)
    model.learn(total_timesteps=steps, callback=Callback())
    return evaluator


def run_one(arm: str, seed: int, steps: int, eval_every: int, episodes: int) -> dict[str, Any]:
    train = train_sb3 if arm.startswith("sb3") else train_rlcore
    evaluator = train(arm, seed, steps, eval_every, episodes)
    steps_, returns, walls, cpus = (list(c) for c in zip(*evaluator.rows))
    first = next((i for i, r in enumerate(returns) if r >= SOLVED), None)
    return {
        "arm": arm,
        "seed": seed,
        "steps": steps,
        "eval_steps": steps_,
        "eval_returns": returns,
        "eval_wall": walls,
        "eval_cpu": cpus,
        "solved": first is not None,
        "time_to_solve_wall": walls[first] if first is not None else math.inf,
        "time_to_solve_cpu": cpus[first] if first is not None else math.inf,
        "steps_to_solve": steps_[first] if first is not None else None,
        "final_return": returns[-1],
        "train_wall": walls[-1],
        "train_cpu": cpus[-1],
    }


# -- statistics, table and plot --------------------------------------------------------------------
def _median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(x, axis=axis)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def paired_ratio(a: np.ndarray, b: np.ndarray, stat: Callable) -> tuple[float, float, float]:
    """stat(a) / stat(b) with a percentile bootstrap interval over seeds (rows paired)."""

    def ratio(sample: np.ndarray, axis: int) -> np.ndarray:
        pair = np.moveaxis(sample, axis, -1)  # (2, ..., n_seeds)
        num, den = stat(pair[0], axis=-1), stat(pair[1], axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.divide(num, den)
        return np.where(np.isnan(out), 1.0, out)  # 0/0 or inf/inf in a resample: a tie

    x = np.column_stack([a, b])
    with np.errstate(divide="ignore", invalid="ignore"):
        point = float(np.divide(stat(a, axis=-1), stat(b, axis=-1)))
    if len(x) < 2 or math.isnan(point):
        return point, math.nan, math.nan
    ci = bootstrap_ci(x, ratio, rng=0)
    return float(ci.estimate), float(ci.low), float(ci.high)


def summarise(runs: list[dict[str, Any]], arms: tuple[str, ...]) -> dict[str, Any]:
    seeds = sorted({r["seed"] for r in runs})
    by = {(r["arm"], r["seed"]): r for r in runs}
    seeds = [s for s in seeds if all((a, s) in by for a in arms)]  # complete seeds only

    def column(arm: str, key: str) -> np.ndarray:
        if key == "late_return":  # mean over the last LATE evaluations: less noisy than one
            return np.array([np.mean(by[(arm, s)]["eval_returns"][-LATE:]) for s in seeds])
        return np.array([float(by[(arm, s)][key]) for s in seeds])

    steps = runs[0]["steps"] if runs else None
    summary: dict[str, Any] = {"seeds": seeds, "steps": steps, "arms": {}, "ratios": {}}
    for arm in arms:
        solved = column(arm, "solved")
        summary["arms"][arm] = {
            "solve_rate": float(solved.mean()) if seeds else math.nan,
            "median_time_to_solve_wall": float(np.median(column(arm, "time_to_solve_wall"))),
            "median_time_to_solve_cpu": float(np.median(column(arm, "time_to_solve_cpu"))),
            "mean_final_return": float(column(arm, "final_return").mean()),
            "mean_late_return": float(column(arm, "late_return").mean()),
            "median_train_wall": float(np.median(column(arm, "train_wall"))),
            "median_train_cpu": float(np.median(column(arm, "train_cpu"))),
        }
    base = "sb3_zoo"
    if base in arms:
        for arm in arms:
            if arm == base:
                continue
            summary["ratios"][arm] = {
                "time_to_solve_wall": paired_ratio(
                    column(arm, "time_to_solve_wall"), column(base, "time_to_solve_wall"), _median
                ),
                "time_to_solve_cpu": paired_ratio(
                    column(arm, "time_to_solve_cpu"), column(base, "time_to_solve_cpu"), _median
                ),
                "solve_rate": paired_ratio(column(arm, "solved"), column(base, "solved"), _mean),
                "final_return": paired_ratio(
                    column(arm, "final_return"), column(base, "final_return"), _mean
                ),
                "late_return": paired_ratio(
                    column(arm, "late_return"), column(base, "late_return"), _mean
                ),
                "train_cpu": paired_ratio(
                    column(arm, "train_cpu"), column(base, "train_cpu"), _median
                ),
            }
    return summary


def _fmt(x: float, digits: int = 2) -> str:
    return "n/a" if math.isnan(x) else ("inf" if math.isinf(x) else f"{x:.{digits}f}")


def write_table(summary: dict[str, Any], path: Path) -> str:
    n = len(summary["seeds"])
    lines = [
        f"DQN on {ENV_ID}, {n} seeds per arm; times are training seconds (evaluation excluded).",
        "",
        "| arm | solve rate | median time to 475, wall s | median time to 475, CPU s "
        f"| mean final return | mean return, last {LATE} evaluations "
        f"| median training (all {summary.get('steps', '')} steps), wall s | same, CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, s in summary["arms"].items():
        lines.append(
            f"| {arm} | {_fmt(s['solve_rate'])} | {_fmt(s['median_time_to_solve_wall'], 1)} | "
            f"{_fmt(s['median_time_to_solve_cpu'], 1)} | {_fmt(s['mean_final_return'], 1)} | "
            f"{_fmt(s['mean_late_return'], 1)} | {_fmt(s['median_train_wall'], 1)} | "
            f"{_fmt(s['median_train_cpu'], 1)} |"
        )
    if summary["ratios"]:
        lines += [
            "",
            "Ratios rlcore / SB3 (point estimate [95% paired bootstrap interval]); times: ratio "
            "of medians (time to 475: < 0.5 meets the goal); solve rate and returns: ratio of "
            "means (solve rate >= 1 meets the goal).",
            "",
            "| arm | time to 475, wall | time to 475, CPU | solve rate | final return "
            f"| return, last {LATE} evaluations | training CPU, all steps |",
            "|---|---|---|---|---|---|---|",
        ]
        for arm, r in summary["ratios"].items():
            cells = [
                f"{_fmt(v[0])} [{_fmt(v[1])}, {_fmt(v[2])}]"
                for v in (
                    r["time_to_solve_wall"],
                    r["time_to_solve_cpu"],
                    r["solve_rate"],
                    r["final_return"],
                    r["late_return"],
                    r["train_cpu"],
                )
            ]
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def plot(runs: list[dict[str, Any]], arms: tuple[str, ...], path: Path) -> None:
    colors = dict(zip(ARMS, ("tab:gray", "tab:blue", "tab:orange")))
    fig, (by_step, by_time, solve) = plt.subplots(1, 3, figsize=(17, 4.5))
    for arm in arms:
        mine = [r for r in runs if r["arm"] == arm]
        for r in mine:  # one thin line per seed
            by_step.plot(r["eval_steps"], r["eval_returns"], color=colors[arm], alpha=0.25, lw=1)
            by_time.plot(r["eval_wall"], r["eval_returns"], color=colors[arm], alpha=0.4, lw=1)
        if mine:  # median over seeds at each evaluation step
            median = np.median([r["eval_returns"] for r in mine], axis=0)
            by_step.plot(mine[0]["eval_steps"], median, color=colors[arm], lw=2.5, label=arm)
        times = [r["time_to_solve_wall"] for r in mine]
        finite = [t for t in times if math.isfinite(t)]
        i = arms.index(arm)
        solve.scatter([i] * len(finite), finite, color=colors[arm], alpha=0.7)
        if times and math.isfinite(np.median(times)):
            solve.scatter([i], [np.median(times)], marker="_", s=800, color="k")
        unsolved = len(times) - len(finite)
        solve.annotate(f"{unsolved} unsolved", (i, 0), ha="center", va="bottom", fontsize=8)
    for ax in (by_step, by_time):
        ax.axhline(SOLVED, color="k", ls=":", lw=1)
        ax.set(ylabel="greedy evaluation return")
    by_step.set(xlabel="environment steps", title=f"{ENV_ID}: median over seeds (thick)")
    by_step.legend()
    by_time.set(xlabel="training wall-clock (s, evaluation excluded)", title="per seed")
    solve.set_xticks(range(len(arms)), arms)
    solve.set(ylabel="training wall-clock to reach 475 (s)", title="time to solve (bar: median)")
    solve.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def figure_dqn_vs_sb3(
    out_dir: str | Path,
    *,
    seeds: int = 10,
    steps: int = 50_000,
    eval_every: int = 1000,
    eval_episodes: int = 10,
    arms: tuple[str, ...] = ARMS,
    first_seed: int = 0,
) -> dict[str, Any]:
    torch.set_num_threads(1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    runs = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = {(r["arm"], r["seed"], r["steps"]) for r in runs}
    for k, seed in enumerate(range(first_seed, first_seed + seeds)):
        order = arms[k % len(arms) :] + arms[: k % len(arms)]  # rotate who goes first
        for arm in order:
            if (arm, seed, steps) in done:
                continue
            result = run_one(arm, seed, steps, eval_every, eval_episodes)
            runs.append(result)
            with log.open("a") as f:
                f.write(json.dumps(result) + "\n")
            print(
                f"seed {seed} {arm:12s} solved={result['solved']!s:5s} "
                f"t475={_fmt(result['time_to_solve_wall'], 1)}s wall "
                f"({_fmt(result['time_to_solve_cpu'], 1)}s CPU) at step "
                f"{result['steps_to_solve']}, final {result['final_return']:.1f}, "
                f"train {result['train_wall']:.1f}s wall",
                flush=True,
            )
    runs = [r for r in runs if r["steps"] == steps and r["arm"] in arms]
    summary = summarise(runs, arms)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(write_table(summary, out / "table.md"))
    plot(runs, arms, out / "dqn_vs_sb3.png")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory for runs, table and plot")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=50_000, help="step budget per run")
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    args = parser.parse_args()
    figure_dqn_vs_sb3(
        args.out,
        seeds=args.seeds,
        steps=args.steps,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        arms=tuple(args.arms),
        first_seed=args.first_seed,
    )


if __name__ == "__main__":
    main()
