"""Benchmark 1 of issue 5: DDPM, DDIM and flow matching on 2-D densities.

    python benchmarks/generative_2d.py --out DIR            # quick (default): small nets
    python benchmarks/generative_2d.py --out DIR --full     # larger nets, longer training

For each density (eight Gaussians, two moons, rings, swiss roll, checkerboard) one MLP denoiser
is trained per objective: a diffusion (cosine schedule, K = 50 training steps, x0_hat clipped
to [-4, 4] while sampling: see the note in objectives.diffusion) for each prediction type in
--predictions, and a flow-matching model (uniform times, no shift). Samples
from the EMA weights are compared with held-out data by MMD^2 (unbiased, RBF kernels at 0.25..4
x the median distance of the held-out data) and sliced 2-Wasserstein distance (256 directions):

    diffusion: DDPM (ancestral) at 50 steps, DDIM (eta = 0) at 1, 2, 5, 10, 50 steps
    flow:      Euler at 1, 2, 5, 10 steps, Heun at 5 steps

Reference rows: a second draw of the data ("data") and N(0, I) ("noise"). Writes results.md
(tables), results.json and samples.png (a grid: densities x samplers) under --out.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from rlcore.generative import EMA, Diffusion, FlowMatching, MLPDenoiser, train  # noqa: E402
from rlcore.generative.metrics import mmd2, sliced_wasserstein  # noqa: E402
from rlcore.generative.toy import DENSITIES, sample  # noqa: E402

DIFFUSION_SAMPLERS = [("ddpm", 50)] + [("ddim", s) for s in (1, 2, 5, 10, 50)]
FLOW_SAMPLERS = [("euler", s) for s in (1, 2, 5, 10)] + [("heun", 5)]


@dataclass(frozen=True)
class Settings:
    hidden: int = 128
    depth: int = 3
    train_steps: int = 1000
    batch: int = 256
    lr: float = 1e-3
    ema_decay: float = 0.995
    num_train_steps: int = 50
    clip_sample: float | None = 4.0  # the densities lie in [-3.5, 3.5]^2
    n_eval: int = 2000


QUICK = Settings()
FULL = Settings(hidden=256, depth=4, train_steps=10_000, n_eval=5000)


def fit(model, settings: Settings, density: str, seed: int) -> tuple[torch.nn.Module, float]:
    torch.manual_seed(seed)
    net = MLPDenoiser(2, hidden=settings.hidden, depth=settings.depth)
    ema = EMA(net, decay=settings.ema_decay)
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
    gen = torch.Generator().manual_seed(seed + 1)
    batches = (sample(density, settings.batch, gen) for _ in range(settings.train_steps))
    start = time.perf_counter()
    train(model, net, batches, opt, steps=settings.train_steps, ema=ema, generator=gen)
    return ema.averaged, time.perf_counter() - start


def scores(x: torch.Tensor, held_out: torch.Tensor) -> dict[str, float]:
    sw = sliced_wasserstein(x, held_out, generator=torch.Generator().manual_seed(0))
    return {"mmd2": mmd2(x, held_out), "sw2": sw}


def benchmark_generative_2d(
    out_dir: str | Path,
    *,
    full: bool = False,
    densities: tuple[str, ...] = tuple(DENSITIES),
    predictions: tuple[str, ...] = ("epsilon", "v"),
    seed: int = 0,
    settings: Settings | None = None,
) -> dict:
    torch.set_num_threads(1)
    if settings is None:
        settings = FULL if full else QUICK
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    grid: dict[tuple[str, str], torch.Tensor] = {}
    for density in densities:
        held_out = sample(density, settings.n_eval, 10_000 + seed)
        grid[(density, "data")] = held_out
        refs = {"data": sample(density, settings.n_eval, 20_000 + seed)}
        refs["noise"] = torch.randn(settings.n_eval, 2, generator=torch.Generator().manual_seed(1))
        for name, x in refs.items():
            rows.append({"density": density, "method": name, "steps": 0, **scores(x, held_out)})
        models = [
            (
                f"{p}",
                Diffusion(
                    "cosine",
                    settings.num_train_steps,
                    prediction=p,
                    clip_sample=settings.clip_sample,
                ),
            )
            for p in predictions
        ]
        models.append(("flow", FlowMatching()))
        for label, model in models:
            net, seconds = fit(model, settings, density, seed)
            print(f"{density:16s} {label:8s} trained in {seconds:.1f} s", flush=True)
            samplers = DIFFUSION_SAMPLERS if label != "flow" else FLOW_SAMPLERS
            for sampler, steps in samplers:
                option = {"sampler": sampler} if label != "flow" else {"solver": sampler}
                with torch.no_grad():
                    x = model.sample(
                        net,
                        (settings.n_eval, 2),
                        steps=steps,
                        generator=torch.Generator().manual_seed(seed + 7),
                        **option,
                    )
                method = f"{sampler}-{label}" if label != "flow" else f"flow-{sampler}"
                grid[(density, f"{method} {steps}")] = x
                rows.append(
                    {"density": density, "method": method, "steps": steps, **scores(x, held_out)}
                )
    result = {"settings": asdict(settings), "seed": seed, "rows": rows}
    (out / "results.json").write_text(json.dumps(result, indent=1))
    (out / "results.md").write_text(markdown(rows, densities, settings))
    plot_grid(grid, densities, predictions[0], out / "samples.png")
    return result


def markdown(rows: list[dict], densities: tuple[str, ...], settings: Settings) -> str:
    keys = list(dict.fromkeys((r["method"], r["steps"]) for r in rows))
    lines = [
        f"Settings: {asdict(settings)}. MMD^2 (unbiased, RBF at 0.25..4 x median distance of "
        "the held-out data) and sliced 2-Wasserstein (256 directions), samples vs held-out data "
        f"({settings.n_eval} each).",
        "",
    ]
    for metric in ("mmd2", "sw2"):
        lines += [f"### {metric}", ""]
        lines.append("| method | steps | " + " | ".join(densities) + " |")
        lines.append("|---|---:|" + "---:|" * len(densities))
        for method, steps in keys:
            vals = {
                r["density"]: r[metric]
                for r in rows
                if (r["method"], r["steps"]) == (method, steps)
            }
            cells = " | ".join(f"{vals[d]:.4f}" for d in densities)
            lines.append(f"| {method} | {steps or '-'} | {cells} |")
        lines.append("")
    return "\n".join(lines)


def plot_grid(grid, densities, prediction, path: Path) -> None:
    columns = (
        ["data"]
        + [f"ddpm-{prediction} 50"]
        + [f"ddim-{prediction} {s}" for s in (1, 2, 5, 10, 50)]
        + [f"flow-euler {s}" for s in (1, 2, 5, 10)]
    )
    fig, axes = plt.subplots(
        len(densities),
        len(columns),
        figsize=(1.6 * len(columns), 1.6 * len(densities)),
        squeeze=False,
    )
    for i, density in enumerate(densities):
        for j, column in enumerate(columns):
            ax = axes[i, j]
            x = grid[(density, column)].numpy()
            ax.scatter(x[:, 0], x[:, 1], s=0.5, alpha=0.5, linewidths=0)
            ax.set_xlim(-3.5, 3.5)
            ax.set_ylim(-3.5, 3.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(column, fontsize=7)
            if j == 0:
                ax.set_ylabel(density, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory (created)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small settings (the default)")
    size.add_argument("--full", action="store_true", help="larger networks, longer training")
    parser.add_argument("--densities", nargs="+", default=list(DENSITIES), choices=list(DENSITIES))
    parser.add_argument(
        "--predictions", nargs="+", default=["epsilon", "v"], choices=["epsilon", "x0", "v"]
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    benchmark_generative_2d(
        args.out,
        full=args.full,
        densities=tuple(args.densities),
        predictions=tuple(args.predictions),
        seed=args.seed,
    )
    print((Path(args.out) / "results.md").read_text())


if __name__ == "__main__":
    main()
