"""Batch-1 action-chunk latency per sampler and network: rlcore's eager loop, its capture-safe
static loop, and diffusers' scheduler loop driving the same denoiser.

    python benchmarks/chunk_latency.py --out DIR [--device cpu] [--repeats 20] [--dp-size]

A chunk is H = 16 actions of size 2 given a condition of 20 (Diffusion Policy's shapes at
To = 2 on a 10-D observation). Networks: ``networks.unet1d`` (down_dims (64, 128, 256); with
--dp-size Diffusion Policy's (256, 512, 1024), about 66M weights) and ``networks.dit1d``
(width 256, depth 8, 4 heads). Rows: DDIM-10, DPM-Solver++-10 (rlcore eager loop, the static
loop of ``rlcore.generative.capture``, diffusers' DDIMScheduler / DPMSolverMultistepScheduler
loop), EDM-Heun-5 (9 calls), one-step consistency (1 call). Untrained weights: latency only.

``chunk_latency(...)`` is importable (benchmarks/device_check.py adds a GPU row with it); on a
CUDA device it can wrap the static loop in a CUDA graph (``graph=True``).
Timings are medians of ``repeats`` calls after warm-up, on one CPU thread here (a shared
machine: compare rows of one run, not across runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import torch
from diffusion_policy_latency import _cuda_graph  # benchmarks/ is on sys.path

from rlcore.generative import Diffusion
from rlcore.generative.capture import sample_static, static_plan
from rlcore.generative.consistency import Consistency
from rlcore.generative.dit import DiT1D
from rlcore.generative.edm import EDM
from rlcore.generative.networks import UNet1D

HORIZON, ACTION_DIM, COND_DIM = 16, 2, 20
NUM_TRAIN_STEPS = 100


def build_network(kind: str, dp_size: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "unet":
        dims = (256, 512, 1024) if dp_size else (64, 128, 256)
        return UNet1D(ACTION_DIM, COND_DIM, down_dims=dims).eval()
    if kind == "dit":
        return DiT1D(ACTION_DIM, COND_DIM, width=256, depth=8, heads=4).eval()
    raise ValueError(f"network must be 'unet' or 'dit', got {kind!r}.")


def _diffusers_scheduler(model: Diffusion, sampler: str):
    import diffusers

    ab = model.alpha_bar
    betas = (1 - ab / torch.cat([torch.ones(1, dtype=ab.dtype), ab[:-1]])).numpy()
    common = dict(
        num_train_timesteps=NUM_TRAIN_STEPS,
        trained_betas=betas,
        timestep_spacing="trailing",
        prediction_type="epsilon",
    )
    if sampler == "ddim":
        return diffusers.DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=True)
    return diffusers.DPMSolverMultistepScheduler(**common, solver_order=2)


def _runner(net, loop: str, sampler: str, steps: int, device, graph: bool):
    """A zero-argument function that samples one chunk (batch 1)."""
    shape = (1, HORIZON, ACTION_DIM)
    cond = torch.randn(1, COND_DIM, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    if sampler in ("edm_heun", "consistency"):
        model = EDM(solver="heun") if sampler == "edm_heun" else Consistency()
        return lambda: model.sample(net, shape, cond, steps=steps, generator=gen, device=device)
    model = Diffusion("cosine", NUM_TRAIN_STEPS, prediction="epsilon")
    if loop == "eager":
        return lambda: model.sample(
            net, shape, cond, steps=steps, sampler=sampler, generator=gen, device=device
        )
    if loop == "static":
        plan = static_plan(model, sampler, steps, device=device)
        x_T = torch.randn(shape, generator=gen, device=device)
        run = lambda: sample_static(net, plan, x_T, cond)  # noqa: E731
        return _cuda_graph(run) if graph else run
    scheduler = _diffusers_scheduler(model, sampler)

    def run():
        scheduler.set_timesteps(steps, device=device)
        x = torch.randn(shape, generator=gen, device=device)
        for k in scheduler.timesteps:
            t = ((k + 1) / NUM_TRAIN_STEPS).to(x.dtype).expand(1)
            x = scheduler.step(net(x, t, cond), k, x).prev_sample
        return x

    return run


def _timed(run, sync) -> float:
    t0 = time.perf_counter()
    run()
    sync()
    return (time.perf_counter() - t0) * 1e3


def compare_loops(
    network: str,
    sampler: str,
    steps: int,
    loops: tuple[str, ...],
    *,
    device: str = "cpu",
    repeats: int = 20,
    dp_size: bool = False,
) -> dict[str, float]:
    """Median ms per loop, the loops timed in turn (interleaved) on the same network, so that a
    shared machine's load shifts them alike."""
    net = build_network(network, dp_size).to(device)
    runs = {loop: _runner(net, loop, sampler, steps, device, False) for loop in loops}
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    times: dict[str, list[float]] = {loop: [] for loop in loops}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # diffusers' NumPy 2 deprecation notice
        for run in runs.values():
            run()
        for r in range(repeats):
            order = loops[r % len(loops) :] + loops[: r % len(loops)]
            for loop in order:
                times[loop].append(_timed(runs[loop], sync))
    return {loop: statistics.median(v) for loop, v in times.items()}


