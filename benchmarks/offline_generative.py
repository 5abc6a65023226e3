"""Offline RL with generative policies (issue 16): the multimodal bandit, the point-mass maze,
and the cost of the generative agents. Seeds, IQM and bootstrap CIs; plots and a summary.

    python benchmarks/offline_generative.py bandit --out DIR [--seeds 5] [--steps 600]
    python benchmarks/offline_generative.py maze --out DIR [--layout umaze] [--seeds 5]
    python benchmarks/offline_generative.py cost --out DIR
    python benchmarks/offline_generative.py reference        # maze random / expert returns

bandit: fraction of actions in the rewarded mode (400 actions per seed) for Gaussian BC, diffusion
BC (the behaviour model's own sample), Diffusion-QL (eta 2.5, one sample; through the chain and
with EDP, ``diffusion_ql_edp``), IDQL (N = 64, argmax),
and propose-and-rank (the diffusion BC model proposes 64, an IQL critic ensemble of 1, 2, 5, 10
members ranks with ensembles.min); writes bandit.json, bandit.md and bandit_actions.png (each
policy's actions over the data, seed 0). ``--methods`` picks a subset.
maze: normalised D4RL score of Diffuser (guided, unguided; replaying planned actions, or
``diffuser_track``: a strided state plan followed by ``StateTracker``, Janner et al.'s maze2d
execution), Decision Diffuser (goal; also ``decision_diffuser_track``), IDQL, IQL, Diffusion-QL
(through the chain, and with EDP: ``diffusion_ql_edp``; EDP with layer-normalised critics,
``diffusion_ql_edp_ln``; EDP on rewards (r - 0.5) * 4, its authors' AntMaze reward tuning,
``diffusion_ql_edp_rtune``; that plus the rest of their AntMaze U-maze settings,
``diffusion_ql_edp_antmaze``), Gaussian BC and, with ``--d3rlpy-python``, d3rlpy 2.8.1's IQL and
TD3+BC (trained and served by benchmarks/d3rlpy_runner.py in that interpreter; IQL also on the
tuned rewards, ``d3rlpy_iql_rtune``) on envs.point_maze_dataset data; ``--methods`` picks a
subset.

    python benchmarks/offline_generative.py maze --methods diffuser_track,d3rlpy_iql \
        --d3rlpy-python .venv-d3rlpy/bin/python --seeds 3
cost: training seconds per 10,000 gradient steps on the U-maze data, interleaved rounds (IDQL
with 5 denoising steps and its 3x256 or a 1x256 actor, Diffusion-QL with and without EDP, the
chain's no-grad target sampling; d3rlpy IQL side by side with ``--d3rlpy-python``) and batch-1
action latency against denoising steps and candidates:

    python benchmarks/offline_generative.py cost --steps 100 --repeats 3 \
        --d3rlpy-python .venv-d3rlpy/bin/python --no-latency
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import tempfile
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
    IQL,
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
    StateTracker,
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
# Diffusion-QL's evaluation in Wang et al.'s code: 50 samples of the actor per state, one chosen
# by the critics (here argmax of min_j Q_j, ``policies.propose_and_rank``); EDP (Kang et al.)
# evaluates with such a selection too. The "_rank50" rows reuse the trained agent.
RANKED = 50
BANDIT_METHODS = (
    "gaussian_bc",
    "diffusion_bc",
    "idql",
    "diffusion_ql",
    "diffusion_ql_edp",
    f"diffusion_ql_rank{RANKED}",
    f"diffusion_ql_edp_rank{RANKED}",
    *(f"propose_rank_{m}" for m in (1, 2, 5, 10)),
)


def bandit_policies(data, seed: int, steps: int, hidden: int, methods=BANDIT_METHODS):
    """name -> a callable s (B, 1) -> actions (B, 2), all trained on ``data`` with ``seed``
    (only the ``methods`` asked for, and the models they need)."""
    actor = ActionModelConfig(hidden=hidden, depth=2)
    out = {}
    if "gaussian_bc" in methods:
        bc = gaussian_bc_policy(
            data,
            chunk=ChunkConfig(1, 1, 1),
            network=NetworkConfig(hidden=hidden, depth=2),
            seed=seed,
        )
        bc.fit(data, TrainConfig(steps=steps // 2, batch_size=128), seed=seed)
        out["gaussian_bc"] = lambda s: torch.as_tensor(bc.sample_chunks(s.numpy()[:, None])[:, 0])
    idql_users = {"diffusion_bc", "idql", *(m for m in methods if m.startswith("propose_rank"))}
    if idql_users & set(methods):
        idql = IDQL(
            data, IDQLConfig(gamma=0.0, hidden=hidden, batch_size=128, actor=actor), seed=seed
        )
        idql.fit(steps)
        out["diffusion_bc"] = lambda s: idql.actor_sample(s)
        out["idql"] = idql.choose
    for name, approx in (("diffusion_ql", "chain"), ("diffusion_ql_edp", "edp")):
        if name not in methods and f"{name}_rank{RANKED}" not in methods:
            continue
        config = DiffusionQLConfig(
            eta=2.5, gamma=0.0, hidden=hidden, batch_size=128, actor=actor, action_approx=approx
        )
        dql = DiffusionQL(data, config, seed=seed)
        dql.fit(2 * steps)
        out[name] = dql.choose
        if f"{name}_rank{RANKED}" in methods:  # the papers' evaluation: N samples, best by Q
            p = dql.policy
            ranked = ProposeAndRank(p.propose, p.value, p.reduction, RANKED, seed=seed)
            out[f"{name}_rank{RANKED}"] = ranked.choose
    for m in (1, 2, 5, 10):
        if f"propose_rank_{m}" not in methods:
            continue
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
    return {name: out[name] for name in methods}


def bandit(
    out: Path,
    seeds: int,
    steps: int,
    hidden: int = 64,
    n_data: int = 1000,
    methods: list[str] | None = None,
) -> dict:
    methods = list(methods or BANDIT_METHODS)
    unknown = sorted(set(methods) - set(BANDIT_METHODS))
    if unknown:
        raise SystemExit(f"bandit --methods: unknown {unknown}; choose from {BANDIT_METHODS}.")
    out.mkdir(parents=True, exist_ok=True)
    scores: dict[str, list[float]] = {}
    scatter = {}
    for seed in range(seeds):
        data = collect(BANDIT, n_data, seed=seed)
        for name, choose in bandit_policies(data, seed, steps, hidden, methods).items():
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
RUNNER = Path(__file__).with_name("d3rlpy_runner.py")
# the maze arms (``_maze_agents`` builds them in this order; d3rlpy ones need --d3rlpy-python)
MAZE_METHODS = (
    "diffuser",
    "diffuser_guided",
    "diffuser_track",
    "diffuser_track_guided",
    "decision_diffuser",
    "decision_diffuser_track",
    "idql",
    "idql_depth1",
    "iql",
    "diffusion_ql",
    "diffusion_ql_edp",
    "diffusion_ql_edp_ln",
    "diffusion_ql_edp_rtune",
    "diffusion_ql_edp_antmaze",
    "gaussian_bc",
    "d3rlpy_iql",
    "d3rlpy_td3bc",
    "d3rlpy_iql_rtune",
)
# Track mode: a state plan of H points, `stride` env steps apart, covering about the longest
# shortest path at full speed (U-maze ~28 steps; medium and large scaled by their path lengths).
TRACK = {"umaze": (8, 4), "medium": (16, 4), "large": (24, 4)}
TRACKER = StateTracker(lookahead=2, n_plans=16)


def maze_reeval(save_dir: Path, out: Path, episodes: int, n_plans: int) -> dict:
    """Evaluate the planners saved by ``maze --save-dir`` again (same episodes and env seeds)
    with a tracker drawing ``n_plans`` plans; writes maze_reeval.json."""
    import dataclasses

    out.mkdir(parents=True, exist_ok=True)
    scores: dict[str, list[float]] = {}
    for path in sorted(p for p in save_dir.iterdir() if (p / "config.json").exists()):
        layout, rest = path.name.split("_", 1)
        name, seed = rest.rsplit("_seed", 1)
        planner = rlcore.load(path)
        if planner.controller is None:
            continue
        planner.controller = dataclasses.replace(planner.controller, n_plans=n_plans)
        history = rlcore.run(
            planner, ENV_IDS[layout], episodes=episodes, seed=1000 + int(seed), progress=False
        )
        score = normalized_score(layout, float(np.mean(history.returns)))
        scores.setdefault(f"{layout}/{name}/n_plans={n_plans}", []).append(score)
        print(f"{path.name} n_plans={n_plans}: {score:.1f}", flush=True)
    summary = {name: _summary(v) for name, v in scores.items()}
    (out / "maze_reeval.json").write_text(json.dumps({"scores": scores, "summary": summary}))
    for name, s in summary.items():
        print(f"{name}: IQM {s['iqm']:.1f} [{s['low']:.1f}, {s['high']:.1f}] over {s['n']} seeds")
    return summary


class D3rlpyPolicy:
    """A d3rlpy agent trained by benchmarks/d3rlpy_runner.py in the d3rlpy interpreter and
    served over a pipe (one observation line in, one action line out): a Policy for rlcore.run.
    ``result`` holds the runner's JSON (training seconds)."""

    def __init__(self, python: str, data, algo: str, steps: int, seed: int) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="d3rlpy_")
        path = Path(self._dir.name)
        data.save(path / "data.npz")
        cmd = [python, str(RUNNER), "--data", str(path / "data.npz"), "--algo", algo]
        cmd += ["--steps", str(steps), "--seed", str(seed), "--out", str(path / "r.json")]
        self._proc = subprocess.Popen(
            [*cmd, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for line in self._proc.stdout:  # d3rlpy logs to stdout before the runner is ready
            if line.strip() == "ready":
                break
        else:
            raise RuntimeError(f"{' '.join(cmd)} exited with {self._proc.wait()}")
        self.result = json.loads((path / "r.json").read_text())

    def seed(self, seed):  # greedy: nothing to seed
        pass

    def reset(self):
        pass

    def act(self, obs, *, explore=False):
        self._proc.stdin.write(" ".join(repr(float(x)) for x in np.ravel(obs)) + "\n")
        self._proc.stdin.flush()
        return np.array(self._proc.stdout.readline().split(), dtype=np.float32)

    def close(self) -> None:
        self._proc.stdin.close()
        self._proc.wait()
        self._dir.cleanup()


def maze(
    out: Path,
    layout: str,
    seeds: int,
    steps: int,
    episodes: int,
    n_data: int,
    methods: list[str] | None = None,
    d3rlpy_python: str | None = None,
    planner_steps: int | None = None,
    save_dir: Path | None = None,
    first_seed: int = 0,
) -> dict:
    unknown = sorted(set(methods or ()) - set(MAZE_METHODS))
    if unknown:
        raise SystemExit(f"maze --methods: unknown {unknown}; choose from {MAZE_METHODS}.")
    if any(m.startswith("d3rlpy_") for m in methods or ()) and not d3rlpy_python:
        raise SystemExit("maze --methods d3rlpy_*: pass --d3rlpy-python (make d3rlpy-venv).")
    out.mkdir(parents=True, exist_ok=True)
    goal = PointMazeEnv(layout).goal
    horizon = {"umaze": 32, "medium": 64, "large": 64}[layout]
    p_steps = planner_steps or steps
    cfg = PlannerConfig(horizon=horizon, steps=p_steps, replan_every=8)
    h, stride = TRACK[layout]
    track_cfg = PlannerConfig(horizon=h, stride=stride, steps=p_steps)
    scores: dict[str, list[float]] = {}
    extra: dict[str, list[float]] = {}
    for seed in range(first_seed, first_seed + seeds):
        data = point_maze_dataset(layout, n_data, seed=seed)
        agents = _maze_agents(data, cfg, track_cfg, goal, seed, steps, d3rlpy_python)
        for name, build in agents.items():
            if methods and name not in methods:
                continue
            t = time.perf_counter()
            policy = build()
            train_s = time.perf_counter() - t
            if save_dir is not None and hasattr(policy, "save"):
                policy.save(save_dir / f"{layout}_{name}_seed{seed}")
            history = rlcore.run(
                policy, ENV_IDS[layout], episodes=episodes, seed=1000 + seed, progress=False
            )
            if isinstance(policy, D3rlpyPolicy):
                extra.setdefault(f"{name}_train_s", []).append(policy.result["train_seconds"])
                policy.close()
            else:
                extra.setdefault(f"{name}_train_s", []).append(train_s)
            score = normalized_score(layout, float(np.mean(history.returns)))
            scores.setdefault(name, []).append(score)
            print(f"seed {seed} {name}: {score:.1f} ({train_s:.0f} s train)", flush=True)
    summary = {name: _summary(v) for name, v in scores.items()}
    record = {
        "scores": scores,
        "summary": summary,
        "train_seconds": extra,
        "steps": steps,
        "planner_steps": p_steps,
        "data_episodes": n_data,
        "episodes": episodes,
    }
    (out / f"maze_{layout}.json").write_text(json.dumps(record, indent=1))
    for name, s in summary.items():
        print(f"{name}: IQM {s['iqm']:.1f} [{s['low']:.1f}, {s['high']:.1f}] over {s['n']} seeds")
    return summary


def _maze_agents(data, cfg, track_cfg, goal, seed, steps, d3rlpy_python):
    actor = ActionModelConfig(hidden=256, depth=3)
    agents = {
        "diffuser": lambda: Diffuser(data, cfg, goal=goal, seed=seed).fit(),
        "diffuser_guided": lambda: Diffuser(
            data, cfg, goal=goal, guidance_scale=0.1, seed=seed
        ).fit(),
        "diffuser_track": lambda: Diffuser(
            data, track_cfg, goal=goal, controller=TRACKER, seed=seed
        ).fit(),
        "diffuser_track_guided": lambda: Diffuser(  # + return guidance (Janner et al.'s s = 0.1)
            data, track_cfg, goal=goal, controller=TRACKER, guidance_scale=0.1, seed=seed
        ).fit(),
        "decision_diffuser": lambda: _dd(data, cfg, goal, seed),
        "decision_diffuser_track": lambda: _dd(data, track_cfg, goal, seed, TRACKER),
        "idql": lambda: _fitted(IDQL(data, IDQLConfig(actor=actor), seed=seed), steps),
        "idql_depth1": lambda: _fitted(
            IDQL(data, IDQLConfig(actor=ActionModelConfig(hidden=256, depth=1)), seed=seed), steps
        ),
        "iql": lambda: _fitted(IQL(data, seed=seed), steps),
        "diffusion_ql": lambda: _fitted(
            DiffusionQL(data, DiffusionQLConfig(actor=actor), seed=seed), steps
        ),
        "diffusion_ql_edp": lambda: _fitted(
            DiffusionQL(data, DiffusionQLConfig(actor=actor, action_approx="edp"), seed=seed),
            steps,
        ),
        "diffusion_ql_edp_ln": lambda: _fitted(  # + layer-normalised critics
            DiffusionQL(
                data,
                DiffusionQLConfig(actor=actor, action_approx="edp", critic_layer_norm=True),
                seed=seed,
            ),
            steps,
        ),
        "diffusion_ql_edp_rtune": lambda: _fitted(  # + Wang et al.'s AntMaze reward tuning
            DiffusionQL(
                _reward_tuned(data), DiffusionQLConfig(actor=actor, action_approx="edp"), seed=seed
            ),
            steps,
        ),
        "diffusion_ql_edp_antmaze": lambda: _fitted(  # + the rest of their AntMaze U-maze row
            DiffusionQL(_reward_tuned(data), _antmaze_umaze_config(actor), seed=seed), steps
        ),
        "gaussian_bc": lambda: _bc(data, seed, steps),
    }
    if d3rlpy_python:
        for algo in ("iql", "td3bc"):
            agents[f"d3rlpy_{algo}"] = lambda algo=algo: D3rlpyPolicy(
                d3rlpy_python, data, algo, steps, seed
            )
        agents["d3rlpy_iql_rtune"] = lambda: D3rlpyPolicy(  # the same tuning, for fairness
            d3rlpy_python, _reward_tuned(data), "iql", steps, seed
        )
    return agents


def _antmaze_umaze_config(actor):
    """Wang et al.'s Diffusion-QL settings for AntMaze U-maze (their code's hyper-parameter
    table: eta 0.5, gradient norm 2.0, lr 3e-4, no max Q backup, reward tuning; critics of 3
    hidden layers), with EDP's action approximation. Their critics use Mish, ours ReLU."""
    return DiffusionQLConfig(actor=actor, action_approx="edp", eta=0.5, grad_norm=2.0, depth=3)


def _reward_tuned(data):
    """The data with rewards (r - 0.5) * 4: the reward tuning Wang et al.'s Diffusion-QL code uses
    for AntMaze's sparse 0/1 rewards ("cql_antmaze"). Scores are still the env's own returns."""
    return dataclasses.replace(
        data, rewards=((data.rewards - 0.5) * 4.0).astype(data.rewards.dtype)
    )


def _fitted(agent, steps):
    agent.fit(steps)
    return agent


def _dd(data, cfg, goal, seed, controller=None):
    planner = DecisionDiffuser(data, cfg, condition="goal", controller=controller, seed=seed).fit()
    planner.set_target(goal)
    return planner


def _bc(data, seed, steps):
    policy = gaussian_bc_policy(data, chunk=ChunkConfig(1, 1, 1), seed=seed)
    policy.fit(data, TrainConfig(steps=steps), seed=seed)
    return policy


# ---------------------------------------------------------------------------- cost
EDP_VARIANTS = {  # name suffix -> DiffusionQLConfig options of an EDP row in `cost`
    "": {},  # EDP as in Kang et al.: shared forward, DPM-Solver++ target in 3 steps
    "_target_dpm2": {"target_steps": 2},
    "_target_ddpm5": {"target_sampler": "ddpm", "target_steps": 5},  # the chain's target
}


def cost(
    out: Path,
    steps: int = 200,
    repeats: int = 3,
    d3rlpy_python: str | None = None,
    latency: bool = True,
    methods: list[str] | None = None,
) -> dict:
    """Training seconds per 10k gradient steps, interleaved round-robin over ``repeats`` rounds
    (medians), on the U-maze data: IDQL (K = 5, the 3x256 actor, and a 1x256 actor), IQL,
    Diffusion-QL through the chain and with EDP (``EDP_VARIANTS``: the target drawn by
    DPM-Solver++ in 3 (the default) or 2 steps, or by the 5-step chain), IDQL's critic-only step and the
    chain's no-grad target sampling (parts), and, with ``d3rlpy_python``, d3rlpy's IQL (the runner's own training clock, same batch and
    critics). ``methods`` keeps a subset of the rows (names as in the output; all by default)."""
    out.mkdir(parents=True, exist_ok=True)
    data = point_maze_dataset("umaze", 10, seed=0)
    light = ActionModelConfig(depth=1)
    makers = {
        "idql_k5": lambda: IDQL(data, IDQLConfig()),
        "idql_k5_actor_depth1": lambda: IDQL(data, IDQLConfig(actor=light)),
        "iql": lambda: IQL(data),  # the same critics, a Gaussian actor: d3rlpy IQL's algorithm
        "diffusion_ql_chain_k5": lambda: DiffusionQL(data, DiffusionQLConfig()),
    }
    for suffix, options in EDP_VARIANTS.items():
        makers[f"diffusion_ql_edp_k5{suffix}"] = lambda o=options: DiffusionQL(
            data, DiffusionQLConfig(action_approx="edp", **o)
        )
    if methods:
        unknown = sorted(set(methods) - set(makers) - {"d3rlpy_iql"})
        if unknown:
            raise SystemExit(f"cost --methods: unknown {unknown}; choose from {list(makers)}.")
        makers = {k: v for k, v in makers.items() if k in methods}
        if "d3rlpy_iql" not in methods:
            d3rlpy_python = None
    times: dict[str, list[float]] = {}  # wall-clock
    cpu: dict[str, list[float]] = {}  # process CPU time (one thread: less sensitive to load)

    def timed(name: str, n: int, run, *args) -> None:  # seconds per 10k calls of n steps
        t, c = time.perf_counter(), time.process_time()
        run(*args)
        times.setdefault(name, []).append((time.perf_counter() - t) / n * 1e4)
        cpu.setdefault(name, []).append((time.process_time() - c) / n * 1e4)

    npz = None
    if d3rlpy_python:
        tmp = tempfile.TemporaryDirectory(prefix="d3rlpy_cost_")
        npz = data.save(Path(tmp.name) / "data.npz")
    for _ in range(repeats):
        for name, make in makers.items():
            agent = make()
            agent.fit(2)  # warm-up
            timed(name, steps, agent.fit, steps)
            if name == "idql_k5":  # the IQL critics' share of an IDQL step (no actor)
                timed("part/idql_k5_critic_only", steps, agent.fit_critic, steps)
            if name == "diffusion_ql_chain_k5":  # where a chain step's time goes
                s = agent.data.s_tm1[: agent.config.batch_size]
                with torch.no_grad():
                    for _ in range(10):
                        timed(
                            "part/target_action_sampling_no_grad", 1, agent.ema.averaged.sample, s
                        )
        if npz is not None:
            result_file = Path(tmp.name) / "r.json"
            cmd = [d3rlpy_python, str(RUNNER), "--data", str(npz), "--algo", "iql"]
            cmd += ["--steps", str(steps), "--out", str(result_file), "--warmup"]
            subprocess.run(cmd, check=True, capture_output=True)
            result = json.loads(result_file.read_text())
            times.setdefault("d3rlpy_iql", []).append(result["seconds_per_10k_steps"])
            cpu.setdefault("d3rlpy_iql", []).append(result["cpu_seconds_per_10k_steps"])
    rows: dict = {f"train_s_per_10k_steps/{k}": float(np.median(v)) for k, v in times.items()}
    rows.update({f"cpu_s_per_10k_steps/{k}": float(np.median(v)) for k, v in cpu.items()})
    rows["raw"], rows["raw_cpu"] = times, cpu

    def ratio(a: str, b: str) -> None:  # median over rounds of the per-round ratio
        for prefix, clock in (("ratio", times), ("cpu_ratio", cpu)):
            if a in clock and b in clock:
                per_round = [x / y for x, y in zip(clock[a], clock[b])]
                rows[f"{prefix}/{a}_over_{b}"] = float(np.median(per_round))

    for name in ("idql_k5", "idql_k5_actor_depth1", "iql", "part/idql_k5_critic_only"):
        ratio(name, "d3rlpy_iql")
    for suffix in EDP_VARIANTS:
        ratio("diffusion_ql_chain_k5", f"diffusion_ql_edp_k5{suffix}")
    if not latency:
        (out / "cost.json").write_text(json.dumps(rows, indent=1))
        print(json.dumps(rows, indent=1))
        return rows
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
    print(json.dumps(rows, indent=1))
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
    parser.add_argument("what", choices=("bandit", "maze", "maze-reeval", "cost", "reference"))
    parser.add_argument("--out", type=Path, default=Path("out/offline_generative"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--layout", default="umaze")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--data-episodes", type=int, default=10)
    parser.add_argument(
        "--methods", default="", help="comma-separated bandit, maze or cost methods (all)"
    )
    parser.add_argument("--planner-steps", type=int, default=None, help="maze planners (--steps)")
    parser.add_argument("--d3rlpy-python", default=None, help="interpreter with d3rlpy 2.8.1")
    parser.add_argument("--save-dir", type=Path, default=None, help="maze: save trained agents")
    parser.add_argument("--n-plans", type=int, default=16, help="maze-reeval: plans per call")
    parser.add_argument("--repeats", type=int, default=3, help="cost: interleaved rounds")
    parser.add_argument("--no-latency", action="store_true", help="cost: training times only")
    parser.add_argument("--first-seed", type=int, default=0, help="maze: seeds first..first+n-1")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.what == "bandit":
        bandit(args.out, args.seeds, args.steps, methods=[m for m in args.methods.split(",") if m])
    elif args.what == "maze":
        methods = [m for m in args.methods.split(",") if m]
        maze(
            args.out,
            args.layout,
            args.seeds,
            args.steps,
            args.episodes,
            args.data_episodes,
            methods,
            args.d3rlpy_python,
            args.planner_steps,
            args.save_dir,
            args.first_seed,
        )
    elif args.what == "maze-reeval":
        maze_reeval(args.save_dir, args.out, args.episodes, args.n_plans)
    elif args.what == "cost":
        methods = [m for m in args.methods.split(",") if m]
        cost(args.out, args.steps, args.repeats, args.d3rlpy_python, not args.no_latency, methods)
    else:
        reference()


if __name__ == "__main__":
    main()
