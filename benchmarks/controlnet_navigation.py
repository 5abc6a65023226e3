"""A ControlNet adapter gives a trained, command-free diffusion policy a new condition.

    python benchmarks/controlnet_navigation.py --out DIR [--seed 0] [--full]

rlcore/Navigation2D-v0 has two expert routes around the obstacle (above, below). A diffusion
policy trained on the expert data without any command reproduces both at random. We then
attach ``networks.controlnet`` with a 2-D control c = one-hot(commanded route), labelled from
each expert episode's route (``route_of``), and train only the adapter (the base is frozen and
hashed before and after), against fine-tuning everything (the same adapted model with the base
unfrozen) on the same budget. Evaluation commands each route in half of the episodes; "command
followed" = the episode succeeded along the commanded route. The goal of this env is fixed, so
the new condition is the route command (the issue's "goal or obstacle map" needs another env).

Writes results.json and summary.md to --out. CPU, one thread; the machine may be shared.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rlcore.data import collect
from rlcore.diffusion_policy import NetworkConfig, TrainConfig, diffusion_policy
from rlcore.envs.navigation import evaluate_navigation, route_of
from rlcore.generative import EMA, train
from rlcore.generative.adapters import ControlNet

ENV_ID = "rlcore/Navigation2D-v0"


class WithControl(nn.Module):
    """A Denoiser over the base condition that appends a fixed control vector."""

    def __init__(self, adapted: ControlNet, control: torch.Tensor) -> None:
        super().__init__()
        self.adapted, self.control = adapted, control
        self.x_dim, self.cond_dim = adapted.x_dim, adapted.base.cond_dim
        self.null_cond = None

    def forward(self, x_t, t, cond):
        control = self.control.to(x_t.dtype).expand(x_t.shape[0], -1)
        return self.adapted(x_t, t, torch.cat([cond, control], dim=1))


def window_routes(dataset) -> np.ndarray:
    """The route (0 above, 1 below) of the episode of every training window (one per step)."""
    routes, start = [], 0
    for length in np.asarray(dataset.episode_lengths):
        routes.append(np.full(length, route_of(dataset.observations[start : start + length])))
        start += length
    return np.concatenate(routes)


def params_hash(net: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(net.state_dict().items()):
        h.update(k.encode() + v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def fit_adapter(policy, adapted, params, dataset, steps, batch, seed):
    x0, cond = policy.training_windows(dataset)
    routes = torch.as_tensor(window_routes(dataset))
    keep = routes >= 0
    control = nn.functional.one_hot(routes[keep], 2).float()
    x0, cond = x0[keep], torch.cat([cond[keep], control], dim=1)
    g = torch.Generator().manual_seed(seed)

    def batches():
        while True:
            idx = torch.randint(x0.shape[0], (batch,), generator=g)
            yield x0[idx], cond[idx]

    ema = EMA(adapted, decay=0.995)
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-6)
    t0 = time.perf_counter()
    train(policy.model, adapted, batches(), optimizer, steps=steps, ema=ema, generator=g)
    adapted.load_state_dict(ema.averaged.state_dict())
    adapted.eval()
    return time.perf_counter() - t0


def evaluate(policy, denoiser_for_route, episodes, seed):
    """Per commanded route r: success rate and the rate of succeeding along route r."""
    followed, success = [], []
    for r in (0, 1):
        p = copy.copy(policy)
        p.ema_net = denoiser_for_route(r)
        from rlcore.envs.navigation import NavigationMetrics

        metrics = NavigationMetrics()
        evaluate_navigation(p, episodes, seed + 10 * r, metrics=metrics)
        s, routes = np.asarray(metrics.successes), np.asarray(metrics.routes)
        success.append(float(s.mean()))
        followed.append(float(np.mean(s & (routes == r))))
    return {"success_rate": float(np.mean(success)), "command_followed": float(np.mean(followed))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    base_steps, adapter_steps, episodes = (3000, 1500, 100) if args.full else (800, 600, 40)
    dataset = collect(ENV_ID, 100, seed=args.seed)
    policy = diffusion_policy(dataset, network=NetworkConfig(hidden=128, depth=2), seed=args.seed)
    policy.fit(dataset, TrainConfig(base_steps, 128), seed=args.seed)
    base = policy.ema_net
    results = {"base": evaluate(policy, lambda r: base, episodes, 1000 + args.seed)}

    before = params_hash(base)
    adapted = ControlNet(base, 2)
    secs = fit_adapter(
        policy, adapted, list(adapted.parameters()), dataset, adapter_steps, 128, args.seed
    )
    after = params_hash(base)

    def controlled(net):
        return lambda r: WithControl(net, nn.functional.one_hot(torch.tensor([r]), 2).float())

    results["controlnet"] = evaluate(policy, controlled(adapted), episodes, 1000 + args.seed)
    results["controlnet"]["train_seconds"] = secs

    full_base = copy.deepcopy(base)
    full = ControlNet(full_base, 2)
    full_base.requires_grad_(True)
    params = list(full.parameters()) + list(full_base.parameters())
    secs = fit_adapter(policy, full, params, dataset, adapter_steps, 128, args.seed)
    results["full_finetune"] = evaluate(policy, controlled(full), episodes, 1000 + args.seed)
    results["full_finetune"]["train_seconds"] = secs

    n_base = sum(p.numel() for p in base.parameters())
    n_adapter = sum(p.numel() for p in adapted.parameters())
    results["sizes"] = {
        "base_params": n_base,
        "adapter_params": n_adapter,
        "trained_params_full_finetune": n_base + n_adapter,
    }
    results["base_hash_before_after"] = [before, after]
    results["budget"] = {
        "base_steps": base_steps,
        "adapter_steps": adapter_steps,
        "eval_episodes_per_route": episodes,
        "seed": args.seed,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    lines = ["| model | trained params | success | command followed |", "|---|---|---|---|"]
    rows = [
        ("base (no command)", 0),
        ("ControlNet adapter", n_adapter),
        ("full fine-tune", n_base + n_adapter),
    ]
    for (label, n), key in zip(rows, ("base", "controlnet", "full_finetune")):
        r = results[key]
        lines.append(f"| {label} | {n} | {r['success_rate']:.2f} | {r['command_followed']:.2f} |")
    lines.append(
        f"\nbase params {n_base}; base hash before/after adapter training: {before} / {after}"
    )
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
