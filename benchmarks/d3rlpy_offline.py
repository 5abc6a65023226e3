"""d3rlpy 2.8.1's CQL and IQL on the project's offline Pendulum-v1 tiers (the peer arm of
``offline_pendulum.py``). Run with d3rlpy's own interpreter, never rlcore's (d3rlpy pins
gymnasium 1.0; ``make d3rlpy-venv`` builds one in .venv-d3rlpy):

    .venv-d3rlpy/bin/python benchmarks/d3rlpy_offline.py --data out/pendulum \
        --out out/offline/d3rlpy.json [--algos cql iql] [--tiers medium] [--seeds 5] \
        [--gradient-steps 10000] [--episodes 10]

It imports numpy, torch, gymnasium and d3rlpy only (not rlcore). Inputs: the ``<tier>.npz`` files
in rlcore's episode layout (``rlcore/data.py``) and ``tiers.json`` (the random and expert reference
returns), both written by ``rlcore data pendulum-tiers``. The networks match rlcore's agents: every
actor, critic and value function is an MLP with 256x256 ReLU layers, batch 256, two critics
(d3rlpy's defaults otherwise: CQL's alpha 5 with 10 action samples, IQL's expectile 0.7 and
temperature 3). Actions are scaled from Pendulum's [-2, 2] to [-1, 1] by d3rlpy's
``MinMaxActionScaler``. One torch thread.

Output: a JSON list, one row per (tier, algo, seed), in ``offline_pendulum.py``'s schema:
``{"tier", "algo", "seed", "gradient_steps", "score", "mean_return", "seconds_per_10k",
"cpu_seconds_per_10k"}``, where
``score`` is D4RL's normalised score 100 (R - R_random) / (R_expert - R_random) of the mean return
of ``--episodes`` episodes of the greedy policy, ``seconds_per_10k`` is ``fit``'s wall-clock
scaled to 10k gradient steps and ``cpu_seconds_per_10k`` its process CPU time (the fairer clock
on a shared machine: one thread, so CPU time is the work done, not the wait for a core). Rows already in ``--out`` are kept and not rerun.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import d3rlpy
import gymnasium as gym
import numpy as np
import torch

ALGOS = ("cql", "iql")
HIDDEN = [256, 256]


def load_tier(path: Path) -> d3rlpy.dataset.MDPDataset:
    """An rlcore episode .npz as an MDPDataset (d3rlpy reads S_{t+1} from the next row, so the
    last transition of each truncated episode loses its own next observation, as with D4RL)."""
    with np.load(path, allow_pickle=False) as z:
        obs = z["observations"].astype(np.float32)
        actions = z["actions"].astype(np.float32).reshape(len(obs), -1)
        rewards = z["rewards"].astype(np.float32)
        terminals = z["terminations"].astype(np.float32)
        timeouts = z["truncations"].astype(np.float32)
    return d3rlpy.dataset.MDPDataset(obs, actions, rewards, terminals, timeouts)


def make_algo(name: str, low: np.ndarray, high: np.ndarray):
    enc = d3rlpy.models.VectorEncoderFactory(hidden_units=HIDDEN)
    scaler = d3rlpy.preprocessing.MinMaxActionScaler(minimum=low, maximum=high)
    common = dict(
        batch_size=256, actor_encoder_factory=enc, critic_encoder_factory=enc, action_scaler=scaler
    )
    if name == "cql":
        config = d3rlpy.algos.CQLConfig(**common)
    elif name == "iql":
        config = d3rlpy.algos.IQLConfig(value_encoder_factory=enc, **common)
    else:
        raise ValueError(f"--algos takes {ALGOS}, got {name!r}.")
    return config.create(device=False)


def evaluate(algo, env_id: str, episodes: int, seed: int) -> float:
    env = gym.make(env_id)
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            action = algo.predict(np.asarray(obs, dtype=np.float32)[None])[0]
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="directory written by rlcore data pendulum-tiers")
    p.add_argument("--out", required=True, help="JSON file (rows already there are kept)")
    p.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    p.add_argument("--tiers", nargs="+", default=["random", "medium", "expert", "medium-replay"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--gradient-steps", type=int, default=10_000)
    p.add_argument("--episodes", type=int, default=10)
    args = p.parse_args()
    if args.gradient_steps < 1 or args.seeds < 1 or args.episodes < 1:
        p.error("--gradient-steps, --seeds and --episodes must be >= 1.")
    torch.set_num_threads(1)
    data, out = Path(args.data), Path(args.out)
    ref = json.loads((data / "tiers.json").read_text())
    env_id = ref.get("env_id", "Pendulum-v1")
    space = gym.make(env_id).action_space
    rows = json.loads(out.read_text()) if out.exists() else []
    for tier in args.tiers:
        dataset = load_tier(data / f"{tier}.npz")
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for name in args.algos:
                if any(
                    r["tier"] == tier and r["algo"] == f"d3rlpy_{name}" and r["seed"] == seed
                    for r in rows
                ):
                    continue
                d3rlpy.seed(seed)
                algo = make_algo(name, space.low.astype(np.float32), space.high.astype(np.float32))
                t, cpu = time.perf_counter(), time.process_time()
                algo.fit(
                    dataset,
                    n_steps=args.gradient_steps,
                    n_steps_per_epoch=args.gradient_steps,
                    logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
                    show_progress=False,
                    save_interval=10**9,
                )
                seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
                mean_return = evaluate(algo, env_id, args.episodes, 1000 + seed)
                score = (
                    100
                    * (mean_return - ref["random_return"])
                    / (ref["expert_return"] - ref["random_return"])
                )
                rows.append(
                    {
                        "tier": tier,
                        "algo": f"d3rlpy_{name}",
                        "seed": seed,
                        "gradient_steps": args.gradient_steps,
                        "score": score,
                        "mean_return": mean_return,
                        "seconds_per_10k": 10_000 * seconds / args.gradient_steps,
                        "cpu_seconds_per_10k": 10_000 * cpu / args.gradient_steps,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
