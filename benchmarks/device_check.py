"""One device check: the latency and throughput numbers a GPU is wanted for, on whatever device
is present (CUDA when available, else the CPU), as one table with the device name and a JSON file.

    python benchmarks/device_check.py --out DIR            # full sizes (< 5 min on an H100)
    python benchmarks/device_check.py --out DIR --quick    # small sizes (< 5 min on a 2-core CPU)
    python benchmarks/device_check.py --out DIR --only dqn_updates --device cpu

Measurements (a registry: ``@measurement("name")`` adds one; each returns rows):

- ``diffusion_policy_latency``: milliseconds per action chunk (H = 16, action 2, 2 observations)
  at batch 1 with 1-D U-Nets (down_dims (64, 128, 256), 4.1M weights, and Diffusion Policy's
  (256, 512, 1024), 62M weights; 3 repeats of the big one on a CPU), DDIM-10 and one-step flow
  matching; modes "eager" everywhere, on CUDA
  also "cuda_graph" (the whole loop captured and replayed) and "compile"
  (torch.compile(mode="reduce-overhead")). The network and timing code are
  ``benchmarks/diffusion_policy_latency.py``'s.
- ``ensemble_fwd_bwd``: one forward + backward pass of N critics (17 -> 256 -> 256 -> 1, batch
  256) by backend ("loop", "vmap", "batched" of ``networks.ensemble``, rlcore/ensemble/
  members.py) and N; "ratio" = time / (N x one plain MLP's time, timed in the same rounds), so
  below 1 means the backend beats N separate networks.
- ``dqn_updates``: gradient steps per second of ``agents.dqn`` with the rl-zoo CartPole network
  (256, 256), batch 64, uniform replay, on the device (the agent's own training phase).

Other issues add rows by adding a measurement function here. Every row records its device; a
measurement that fails records the error and the rest still run; a time budget (--budget-s)
skips what would overrun it, and says so in the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import diffusion_policy_latency as dpl  # noqa: E402  (the U-Net and the timing helpers)

from rlcore.registry import make  # noqa: E402

SIZES = ("tiny", "quick", "full")
Row = dict[str, Any]


@dataclass
class Context:
    """What a measurement needs: the device, the size, the deadline."""

    device: torch.device
    size: str  # "tiny" (smoke test), "quick" (CPU, minutes), "full" (a GPU)
    deadline: float  # time.perf_counter() after which measurements skip their remaining cases
    seed: int = 0
    skipped: list[str] = field(default_factory=list)

    def pick(self, tiny: Any, quick: Any, full: Any) -> Any:
        return {"tiny": tiny, "quick": quick, "full": full}[self.size]

    def out_of_time(self, what: str) -> bool:
        if time.perf_counter() > self.deadline:
            self.skipped.append(what)
            return True
        return False

    def time_ms(self, fn: Callable[[], Any], repeats: int, warmup: int = 2) -> list[float]:
        return dpl._time_ms(fn, self.device, repeats, warmup)

    def interleaved_ms(
        self, fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 2
    ) -> dict[str, float]:
        """Median ms of each function, timed round-robin (one call of each per round), so a
        busy shared machine slows all of them alike and their ratios stay meaningful."""
        times: dict[str, list[float]] = {k: [] for k in fns}
        for r in range(warmup + repeats):
            for key, fn in fns.items():
                if r < warmup:
                    fn()
                else:
                    times[key].extend(self.time_ms(fn, 1, 0))
        return {k: statistics.median(v) for k, v in times.items()}


MEASUREMENTS: dict[str, Callable[[Context], list[Row]]] = {}


def measurement(name: str) -> Callable:
    """Register a measurement: a function of a Context returning rows (dicts with at least
    "case", "variant", "value" and "unit")."""

    def register(fn: Callable[[Context], list[Row]]) -> Callable[[Context], list[Row]]:
        MEASUREMENTS[name] = fn
        return fn

    return register


def _summary(times: list[float]) -> dict[str, float]:
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"median_ms": statistics.median(times), "q1_ms": q[0], "q3_ms": q[2], "n": len(times)}


# ------------------------------------------------------------------ diffusion-policy latency
@measurement("diffusion_policy_latency")
def diffusion_policy_latency(ctx: Context) -> list[Row]:
    nets = ctx.pick(("unet_tiny",), ("unet_small", "dp_unet"), ("unet_small", "dp_unet"))
    methods = [m for m in dpl.METHODS if m[0] in ("ddim-10", "flow-1")]
    modes = ["eager"] + (["cuda_graph", "compile"] if ctx.device.type == "cuda" else [])
    repeats = ctx.pick(2, 5, 20)
    rows = []
    for net_name in nets:
        torch.manual_seed(ctx.seed)
        if net_name == "unet_tiny":
            net = make("networks.unet1d", 2, dpl.TO * 2, down_dims=(8, 16))
        else:
            net = dpl.network(net_name, 2, 2)
        net = net.to(ctx.device).eval().requires_grad_(False)
        params = sum(p.numel() for p in net.parameters())
        compiled = None
        shape, cond = (1, dpl.H, 2), torch.zeros(1, dpl.TO * 2, device=ctx.device)
        for label, objective, steps, options in methods:
            model = make(objective)
            for mode in modes:
                case = f"{net_name} ({params / 1e6:.2f}M) {label}"
                if ctx.out_of_time(f"{case} {mode}"):
                    continue
                row: Row = {"case": case, "variant": mode, "unit": "ms/chunk"}
                try:
                    with torch.no_grad():
                        if mode == "compile":
                            if compiled is None:
                                compiled = torch.compile(net, mode="reduce-overhead")
                            fn = dpl._sampler(model, compiled, shape, cond, steps, options)
                        else:
                            fn = dpl._sampler(model, net, shape, cond, steps, options)
                            if mode == "cuda_graph":
                                fn = dpl._cuda_graph(fn)
                        big = net_name == "dp_unet" and ctx.device.type == "cpu"
                        stats = _summary(ctx.time_ms(fn, 3 if big else repeats, 1 if big else 2))
                    row.update(value=stats["median_ms"], **stats)
                except Exception as err:  # record it; the other rows still run
                    row.update(value=None, error=repr(err)[:200])
                rows.append(row)
    return rows


# ------------------------------------------------------------------ ensemble forward + backward
# Hook for the ensemble rows: rlcore.ensemble.members.Ensemble (issue 13's backends). Without
# that module this measurement records one row saying so.
ENSEMBLE_BACKENDS = ("loop", "vmap", "batched")


@measurement("ensemble_fwd_bwd")
def ensemble_fwd_bwd(ctx: Context) -> list[Row]:
    try:
        from rlcore.ensemble.members import Ensemble
    except ImportError as err:
        return [
            {
                "case": "rlcore.ensemble.members",
                "variant": "-",
                "value": None,
                "unit": "-",
                "error": f"not available: {err}",
            }
        ]
    sizes = ctx.pick((2,), (5, 20), (2, 10, 50, 200))
    batch, in_dim, hidden = ctx.pick(16, 256, 256), 17, ctx.pick((16, 16), (256, 256), (256, 256))
    repeats = ctx.pick(2, 10, 30)
    g = torch.Generator().manual_seed(ctx.seed)
    x = torch.randn(batch, in_dim, generator=g).to(ctx.device)
    y = torch.randn(batch, 1, generator=g).to(ctx.device)

    def fwd_bwd(module: torch.nn.Module) -> Callable[[], None]:
        def step() -> None:
            module.zero_grad(set_to_none=True)
            out = module(x)  # (N, B, 1) or (B, 1)
            ((out - y) ** 2).mean(dim=(-2, -1)).sum().backward()

        return step

    single = torch.nn.Sequential(
        torch.nn.Linear(in_dim, hidden[0]),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden[0], hidden[1]),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden[1], 1),
    ).to(ctx.device)
    rows: list[Row] = []
    for n in sizes:
        case = f"N={n}, batch {batch}"
        if ctx.out_of_time(f"ensemble {case}"):
            continue
        fns, errors = {"one MLP": fwd_bwd(single)}, {}
        for backend in ENSEMBLE_BACKENDS:
            try:
                ens = Ensemble(n, in_dim, 1, hidden=hidden, backend=backend, seed=ctx.seed)
                fns[backend] = fwd_bwd(ens.to(ctx.device))
                fns[backend]()  # fails here, not inside the timing, if the backend cannot run
            except Exception as err:
                fns.pop(backend, None)
                errors[backend] = repr(err)[:200]
        ms = ctx.interleaved_ms(fns, repeats)
        one = ms.pop("one MLP")
        rows.append({"case": case, "variant": "one MLP (x1)", "value": one, "unit": "ms"})
        for backend in ENSEMBLE_BACKENDS:
            if backend in errors:
                rows.append(
                    {
                        "case": case,
                        "variant": backend,
                        "value": None,
                        "unit": "ms",
                        "error": errors[backend],
                    }
                )
            else:
                value = ms[backend]
                rows.append(
                    {
                        "case": case,
                        "variant": backend,
                        "value": value,
                        "unit": "ms",
                        "ratio": value / (n * one),
                    }
                )
    return rows


# ------------------------------------------------------------------ DQN gradient steps
@measurement("dqn_updates")
def dqn_updates(ctx: Context) -> list[Row]:
    from gymnasium import spaces

    from rlcore.approximation.dqn import DQN, DQNConfig

    hidden = ctx.pick((16, 16), (256, 256), (256, 256))
    updates = ctx.pick(5, 300, 3000)
    config = DQNConfig.preset("cartpole_zoo")
    config = DQNConfig(
        **{
            **config.__dict__,
            "hidden": hidden,
            "device": str(ctx.device),
            "buffer_size": 10_000,
            "learning_starts": 0,
        }
    )
    obs_space = spaces.Box(-np.inf, np.inf, (4,), dtype=np.float32)
    agent = DQN((obs_space, spaces.Discrete(2)), config=config, seed=ctx.seed)
    rng = np.random.default_rng(ctx.seed)
    k = 5_000
    obs = rng.normal(size=(k, 4)).astype(np.float32)
    agent.replay.add(obs, rng.integers(0, 2, k), rng.normal(size=k), np.full(k, 0.99), obs[::-1])
    agent._train(ctx.pick(2, 20, 100))  # warm-up (allocator, kernels)
    if ctx.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    agent._train(updates)  # the agent's training phase: sample, target, loss, Adam step
    if ctx.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    case = f"MLP {hidden}, batch {config.batch_size}, {updates} steps"
    return [
        {"case": case, "variant": "uniform replay", "value": updates / seconds, "unit": "updates/s"}
    ]


# ------------------------------------------------------------------ driver
def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} thread)"


def run(
    out_dir: str | Path,
    *,
    size: str = "full",
    device: str = "auto",
    only: tuple[str, ...] = (),
    budget_s: float = 270.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the registered measurements; print one table; write ``device_check_<type>.json``."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}.")
    unknown = [n for n in only if n not in MEASUREMENTS]
    if unknown:
        raise ValueError(f"unknown measurement(s) {unknown}; registered: {sorted(MEASUREMENTS)}.")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cpu":
        torch.set_num_threads(1)
    start = time.perf_counter()
    ctx = Context(dev, size, start + budget_s, seed)
    name = device_name(dev)
    results: dict[str, Any] = {
        "device": str(dev),
        "device_name": name,
        "torch": torch.__version__,
        "size": size,
        "measurements": {},
    }
    for key, fn in MEASUREMENTS.items():
        if only and key not in only:
            continue
        t0 = time.perf_counter()
        try:
            rows = fn(ctx)
        except Exception as err:  # one broken measurement does not lose the others
            rows = [{"case": "-", "variant": "-", "value": None, "unit": "-", "error": repr(err)}]
        for row in rows:
            row["device"] = str(dev)
        results["measurements"][key] = {"seconds": time.perf_counter() - t0, "rows": rows}
    results["seconds"] = time.perf_counter() - start
    results["skipped_for_time"] = ctx.skipped
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"device_check_{dev.type}.json"
    path.write_text(json.dumps(results, indent=1))
    print(table(results))
    print(f"wrote {path}")
    return results


def table(results: dict[str, Any]) -> str:
    """The results as one Markdown table headed by the device name."""
    lines = [
        f"device: {results['device_name']} ({results['device']}), torch {results['torch']}, "
        f"size {results['size']}, {results['seconds']:.0f} s",
        "",
        "| measurement | case | variant | value | unit | note |",
        "|---|---|---|---:|---|---|",
    ]
    for key, block in results["measurements"].items():
        for row in block["rows"]:
            value = row.get("value")
            shown = "-" if value is None else f"{value:.4g}"
            note = row.get("error", "")
            if "ratio" in row:
                note = f"ratio to N x one MLP {row['ratio']:.3f}"
            elif "q1_ms" in row:
                note = f"IQR [{row['q1_ms']:.4g}, {row['q3_ms']:.4g}], n={row['n']}"
            lines.append(
                f"| {key} | {row['case']} | {row['variant']} | {shown} | {row['unit']} | {note} |"
            )
    if results["skipped_for_time"]:
        lines.append(f"\nskipped (time budget): {', '.join(results['skipped_for_time'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="out/device_check", help="directory for the JSON")
    parser.add_argument("--quick", action="store_true", help="small sizes (CPU, < 5 min)")
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes (seconds)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda:N")
    parser.add_argument("--only", nargs="+", default=(), help=f"any of {sorted(MEASUREMENTS)}")
    parser.add_argument("--budget-s", type=float, default=270.0, help="skip cases after this")
    args = parser.parse_args()
    run(
        args.out,
        size="tiny" if args.tiny else "quick" if args.quick else "full",
        device=args.device,
        only=tuple(args.only),
        budget_s=args.budget_s,
    )
