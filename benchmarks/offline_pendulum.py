"""Offline RL on the Pendulum-v1 tiers: SAC-N and EDAC (and IQL, the generative IDQL and Diffusion-QL
with EDP) against behaviour cloning and d3rlpy 2.8.1's CQL and IQL, and EDAC's ensemble-size sweep
(score and time per gradient step, batched vs loop).

    .venv/bin/rlcore data pendulum-tiers --out out/pendulum          # the datasets first
    make d3rlpy-venv                                                   # d3rlpy's own venv
    .venv/bin/python benchmarks/offline_pendulum.py --data out/pendulum --out out/offline \
        [--algos bc sac_n edac sac_n_no_ln edac_no_ln iql idql diffusion_ql_edp d3rlpy_cql d3rlpy_iql] [--d3rlpy-python .venv-d3rlpy/bin/python] \
        [--tiers medium expert] [--gradient-steps 10000] [--seeds 5]
    .venv/bin/python benchmarks/offline_pendulum.py --data out/pendulum --out out/sweep --sweep \
        [--sizes 2 5 10 20] [--gradient-steps 200]

Scores are D4RL-normalised, 100 (R - R_random) / (R_expert - R_random), with the references of
``tiers.json`` (the random and expert tiers' mean returns); the evaluation plays ``--episodes``
episodes of the deterministic policy. Time per 10k gradient steps is measured over the training
and scaled, as wall-clock and as process CPU time (one torch thread, so on a shared machine CPU
time is the work done and wall-clock includes the wait for a core). The d3rlpy arms run in a
subprocess with ``--d3rlpy-python`` (d3rlpy pins gymnasium 1.0, so it has its own venv) through
``benchmarks/d3rlpy_offline.py``, one (tier, seed) at a time between the rlcore arms, with the
same 256x256 networks and batch 256.

Outputs in --out: ``runs.jsonl`` (a rerun skips finished runs) and ``table.md`` (``sweep.md``
with ``--sweep``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import rlcore
from rlcore.actor_critic.datasets import normalized_score
from rlcore.data import load_dataset
from rlcore.stats import bootstrap_ci, iqm

ALGOS = {
    "bc": ("agents.sac", {}),
    "sac_n": ("agents.sac_n", {}),
    "edac": ("agents.edac", {}),
    # the papers' critics, without the layer normalisation that is SAC-N's and EDAC's default here
    "sac_n_no_ln": ("agents.sac_n", {"critic_layer_norm": False}),
    "edac_no_ln": ("agents.edac", {"critic_layer_norm": False}),
}
# The offline agents of rlcore.diffusion_policy, built from the dataset and acting themselves, at
# their defaults: IQL (Gaussian actor by advantage-weighted regression, d3rlpy IQL's settings),
# IDQL (K = 5, 64 candidates, argmax; ``idql_depth1``: its actor with one FiLM block instead of
# three) and Diffusion-QL with EDP.
DATASET_AGENTS = ("iql", "idql", "idql_depth1", "diffusion_ql_edp")
D3RLPY = ("d3rlpy_cql", "d3rlpy_iql")
HERE = Path(__file__).resolve().parent


def evaluate(policy, episodes: int, seed: int, ref: dict) -> float:
    returns = rlcore.run(policy, "Pendulum-v1", episodes=episodes, seed=seed).returns
    return float(normalized_score(np.mean(returns), ref["random_return"], ref["expert_return"]))


def train_dataset_agent(algo: str, dataset, args, seed: int):
    """An agent of ``DATASET_AGENTS`` fitted for ``--gradient-steps``: (agent, wall s, CPU s)."""
    from rlcore.diffusion_policy.diffusion_ql import DiffusionQL, DiffusionQLConfig
    from rlcore.diffusion_policy.idql import IDQL, IDQLConfig
    from rlcore.diffusion_policy.iql import IQL
    from rlcore.diffusion_policy.offline import ActionModelConfig

    if algo == "iql":
        agent = IQL(dataset, seed=seed)
    elif algo == "idql":
        agent = IDQL(dataset, seed=seed)
    elif algo == "idql_depth1":
        agent = IDQL(dataset, IDQLConfig(actor=ActionModelConfig(depth=1)), seed=seed)
    else:
        agent = DiffusionQL(dataset, DiffusionQLConfig(action_approx="edp"), seed=seed)
    t, cpu = time.perf_counter(), time.process_time()
    agent.fit(args.gradient_steps)
    return agent, time.perf_counter() - t, time.process_time() - cpu


def train_one(algo: str, dataset, args, seed: int, **overrides):
    if algo in DATASET_AGENTS:
        return train_dataset_agent(algo, dataset, args, seed)
    name, kwargs = ALGOS[algo]
    env = gym.make("Pendulum-v1")
    if algo != "bc":
        kwargs = {**kwargs, "n_critics": args.n_critics, **overrides}
    agent = rlcore.make(name, env, seed=seed, buffer_size=dataset.n_steps, **kwargs)
    t, cpu = time.perf_counter(), time.process_time()
    if algo == "bc":
        agent.behaviour_cloning(dataset, gradient_steps=args.gradient_steps)
    else:
        agent.learn_offline(dataset, gradient_steps=args.gradient_steps)
    return agent, time.perf_counter() - t, time.process_time() - cpu


def run_d3rlpy(algo: str, tier: str, seed: int, args) -> dict:
    """One d3rlpy run in its own interpreter (``d3rlpy_offline.py``); returns its row."""
    out = Path(args.out) / "d3rlpy.json"
    cmd = [
        args.d3rlpy_python,
        str(HERE / "d3rlpy_offline.py"),
        "--data",
        args.data,
        "--out",
        str(out),
        "--algos",
        algo.removeprefix("d3rlpy_"),
        "--tiers",
        tier,
        "--seeds",
        "1",
        "--first-seed",
        str(seed),
        "--gradient-steps",
        str(args.gradient_steps),
        "--episodes",
        str(args.episodes),
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows = json.loads(out.read_text())
    return next(r for r in rows if (r["tier"], r["algo"], r["seed"]) == (tier, algo, seed))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="directory written by rlcore data pendulum-tiers")
    p.add_argument("--out", required=True)
    arms = [*ALGOS, *DATASET_AGENTS, *D3RLPY]
    p.add_argument("--algos", nargs="+", default=arms, choices=arms)
    p.add_argument(
        "--d3rlpy-python",
        default=".venv-d3rlpy/bin/python",
        help="the interpreter of d3rlpy's venv (make d3rlpy-venv builds .venv-d3rlpy)",
    )
    p.add_argument("--tiers", nargs="+", default=["random", "medium", "expert", "medium-replay"])
    p.add_argument("--gradient-steps", type=int, default=10_000)
    p.add_argument("--n-critics", type=int, default=10)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--sweep", action="store_true", help="EDAC N sweep, batched vs loop")
    p.add_argument("--sizes", nargs="+", type=int, default=[2, 5, 10, 20])
    p.add_argument("--sweep-tier", default="medium")
    args = p.parse_args()
    if any(a in D3RLPY for a in args.algos) and not args.sweep:
        if not Path(args.d3rlpy_python).exists():
            p.error(
                f"--d3rlpy-python {args.d3rlpy_python} does not exist; build d3rlpy's venv with "
                "`make d3rlpy-venv` or drop the d3rlpy arms from --algos."
            )
    torch.set_num_threads(1)
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ref = json.loads((data / "tiers.json").read_text())
    if args.sweep:
        dataset = load_dataset(data / f"{args.sweep_tier}.npz")
        lines = [
            "| N | backend | ms per gradient step | s per 10k steps | score |",
            "|---|---|---|---|---|",
        ]
        for n in args.sizes:
            for backend in ("batched", "loop"):
                args.n_critics = n
                agent, seconds, _ = train_one("edac", dataset, args, 0, backend=backend)
                score = evaluate(agent.greedy_policy(), args.episodes, 7, ref)
                ms = 1000 * seconds / args.gradient_steps
                lines.append(f"| {n} | {backend} | {ms:.1f} | {ms * 10:.0f} | {score:.1f} |")
                print(lines[-1], flush=True)
        (out / "sweep.md").write_text("\n".join(lines) + "\n")
        return
    runs = out / "runs.jsonl"
    rows = [json.loads(x) for x in runs.read_text().splitlines()] if runs.exists() else []
    for tier in args.tiers:
        dataset = load_dataset(data / f"{tier}.npz")
        for seed in range(args.seeds):
            for algo in args.algos:
                if any(r["tier"] == tier and r["algo"] == algo and r["seed"] == seed for r in rows):
                    continue
                if algo in D3RLPY:
                    row = run_d3rlpy(algo, tier, seed, args)
                else:
                    agent, seconds, cpu = train_one(algo, dataset, args, seed)
                    policy = agent if algo in DATASET_AGENTS else agent.greedy_policy()
                    score = evaluate(policy, args.episodes, 1000 + seed, ref)
                    row = {
                        "tier": tier,
                        "algo": algo,
                        "seed": seed,
                        "gradient_steps": args.gradient_steps,
                        "score": score,
                        "seconds_per_10k": 10_000 * seconds / args.gradient_steps,
                        "cpu_seconds_per_10k": 10_000 * cpu / args.gradient_steps,
                    }
                rows.append(row)
                with runs.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(row, flush=True)
    lines = [
        "| tier | algo | runs | normalised score (IQM [95% CI]) | wall s per 10k gradient steps "
        "| CPU s per 10k |",
        "|---|---|---|---|---|---|",
    ]
    for tier in args.tiers:
        for algo in args.algos:
            rs = [r for r in rows if r["tier"] == tier and r["algo"] == algo]
            if not rs:
                continue
            s = np.array([r["score"] for r in rs])
            if len(s) >= 2:
                ci = bootstrap_ci(s, "iqm")
                score = f"{ci.estimate:.1f} [{ci.low:.1f}, {ci.high:.1f}]"
            else:
                score = f"{iqm(s):.1f}"
            sec = np.median([r["seconds_per_10k"] for r in rs])
            cpu = np.median([r.get("cpu_seconds_per_10k", np.nan) for r in rs])
            lines.append(f"| {tier} | {algo} | {len(rs)} | {score} | {sec:.0f} | {cpu:.0f} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
