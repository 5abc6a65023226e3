"""Held-out NLL on the 2-D densities: normalizing flows, a CNF, a score SDE and flow matching.

    python benchmarks/generative_likelihood_2d.py --out DIR                      # quick
    python benchmarks/generative_likelihood_2d.py --out DIR --seeds 5 --densities all --steps 5000

Per density and seed, six models are trained on 20,000 points with Adam (batch 256, the same
number of steps; the denoisers keep an EMA of their weights) and scored on 1,000 held-out points:

- flows.realnvp, flows.maf, flows.nsf (autoregressive): exact log p in one pass;
- flows.cnf (FFJORD): dopri5, Hutchinson trace while training (tolerance 1e-3), exact trace and
  tolerance 1e-4 for the NLL; it trains for a quarter of the steps (each step is an ODE solve);
- the VP SDE (objectives.score_matching on sdes.vp, linear schedule, MLP denoiser) and
  flow matching (objectives.flow_matching, same MLP): log p through the probability-flow ODE
  (rlcore.generative.likelihood, exact divergence, dopri5 at 1e-4; the SDE from t_min = 1e-3,
  so its NLL is that of the data blurred by N(0, 0.01^2), Song et al. use 1e-5).

Also: MMD^2 of 1,000 samples to the held-out set, the training wall-clock, and the network
evaluations per sample (the "NFE": flows' inverse passes, the ODE solvers' evaluations, the SDE
sampler's steps). Writes results.json, summary.md and densities.png (models x densities, seed 0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from rlcore.generative import (  # noqa: E402
    EMA,
    VPSDE,
    FlowMatching,
    MLPDenoiser,
    ScoreMatching,
    flows,
    train,
)
from rlcore.generative.flows import MaximumLikelihood  # noqa: E402
from rlcore.generative.likelihood import flow_matching_log_likelihood  # noqa: E402
from rlcore.generative.metrics import mmd2  # noqa: E402
from rlcore.generative.toy import DENSITIES, sample  # noqa: E402

MODELS = ("realnvp", "maf", "nsf", "cnf", "vp_sde", "flow_matching")
ODE = {"rtol": 1e-4, "atol": 1e-4}  # benchmarks/ode_likelihood_accuracy.py: error ~1e-4 nats
T_MIN = 1e-3  # the VP SDE's NLL is of p_{t_min}: the data blurred by sigma(t_min) = 0.01
CNF_STEP_FRACTION = 4  # the CNF trains for steps / 4 (each step solves an ODE, forward and back)


def batches(data: torch.Tensor, seed: int):
    g = torch.Generator().manual_seed(seed)
    while True:
        yield data[torch.randint(data.shape[0], (256,), generator=g)]


def fit(kind: str, data: torch.Tensor, steps: int, seed: int):
    """(model, net, train seconds)."""
    torch.manual_seed(seed)
    if kind in ("realnvp", "maf", "nsf", "cnf"):
        extra = {"rtol": 1e-3, "atol": 1e-3} if kind == "cnf" else {}
        net = flows.FLOWS[kind](2, **extra)
        model, ema = MaximumLikelihood(), None
    else:
        net = MLPDenoiser(2, hidden=128, depth=3)
        model = ScoreMatching(VPSDE(), t_min=T_MIN) if kind == "vp_sde" else FlowMatching()
        ema = EMA(net, decay=0.995)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    steps = max(1, steps // CNF_STEP_FRACTION) if kind == "cnf" else steps
    t0 = time.perf_counter()
    train(
        model,
        net,
        batches(data, seed),
        opt,
        steps=steps,
        ema=ema,
        generator=torch.Generator().manual_seed(seed),
        grad_clip=1.0,
    )
    seconds = time.perf_counter() - t0
    if ema is not None:
        net = ema.averaged
    net.eval()
    if kind == "cnf":
        net.transforms[0].rtol, net.transforms[0].atol = ODE["rtol"], ODE["atol"]
    return model, net, seconds


def log_prob(kind: str, model, net, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(log p(x) (N,), evaluations per solve)."""
    if kind in ("realnvp", "maf", "nsf", "cnf"):
        with torch.no_grad():
            lp = net().log_prob(x)
        return lp, (net.transforms[0].nfe if kind == "cnf" else 1)
    if kind == "vp_sde":
        out = model.log_likelihood(net, x, t_min=T_MIN, **ODE)
    else:
        out = flow_matching_log_likelihood(net, x, **ODE)
    return out.log_prob, out.nfe


