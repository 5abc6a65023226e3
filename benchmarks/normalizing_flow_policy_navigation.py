"""The normalizing-flow policy beside the diffusion and flow-matching policies on
rlcore/Navigation2D-v0 (two expert routes around an obstacle), with the same chunking, data and
number of training steps.

    python benchmarks/normalizing_flow_policy_navigation.py --out DIR [--seeds 1] [--steps 800]

Per seed s: 100 expert episodes (seed s); policies.diffusion (DDIM-10) and policies.flow (Euler-4)
with the quick budget of benchmarks/diffusion_policy_navigation.py (MLP 128 x 2, batch 128,
lr 1e-3), and policies.normalizing_flow (NSF with spline coupling, 4 layers of (128, 128)
conditioners, batch 128, lr 3e-3, noise_std 0.01), all with ``--steps`` steps; evaluation over
``--episodes`` episodes (seed 1000 + s): success, collision, mode coverage, the CPU latency per
chunk at batch 1 and, for the flow policy, the exact NLL of the expert chunks (nats per chunk of
H * A = 32 numbers, normalised units). The trained flow policy is also evaluated with the
sampling knobs of ``policies.normalizing_flow`` (``--variants``, each "temperature:candidates":
base noise N(0, tau^2 I), and best-of-K chunks by exact log-likelihood); rows "NSF tau=..,K=..".
Writes results.json and summary.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from rlcore.data import collect
from rlcore.diffusion_policy import (
    NetworkConfig,
    TrainConfig,
    diffusion_policy,
    flow_policy,
    normalizing_flow_policy,
)
from rlcore.envs.navigation import evaluate_navigation

ENV_ID = "rlcore/Navigation2D-v0"
METRICS = ("success_rate", "collision_rate", "mode_coverage")


def latency_ms(policy, obs: np.ndarray, repeats: int = 10) -> float:
    history = np.repeat(obs[None, None], policy.chunk.n_obs_steps, axis=1)
    policy.sample_chunks(history)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        policy.sample_chunks(history)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


VARIANTS = ("1:1", "0.5:1", "1:16", "0.7:8")


def run_seed(
    seed: int, steps: int, episodes: int, only: tuple[str, ...] = (), variants=VARIANTS
) -> dict:
    data = collect(ENV_ID, 100, seed=seed)
    net = NetworkConfig(hidden=128, depth=2)
    policies = {
        "diffusion (DDIM-10)": (
            diffusion_policy(data, network=net, seed=seed),
            TrainConfig(steps, 128),
        ),
        "flow matching (Euler-4)": (
            flow_policy(data, network=net, seed=seed),
            TrainConfig(steps, 128),
        ),
        "normalizing flow (NSF)": (
            normalizing_flow_policy(data, seed=seed),
            TrainConfig(steps, 128, lr=3e-3),
        ),
    }
    if only:
        policies = {k: v for k, v in policies.items() if k.split(" ")[0] in only}
    out = {}
    for label, (policy, config) in policies.items():
        t0 = time.perf_counter()
        policy.fit(data, config, seed=seed)
        train_s = time.perf_counter() - t0
        result = evaluate_navigation(policy, episodes, 1000 + seed)
        result["train_s"] = train_s
        result["chunk_latency_ms"] = latency_ms(policy, np.asarray(data.observations[0]))
        if label.startswith("normalizing"):
            result["nll_per_chunk"] = policy.nll(data)
        out[label] = result
        print(seed, label, json.dumps(result), flush=True)
        if label.startswith("normalizing"):
            for variant in variants:
                tau, k = variant.split(":")
                policy.temperature, policy.candidates = float(tau), int(k)
                policy.seed(seed)
                row = evaluate_navigation(policy, episodes, 1000 + seed)
                row["train_s"] = train_s
                row["chunk_latency_ms"] = latency_ms(policy, np.asarray(data.observations[0]))
                out[f"NSF tau={tau},K={k}"] = row
                print(seed, variant, json.dumps(row), flush=True)
    return out


def main(
    out: Path,
    seeds: int,
    steps: int,
    episodes: int,
    only: tuple[str, ...] = (),
    variants=VARIANTS,
) -> dict:
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    per_seed = [run_seed(s, steps, episodes, only, variants) for s in range(seeds)]
    labels = list(per_seed[0])
    summary = {
        label: {
            k: statistics.fmean(r[label][k] for r in per_seed)
            for k in (*METRICS, "train_s", "chunk_latency_ms")
        }
        for label in labels
    }
    nf = "normalizing flow (NSF)"
    if nf in summary:
        summary[nf]["nll_per_chunk"] = statistics.fmean(r[nf]["nll_per_chunk"] for r in per_seed)
    result = {
        "seeds": seeds,
        "steps": steps,
        "episodes": episodes,
        "per_seed": per_seed,
        "summary": summary,
        "torch_threads": 1,
    }
    (out / "results.json").write_text(json.dumps(result, indent=1))
    lines = [
        f"# Navigation2D: generative policies ({seeds} seed(s), {steps} steps, {episodes} episodes)",
        "",
        "| policy | success | collision | mode coverage | train s | ms / chunk |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label in labels:
        s = summary[label]
        lines.append(
            f"| {label} | {s['success_rate']:.2f} | {s['collision_rate']:.2f} | "
            f"{s['mode_coverage']:.2f} | {s['train_s']:.0f} | {s['chunk_latency_ms']:.2f} |"
        )
    if nf in summary:
        nll = summary[nf]["nll_per_chunk"]
        lines.append(f"\nNSF policy: exact NLL of the expert chunks {nll:.2f} nats per chunk.")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument(
        "--only",
        nargs="*",
        default=(),
        choices=("diffusion", "flow", "normalizing"),
        help="train and evaluate only these policies",
    )
    parser.add_argument("--variants", nargs="*", default=VARIANTS, help="tau:K pairs for the NSF")
    args = parser.parse_args()
    main(args.out, args.seeds, args.steps, args.episodes, tuple(args.only), tuple(args.variants))
