"""Held-out NLL on the 2-D densities: normalizing flows, a CNF, a score SDE and flow matching.

    python benchmarks/generative_likelihood_2d.py --out DIR                      # quick
    python benchmarks/generative_likelihood_2d.py --out DIR --seeds 5 --densities all

Per density, six models are trained under S seeds (each seed its own 20,000 training points,
initialisation and batches) and scored on each seed's 1,000 held-out points. The S seeds of a
model train together as one :class:`~rlcore.generative.seed_stack.SeedStack` (S copies in one
vectorised call, the gradient clipped per copy; each copy's update is its own seed's update), so
5 seeds cost about as much CPU as 2 to 3 separate ones. Training budget (``--steps``, default
500; the CNF ``--cnf-steps``, default 200, each a dopri5 solve with an exact trace, about 8x the
cost of an NSF step): Adam 1e-3 (CNF 3e-3), batch 256 per seed,
gradient norm clipped to 1 per seed, the denoisers keep an EMA (0.995) of their weights.

- flows.realnvp, flows.maf, flows.nsf (autoregressive): exact log p in one pass;
- flows.cnf (FFJORD): tanh field with concat-squash time layers, exact trace also in training
  (2-D: two backward passes), dopri5 at 1e-3 while training, 1e-4 for the NLL;
- the VP SDE (objectives.score_matching on sdes.vp, linear schedule) and flow matching
  (objectives.flow_matching), both an MLPDenoiser(hidden 64, depth 2): log p through the
  probability-flow ODE (rlcore.generative.likelihood, exact divergence, dopri5 at 1e-3; the SDE
  from t_min = 1e-3, so its NLL is that of the data blurred by N(0, 0.01^2)).

Also: MMD^2 of 1,000 samples to the held-out set, the training wall-clock (of all S seeds
together), and the network evaluations per sample (the "NFE": flows' inverse passes, the ODE
solvers' evaluations, the SDE sampler's steps). Cells are mean +- 95% CI half-width
(t-distribution over seeds). Writes results.json, summary.md and densities.png (models x
densities, seed 0). Torch runs on one thread. ``--combine DIR ...`` merges the results.json of
runs over disjoint sets of densities (e.g. one process per density) into one table and plot.
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
from scipy import stats  # noqa: E402
from torch import nn  # noqa: E402

from rlcore.generative import (  # noqa: E402
    EMA,
    VPSDE,
    FlowMatching,
    MLPDenoiser,
    ScoreMatching,
    flows,
    train,
)
from rlcore.generative.flows import ContinuousTransform, Flow, VelocityMLP  # noqa: E402
from rlcore.generative.flows.core import base_log_prob  # noqa: E402
from rlcore.generative.likelihood import flow_matching_log_likelihood  # noqa: E402
from rlcore.generative.metrics import mmd2  # noqa: E402
from rlcore.generative.seed_stack import SeedStack, clip_grad_norm_per_copy_  # noqa: E402
from rlcore.generative.toy import DENSITIES, sample  # noqa: E402

MODELS = ("realnvp", "maf", "nsf", "cnf", "vp_sde", "flow_matching")
FLOW_KINDS = ("realnvp", "maf", "nsf")
ODE = {"rtol": 1e-3, "atol": 1e-3}  # ode_likelihood_accuracy.py: VP error ~2e-4 nats at 1e-3
CNF_EVAL = {"rtol": 1e-4, "atol": 1e-4}
CNF_TRAIN = {"rtol": 1e-3, "atol": 1e-3}
GRID_ODE = {"rtol": 1e-3, "atol": 1e-3}  # the density plots only
T_MIN = 1e-3  # the VP SDE's NLL is of p_{t_min}: the data blurred by sigma(t_min) = 0.01
BATCH = 256


class _LogProb(nn.Module):
    """x -> log p(x) of a discrete flow, without the input checks (they run once, outside)."""

    def __init__(self, flow: Flow) -> None:
        super().__init__()
        self.flow = flow

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, ladj = self.flow.transform(x, None)
        return base_log_prob(z) + ladj


class _StackedNLL:
    """-log p of a stack of flows: loss = S * mean over the S*B rows (each copy: its own mean)."""

    def loss(self, net, x0, cond=None, *, generator=None, cond_dropout=0.0):
        return -net(x0).mean() * net.copies


class _Scaled:
    """``model.loss`` times S, so each copy of a stack receives its own loss's gradient."""

    def __init__(self, model, copies: int) -> None:
        self.model, self.copies = model, copies

    def loss(self, net, x0, cond=None, **kwargs):
        return self.model.loss(net, x0, cond, **kwargs) * self.copies


