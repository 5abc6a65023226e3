"""Sampling latency of one action chunk at batch 1 against the number of denoising steps.

    python benchmarks/diffusion_policy_latency.py --out DIR                 # CPU, small nets
    python benchmarks/diffusion_policy_latency.py --out DIR --device cuda   # eager + CUDA graph
    python benchmarks/diffusion_policy_latency.py --out DIR --device cuda --dp-unet

Networks (untrained: latency does not depend on the weights): the navigation MLP (3 x 256), a
small 1-D U-Net (64, 128, 256), and with --dp-unet Diffusion Policy's CNN, a 1-D U-Net with
down_dims (256, 512, 1024) (about 66M weights). Chunk: H = 16 actions of size 2 (--action-dim),
To = 2 observations of size 2. Methods: DDPM-100, DDIM-10 and flow matching with 1, 4, 10 Euler
steps.

Modes: "eager" everywhere; on CUDA also "cuda_graph" (the whole sampling loop captured once into
a torch.cuda.CUDAGraph and replayed: one launch per chunk) and, with --compile,
torch.compile(mode="reduce-overhead"). The card's name is written next to every number.
Targets on an H100 (issue 5): DDIM-10 with the DP-sized U-Net <= 15 ms, one-step flow <= 2 ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import rlcore.generative  # noqa: F401  (registers the networks and objectives)
from rlcore.registry import make

H, TO = 16, 2
METHODS = (  # (label, objective, steps, sample() options)
    ("ddpm-100", "objectives.diffusion", 100, {"sampler": "ddpm"}),
    ("ddim-10", "objectives.diffusion", 10, {"sampler": "ddim"}),
    ("flow-1", "objectives.flow_matching", 1, {}),
    ("flow-4", "objectives.flow_matching", 4, {}),
    ("flow-10", "objectives.flow_matching", 10, {}),
)
TARGETS_MS = {("dp_unet", "ddim-10"): 15.0, ("dp_unet", "flow-1"): 2.0}


NETS = ("mlp_3x256", "unet_small", "dp_unet")


def network(name: str, action_dim: int, obs_dim: int) -> torch.nn.Module:
    cond = TO * obs_dim
    if name == "mlp_3x256":
        return make("networks.mlp_denoiser", H * action_dim, cond, hidden=256, depth=3)
    down_dims = {"unet_small": (64, 128, 256), "dp_unet": (256, 512, 1024)}[name]
    return make("networks.unet1d", action_dim, cond, down_dims=down_dims)


def _sampler(model, net, shape, cond, steps, options):
    def sample():
        return model.sample(net, shape, cond, steps=steps, **options)

    return sample


def _time_ms(fn, device: torch.device, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def _cuda_graph(fn):
    """Capture ``fn`` (the whole sampling loop) once; replaying it re-runs every kernel.

    The noise comes from the default CUDA generator, whose Philox offset advances on each replay,
    so every replay draws fresh noise."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # warm up kernels and allocator outside the capture
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def latency(
    out_dir: str | Path,
    *,
    device: str = "cpu",
    nets: tuple[str, ...] = ("mlp_3x256", "unet_small"),
    compile_: bool = False,
    action_dim: int = 2,
    obs_dim: int = 2,
    repeats: int = 20,
    seed: int = 0,
) -> dict:
    """Median (and quartiles of) milliseconds per chunk, batch 1, for every net x method x mode."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dev = torch.device(device)
    if dev.type == "cpu":
        torch.set_num_threads(1)
    card = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    torch.manual_seed(seed)
    rows = []
    for net_name in nets:
        net = network(net_name, action_dim, obs_dim).to(dev).eval().requires_grad_(False)
        n_params = sum(p.numel() for p in net.parameters())
        shape = (1, H * action_dim) if net_name.startswith("mlp") else (1, H, action_dim)
        cond = torch.zeros(1, TO * obs_dim, device=dev)
        for label, objective, steps, options in METHODS:
            model = make(objective)
            eager = _sampler(model, net, shape, cond, steps, options)
            modes = {"eager": eager}
            if dev.type == "cuda":
                modes["cuda_graph"] = eager
                if compile_:
                    modes["compile"] = eager
            for mode, fn in modes.items():
                reps = max(3, repeats // 5) if (dev.type == "cpu" and steps == 100) else repeats
                try:
                    with torch.no_grad():
                        if mode == "cuda_graph":
                            fn = _cuda_graph(fn)
                        elif mode == "compile":
                            net_c = torch.compile(net, mode="reduce-overhead")
                            fn = _sampler(model, net_c, shape, cond, steps, options)
                        times = _time_ms(fn, dev, reps, warmup=2 if steps == 100 else 5)
                except Exception as err:  # record the failure, keep measuring the rest
                    rows.append(
                        {"net": net_name, "method": label, "mode": mode, "error": repr(err)}
                    )
                    print(f"{net_name:11s} {label:9s} {mode:10s} FAILED: {err!r}")
                    continue
                q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
                target = TARGETS_MS.get((net_name, label))
                row = {
                    "net": net_name,
                    "params": n_params,
                    "method": label,
                    "steps": steps,
                    "mode": mode,
                    "device": str(dev),
                    "card": card,
                    "median_ms": statistics.median(times),
                    "min_ms": min(times),
                    "q1_ms": q[0],
                    "q3_ms": q[2],
                    "repeats": len(times),
                    "target_ms": target,
                }
                rows.append(row)
                print(
                    f"{net_name:11s} {n_params / 1e6:6.2f}M {label:9s} {mode:10s} "
                    f"median {row['median_ms']:9.3f} ms  [{q[0]:.3f}, {q[2]:.3f}]"
                    f"  min {row['min_ms']:.3f}" + (f"  target <= {target} ms" if target else "")
                )
    result = {
        "device": str(dev),
        "card": card,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "rows": rows,
    }
    (out_dir / f"latency_{dev.type}.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="directory for latency_<device>.json")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    parser.add_argument("--dp-unet", action="store_true", help="add the 66M-weight DP U-Net")
    parser.add_argument("--nets", nargs="+", choices=NETS, default=["mlp_3x256", "unet_small"])
    parser.add_argument(
        "--compile", action="store_true", help='add torch.compile("reduce-overhead")'
    )
    parser.add_argument("--action-dim", type=int, default=2)
    parser.add_argument("--obs-dim", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    latency(
        args.out,
        device=args.device,
        nets=tuple(args.nets) + (("dp_unet",) if args.dp_unet else ()),
        compile_=args.compile,
        action_dim=args.action_dim,
        obs_dim=args.obs_dim,
        repeats=args.repeats,
    )
