"""Train a d3rlpy 2.8.1 offline agent on an rlcore ``.npz`` episode dataset; optionally serve it.

Runs with the d3rlpy interpreter, never rlcore's (d3rlpy pins gymnasium 1.0.0; build it with
``make d3rlpy-venv``), so this file imports neither rlcore nor gymnasium:

    .venv-d3rlpy/bin/python benchmarks/d3rlpy_runner.py --data D.npz --algo iql \\
        --steps 10000 --seed 0 --out result.json [--serve]

Input: an ``EpisodeDataset`` file (``rlcore.data``: observations, actions, rewards,
terminations, truncations, read with ``allow_pickle=False``); terminals = terminations,
timeouts = truncations (d3rlpy's MDPDataset cuts episodes there).
Output: JSON with the algorithm, its hyper-parameters, steps, seed and the training wall-clock
(``train_seconds``, ``seconds_per_10k_steps``, and the process CPU time
``cpu_seconds_per_10k_steps``, less sensitive to a loaded machine; one torch thread;
``--warmup`` first runs 2 untimed steps so that one-off set-up is not counted, as the rlcore side's warm-up).
``--serve``: after training, read one observation per stdin line (whitespace-separated floats)
and answer each with the greedy action on stdout (one line, space-separated), until EOF. The
benchmark that evaluates the policy in rlcore's env drives this loop
(``benchmarks/offline_generative.py``'s ``D3rlpyPolicy``).

Algorithms: ``iql`` (IQLConfig: expectile 0.7, temperature 3.0, as rlcore's IDQL critic) and
``td3bc`` (TD3PlusBCConfig: alpha 2.5), both with d3rlpy's defaults otherwise (256x256 MLPs,
batch 256, lr 3e-4) and a standard observation scaler fitted on the data, as in d3rlpy's
reproduction scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

KEYS = ("observations", "actions", "rewards", "terminations", "truncations")


def load(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in KEYS if k not in f.files]
        if missing:
            raise SystemExit(f"{path}: missing keys {missing}; write it with EpisodeDataset.save.")
        return {k: np.asarray(f[k]) for k in KEYS}


def build(algo: str, seed: int, batch_size: int):
    import d3rlpy

    d3rlpy.seed(seed)
    scaler = d3rlpy.preprocessing.StandardObservationScaler()
    if algo == "iql":
        config = d3rlpy.algos.IQLConfig(
            batch_size=batch_size, expectile=0.7, weight_temp=3.0, observation_scaler=scaler
        )
    elif algo == "td3bc":
        config = d3rlpy.algos.TD3PlusBCConfig(
            batch_size=batch_size, alpha=2.5, observation_scaler=scaler
        )
    else:
        raise SystemExit(f"--algo {algo!r} is not one of iql, td3bc.")
    return config.create(device="cpu:0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--algo", choices=("iql", "td3bc"), required=True)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", required=True)
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--warmup", action="store_true", help="2 untimed steps first (timing)")
    args = parser.parse_args()
    if args.steps < 1:
        raise SystemExit(f"--steps {args.steps} must be >= 1.")
    torch.set_num_threads(1)
    import d3rlpy

    arrays = load(args.data)
    dataset = d3rlpy.dataset.MDPDataset(
        observations=arrays["observations"].astype(np.float32),
        actions=arrays["actions"].astype(np.float32),
        rewards=arrays["rewards"].astype(np.float32),
        terminals=arrays["terminations"].astype(np.float32),
        timeouts=arrays["truncations"].astype(np.float32),
    )
    agent = build(args.algo, args.seed, args.batch_size)
    agent.build_with_dataset(dataset)

    def fit(steps: int) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        agent.fit(
            dataset,
            n_steps=steps,
            n_steps_per_epoch=steps,
            logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
            show_progress=False,
            save_interval=10**9,
        )
        return time.perf_counter() - start, time.process_time() - cpu

    warmup = fit(2)[0] if args.warmup else 0.0  # first-call set-up, timed apart
    seconds, cpu_seconds = fit(args.steps)
    result = {
        "algo": args.algo,
        "d3rlpy": d3rlpy.__version__,
        "steps": args.steps,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "train_seconds": seconds,
        "warmup_seconds": warmup,
        "seconds_per_10k_steps": seconds / args.steps * 10_000,
        "cpu_seconds_per_10k_steps": cpu_seconds / args.steps * 10_000,
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    if args.serve:
        print("ready", flush=True)
        for line in sys.stdin:
            obs = np.array(line.split(), dtype=np.float32)[None]
            action = agent.predict(obs)[0]
            print(" ".join(repr(float(a)) for a in action), flush=True)


if __name__ == "__main__":
    main()
