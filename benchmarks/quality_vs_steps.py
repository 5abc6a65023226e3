"""Sample quality against function evaluations (NFE) for the fast samplers, on the 2-D densities
(MMD^2 to held-out data) and on rlcore/Navigation2D-v0 (success rate), in one table and one plot.

    python benchmarks/quality_vs_steps.py --out DIR [--seed 0] [--full] [--hidden 256 --depth 3]
    python benchmarks/quality_vs_steps.py --out DIR --consistency-only --seeds 0 1 2

``--hidden`` / ``--depth`` size the navigation MLP (default: the policies' default 256 x 3).

``--consistency-only`` trains, per seed, only the navigation EDM teacher and its consistency
student and evaluates the teacher (EDM-Heun-10) and the student (1 and 2 steps) on the same
episodes and seeds, side by side (the issue's "consistency 1-step within 10 % of the teacher").

Models (one MLP denoiser each, the same size and training budget per task):
- a DDPM (cosine schedule, K = 100, epsilon-prediction on the densities with x0_hat clipped to
  [-4, 4]; the navigation policy's default x0-prediction) sampled by DDPM-100, DDIM 5/10/20
  and DPM-Solver++ 5/10/20 (logSNR grid);
- an EDM model (preconditioned; sigma_data 1 on the densities, 0.5 on the [-1, 1] actions)
  sampled by EDM-Heun with 5 and 10 grid steps (9 and 19 NFE);
- a flow-matching model sampled by Euler with 1/2/5/10 steps;
- a consistency model distilled from the EDM model (CD), sampled with 1 and 2 steps (on
  navigation ``policies.consistency``'s defaults: warm-started from the teacher's weights);
- navigation only: the latent diffusion policy (chunk autoencoder, latent 8), DDIM-10, with
  its chunk latency next to the raw-chunk diffusion policy's.

Goals (issue 18): DPM-Solver++ 10 at least as good as DDIM 20; consistency 1-step within 10 %
of its teacher's success. Writes results.json, results.md and quality_vs_nfe.png. CPU, one
thread; the machine may be shared (latencies: compare rows of one run only).
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
import numpy as np  # noqa: E402
import torch  # noqa: E402
from generative_2d import QUICK, Settings, fit  # noqa: E402  (benchmarks/ is on sys.path)

from rlcore.data import collect  # noqa: E402
from rlcore.diffusion_policy import (  # noqa: E402
    NetworkConfig,
    TrainConfig,
    consistency_policy,
    diffusion_policy,
    edm_policy,
    flow_policy,
    latent_diffusion_policy,
)
from rlcore.envs.navigation import evaluate_navigation  # noqa: E402
from rlcore.generative import Diffusion, FlowMatching  # noqa: E402
from rlcore.generative.consistency import Consistency  # noqa: E402
from rlcore.generative.edm import EDM  # noqa: E402
from rlcore.generative.metrics import mmd2  # noqa: E402
from rlcore.generative.toy import sample  # noqa: E402

# (label, model family, steps, NFE, sample() options)
ROWS = (
    ("DDPM-100", "diffusion", 100, 100, {"sampler": "ddpm"}),
    ("DDIM-5", "diffusion", 5, 5, {"sampler": "ddim"}),
    ("DDIM-10", "diffusion", 10, 10, {"sampler": "ddim"}),
    ("DDIM-20", "diffusion", 20, 20, {"sampler": "ddim"}),
    ("DPM-Solver++-5", "diffusion", 5, 5, {"sampler": "dpm_solver_pp"}),
    ("DPM-Solver++-10", "diffusion", 10, 10, {"sampler": "dpm_solver_pp"}),
    ("DPM-Solver++-20", "diffusion", 20, 20, {"sampler": "dpm_solver_pp"}),
    ("EDM-Heun-5", "edm", 5, 9, {}),
    ("EDM-Heun-10", "edm", 10, 19, {}),
    ("flow-Euler-1", "flow", 1, 1, {}),
    ("flow-Euler-2", "flow", 2, 2, {}),
    ("flow-Euler-5", "flow", 5, 5, {}),
    ("flow-Euler-10", "flow", 10, 10, {}),
    ("consistency-1", "consistency", 1, 1, {}),
    ("consistency-2", "consistency", 2, 2, {}),
)
ENV_ID = "rlcore/Navigation2D-v0"


def densities_part(densities, settings: Settings, seed: int) -> list[dict]:
    rows = []
    for density in densities:
        held_out = sample(density, settings.n_eval, 10_000 + seed)
        edm = EDM(sigma_data=1.0)
        models = {
            "diffusion": Diffusion("cosine", 100, prediction="epsilon", clip_sample=4.0),
            "edm": edm,
            "flow": FlowMatching(),
        }
        nets = {}
        for family, model in models.items():
            nets[family], secs = fit(model, settings, density, seed)
            print(f"{density} {family} trained in {secs:.0f} s", flush=True)
        cd = Consistency(sigma_data=1.0).distill_from(edm, nets["edm"])
        models["consistency"] = cd
        nets["consistency"], secs = fit(cd, settings, density, seed)
        print(f"{density} consistency trained in {secs:.0f} s", flush=True)
        for label, family, steps, nfe, options in ROWS:
            with torch.no_grad():
                x = models[family].sample(
                    nets[family], (settings.n_eval, 2), steps=steps,
                    generator=torch.Generator().manual_seed(seed + 7), **options,
                )  # fmt: skip
            rows.append({"task": density, "method": label, "nfe": nfe, "mmd2": mmd2(x, held_out)})
            print(f"{density} {label:16s} NFE {nfe:3d} MMD^2 {rows[-1]['mmd2']:.4f}", flush=True)
    return rows


def _chunk_latency_ms(policy, obs, repeats=10):
    history = np.repeat(obs[None, None], policy.chunk.n_obs_steps, axis=1)
    policy.sample_chunks(history)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        policy.sample_chunks(history)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def navigation_part(
    seed: int, train_steps: int, episodes: int, network: NetworkConfig
) -> list[dict]:
    dataset = collect(ENV_ID, 100, seed=seed)
    config = TrainConfig(train_steps, 128)
    policies = {
        "diffusion": diffusion_policy(dataset, network=network, seed=seed),
        "edm": edm_policy(dataset, network=network, seed=seed),
        "flow": flow_policy(dataset, network=network, seed=seed),
        "latent": latent_diffusion_policy(dataset, network=network, seed=seed),
    }
    for family, policy in policies.items():
        t0 = time.perf_counter()
        policy.fit(dataset, config, seed=seed)
        print(f"navigation {family} trained in {time.perf_counter() - t0:.0f} s", flush=True)
    policies["consistency"] = consistency_policy(
        dataset, teacher=policies["edm"], network=network, seed=seed
    )
    policies["consistency"].fit(dataset, config, seed=seed)
    rows = []
    obs = np.asarray(dataset.observations[0])
    extra = (("latent-DDIM-10", "latent", 10, 10, {"sampler": "ddim"}),)
    for label, family, steps, nfe, options in ROWS + extra:
        policy = policies[family]
        policy.set_sampling(steps, **options)
        result = evaluate_navigation(policy, episodes, 1000 + seed)
        row = {"task": "navigation", "method": label, "nfe": nfe,
               "success": result["success_rate"], "mode_coverage": result["mode_coverage"],
               "chunk_ms": _chunk_latency_ms(policy, obs)}  # fmt: skip
        if family == "latent":
            row["reconstruction_mse"] = policy.reconstruction_error(dataset)
        rows.append(row)
        print(f"navigation {label:16s} NFE {nfe:3d} success {row['success']:.2f} "
              f"{row['chunk_ms']:.1f} ms/chunk", flush=True)  # fmt: skip
    return rows


def consistency_part(
    seeds: list[int], train_steps: int, episodes: int, network: NetworkConfig
) -> list[dict]:
    """Per seed: the EDM teacher (Heun-10) and its consistency student (1, 2 steps), evaluated
    on the same episodes (env seed 1000 + seed) with the same policy seed."""
    rows = []
    config = TrainConfig(train_steps, 128)
    for seed in seeds:
        dataset = collect(ENV_ID, 100, seed=seed)
        teacher = edm_policy(dataset, network=network, seed=seed)
        teacher.fit(dataset, config, seed=seed)
        student = consistency_policy(dataset, teacher=teacher, network=network, seed=seed)
        t0 = time.perf_counter()
        student.fit(dataset, config, seed=seed)
        secs = time.perf_counter() - t0
        for label, policy, steps in (("EDM-Heun-10", teacher, 10), ("consistency-1", student, 1),
                                     ("consistency-2", student, 2)):  # fmt: skip
            policy.set_sampling(steps)
            result = evaluate_navigation(policy, episodes, 1000 + seed)
            rows.append({"seed": seed, "method": label, "success": result["success_rate"],
                         "collision": result["collision_rate"], "distill_seconds": secs})  # fmt: skip
            print(f"seed {seed} {label:14s} success {result['success_rate']:.2f} "
                  f"collision {result['collision_rate']:.2f}", flush=True)  # fmt: skip
    return rows


def consistency_markdown(rows: list[dict]) -> str:
    seeds = sorted({r["seed"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = ["| method | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
             "|---|" + "---:|" * (len(seeds) + 1)]  # fmt: skip
    means = {}
    for m in methods:
        vals = [next(r["success"] for r in rows if r["seed"] == s and r["method"] == m)
                for s in seeds]  # fmt: skip
        means[m] = float(np.mean(vals))
        lines.append(f"| {m} | " + " | ".join(f"{v:.2f}" for v in vals) + f" | {means[m]:.3f} |")
    ratio = means["consistency-1"] / max(means["EDM-Heun-10"], 1e-12)
    verdict = "met" if ratio >= 0.9 else "not met"
    lines.append(f"\nconsistency-1 / teacher = {ratio:.2f} ({verdict}: within 10 % needs >= 0.90)")
    return "\n".join(lines) + "\n"


def markdown(rows: list[dict], tasks: list[str]) -> str:
    lines = ["| method | NFE | " + " | ".join(
        f"{t} MMD^2" if t != "navigation" else "navigation success" for t in tasks) + " |",
        "|---|---:|" + "---:|" * len(tasks)]  # fmt: skip
    methods = list(dict.fromkeys((r["method"], r["nfe"]) for r in rows))
    for method, nfe in methods:
        cells = []
        for t in tasks:
            r = [x for x in rows if x["task"] == t and x["method"] == method]
            key = "success" if t == "navigation" else "mmd2"
            cells.append(f"{r[0][key]:.4f}" if r else "-")
        lines.append(f"| {method} | {nfe} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def goals(rows: list[dict], tasks: list[str]) -> list[str]:
    out = []
    for t in tasks:
        by = {r["method"]: r for r in rows if r["task"] == t}
        if t == "navigation":
            dpm, ddim = by["DPM-Solver++-10"]["success"], by["DDIM-20"]["success"]
            cm, teacher = by["consistency-1"]["success"], by["EDM-Heun-10"]["success"]
            out.append(f"navigation: DPM-Solver++-10 success {dpm:.2f} vs DDIM-20 {ddim:.2f} "
                       f"({'met' if dpm >= ddim else 'not met'})")  # fmt: skip
            ok = cm >= 0.9 * teacher
            out.append(f"navigation: consistency-1 success {cm:.2f} vs teacher EDM-Heun-10 "
                       f"{teacher:.2f} ({'met' if ok else 'not met'}: within 10 %)")  # fmt: skip
        else:
            dpm, ddim = by["DPM-Solver++-10"]["mmd2"], by["DDIM-20"]["mmd2"]
            out.append(f"{t}: DPM-Solver++-10 MMD^2 {dpm:.4f} vs DDIM-20 {ddim:.4f} "
                       f"({'met' if dpm <= ddim else 'not met'})")  # fmt: skip
    return out


def plot(rows: list[dict], tasks: list[str], path: Path) -> None:
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.4), squeeze=False)
    families = {"DDPM": "k", "DDIM": "tab:blue", "DPM-Solver++": "tab:orange",
                "EDM-Heun": "tab:green", "flow-Euler": "tab:red", "consistency": "tab:purple",
                "latent-DDIM": "tab:brown"}  # fmt: skip
    for ax, t in zip(axes[0], tasks):
        key = "success" if t == "navigation" else "mmd2"
        for family, color in families.items():
            pts = sorted((r["nfe"], r[key]) for r in rows
                         if r["task"] == t and r["method"].rsplit("-", 1)[0] == family)  # fmt: skip
            if pts:
                ax.plot(*zip(*pts), "o-", color=color, label=family, ms=4)
        ax.set_xscale("log")
        ax.set_xlabel("function evaluations")
        ax.set_ylabel("success rate" if key == "success" else "MMD^2 (lower is better)")
        ax.set_title(t)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--skip-navigation", action="store_true")
    parser.add_argument("--consistency-only", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--episodes", type=int, default=None)
    default = NetworkConfig()  # the policies' default MLP (256 x 3)
    parser.add_argument("--hidden", type=int, default=default.hidden, help="navigation MLP width")
    parser.add_argument("--depth", type=int, default=default.depth, help="navigation MLP depth")
    args = parser.parse_args()
    torch.set_num_threads(1)
    network = NetworkConfig(hidden=args.hidden, depth=args.depth)
    if args.consistency_only:
        seeds = args.seeds or [args.seed]
        steps = 3000 if args.full else 800
        rows = consistency_part(seeds, steps, args.episodes or 100, network)
        args.out.mkdir(parents=True, exist_ok=True)
        report = consistency_markdown(rows)
        (args.out / "consistency.json").write_text(json.dumps({"rows": rows}, indent=1))
        (args.out / "consistency.md").write_text(report)
        print(report)
        return
    densities = ["eight_gaussians", "two_moons", "rings", "swiss_roll", "checkerboard"]
    if not args.full:
        densities = densities[:2]
    settings = QUICK if not args.full else Settings(train_steps=3000)
    rows = densities_part(densities, settings, args.seed)
    tasks = list(densities)
    if not args.skip_navigation:
        steps, episodes = (3000, 100) if args.full else (800, 50)
        rows += navigation_part(args.seed, steps, episodes, network)
        tasks.append("navigation")
    args.out.mkdir(parents=True, exist_ok=True)
    report = markdown(rows, tasks) + "\n" + "\n".join(f"- {g}" for g in goals(rows, tasks)) + "\n"
    (args.out / "results.json").write_text(json.dumps({"seed": args.seed, "rows": rows}, indent=1))
    (args.out / "results.md").write_text(report)
    plot(rows, tasks, args.out / "quality_vs_nfe.png")
    print(report)


if __name__ == "__main__":
    main()