def batches(datasets: list[torch.Tensor], seeds: list[int]):
    """Each seed's own batch of 256 from its own data, stacked: (S * 256, 2)."""
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    while True:
        yield torch.cat(
            [d[torch.randint(d.shape[0], (BATCH,), generator=g)] for d, g in zip(datasets, gens)]
        )


def build(kind: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    if kind in FLOW_KINDS:
        return _LogProb(flows.FLOWS[kind](2))
    if kind == "cnf":
        return VelocityMLP(2, 0, (64, 64, 64), "tanh", "concatsquash")
    return MLPDenoiser(2, hidden=64, depth=2)


def cnf_flow(velocity: nn.Module, tolerances: dict) -> Flow:
    return Flow(
        [ContinuousTransform(velocity, "dopri5", train_divergence="exact", **tolerances)], 2
    )


def fit(kind: str, datasets: list[torch.Tensor], seeds: list[int], steps: int, cnf_steps: int):
    """(objective, trained stack (or the CNF flow around it), train seconds for all seeds)."""
    stack = SeedStack([build(kind, s) for s in seeds])
    s = stack.copies
    if kind in FLOW_KINDS:
        model, net, ema, lr = _StackedNLL(), stack, None, 1e-3
    elif kind == "cnf":
        model, net, ema, lr = (
            _Scaled(flows.MaximumLikelihood(), s),
            cnf_flow(stack, CNF_TRAIN),
            None,
            3e-3,
        )
        steps = cnf_steps
    else:
        objective = ScoreMatching(VPSDE(), t_min=T_MIN) if kind == "vp_sde" else FlowMatching()
        model, net, ema, lr = _Scaled(objective, s), stack, EMA(stack, decay=0.995), 1e-3
    opt = torch.optim.Adam(net.parameters(), lr=lr)

    def clip(*_) -> None:
        clip_grad_norm_per_copy_(stack, 1.0)

    opt.register_step_pre_hook(clip)
    t0 = time.perf_counter()
    train(
        model,
        net,
        batches(datasets, seeds),
        opt,
        steps=steps,
        ema=ema,
        generator=torch.Generator().manual_seed(seeds[0]),
    )
    seconds = time.perf_counter() - t0
    if ema is not None:
        net = ema.averaged
    if kind == "cnf":
        net = cnf_flow(stack, CNF_EVAL)
    net.eval()
    objective = model.model if isinstance(model, _Scaled) else model
    return objective, net, seconds


def log_prob(kind: str, model, net, x: torch.Tensor, tolerances: dict | None = None):
    """(log p(x) (S*N,), evaluations per solve); x holds S groups of N rows, one per seed."""
    if kind in FLOW_KINDS:
        with torch.no_grad():
            return net(x), 1
    if kind == "cnf":
        transform = net.transforms[0]
        if tolerances is not None:
            transform.rtol, transform.atol = tolerances["rtol"], tolerances["atol"]
        with torch.no_grad():
            lp = net().log_prob(x)
        transform.rtol, transform.atol = CNF_EVAL["rtol"], CNF_EVAL["atol"]
        return lp, transform.nfe
    tolerances = tolerances or ODE
    if kind == "vp_sde":
        out = model.log_likelihood(net, x, t_min=T_MIN, **tolerances)
    else:
        out = flow_matching_log_likelihood(net, x, **tolerances)
    return out.log_prob, out.nfe


def draw(kind: str, model, net, n: int, seed: int) -> tuple[torch.Tensor, int]:
    """(samples (S*n, 2), network evaluations per sample): S groups of n, one per seed."""
    g = torch.Generator().manual_seed(seed)
    if kind in FLOW_KINDS:
        flows_ = [net.unstack(_LogProb(flows.FLOWS[kind](2)), i).flow for i in range(net.copies)]
        with torch.no_grad():
            x = torch.cat([f().sample((n,), generator=g) for f in flows_])
        return x, (1 if kind == "realnvp" else 2)  # autoregressive inverses: D passes
    if kind == "cnf":
        z = torch.randn(net.transforms[0].velocity.copies * n, 2, generator=g)
        with torch.no_grad():
            return net.transforms[0].sample_only(z), net.transforms[0].nfe
    s = net.copies
    with torch.no_grad():
        if kind == "vp_sde":
            return model.sample(net, (s * n, 2), generator=g, steps=100), 100  # Euler-Maruyama
        return model.sample(net, (s * n, 2), generator=g, steps=20, solver="heun"), 39


def ci95(values: list[float]) -> float:
    """Half-width of the 95% t-interval of the mean (0 for one value)."""
    if len(values) < 2:
        return 0.0
    return float(
        stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    )


def run(densities, seeds: int, steps: int, cnf_steps: int, out: Path, models=MODELS) -> dict:
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    seed_list = list(range(seeds))
    rows, grids = [], {}
    t_start = time.perf_counter()
    for density in densities:
        datasets = [sample(density, 20_000, s) for s in seed_list]
        tests = [sample(density, 1_000, 10_000 + s) for s in seed_list]
        test = torch.cat(tests)
        for kind in models:
            model, net, seconds = fit(kind, datasets, seed_list, steps, cnf_steps)
            t0 = time.perf_counter()
            lp, nfe_ll = log_prob(kind, model, net, test)
            nll_seconds = time.perf_counter() - t0
            samples, nfe = draw(kind, model, net, 1_000, 0)
            for i, seed in enumerate(seed_list):
                part = slice(i * 1_000, (i + 1) * 1_000)
                row = {
                    "density": density,
                    "seed": seed,
                    "model": kind,
                    "nll": float(-lp[part].mean()),
                    "mmd2": mmd2(samples[part], tests[i]),
                    "train_s": seconds,
                    "nll_s": nll_seconds,
                    "nfe_sample": nfe,
                    "nfe_nll": nfe_ll,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
            grids[(density, kind)] = density_grid(kind, model, net)
            print(f"# {density} {kind} done at {time.perf_counter() - t_start:.0f} s", flush=True)
            partial = {
                "rows": rows,
                "grids": {f"{d}/{k}": g.tolist() for (d, k), g in grids.items()},
            }
            (out / "partial.json").write_text(json.dumps(partial))
    result = {
        "steps": steps,
        "cnf_steps": cnf_steps,
        "seeds": seeds,
        "densities": list(densities),
        "rows": rows,
        "grids": {f"{d}/{k}": g.tolist() for (d, k), g in grids.items()},
        "torch_threads": 1,
        "wall_s": time.perf_counter() - t_start,
    }
    return write(result, out)


def write(result: dict, out: Path) -> dict:
    """results.json, summary.md and densities.png from the rows and seed 0's grids."""
    densities = result["densities"]
    models = result.setdefault(
        "models", [m for m in MODELS if any(r["model"] == m for r in result["rows"])]
    )
    result["summary"] = summarise(result["rows"], densities, models)
    grids = {tuple(k.split("/")): torch.tensor(v) for k, v in result["grids"].items()}
    text = table(
        result["summary"], densities, result["seeds"], result["steps"], result["cnf_steps"], models
    )
    (out / "results.json").write_text(json.dumps(result, indent=1))
    (out / "summary.md").write_text(text)
    plot(grids, densities, out / "densities.png", models)
    print(text)
    return result


def combine(sources: list[Path], out: Path, grids_from=(), settings: dict | None = None) -> dict:
    """One table from runs with the same settings over parts of the (density, model) grid.

    ``sources``: run directories (their results.json, or the partial.json of a run stopped
    early) or stdout logs (their JSON rows). ``settings``: steps, cnf_steps and seeds of the
    runs, checked against every results.json. ``grids_from``: runs whose seed-0 density grids
    fill the plot where the sources have none (e.g. a one-seed run of the same models: flows
    train deterministically, so its seed 0 is the same model up to rounding)."""
    keys = ("steps", "cnf_steps", "seeds")
    settings = dict(settings or {})
    rows, grids, walls = [], {}, []
    for src in sources:
        if src.suffix == ".log":
            lines = src.read_text().splitlines()
            rows += [json.loads(line) for line in lines if line.startswith("{")]
            continue
        done = src / "results.json"
        part = json.loads((done if done.exists() else src / "partial.json").read_text())
        if done.exists():
            for k in keys:
                if settings.setdefault(k, part[k]) != part[k]:
                    raise ValueError(f"--combine: {src} has {k}={part[k]}, not {settings[k]}.")
            walls.append(part["wall_s"])
        rows += part["rows"]
        grids.update(part["grids"])
    for extra in grids_from:
        done = extra / "results.json"
        for k, v in json.loads((done if done.exists() else extra / "partial.json").read_text())[
            "grids"
        ].items():
            grids.setdefault(k, v)
    missing = [k for k in keys if k not in settings]
    if missing:
        raise ValueError(f"--combine needs {missing}: pass them as --steps/--cnf-steps/--seeds.")
    merged = {k: settings[k] for k in keys}
    merged["torch_threads"] = 1
    merged["densities"] = list(dict.fromkeys(r["density"] for r in rows))
    merged["models"] = [m for m in MODELS if any(r["model"] == m for r in rows)]
    merged["rows"] = rows
    merged["grids"] = grids
    merged["wall_s"] = walls
    out.mkdir(parents=True, exist_ok=True)
    return write(merged, out)


def summarise(rows, densities, models=MODELS) -> dict:
    out: dict = {}
    for kind in models:
        for density in densities:
            sel = [r for r in rows if r["model"] == kind and r["density"] == density]
            if not sel:  # a cell of a run stopped early
                continue
            out[f"{kind}/{density}"] = {
                k: (
                    statistics.fmean(r[k] for r in sel),
                    ci95([r[k] for r in sel]),
                )
                for k in ("nll", "mmd2", "train_s", "nfe_sample", "nfe_nll")
            }
    return out


def table(summary, densities, seeds: int, steps: int, cnf_steps: int, models=MODELS) -> str:
    lines = [
        f"# Held-out NLL (nats, mean +- 95% CI half-width over {seeds} seeds; {steps} training "
        f"steps, CNF {cnf_steps}; train s: all seeds together)",
        "",
        "| model | " + " | ".join(densities) + " | train s | NFE / sample | NFE / NLL |",
        "| --- | " + " | ".join("---" for _ in densities) + " | --- | --- | --- |",
    ]
    for kind in models:
        have = [d for d in densities if f"{kind}/{d}" in summary]
        cells = [
            f"{summary[f'{kind}/{d}']['nll'][0]:.3f} +- {summary[f'{kind}/{d}']['nll'][1]:.3f}"
            if d in have
            else "not run"
            for d in densities
        ]
        mean = lambda k: statistics.fmean(summary[f"{kind}/{d}"][k][0] for d in have)  # noqa: B023, E731
        lines.append(
            f"| {kind} | "
            + " | ".join(cells)
            + f" | {mean('train_s'):.0f} | {mean('nfe_sample'):.0f} | {mean('nfe_nll'):.0f} |"
        )
    lines += [
        "",
        "MMD^2 of 1,000 samples to the held-out set (mean +- 95% CI half-width):",
        "",
        "| model | " + " | ".join(densities) + " |",
        "| --- | " + " | ".join("---" for _ in densities) + " |",
    ]
    for kind in models:
        lines.append(
            f"| {kind} | "
            + " | ".join(
                f"{summary[f'{kind}/{d}']['mmd2'][0]:.4f} +- {summary[f'{kind}/{d}']['mmd2'][1]:.4f}"
                if f"{kind}/{d}" in summary
                else "not run"
                for d in densities
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def first_seed(kind: str, net) -> nn.Module:
    """Seed 0's model out of the stack (a plain module: the grid needs no other seed)."""
    if kind == "cnf":
        return cnf_flow(net.transforms[0].velocity.unstack(build(kind, 0), 0), CNF_EVAL).eval()
    return net.unstack(build(kind, 0), 0).eval()


def density_grid(kind, model, net, n: int = 40) -> torch.Tensor:
    """Seed 0's p on an n x n grid over [-4, 4]^2."""
    axis = torch.linspace(-4, 4, n)
    grid = torch.cartesian_prod(axis, axis)
    lp, _ = log_prob(kind, model, first_seed(kind, net), grid, GRID_ODE)
    return lp.detach().exp().reshape(n, n).T


def plot(grids, densities, path: Path, models=MODELS) -> None:
    fig, axes = plt.subplots(
        len(models),
        len(densities),
        figsize=(2.2 * len(densities), 2.2 * len(models)),
        squeeze=False,
    )
    for i, kind in enumerate(models):
        for j, density in enumerate(densities):
            ax = axes[i][j]
            if (density, kind) in grids:  # a run stopped early may lack some
                ax.imshow(
                    grids[(density, kind)].numpy(),
                    origin="lower",
                    extent=(-4, 4, -4, 4),
                    cmap="magma",
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
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--cnf-steps", type=int, default=200)
    parser.add_argument(
        "--densities",
        default="eight_gaussians,two_moons,checkerboard",
        help="comma-separated names, or 'all'",
    )
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    parser.add_argument(
        "--combine", nargs="+", type=Path, help="merge these runs' results (dirs or stdout logs)"
    )
    parser.add_argument("--grids-from", nargs="*", type=Path, default=(), help="see combine()")
    args = parser.parse_args()
    if args.combine:
        settings = {"steps": args.steps, "cnf_steps": args.cnf_steps, "seeds": args.seeds}
        combine(args.combine, args.out, args.grids_from, settings)
        raise SystemExit
    names = sorted(DENSITIES) if args.densities == "all" else args.densities.split(",")
    models = tuple(m for m in args.models.split(",") if m)
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown --models {unknown}; choose from {list(MODELS)}")
    run(names, args.seeds, args.steps, args.cnf_steps, args.out, models)
