"""Forward + backward of N critics (17 -> 256 -> 256 -> 1) with every Ensemble backend.

One process, backends interleaved (round-robin repeats, median of each), so the ratios compare
like with like on a shared machine; CPU numbers are process CPU time (one torch thread). Runs on CUDA when present (and on the CPU always); prints the
device of every number, the time per forward+backward and the speed-up over the loop.

    python benchmarks/ensemble_speed.py [--members 1 2 5 10 20 50 100] [--batches 256 1]
                                        [--repeats 5] [--min-time 0.2] [--device cpu cuda]
"""

import argparse
import statistics
import time

import torch

from rlcore.ensemble.members import Ensemble

BACKENDS = ("loop", "vmap", "batched", "auto")


def step_time(ens, x, min_time, device):
    """Seconds per forward + backward (gradients zeroed by set_to_none), over >= min_time."""

    def once():
        for p in ens.parameters():
            p.grad = None
        ens(x).sum().backward()

    once()  # warm-up
    cuda = device.type == "cuda"
    # CPU: the process's CPU time (one thread), which other jobs on a shared machine disturb far
    # less than wall time; CUDA: wall time after synchronising.
    clock = time.perf_counter if cuda else time.process_time
    if cuda:
        torch.cuda.synchronize()
    reps, start = 0, clock()
    while True:
        once()
        reps += 1
        if cuda:
            torch.cuda.synchronize()
        elapsed = clock() - start
        if elapsed >= min_time:
            return elapsed / reps


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50, 100])
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 1])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument("--device", nargs="+", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    for name in devices:
        device = torch.device(name)
        label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (1 thread)"
        print(f"\n# device: {label}, torch {torch.__version__}")
        print(
            "| B | N | " + " | ".join(f"{b} ms" for b in BACKENDS) + " | auto picks | "
            "auto / loop speed-up |"
        )
        print("|---|---|" + "---|" * (len(BACKENDS) + 2))
        for batch in args.batches:
            for n in args.members:
                ens = Ensemble(n, 17, 1, hidden=(256, 256), seed=0).to(device)
                x = torch.randn(batch, 17, device=device)
                times = {b: [] for b in BACKENDS}
                for _ in range(args.repeats):  # interleaved: load changes hit every backend
                    for b in BACKENDS:
                        ens.backend = b
                        times[b].append(step_time(ens, x, args.min_time, device))
                med = {b: statistics.median(t) for b, t in times.items()}
                picked = ens.resolve_backend(batch, device)
                ratio = med["loop"] / med["auto"]
                cells = " | ".join(f"{1e3 * med[b]:.3f}" for b in BACKENDS)
                print(f"| {batch} | {n} | {cells} | {picked} | {ratio:.2f}x |", flush=True)
