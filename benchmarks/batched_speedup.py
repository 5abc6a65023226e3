"""Speed of the batched multi-run engine against separate scalar runs, on the Figure 6.4 setting.

Cliff walking (Example 6.6: alpha 0.5, epsilon 0.1, 500 episodes per run). For each algorithm,
R runs through ``rlcore.tabular.run_batched`` are timed against scalar runs of the same agent
through ``rlcore.run``, in one invocation. Scalar runs are slow, so by default only a subset of
them is run and the time of R scalar runs is extrapolated linearly (each run is independent and
costs the same in expectation); ``--scalar-runs R`` measures all of them. Both wall-clock and
CPU time (``time.process_time``) are reported: on a shared machine the CPU time is the steadier.
The statistics of both (mean reward per episode over episodes 101-500, with 95% intervals) are
printed alongside, to show that the speed buys the same numbers.

    python benchmarks/batched_speedup.py --out DIR [--runs 100] [--scalar-runs 20]
"""

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import rlcore
from rlcore.stats import mean_ci
from rlcore.tabular import run_batched

SETTING = {"alpha": 0.5, "epsilon": 0.1}


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def measure(algorithm: str, runs: int, scalar_runs: int, episodes: int, seed: int) -> dict:
    start = _clock()
    batched = run_batched(
        algorithm, "CliffWalking-v1", runs=runs, episodes=episodes, seed=seed, **SETTING
    )
    batched_wall, batched_cpu = _since(start)

    start = _clock()
    scalar_returns = []
    for i in range(scalar_runs):
        env = gym.make("CliffWalking-v1")
        agent = rlcore.make(f"agents.{algorithm}", env, **SETTING)
        scalar_returns.append(rlcore.run(agent, env, episodes=episodes, seed=seed + 1 + i).returns)
        env.close()
    scalar_wall, scalar_cpu = _since(start)
    scale = runs / scalar_runs  # extrapolate the subset to R scalar runs

    def stats(returns: np.ndarray) -> dict:
        per_run = np.asarray(returns)[:, 100:].mean(axis=1)
        ci = mean_ci(per_run)
        return {"mean": float(ci.estimate), "ci95": [float(ci.low), float(ci.high)]}

    return {
        "algorithm": algorithm,
        "runs": runs,
        "episodes": episodes,
        "scalar_runs_measured": scalar_runs,
        "extrapolated": scalar_runs < runs,
        "batched_wall_s": batched_wall,
        "batched_cpu_s": batched_cpu,
        "scalar_wall_s": scalar_wall * scale,
        "scalar_cpu_s": scalar_cpu * scale,
        "speedup_wall": scalar_wall * scale / batched_wall,
        "speedup_cpu": scalar_cpu * scale / batched_cpu,
        "batched_reward_101_500": stats(batched.returns),
        "scalar_reward_101_500": stats(scalar_returns),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="directory for batched_speedup.json")
    parser.add_argument("--runs", type=int, default=100, help="R, independent runs (>= 100)")
    parser.add_argument("--scalar-runs", type=int, default=20, help="scalar runs actually timed")
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--algorithms", nargs="+", default=["sarsa", "q_learning"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = [
        measure(a, args.runs, min(args.scalar_runs, args.runs), args.episodes, args.seed)
        for a in args.algorithms
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "batched_speedup.json").write_text(json.dumps(rows, indent=2))
    for r in rows:
        tag = f"{r['scalar_runs_measured']} measured, extrapolated" if r["extrapolated"] else "all"
        print(
            f"{r['algorithm']:>14}: R={r['runs']} x {r['episodes']} episodes | batched "
            f"{r['batched_wall_s']:.2f} s wall / {r['batched_cpu_s']:.2f} s CPU | scalar "
            f"{r['scalar_wall_s']:.1f} s wall / {r['scalar_cpu_s']:.1f} s CPU ({tag}) | speedup "
            f"{r['speedup_wall']:.0f}x wall, {r['speedup_cpu']:.0f}x CPU"
        )
        b, s = r["batched_reward_101_500"], r["scalar_reward_101_500"]
        print(
            f"{'':>16}reward/episode 101-500: batched {b['mean']:.2f} "
            f"[{b['ci95'][0]:.2f}, {b['ci95'][1]:.2f}], scalar {s['mean']:.2f} "
            f"[{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}]"
        )


if __name__ == "__main__":
    main()