def draw(kind: str, model, net, n: int, seed: int) -> tuple[torch.Tensor, int]:
    """(samples (n, 2), network evaluations per sample)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if kind in ("realnvp", "nsf"):
            return net().sample((n,), generator=g), (2 if kind == "nsf" else 1)  # AR: D passes
        if kind == "maf":
            return net().sample((n,), generator=g), 2
        if kind == "cnf":
            z = torch.randn(n, 2, generator=g)
            return net.transforms[0].sample_only(z), net.transforms[0].nfe
        if kind == "vp_sde":
            return model.sample(net, (n, 2), generator=g, steps=100), 100  # Euler-Maruyama
        return model.sample(net, (n, 2), generator=g, steps=20, solver="heun"), 39


def run(densities, seeds: int, steps: int, out: Path) -> dict:
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    rows, grids = [], {}
    for density in densities:
        for seed in range(seeds):
            data = sample(density, 20_000, seed)
            test = sample(density, 1_000, 10_000 + seed)
            for kind in MODELS:
                model, net, seconds = fit(kind, data, steps, seed)
                t0 = time.perf_counter()
                lp, nfe_ll = log_prob(kind, model, net, test)
                nll_seconds = time.perf_counter() - t0
                samples, nfe = draw(kind, model, net, 1_000, seed)
                row = {
                    "density": density,
                    "seed": seed,
                    "model": kind,
                    "nll": float(-lp.mean()),
                    "mmd2": mmd2(samples, test),
                    "train_s": seconds,
                    "nll_s": nll_seconds,
                    "nfe_sample": nfe,
                    "nfe_nll": nfe_ll,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
                if seed == 0:
                    grids[(density, kind)] = density_grid(kind, model, net)
    summary = summarise(rows, densities)
    result = {
        "steps": steps,
        "seeds": seeds,
        "densities": list(densities),
        "rows": rows,
        "summary": summary,
        "torch_threads": 1,
    }
    (out / "results.json").write_text(json.dumps(result, indent=1))
    (out / "summary.md").write_text(table(summary, densities, seeds, steps))
    plot(grids, densities, out / "densities.png")
    print(table(summary, densities, seeds, steps))
    return result


def summarise(rows, densities) -> dict:
    out: dict = {}
    for kind in MODELS:
        for density in densities:
            sel = [r for r in rows if r["model"] == kind and r["density"] == density]
            out[f"{kind}/{density}"] = {
                k: (
                    statistics.fmean(r[k] for r in sel),
                    statistics.stdev(r[k] for r in sel) if len(sel) > 1 else 0.0,
                )
                for k in ("nll", "mmd2", "train_s", "nfe_sample", "nfe_nll")
            }
    return out


def table(summary, densities, seeds: int, steps: int) -> str:
    lines = [
        f"# Held-out NLL (nats, mean +- sd over {seeds} seeds; {steps} training steps)",
        "",
        "| model | " + " | ".join(densities) + " | train s | NFE / sample | NFE / NLL |",
        "| --- | " + " | ".join("---" for _ in densities) + " | --- | --- | --- |",
    ]
    for kind in MODELS:
        cells = [
            f"{summary[f'{kind}/{d}']['nll'][0]:.3f} +- {summary[f'{kind}/{d}']['nll'][1]:.3f}"
            for d in densities
        ]
        mean = lambda k: statistics.fmean(summary[f"{kind}/{d}"][k][0] for d in densities)  # noqa: B023, E731
        lines.append(
            f"| {kind} | "
            + " | ".join(cells)
            + f" | {mean('train_s'):.0f} | {mean('nfe_sample'):.0f} | {mean('nfe_nll'):.0f} |"
        )
    lines += [
        "",
        "MMD^2 of 1,000 samples to the held-out set:",
        "",
        "| model | " + " | ".join(densities) + " |",
        "| --- | " + " | ".join("---" for _ in densities) + " |",
    ]
    for kind in MODELS:
        lines.append(
            f"| {kind} | "
            + " | ".join(f"{summary[f'{kind}/{d}']['mmd2'][0]:.4f}" for d in densities)
            + " |"
        )
    return "\n".join(lines) + "\n"


def density_grid(kind, model, net, n: int = 48) -> torch.Tensor:
    axis = torch.linspace(-4, 4, n)
    grid = torch.cartesian_prod(axis, axis)
    lp, _ = log_prob(kind, model, net, grid)
    return lp.detach().exp().reshape(n, n).T


def plot(grids, densities, path: Path) -> None:
    fig, axes = plt.subplots(
        len(MODELS),
        len(densities),
        figsize=(2.2 * len(densities), 2.2 * len(MODELS)),
        squeeze=False,
    )
    for i, kind in enumerate(MODELS):
        for j, density in enumerate(densities):
            ax = axes[i][j]
            ax.imshow(
                grids[(density, kind)].numpy(), origin="lower", extent=(-4, 4, -4, 4), cmap="magma"
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(density, fontsize=9)
            if j == 0:
                ax.set_ylabel(kind, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument(
        "--densities",
        default="eight_gaussians,two_moons,checkerboard",
        help="comma-separated names, or 'all'",
    )
    args = parser.parse_args()
    names = sorted(DENSITIES) if args.densities == "all" else args.densities.split(",")
    run(names, args.seeds, args.steps, args.out)
