"""Speed of the batched multi-run engine against separate scalar runs, on the Figure 6.4 setting.

Cliff walking (Example 6.6: alpha 0.5, epsilon 0.1, 500 episodes per run). For each algorithm
and each number of runs R, R runs through ``rlcore.tabular.run_batched`` are timed against R
scalar runs of the same agent through ``rlcore.run``, in one invocation. Scalar runs are slow,
so only ``--scalar-runs`` of them are run and timed; R scalar runs are costed at R times their
mean time per run (the runs are independent and cost the same in expectation). Each batched
experiment is repeated ``--repeats`` times with different seeds and its median time is used;
the rounds interleave batched and scalar work, so a slow spell of the machine hits both.
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
from typing import Any

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


def scalar_runs(algorithm: str, seeds: range, episodes: int) -> tuple[float, float, list]:
    """Wall and CPU seconds of scalar runs with the given seeds, and their returns."""
    start = _clock()
    returns = []
    for seed in seeds:
        env = gym.make(ENV)
        agent = rlcore.make(f"agents.{algorithm}", env, **SETTING)
        returns.append(rlcore.run(agent, env, episodes=episodes, seed=seed).returns)
        env.close()
    wall, cpu = _since(start)
    return wall, cpu, returns


def batched_run(algorithm: str, runs: int, episodes: int, seed: int) -> tuple[float, float, Any]:
    """Wall and CPU seconds of one batched experiment of R runs, and its result."""
    start = _clock()
    result = run_batched(algorithm, ENV, runs=runs, episodes=episodes, seed=seed, **SETTING)
    wall, cpu = _since(start)
    return wall, cpu, result


def measure(
    algorithm: str, runs: list[int], n_scalar: int, repeats: int, episodes: int, seed: int
) -> list[dict]:
    """Batched experiments for each R and the scalar runs, interleaved: each of ``repeats``
    rounds runs one batched experiment per R, then its share of the scalar runs, so a slow
    spell of the shared machine falls on both sides."""
    batched = {r: {"wall": [], "cpu": [], "tail": []} for r in runs}
    scalar = {"wall": 0.0, "cpu": 0.0, "returns": []}
    shares = np.array_split(np.arange(n_scalar), repeats)
    for k in range(repeats):
        for r in runs:
            wall, cpu, result = batched_run(algorithm, r, episodes, seed + 7919 * k)
            steps = result.lengths.sum(axis=1)
            batched[r]["wall"].append(wall)
            batched[r]["cpu"].append(cpu)
            batched[r]["tail"].append(float(steps.max() / steps.mean()))
            batched[r]["returns"] = result.returns
        seeds = range(seed + 100_000 + int(shares[k][0]), seed + 100_001 + int(shares[k][-1]))
        wall, cpu, returns = scalar_runs(algorithm, seeds, episodes) if len(seeds) else (0, 0, [])
        scalar["wall"] += wall
        scalar["cpu"] += cpu
        scalar["returns"] += returns
    per_run_wall, per_run_cpu = scalar["wall"] / n_scalar, scalar["cpu"] / n_scalar
    rows = []
    for r in runs:
        b = batched[r]
        wall, cpu = statistics.median(b["wall"]), statistics.median(b["cpu"])
        rows.append(
            {
                "algorithm": algorithm,
                "runs": r,
                "episodes": episodes,
                "scalar_runs_measured": n_scalar,
                "batched_repeats": repeats,
                "batched_wall_s": wall,
                "batched_cpu_s": cpu,
                "batched_cpu_s_all": b["cpu"],
                "slowest_over_mean_steps": statistics.median(b["tail"]),
                "scalar_wall_s": per_run_wall * r,
                "scalar_cpu_s": per_run_cpu * r,
                "speedup_wall": per_run_wall * r / wall,
                "speedup_cpu": per_run_cpu * r / cpu,
                "batched_reward_101_500": _stats(b["returns"]),
                "scalar_reward_101_500": _stats(scalar["returns"]),
            }
        )
    return rows


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
    if args.scalar_runs < args.repeats:
        parser.error("--scalar-runs must be at least --repeats (each round runs its share)")
    rows = []
    for algorithm in args.algorithms:
        for r in measure(
            algorithm, args.runs, args.scalar_runs, args.repeats, args.episodes, args.seed
        ):
            rows.append(r)
            b, s = r["batched_reward_101_500"], r["scalar_reward_101_500"]
            print(
                f"{algorithm:>11} R={r['runs']:>5} x {args.episodes} episodes | batched "
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
