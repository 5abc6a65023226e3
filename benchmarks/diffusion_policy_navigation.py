"""Why generative policies: MSE behaviour cloning against diffusion and flow policies on
rlcore/Navigation2D-v0 (two expert routes around an obstacle), over seeds, with bootstrap CIs.

    python benchmarks/diffusion_policy_navigation.py --out DIR            # --quick is default
    python benchmarks/diffusion_policy_navigation.py --out DIR --full --seeds 5

Per seed s: collect expert episodes (seed s), train three policies with the same network, data
and budget (MSE-BC, diffusion, flow; training seed s), then evaluate (seed 1000 + s):
MSE-BC; the diffusion model sampled with DDPM-100 and DDIM-10; the flow model with 1, 4 and 10
Euler steps. Metrics: success rate, collision rate, mode coverage (fraction of the two expert
routes reproduced by a successful episode). Writes results.json, summary.md, metrics.png,
paths.png, and the CPU latency per action chunk at batch 1 of the trained networks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from rlcore.data import collect  # noqa: E402
from rlcore.diffusion_policy import (  # noqa: E402
    NetworkConfig,
    TrainConfig,
    diffusion_policy,
    flow_policy,
    gaussian_bc_policy,
)
from rlcore.envs.navigation import NavigationLayout, NavigationMetrics, evaluate_navigation  # noqa: E402
from rlcore.stats import bootstrap_ci  # noqa: E402

ENV_ID = "rlcore/Navigation2D-v0"
# (label, which trained policy, inference steps, sampler options)
EVALUATIONS = (
    ("MSE-BC", "mse", None, {}),
    ("DDPM-100", "diffusion", 100, {"sampler": "ddpm"}),
    ("DDIM-10", "diffusion", 10, {"sampler": "ddim"}),
    ("flow-1", "flow", 1, {}),
    ("flow-4", "flow", 4, {}),
    ("flow-10", "flow", 10, {}),
)
METRICS = ("success_rate", "collision_rate", "mode_coverage")


@dataclass(frozen=True)
class Budget:
    expert_episodes: int
    network: NetworkConfig
    train: TrainConfig
    eval_episodes: int


QUICK = Budget(100, NetworkConfig(hidden=128, depth=2), TrainConfig(800, 128), 50)
FULL = Budget(200, NetworkConfig(hidden=256, depth=3), TrainConfig(3000, 256), 100)


def _chunk_latency_ms(policy, obs: np.ndarray, repeats: int = 10) -> float:
    history = np.repeat(obs[None, None], policy.chunk.n_obs_steps, axis=1)  # (1, To, obs_dim)
    policy.sample_chunks(history)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        policy.sample_chunks(history)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def run_seed(seed: int, budget: Budget, keep_paths: bool) -> dict:
    dataset = collect(ENV_ID, budget.expert_episodes, seed=seed)
    makers = {"mse": gaussian_bc_policy, "diffusion": diffusion_policy, "flow": flow_policy}
    policies, train_seconds = {}, {}
    for kind, make in makers.items():
        policy = make(dataset, network=budget.network, seed=seed)
        t0 = time.perf_counter()
        policy.fit(dataset, budget.train, seed=seed)
        train_seconds[kind] = time.perf_counter() - t0
        policies[kind] = policy
    results, paths = {}, {}
    for label, kind, steps, options in EVALUATIONS:
        policy = policies[kind]
        if steps is not None:
            policy.set_sampling(steps, **options)
        metrics = NavigationMetrics()
        results[label] = evaluate_navigation(
            policy, budget.eval_episodes, 1000 + seed, metrics=metrics
        )
        results[label]["chunk_latency_ms_cpu"] = _chunk_latency_ms(policy, dataset.observations[0])
        results[label]["train_seconds"] = train_seconds[kind]
        paths[label] = metrics.paths[:20] if keep_paths else []
        print(
            f"seed {seed} {label:9s} " + " ".join(f"{m} {results[label][m]:.2f}" for m in METRICS)
        )
    return {"results": results, "paths": paths, "expert": dataset}


def plot_metrics(summary: dict, out_dir: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    labels = [label for label, *_ in EVALUATIONS]
    for ax, metric in zip(axes, METRICS):
        est = np.array([summary[label][metric]["mean"] for label in labels])
        low = np.array([summary[label][metric]["low"] for label in labels])
        high = np.array([summary[label][metric]["high"] for label in labels])
        ax.bar(labels, est, yerr=[est - low, high - est], capsize=3, color="tab:blue")
        ax.set_title(metric.replace("_", " "))
        ax.set_ylim(0, 1.05)
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    path = out_dir / "metrics.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_paths(first_seed: dict, out_dir: Path) -> Path:
    layout = NavigationLayout()
    panels = [("expert data", None)] + [(label, label) for label, *_ in EVALUATIONS]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3))
    for ax, (title, label) in zip(axes, panels):
        ax.add_patch(plt.Circle(layout.obstacle, layout.obstacle_radius, color="0.5"))
        ax.add_patch(plt.Circle(layout.goal, layout.goal_radius, color="tab:green", alpha=0.5))
        if label is None:
            expert = first_seed["expert"]
            paths = [ep["observations"] for ep in list(expert.episodes())[:20]]
        else:
            paths = first_seed["paths"][label]
        for p in paths:
            ax.plot(p[:, 0], p[:, 1], lw=0.8, alpha=0.7)
        ax.set_xlim(-1.3, 1.3)
        ax.set_ylim(-1.1, 1.1)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    path = out_dir / "paths.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def navigation_benchmark(
    out_dir: str | Path, seeds: int = 5, full: bool = False, budget: Budget | None = None
) -> dict:
    torch.set_num_threads(1)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    budget = budget or (FULL if full else QUICK)
    per_seed = [run_seed(s, budget, keep_paths=(s == 0)) for s in range(seeds)]
    summary: dict = {}
    for label, *_ in EVALUATIONS:
        summary[label] = {}
        for metric in (*METRICS, "chunk_latency_ms_cpu"):
            x = np.array([r["results"][label][metric] for r in per_seed])
            if len(x) >= 2:
                ci = bootstrap_ci(x, "mean", rng=0)
                low, high = float(ci.low), float(ci.high)
            else:
                low = high = float(x[0])
            summary[label][metric] = {
                "mean": float(x.mean()),
                "low": low,
                "high": high,
                "per_seed": x.tolist(),
            }
    result = {
        "env": ENV_ID,
        "seeds": seeds,
        "budget": "full" if budget == FULL else "quick" if budget == QUICK else "custom",
        "expert_episodes": budget.expert_episodes,
        "network": str(budget.network),
        "train": str(budget.train),
        "eval_episodes": budget.eval_episodes,
        "torch_threads": 1,
        "summary": summary,
    }
    (out_dir / "results.json").write_text(json.dumps(result, indent=1))
    lines = [
        f"# Navigation2D: MSE-BC vs diffusion vs flow ({seeds} seeds, {result['budget']} budget)",
        "",
        "Mean over seeds [95% percentile-bootstrap CI]; latency: CPU, 1 thread, batch 1, per chunk.",
        "",
        "| method | success | collision | mode coverage | ms / chunk (CPU) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, *_ in EVALUATIONS:
        cells = [
            f"{summary[label][m]['mean']:.2f} [{summary[label][m]['low']:.2f}, "
            f"{summary[label][m]['high']:.2f}]"
            for m in METRICS
        ]
        latency = summary[label]["chunk_latency_ms_cpu"]["mean"]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {latency:.2f} |")
    (out_dir / "summary.md").write_text("\n".join(lines) + "\n")
    plot_metrics(summary, out_dir)
    plot_paths(per_seed[0], out_dir)
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="directory for results.json, summary.md, PNGs")
    parser.add_argument("--seeds", type=int, default=5)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small budget (default), a few minutes")
    size.add_argument("--full", action="store_true", help="3x256 MLP, 3000 steps, 100 episodes")
    args = parser.parse_args()
    navigation_benchmark(args.out, seeds=args.seeds, full=args.full)
