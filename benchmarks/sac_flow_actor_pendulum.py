"""SAC on Pendulum-v1 with the squashed-Gaussian actor and with the normalizing-flow actor.

    python benchmarks/sac_flow_actor_pendulum.py --out DIR [--steps 5000] [--seeds 1]

Same agent (``agents.sac`` defaults: twin critics, auto entropy, lr 1e-3, batch 256), same seed,
same env stream; only ``actor`` differs ("gaussian" or "flow": a conditional NSF with 2 spline
transforms, ``rlcore.actor_critic.flow_actor``). Every ``--eval-every`` steps the deterministic
policy (the Gaussian's tanh(mu), the flow's image of the base mode) is run for 5 episodes.
Writes results.json; torch on one thread.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import rlcore


def train(actor: str, seed: int, steps: int, every: int, hidden: tuple[int, ...]) -> dict:
    env, eval_env = gym.make("Pendulum-v1"), gym.make("Pendulum-v1")
    agent = rlcore.make("agents.sac", env, seed=seed, actor=actor, hidden=hidden)
    policy, rows = agent.greedy_policy(), []
    clock = {"train": 0.0, "since": time.process_time()}

    class Every(rlcore.Callback):
        def on_step(self, step, transition, metrics):
            if step % every == 0:
                clock["train"] += time.process_time() - clock["since"]
                h = rlcore.run(policy, eval_env, episodes=5, seed=10_000 * (seed + 1) + len(rows))
                rows.append((step, float(np.mean(h.returns)), clock["train"], agent.alpha))
                print(actor, seed, rows[-1], flush=True)
                clock["since"] = time.process_time()

    rlcore.run(agent, env, steps=steps, seed=seed, callbacks=[Every()], progress=False)
    return {"actor": actor, "seed": seed, "evals": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--actors", default="gaussian,flow")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    runs = [
        train(actor, seed, args.steps, args.eval_every, tuple(args.hidden))
        for seed in range(args.seeds)
        for actor in args.actors.split(",")
    ]
    (args.out / "results.json").write_text(
        json.dumps({"args": vars(args) | {"out": str(args.out)}, "runs": runs}, indent=1)
    )
