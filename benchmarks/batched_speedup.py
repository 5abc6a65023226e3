"""Speed of the batched multi-run engine against separate scalar runs, on the Figure 6.4 setting.

Cliff walking (Example 6.6: alpha 0.5, epsilon 0.1, 500 episodes per run). For each algorithm
and each number of runs R, R runs through ``rlcore.tabular.run_batched`` are timed against R
scalar runs of the same agent through ``rlcore.run``, in one invocation. Scalar runs are slow,
so only ``--scalar-runs`` of them are run and timed; R scalar runs are costed at R times their
mean time per run (the runs are independent and cost the same in expectation). Each batched
experiment is repeated ``--repeats`` times with different seeds and its median time is used.
Times are CPU times (``time.process_time``), the steadier clock on a shared machine; wall times
are recorded too.

The statistics of both (mean reward per episode over episodes 101-500, with 95% intervals) are
printed alongside, to show that the speed buys the same numbers, and so is each batched run's
"tail": the batched loop runs until the slowest of its R runs has finished its 500 episodes,
and Sarsa's slowest run takes about 1.5x the steps of its average one.

    python benchmarks/batched_speedup.py --out DIR [--runs 100 500 1000] [--scalar-runs 20]
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import rlcore
from rlcore.stats import mean_ci
from rlcore.tabular import run_batched

SETTING = {"alpha": 0.5, "epsilon": 0.1}
ENV = "CliffWalking-v1"


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def _stats(returns: np.ndarray) -> dict:
    per_run = np.asarray(returns)[:, 100:].mean(axis=1)
    ci = mean_ci(per_run)
    return {"mean": float(ci.estimate), "ci95": [float(ci.low), float(ci.high)]}


def scalar_cost(algorithm: str, runs: int, episodes: int, seed: int) -> dict:
    """Mean wall and CPU seconds of one scalar run, over ``runs`` runs, and their returns."""
    start = _clock()
    returns = []
    for i in range(runs):
        env = gym.make(ENV)
        agent = rlcore.make(f"agents.{algorithm}", env, **SETTING)
        returns.append(rlcore.run(agent, env, episodes=episodes, seed=seed + 1 + i).returns)
        env.close()
    wall, cpu = _since(start)
    return {
        "runs": runs,
        "wall_per_run_s": wall / runs,
        "cpu_per_run_s": cpu / runs,
        "returns": np.asarray(returns),
    }


def batched_cost(algorithm: str, runs: int, episodes: int, seed: int, repeats: int) -> dict:
    """Median wall and CPU seconds of ``repeats`` batched experiments of R runs."""
    walls, cpus, tails = [], [], []
    for k in range(repeats):
        start = _clock()
        result = run_batched(
            algorithm, ENV, runs=runs, episodes=episodes, seed=seed + 7919 * k, **SETTING
        )
        wall, cpu = _since(start)
        walls.append(wall)
        cpus.append(cpu)
        steps = result.lengths.sum(axis=1)
        tails.append(float(steps.max() / steps.mean()))
    return {
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "cpu_s_all": cpus,
        "slowest_over_mean_steps": statistics.median(tails),
        "returns": result.returns,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="directory for batched_speedup.json")
    parser.add_argument(
        "--runs",
        type=int,
        nargs="+",
        default=[100, 500, 1000],
        help="values of R, independent runs (100+)",
    )
    parser.add_argument("--scalar-runs", type=int, default=20, help="scalar runs actually timed")
    parser.add_argument("--repeats", type=int, default=3, help="batched experiments per R")
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--algorithms", nargs="+", default=["sarsa", "q_learning"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name, value, low in (
        ("--scalar-runs", args.scalar_runs, 2),
        ("--repeats", args.repeats, 1),
        ("--episodes", args.episodes, 101),
    ):
        if value < low:
            parser.error(f"{name} must be at least {low}, got {value}")
    if min(args.runs) < 1:
        parser.error(f"--runs must be positive, got {args.runs}")
    rows = []
    for algorithm in args.algorithms:
        scalar = scalar_cost(algorithm, args.scalar_runs, args.episodes, args.seed + 100_000)
        for runs in args.runs:
            batched = batched_cost(algorithm, runs, args.episodes, args.seed, args.repeats)
            rows.append(
                {
                    "algorithm": algorithm,
                    "runs": runs,
                    "episodes": args.episodes,
                    "scalar_runs_measured": args.scalar_runs,
                    "batched_repeats": args.repeats,
                    "batched_wall_s": batched["wall_s"],
                    "batched_cpu_s": batched["cpu_s"],
                    "batched_cpu_s_all": batched["cpu_s_all"],
                    "slowest_over_mean_steps": batched["slowest_over_mean_steps"],
                    "scalar_wall_s": scalar["wall_per_run_s"] * runs,
                    "scalar_cpu_s": scalar["cpu_per_run_s"] * runs,
                    "speedup_wall": scalar["wall_per_run_s"] * runs / batched["wall_s"],
                    "speedup_cpu": scalar["cpu_per_run_s"] * runs / batched["cpu_s"],
                    "batched_reward_101_500": _stats(batched["returns"]),
                    "scalar_reward_101_500": _stats(scalar["returns"]),
                }
            )
            r = rows[-1]
            b, s = r["batched_reward_101_500"], r["scalar_reward_101_500"]
            print(
                f"{algorithm:>11} R={runs:>5} x {args.episodes} episodes | batched "
                f"{r['batched_cpu_s']:.2f} s CPU (median of {args.repeats}; slowest run "
                f"{r['slowest_over_mean_steps']:.2f}x the mean steps) | scalar "
                f"{r['scalar_cpu_s']:.1f} s CPU ({args.scalar_runs} runs timed) | speedup "
                f"{r['speedup_cpu']:.0f}x CPU, {r['speedup_wall']:.0f}x wall\n"
                f"{'':>13}reward/episode 101-{args.episodes}: batched {b['mean']:.2f} "
                f"[{b['ci95'][0]:.2f}, {b['ci95'][1]:.2f}], scalar {s['mean']:.2f} "
                f"[{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}]",
                flush=True,
            )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "batched_speedup.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