def chunk_latency(
    network: str = "unet",
    sampler: str = "ddim",
    steps: int = 10,
    loop: str = "eager",
    *,
    device: str = "cpu",
    repeats: int = 20,
    dp_size: bool = False,
    graph: bool = False,
) -> float:
    """Median milliseconds to sample one (1, 16, 2) chunk.

    Args:
        network: "unet" or "dit".
        sampler: "ddim", "dpm_solver_pp", "edm_heun" or "consistency".
        loop: "eager" (rlcore's samplers), "static" (``generative.capture``) or "diffusers"
            (diffusers' scheduler; ddim and dpm_solver_pp only).
        graph: on CUDA with loop="static", replay a captured CUDA graph.
    """
    net = build_network(network, dp_size).to(device)
    run = _runner(net, loop, sampler, steps, device, graph)
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # diffusers' NumPy 2 deprecation notice
        for _ in range(3):
            run()
        sync()
        return statistics.median(_timed(run, sync) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--dp-size", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = []
    for network in ("unet", "dit"):
        for sampler, steps, loops in (
            ("ddim", 10, ("eager", "static", "diffusers")),
            ("dpm_solver_pp", 10, ("eager", "static", "diffusers")),
            ("edm_heun", 5, ("eager",)),
            ("consistency", 1, ("eager",)),
        ):
            medians = compare_loops(
                network, sampler, steps, loops, device=args.device, repeats=args.repeats,
                dp_size=args.dp_size,
            )  # fmt: skip
            for loop, ms in medians.items():
                results.append({"network": network, "sampler": sampler, "steps": steps,
                                "loop": loop, "ms": ms})  # fmt: skip
                print(f"{network:5s} {sampler:14s} {steps:3d} {loop:9s} {ms:8.2f} ms", flush=True)
    lines = ["| network | sampler | steps | rlcore eager ms | static ms | diffusers ms | "
             "diffusers / eager |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for network in ("unet", "dit"):
        for sampler, steps in (("ddim", 10), ("dpm_solver_pp", 10), ("edm_heun", 5),
                               ("consistency", 1)):  # fmt: skip
            row = {r["loop"]: r["ms"] for r in results
                   if r["network"] == network and r["sampler"] == sampler}  # fmt: skip
            ratio = row["diffusers"] / row["eager"] if "diffusers" in row else float("nan")
            cells = [f"{row[k]:.2f}" if k in row else "-" for k in ("eager", "static", "diffusers")]
            lines.append(f"| {network} | {sampler} | {steps} | " + " | ".join(cells)
                         + f" | {ratio:.2f} |")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.json").write_text(json.dumps(results, indent=2))
    (args.out / "latency.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
