"""Forward + backward of N critics (17 -> 256 -> 256 -> 1) with every Ensemble backend.

One process, backends interleaved (round-robin repeats, median of each), so the ratios compare
like with like on a shared machine; CPU numbers are process CPU time (one torch thread). Runs on CUDA when present (and on the CPU always); prints the
device of every number, the time per forward+backward and the speed-up over the loop.

    python benchmarks/ensemble_speed.py [--members 1 2 5 10 20 50 100] [--batches 256 1]
                                        [--repeats 5] [--min-time 0.2] [--device cpu cuda]
                                        [--compile]

``--compile`` adds a column: the batched backend under ``torch.compile`` (inductor, static
shapes; the compile itself is untimed), to show what a compiler adds to the eager backends.
"""

import argparse
import statistics
import time

import torch

from rlcore.ensemble.members import Ensemble

BACKENDS = ("loop", "vmap", "batched", "auto")


def step_time(ens, x, min_time, device, forward=None):
    """Seconds per forward + backward (gradients zeroed by set_to_none), over >= min_time;
    ``forward`` (default ``ens``) is what is called on x, e.g. ``torch.compile(ens)``."""
    forward = ens if forward is None else forward

    def once():
        for p in ens.parameters():
            p.grad = None
        forward(x).sum().backward()

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
    parser.add_argument("--compile", action="store_true", help="add torch.compile(batched)")
    args = parser.parse_args()
    columns = (*BACKENDS, "compiled") if args.compile else BACKENDS
    torch.set_num_threads(1)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    for name in devices:
        device = torch.device(name)
        label = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (1 thread)"
        print(f"\n# device: {label}, torch {torch.__version__}")
        print(
            "| B | N | " + " | ".join(f"{b} ms" for b in columns) + " | auto picks | "
            "auto / loop speed-up |" + (" compiled / loop |" if args.compile else "")
        )
        print("|---|---|" + "---|" * (len(columns) + 2 + args.compile))
        for batch in args.batches:
            for n in args.members:
                ens = Ensemble(n, 17, 1, hidden=(256, 256), seed=0).to(device)
                x = torch.randn(batch, 17, device=device)
                times = {b: [] for b in columns}
                if args.compile:
                    fixed = Ensemble(n, 17, 1, hidden=(256, 256), seed=0, backend="batched")
                    fixed = fixed.to(device)
                    compiled = torch.compile(fixed, dynamic=False)
                for _ in range(args.repeats):  # interleaved: load changes hit every backend
                    for b in BACKENDS:
                        ens.backend = b
                        times[b].append(step_time(ens, x, args.min_time, device))
                    if args.compile:
                        t = step_time(fixed, x, args.min_time, device, forward=compiled)
                        times["compiled"].append(t)
                med = {b: statistics.median(t) for b, t in times.items()}
                picked = ens.resolve_backend(batch, device)
                ratio = med["loop"] / med["auto"]
                cells = " | ".join(f"{1e3 * med[b]:.3f}" for b in columns)
                extra = f" {med['loop'] / med['compiled']:.2f}x |" if args.compile else ""
                print(f"| {batch} | {n} | {cells} | {picked} | {ratio:.2f}x |{extra}", flush=True)
