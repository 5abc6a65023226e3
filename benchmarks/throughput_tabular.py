"""Per-step overhead of the tabular agents: steps per second through ``rlcore.run`` on gymnasium's
CliffWalking-v1, against a bare loop that only steps the env with random actions.

    .venv/bin/python benchmarks/throughput_tabular.py --out /tmp/throughput [--steps 100000]

The two loops run side by side in one process, interleaved over several repeats (the box is
shared, so its speed drifts; interleaving exposes both loops to the same drift), and the table
reports the median steps/s of each and the ratio of medians. Target (issue 3): Q-learning
through ``rlcore.run`` reaches at least 0.8x the bare loop. Writes ``throughput.json`` into --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import gymnasium as gym

import rlcore

ENV_ID = "CliffWalking-v1"
AGENTS = ("agents.q_learning", "agents.sarsa", "agents.expected_sarsa", "agents.double_q_learning")


def bare_loop(env: gym.Env, steps: int, seed: int) -> float:
    """Steps/s of ``env.step(env.action_space.sample())`` with resets, nothing else."""
    env.reset(seed=seed)
    env.action_space.seed(seed)
    sample, step, reset = env.action_space.sample, env.step, env.reset
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = step(sample())
        if terminated or truncated:
            reset()
    return steps / (time.perf_counter() - start)


def through_run(name: str, env: gym.Env, steps: int, seed: int) -> float:
    """Steps/s of a fresh agent learning through ``rlcore.run`` (construction not timed)."""
    if name == "policies.random":
        agent = rlcore.make(name, env)
    else:
        agent = rlcore.make(name, env, alpha=0.5, epsilon=0.1, gamma=1.0, seed=seed)
    start = time.perf_counter()
    rlcore.run(agent, env, steps=steps, seed=seed, progress=False)
    return steps / (time.perf_counter() - start)


def throughput_tabular(
    out_dir: str | Path | None = None, *, steps: int = 100_000, repeats: int = 7, seed: int = 0
) -> dict:
    env = gym.make(ENV_ID)
    names = ("policies.random", *AGENTS)
    rates: dict[str, list[float]] = {"bare": [], **{n: [] for n in names}}
    bare_loop(env, steps // 10, seed)  # warm-up
    for r in range(repeats):
        rates["bare"].append(bare_loop(env, steps, seed + r))
        for name in names:
            rates[name].append(through_run(name, env, steps, seed + r))
    bare = statistics.median(rates["bare"])
    result = {
        "env": ENV_ID,
        "steps": steps,
        "repeats": repeats,
        "median_steps_per_s": {k: statistics.median(v) for k, v in rates.items()},
        "ratio_to_bare": {n: statistics.median(rates[n]) / bare for n in names},
        "all_steps_per_s": rates,
    }
    print(f"{ENV_ID}, {steps} steps x {repeats} repeats (interleaved), median steps/s:")
    print(f"  {'bare loop (random actions)':34s} {bare:9.0f}")
    for name in names:
        label = f"rlcore.run + {name}"
        print(
            f"  {label:34s} {result['median_steps_per_s'][name]:9.0f}   ratio "
            f"{result['ratio_to_bare'][name]:.2f}"
        )
    ok = result["ratio_to_bare"]["agents.q_learning"] >= 0.8
    print(
        f"Q-learning / bare = {result['ratio_to_bare']['agents.q_learning']:.2f} "
        f"(target >= 0.8: {'met' if ok else 'NOT met'})"
    )
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "throughput.json").write_text(json.dumps(result, indent=1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="directory for throughput.json")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    throughput_tabular(args.out, steps=args.steps, repeats=args.repeats, seed=args.seed)


if __name__ == "__main__":
    main()
