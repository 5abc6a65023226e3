"""Deep Sea (Osband et al. 2019): the largest size each agent solves.

"Solved" (the issue's goal): the treasure is found in >= 10 of the last 100 episodes within the
episode budget (2,000 by default). Agents: DQN with epsilon-greedy, bootstrapped DQN without and
with randomized priors (bsuite's boot_dqn settings where they apply: 50-50 networks, batch 128,
Adam 1e-3, a gradient step per env step, target update every 4 steps, prior scale 3; the heads
here share a one-layer torso). Each (agent, size) run stops as soon as it is solved.

    python benchmarks/deep_sea.py [--sizes 5 10 15 20] [--episodes 2000] [--seeds 0] [--heads 10]
"""

import argparse
import time

import torch

import rlcore
from rlcore.envs.deep_sea import DeepSeaEnv

COMMON = dict(
    hidden=(50, 50),
    learning_rate=1e-3,
    batch_size=128,
    buffer_size=10_000,
    learning_starts=128,
    train_freq=1,
    gradient_steps=1,
    target_update_interval=4,
    gamma=0.99,
    log_every=10_000,
    device="cpu",
)


def agents(heads):
    return {
        "dqn (eps-greedy)": (
            "agents.dqn",
            dict(epsilon_start=1.0, epsilon_end=0.05, epsilon_decay_steps=1000),
        ),
        "bootstrapped": ("agents.bootstrapped_dqn", dict(n_heads=heads, mask_p=1.0)),
        "bootstrapped + prior": (
            "agents.bootstrapped_dqn",
            dict(n_heads=heads, mask_p=1.0, prior_scale=3.0),
        ),
    }


def solve(name, settings, size, episodes, seed, chunk=100):
    """Episodes until >= 10 of the last 100 found the treasure (None if never), wall seconds."""
    env = DeepSeaEnv(size, mapping_seed=seed)
    agent = rlcore.make(name, env, seed=seed, **COMMON, **settings)
    found = []
    start = time.perf_counter()
    while len(found) < episodes:
        h = rlcore.run(agent, env, episodes=chunk, seed=seed * 100_003 + len(found))
        found += [r > 0.5 for r in h.returns]
        for e in range(max(100, len(found) - chunk), len(found) + 1):
            if sum(found[max(0, e - 100) : e]) >= 10:
                return e, time.perf_counter() - start
    return None, time.perf_counter() - start


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 15, 20])
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--heads", type=int, default=10)
    parser.add_argument("--agents", nargs="+", default=None, help="subset of the agent labels")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"device: cpu (torch {torch.__version__}), budget {args.episodes} episodes")
    table = {}
    for label, (name, settings) in agents(args.heads).items():
        if args.agents and label not in args.agents:
            continue
        for size in args.sizes:
            for seed in args.seeds:
                ep, secs = solve(name, settings, size, args.episodes, seed)
                table[label, size, seed] = ep
                verdict = f"solved after {ep} episodes" if ep else "not solved"
                print(
                    f"{label:22s} size {size:3d} seed {seed}: {verdict} ({secs:.0f} s)", flush=True
                )
    print("\nlargest size solved (all seeds):")
    for label in dict.fromkeys(k[0] for k in table):
        solved = [s for s in args.sizes if all(table[label, s, x] for x in args.seeds)]
        print(f"  {label:22s} {max(solved) if solved else '-'}")
