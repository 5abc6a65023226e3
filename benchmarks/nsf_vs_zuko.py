"""rlcore's NSF against zuko 1.6's NSF: the same architecture, trained the same way, side by side.

    python benchmarks/nsf_vs_zuko.py --out DIR [--seeds 3] [--steps 2000] [--density two_moons]

Both flows: 3 autoregressive rational-quadratic spline transforms, 8 bins on [-5, 5], MADE
conditioners with hidden (64, 64) and ReLU, the feature order reversed between transforms, a
standard normal base. Per seed: the same training stream (Adam, lr 1e-3, batch 256), the same
held-out set of 4,096 points. Reports the held-out NLL (nats) of each and their difference, and
log_prob throughput at batch 4,096 (float32, one thread, no grad), measured interleaved in one
process (median of 30 calls, 5 rounds). Needs the optional extra ``zuko``. Writes results.json
and summary.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from rlcore.generative import toy
from rlcore.generative.flows import nsf


def make_pair(seed: int):
    import zuko

    torch.manual_seed(seed)
    mine = nsf(2, transforms=3, hidden=(64, 64), bins=8, bound=5.0)
    torch.manual_seed(seed)
    theirs = zuko.flows.NSF(2, transforms=3, hidden_features=(64, 64), bins=8)
    return mine, theirs


def fit(flow, data: torch.Tensor, steps: int, seed: int) -> float:
    opt = torch.optim.Adam(flow.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        x = data[torch.randint(data.shape[0], (256,), generator=g)]
        loss = -flow().log_prob(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def nll(flow, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float(-flow().log_prob(x).mean())


def throughput(flows: dict, x: torch.Tensor, rounds: int = 5, calls: int = 30) -> dict:
    """Samples per second of flow().log_prob(x), interleaving the flows call by call."""
    times: dict = {k: [] for k in flows}
    with torch.no_grad():
        for f in flows.values():
            f().log_prob(x)  # warm-up
        for _ in range(rounds * calls):
            for k, f in flows.items():
                t0 = time.perf_counter()
                f().log_prob(x)
                times[k].append(time.perf_counter() - t0)
    return {k: x.shape[0] / statistics.median(v) for k, v in times.items()}


def main(out: Path, seeds: int, steps: int, density: str) -> dict:
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in range(seeds):
        train = toy.sample(density, 20_000, seed)
        test = toy.sample(density, 4_096, 10_000 + seed)
        mine, theirs = make_pair(seed)
        t_mine = fit(mine, train, steps, seed)
        t_theirs = fit(theirs, train, steps, seed)
        rate = throughput({"rlcore": mine, "zuko": theirs}, test)
        row = {
            "seed": seed,
            "nll_rlcore": nll(mine, test),
            "nll_zuko": nll(theirs, test),
            "train_s_rlcore": t_mine,
            "train_s_zuko": t_theirs,
            "log_prob_per_s_rlcore": rate["rlcore"],
            "log_prob_per_s_zuko": rate["zuko"],
        }
        row["nll_diff"] = row["nll_rlcore"] - row["nll_zuko"]
        row["throughput_ratio"] = rate["rlcore"] / rate["zuko"]
        rows.append(row)
        print(json.dumps(row))
    mean = {k: statistics.fmean(r[k] for r in rows) for k in rows[0] if k != "seed"}
    result = {"density": density, "steps": steps, "seeds": seeds, "rows": rows, "mean": mean}
    (out / "results.json").write_text(json.dumps(result, indent=1))
    lines = [
        f"# NSF: rlcore vs zuko 1.6 ({density}, {steps} steps, {seeds} seeds, CPU, 1 thread)",
        "",
        "| seed | NLL rlcore | NLL zuko | diff | log_prob/s rlcore | log_prob/s zuko | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in [*rows, {**mean, "seed": "mean"}]:
        lines.append(
            f"| {r['seed']} | {r['nll_rlcore']:.4f} | {r['nll_zuko']:.4f} | {r['nll_diff']:+.4f} | "
            f"{r['log_prob_per_s_rlcore']:,.0f} | {r['log_prob_per_s_zuko']:,.0f} | "
            f"{r['throughput_ratio']:.2f} |"
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--density", default="two_moons", choices=sorted(toy.DENSITIES))
    args = parser.parse_args()
    main(args.out, args.seeds, args.steps, args.density)
