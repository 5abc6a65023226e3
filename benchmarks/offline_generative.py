"""Offline RL with generative policies (issue 16): the multimodal bandit, the point-mass maze,
and the cost of the generative agents. Seeds, IQM and bootstrap CIs; plots and a summary.

    python benchmarks/offline_generative.py bandit --out DIR [--seeds 5] [--steps 600]
    python benchmarks/offline_generative.py maze --out DIR [--layout umaze] [--seeds 5]
    python benchmarks/offline_generative.py cost --out DIR
    python benchmarks/offline_generative.py reference        # maze random / expert returns

bandit: fraction of actions in the rewarded mode (400 actions per seed) for Gaussian BC, diffusion
BC (the behaviour model's own sample), Diffusion-QL (eta 2.5, one sample), IDQL (N = 64, argmax),
and propose-and-rank (the diffusion BC model proposes 64, an IQL critic ensemble of 1, 2, 5, 10
members ranks with ensembles.min); writes bandit.json, bandit.md and bandit_actions.png (each
policy's actions over the data, seed 0).
maze: normalised D4RL score of Diffuser (guided, unguided), Decision Diffuser (goal), IDQL,
Diffusion-QL and Gaussian BC on envs.point_maze_dataset data.
cost: training seconds per 1,000 gradient steps (IDQL with 5 denoising steps; Diffusion-QL with
and without EDP) and batch-1 action latency against denoising steps and candidates.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import rlcore  # noqa: E402
from rlcore.data import collect  # noqa: E402
from rlcore.diffusion_policy import (  # noqa: E402
    IDQL,
    ActionModelConfig,
    ChunkConfig,
    DecisionDiffuser,
    Diffuser,
    DiffusionQL,
    DiffusionQLConfig,
    IDQLConfig,
    NetworkConfig,
    PlannerConfig,
    ProposeAndRank,
    TrainConfig,
    gaussian_bc_policy,
)
from rlcore.envs.bandit import in_rewarded_mode  # noqa: E402
from rlcore.envs.point_maze import (  # noqa: E402
    ENV_IDS,
    PointMazeEnv,
    PointMazeExpert,
    normalized_score,
    point_maze_dataset,
)
from rlcore.stats import bootstrap_ci, iqm  # noqa: E402

BANDIT = "rlcore/MultimodalBandit-v0"


def _summary(values: list[float]) -> dict[str, float]:
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return {"iqm": float(x.mean()), "low": float(x.min()), "high": float(x.max()), "n": len(x)}
    ci = bootstrap_ci(x, "iqm")
    return {"iqm": float(iqm(x)), "low": float(ci.low), "high": float(ci.high), "n": len(x)}


# ---------------------------------------------------------------------------- bandit
def bandit_policies(data, seed: int, steps: int, hidden: int):
    """name -> a callable s (B, 1) -> actions (B, 2), all trained on ``data`` with ``seed``."""
    actor = ActionModelConfig(hidden=hidden, depth=2)
    out = {}
    bc = gaussian_bc_policy(
        data, chunk=ChunkConfig(1, 1, 1), network=NetworkConfig(hidden=hidden, depth=2), seed=seed
    )
    bc.fit(data, TrainConfig(steps=steps // 2, batch_size=128), seed=seed)
    out["gaussian_bc"] = lambda s: torch.as_tensor(bc.sample_chunks(s.numpy()[:, None])[:, 0])
    idql = IDQL(data, IDQLConfig(gamma=0.0, hidden=hidden, batch_size=128, actor=actor), seed=seed)
    idql.fit(steps)
    out["diffusion_bc"] = lambda s: idql.actor_sample(s)
    out["idql"] = idql.choose
    dql = DiffusionQL(
        data,
        DiffusionQLConfig(eta=2.5, gamma=0.0, hidden=hidden, batch_size=128, actor=actor),
        seed=seed,
    )
    dql.fit(2 * steps)
    out["diffusion_ql"] = dql.choose
    for m in (1, 2, 5, 10):
        critic = IDQL(
            data,
            IDQLConfig(
                gamma=0.0,
                hidden=hidden,
                batch_size=128,
                critics=m,
                actor=ActionModelConfig(hidden=8, depth=1),
            ),
            seed=seed,
        )
        critic.fit_critic(steps)
        ranker = ProposeAndRank(idql.propose, critic.value, "ensembles.min", 64, seed=seed)
        out[f"propose_rank_{m}"] = ranker.choose
    return out


def bandit(out: Path, seeds: int, steps: int, hidden: int = 64, n_data: int = 1000) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    scores: dict[str, list[float]] = {}
    scatter = {}
    for seed in range(seeds):
        data = collect(BANDIT, n_data, seed=seed)
        for name, choose in bandit_policies(data, seed, steps, hidden).items():
            with torch.no_grad():
                a = choose(torch.zeros(400, 1)).numpy()
            scores.setdefault(name, []).append(float(in_rewarded_mode(a).mean()))
            if seed == 0:
                scatter[name] = a
            print(f"seed {seed} {name}: {scores[name][-1]:.3f}", flush=True)
        if seed == 0:
            scatter["data"] = data.actions
    summary = {name: _summary(v) for name, v in scores.items()}
    (out / "bandit.json").write_text(json.dumps({"scores": scores, "summary": summary}, indent=1))
    lines = ["| policy | rewarded-mode fraction, IQM [95% CI] | seeds |", "|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['iqm']:.3f} [{s['low']:.3f}, {s['high']:.3f}] | {s['n']} |")
    (out / "bandit.md").write_text("\n".join(lines) + "\n")
    names = [n for n in scatter if n != "data"]
    fig, axes = plt.subplots(2, (len(names) + 1) // 2, figsize=(3 * ((len(names) + 1) // 2), 6))
    for ax, name in zip(axes.ravel(), names):
        ax.scatter(*scatter["data"].T, s=2, c="0.7")
        ax.scatter(*scatter[name].T, s=4, c="C3")
        ax.set(xlim=(-1, 1), ylim=(-1, 1), title=f"{name}: {scores[name][0]:.2f}", aspect="equal")
    fig.tight_layout()
    fig.savefig(out / "bandit_actions.png", dpi=100)
    plt.close(fig)
    print("\n".join(lines))
    return summary


# ---------------------------------------------------------------------------- maze
def maze(out: Path, layout: str, seeds: int, steps: int, episodes: int, n_data: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    goal = PointMazeEnv(layout).goal
    horizon = {"umaze": 32, "medium": 64, "large": 64}[layout]
    cfg = PlannerConfig(horizon=horizon, steps=steps, replan_every=8)
    scores: dict[str, list[float]] = {}
    for seed in range(seeds):
        data = point_maze_dataset(layout, n_data, seed=seed)
        agents = _maze_agents(data, cfg, goal, seed, steps)
        for name, build in agents.items():
            t = time.perf_counter()
            policy = build()
            history = rlcore.run(
                policy, ENV_IDS[layout], episodes=episodes, seed=1000 + seed, progress=False
            )
            score = normalized_score(layout, float(np.mean(history.returns)))
            scores.setdefault(name, []).append(score)
            print(f"seed {seed} {name}: {score:.1f} ({time.perf_counter() - t:.0f} s)", flush=True)
    summary = {name: _summary(v) for name, v in scores.items()}
    (out / f"maze_{layout}.json").write_text(json.dumps({"scores": scores, "summary": summary}))
    return summary


def _maze_agents(data, cfg, goal, seed, steps):
    actor = ActionModelConfig(hidden=256, depth=3)
    return {
        "diffuser": lambda: Diffuser(data, cfg, goal=goal, seed=seed).fit(),
        "diffuser_guided": lambda: Diffuser(
            data, cfg, goal=goal, guidance_scale=0.1, seed=seed
        ).fit(),
        "decision_diffuser": lambda: _dd(data, cfg, goal, seed),
        "idql": lambda: _fitted(IDQL(data, IDQLConfig(actor=actor), seed=seed), steps),
        "diffusion_ql": lambda: _fitted(
            DiffusionQL(data, DiffusionQLConfig(actor=actor), seed=seed), steps
        ),
        "gaussian_bc": lambda: _bc(data, seed, steps),
    }


def _fitted(agent, steps):
    agent.fit(steps)
    return agent


def _dd(data, cfg, goal, seed):
    planner = DecisionDiffuser(data, cfg, condition="goal", seed=seed).fit()
    planner.set_target(goal)
    return planner


def _bc(data, seed, steps):
    policy = gaussian_bc_policy(data, chunk=ChunkConfig(1, 1, 1), seed=seed)
    policy.fit(data, TrainConfig(steps=steps), seed=seed)
    return policy


# ---------------------------------------------------------------------------- cost
def cost(out: Path, steps: int = 200, repeats: int = 3) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    data = collect(BANDIT, 1000, seed=0)
    rows = {}
    makers = {
        "idql_k5": lambda: IDQL(data, IDQLConfig()),
        "diffusion_ql_chain_k5": lambda: DiffusionQL(data, DiffusionQLConfig()),
        "diffusion_ql_edp_k5": lambda: DiffusionQL(data, DiffusionQLConfig(action_approx="edp")),
    }
    for name, make in makers.items():
        times = []
        for _ in range(repeats):
            agent = make()
            t = time.perf_counter()
            agent.fit(steps)
            times.append((time.perf_counter() - t) / steps * 1000)
        rows[f"train_s_per_1k_steps/{name}"] = float(np.median(times))
    for k in (1, 5, 20):
        for n in (1, 16, 64):
            agent = IDQL(data, IDQLConfig(n_candidates=n, actor=ActionModelConfig(steps=k)))
            obs = np.zeros(1, dtype=np.float32)
            agent.act(obs)
            t = time.perf_counter()
            for _ in range(20):
                agent.act(obs)
            rows[f"latency_ms/steps={k},candidates={n}"] = (time.perf_counter() - t) / 20 * 1e3
    (out / "cost.json").write_text(json.dumps(rows, indent=1))
    for key, value in rows.items():
        print(f"{key}: {value:.2f}")
    return rows


def reference(episodes: int = 100) -> dict:
    """Random and expert returns per maze layout (``REF_RETURNS``)."""

    class Uniform:
        def __init__(self):
            self.rng = np.random.default_rng(0)

        def seed(self, seed):
            self.rng = np.random.default_rng(seed)

        def reset(self):
            pass

        def act(self, obs, *, explore=False):
            return self.rng.uniform(-1.0, 1.0, 2).astype(np.float32)

    refs = {}
    for layout, env_id in ENV_IDS.items():
        expert = rlcore.run(
            PointMazeExpert(layout), env_id, episodes=episodes, seed=0, progress=False
        )
        rand = rlcore.run(Uniform(), env_id, episodes=episodes, seed=0, progress=False)
        refs[layout] = (float(np.mean(rand.returns)), float(np.mean(expert.returns)))
        print(f"{layout}: random {refs[layout][0]:.2f}, expert {refs[layout][1]:.2f}")
    return refs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("bandit", "maze", "cost", "reference"))
    parser.add_argument("--out", type=Path, default=Path("out/offline_generative"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--layout", default="umaze")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--data-episodes", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.what == "bandit":
        bandit(args.out, args.seeds, args.steps)
    elif args.what == "maze":
        maze(args.out, args.layout, args.seeds, args.steps, args.episodes, args.data_episodes)
    elif args.what == "cost":
        cost(args.out)
    else:
        reference()


if __name__ == "__main__":
    main()
