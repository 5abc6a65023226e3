"""A ControlNet adapter gives a goal-blind diffusion policy goal conditioning.

    python benchmarks/controlnet_navigation.py --out DIR [--seed 0] [--full]

rlcore/Navigation2D-v0 with a moving goal: every episode's goal is (1, y) with y ~ U(-0.6, 0.6)
(``NavigationLayout(goal=...)``), and the scripted expert drives around the obstacle (above or
below, at random) to that goal. A diffusion policy is trained on these expert episodes
**without** the goal in its condition (it sees only the observation history), so it reaches the
right goal only by chance. We then attach ``networks.controlnet`` with the 2-D control
c = the goal position and train only the adapter (the base is frozen and hashed before and
after), against fine-tuning everything (the same adapted model with the base unfrozen) on the
same budget. Evaluation: ``--goals`` held-out goals spread over the range, the same episodes
and seeds for every model; success = the commanded goal was reached (the env's own success).

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

from rlcore.data import EpisodeDataset, collect
from rlcore.diffusion_policy import NetworkConfig, TrainConfig, diffusion_policy
from rlcore.envs.navigation import NavigationExpert, NavigationLayout, NavigationMetrics
from rlcore.generative import EMA, train
from rlcore.generative.adapters import ControlNet
from rlcore.loop import run

ENV_ID = "rlcore/Navigation2D-v0"
GOAL_X, GOAL_Y = 1.0, (-0.6, 0.6)  # goals (GOAL_X, y), y ~ U(GOAL_Y)


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


def goal_dataset(n_episodes: int, seed: int) -> tuple[EpisodeDataset, np.ndarray]:
    """Expert episodes, each to its own goal (1, y), y ~ U(-0.6, 0.6); returns the dataset
    and the (E, 2) goals."""
    rng = np.random.default_rng(seed)
    goals = np.stack([np.full(n_episodes, GOAL_X), rng.uniform(*GOAL_Y, n_episodes)], axis=1)
    parts = []
    for e, goal in enumerate(goals):
        layout = NavigationLayout(goal=(float(goal[0]), float(goal[1])))
        expert = NavigationExpert(layout, seed=seed * 100_003 + e)
        parts.append(collect(ENV_ID, 1, seed=seed * 100_003 + e, policy=expert,
                             env_kwargs={"layout": layout}))  # fmt: skip
    episodes = [ep for part in parts for ep in part.episodes()]
    return EpisodeDataset.from_episodes(episodes, env_id=ENV_ID), goals


def params_hash(net: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(net.state_dict().items()):
        h.update(k.encode() + v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def fit_adapter(policy, adapted, params, dataset, goals, steps, batch, seed):
    """Train ``params`` of ``adapted`` on (chunk, [history, goal of the window's episode])."""
    x0, cond = policy.training_windows(dataset)  # one window per step, in episode order
    control = torch.as_tensor(np.repeat(goals, dataset.episode_lengths, axis=0)).float()
    cond = torch.cat([cond, control], dim=1)
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


def evaluate(policy, denoiser_for_goal, test_goals, episodes, seed):
    """Success rate (the commanded goal reached) and collision rate over the test goals."""
    success, collision = [], []
    for k, goal in enumerate(test_goals):
        p = copy.copy(policy)
        p.ema_net = denoiser_for_goal(goal)
        metrics = NavigationMetrics()
        layout = NavigationLayout(goal=(float(goal[0]), float(goal[1])))
        run(p, ENV_ID, episodes=episodes, seed=seed + 10 * k, callbacks=[metrics],
            progress=False, env_kwargs={"layout": layout})  # fmt: skip
        success += metrics.successes
        collision += metrics.collisions
    return {"success_rate": float(np.mean(success)), "collision_rate": float(np.mean(collision))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--goals", type=int, default=8, help="held-out test goals")
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    base_steps, adapter_steps, episodes = (3000, 1500, 25) if args.full else (1000, 1000, 10)
    dataset, goals = goal_dataset(200, args.seed)
    lo, hi = GOAL_Y
    ys = lo + (np.arange(args.goals) + 0.5) / args.goals * (hi - lo)
    test_goals = np.stack([np.full(args.goals, GOAL_X), ys], axis=1)
    policy = diffusion_policy(dataset, network=NetworkConfig(hidden=128, depth=2), seed=args.seed)
    policy.fit(dataset, TrainConfig(base_steps, 128), seed=args.seed)
    base = policy.ema_net
    seed = 1000 + args.seed
    results = {"base": evaluate(policy, lambda g: base, test_goals, episodes, seed)}

    def controlled(net):
        return lambda g: WithControl(net, torch.as_tensor(g, dtype=torch.float32)[None])

    before = params_hash(base)
    adapted = ControlNet(base, 2)
    secs = fit_adapter(policy, adapted, list(adapted.parameters()), dataset, goals,
                       adapter_steps, 128, args.seed)  # fmt: skip
    after = params_hash(base)
    results["controlnet"] = evaluate(policy, controlled(adapted), test_goals, episodes, seed)
    results["controlnet"]["train_seconds"] = secs

    full_base = copy.deepcopy(base)
    full = ControlNet(full_base, 2)
    full_base.requires_grad_(True)
    params = list(full.parameters()) + list(full_base.parameters())
    secs = fit_adapter(policy, full, params, dataset, goals, adapter_steps, 128, args.seed)
    results["full_finetune"] = evaluate(policy, controlled(full), test_goals, episodes, seed)
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
        "train_episodes": int(dataset.n_episodes),
        "base_steps": base_steps,
        "adapter_steps": adapter_steps,
        "test_goals": test_goals.tolist(),
        "episodes_per_goal": episodes,
        "seed": args.seed,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    lines = ["| model | trained params | success (goal reached) | collision |", "|---|---|---|---|"]
    rows = [
        ("base (goal-blind)", 0),
        ("ControlNet adapter (goal)", n_adapter),
        ("full fine-tune (goal)", n_base + n_adapter),
    ]
    for (label, n), key in zip(rows, ("base", "controlnet", "full_finetune")):
        r = results[key]
        lines.append(f"| {label} | {n} | {r['success_rate']:.2f} | {r['collision_rate']:.2f} |")
    lines.append(
        f"\nbase params {n_base}; base hash before/after adapter training: {before} / {after}"
    )
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
