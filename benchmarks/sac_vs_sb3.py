"""SAC on Pendulum-v1 (or a MuJoCo task): rlcore against Stable-Baselines3 with the same
settings, plus REDQ arms.

    .venv/bin/python benchmarks/sac_vs_sb3.py --out out/sac_vs_sb3 [--seeds 5] [--steps 15000]
    .venv/bin/python benchmarks/sac_vs_sb3.py --out out/speed --speed      # ms per env step only

Needs stable-baselines3 (``pip install "stable-baselines3==2.9.2"``, the ``sb3`` extra) for the
``sb3_sac`` arm; never imported by rlcore itself. ``--env InvertedPendulum-v5`` (or
``HalfCheetah-v5``) needs the ``mujoco`` extra (``pip install -e '.[mujoco]'``, mujoco 3.3.7);
the threshold is then the env's registered ``reward_threshold`` (950, 4,800).

Arms (every seed runs every arm, one after another in this process, the order rotating with the
seed so that all arms share the shared machine's drifting load; torch uses one thread):

- ``sb3_sac``: SB3's SAC, ``net_arch=[256, 256]``, lr 1e-3 (rl-baselines3-zoo's Pendulum value),
  batch 256, buffer 1e6, learning_starts 100, tau 0.005, gamma 0.99, ent_coef "auto" (init 1),
  target entropy -|A|, one gradient step per env step;
- ``rlcore_sac``: ``agents.sac`` with its defaults, which are exactly those settings;
- ``rlcore_redq``: ``agents.redq`` (N 10, M 2, G 20, 5,000 random start steps, lr 3e-4);
- ``rlcore_sac_utd20``: SAC with G = 20 (REDQ's ablation without the ensemble);
- ``rlcore_sac_batched``: ``agents.sac`` with the ensemble's ``batched`` backend (the two critics
  in one ``baddbmm`` per layer instead of ``auto``'s loop at batch 256): a speed probe.

Protocol: every ``--eval-every`` steps the deterministic policy plays ``--eval-episodes`` episodes
of a separate env (the k-th evaluation of seed s resets with seed 10,000 (s + 1) + k, shared by
all arms; evaluating never touches the training streams); the training clocks are paused while it
does. Reported per arm: env steps and training wall-clock to the first evaluation >= -200
(``--threshold``), final return, ms per env step (wall-clock and process CPU time: one torch
thread, so on a shared machine CPU time is the work done and wall-clock adds the wait for a core); IQM over seeds with percentile-bootstrap 95%
intervals (``rlcore.stats``), unsolved runs counted as never (+inf).

``--hidden 64 64`` sets every arm's network (SB3's ``net_arch`` too), ``--learning-starts`` and
``--learning-rate`` every arm's random start and step size (Chen et al. 2021 give SAC and REDQ the
same ones), ``--redq-learning-starts`` REDQ's random start alone, ``--stop-at-threshold`` ends
each run at its first evaluation >= threshold (on the ``--coarse-every`` grid when given).
``--coarse-every K`` also reports the steps to the threshold counting only the evaluations at
multiples of K (a coarser grid from the same runs). ``table.md`` adds every seed and the paired
IQM ratios (REDQ / SAC, rlcore / SB3) with percentile-bootstrap 95% intervals over seeds.

``--speed``: no learning curves; after ``learning_starts`` each arm times ``--speed-steps`` env
steps (training included), rounds interleaved, and prints the ms per env step and the ratio to SB3.

Outputs in --out: ``runs.jsonl`` (a rerun skips finished runs), ``table.md``, ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import rlcore
from rlcore.stats import bootstrap_ci, iqm

ARMS = ("sb3_sac", "rlcore_sac", "rlcore_redq", "rlcore_sac_utd20", "rlcore_sac_batched")
SB3 = dict(
    learning_rate=1e-3,
    batch_size=256,
    buffer_size=1_000_000,
    learning_starts=100,
    tau=0.005,
    gamma=0.99,
    train_freq=1,
    gradient_steps=1,
    ent_coef="auto",
    policy_kwargs=dict(net_arch=[256, 256]),
)


def default_threshold(env_id: str) -> float:
    """-200 on Pendulum-v1 (the issue's goal), else the env's registered reward_threshold."""
    if env_id.startswith("Pendulum"):
        return -200.0
    threshold = gym.spec(env_id).reward_threshold
    if threshold is None:
        raise SystemExit(f"{env_id} registers no reward_threshold; pass --threshold.")
    return float(threshold)


# Overrides set from the command line (--hidden, --redq-learning-starts); empty: the defaults.
OVERRIDES: dict[str, Any] = {}


def make_rlcore(arm: str, env: gym.Env, seed: int) -> Any:
    common = {
        k: OVERRIDES[k] for k in ("hidden", "learning_starts", "learning_rate") if k in OVERRIDES
    }
    if arm == "rlcore_sac":
        return rlcore.make("agents.sac", env, seed=seed, **common)
    if arm == "rlcore_redq":
        if "redq_learning_starts" in OVERRIDES:
            common["learning_starts"] = OVERRIDES["redq_learning_starts"]
        return rlcore.make("agents.redq", env, seed=seed, **common)
    if arm == "rlcore_sac_batched":  # the two critics through one baddbmm per layer
        return rlcore.make("agents.sac", env, seed=seed, backend="batched", **common)
    if arm == "rlcore_sac_utd20":
        return rlcore.make("agents.sac", env, seed=seed, utd=20, policy_delay=20, **common)
    raise ValueError(f"unknown rlcore arm {arm!r}; known: {ARMS}")


def make_sb3(env: gym.Env, seed: int) -> Any:
    try:
        from stable_baselines3 import SAC as SB3SAC
    except ImportError as err:
        raise SystemExit(
            'this arm needs Stable-Baselines3: pip install "stable-baselines3==2.9.2" (the sb3 '
            "extra), or pass --arms without sb3_sac."
        ) from err
    settings = dict(SB3)
    if "hidden" in OVERRIDES:
        settings["policy_kwargs"] = dict(net_arch=list(OVERRIDES["hidden"]))
    for key in ("learning_starts", "learning_rate"):
        if key in OVERRIDES:
            settings[key] = OVERRIDES[key]
    return SB3SAC("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **settings)


class _SB3Deterministic:
    """SB3's deterministic action (``predict(obs, deterministic=True)``) as an rlcore Policy."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        return self.model.predict(obs, deterministic=True)[0]

    def seed(self, seed: int | None) -> None: ...

    def reset(self) -> None: ...


class Evaluator:
    """Deterministic-policy evaluations; the training clock pauses while one runs."""

    def __init__(self, env_id: str, seed: int, episodes: int) -> None:
        self.env, self.seed, self.episodes = gym.make(env_id), seed, episodes
        # (step, mean return, training wall-clock, training CPU time)
        self.rows: list[tuple[int, float, float, float]] = []
        self.wall = self.cpu = 0.0
        self.start()

    def start(self) -> None:
        self.since, self.cpu_since = time.perf_counter(), time.process_time()

    def __call__(self, step: int, policy: Any) -> None:
        self.wall += time.perf_counter() - self.since
        self.cpu += time.process_time() - self.cpu_since
        history = rlcore.run(
            policy, self.env, episodes=self.episodes, seed=10_000 * (self.seed + 1) + len(self.rows)
        )
        self.rows.append((step, float(np.mean(history.returns)), self.wall, self.cpu))
        self.start()


def train(
    arm: str,
    env_id: str,
    seed: int,
    steps: int,
    every: int,
    episodes: int,
    stop_at: float | None = None,
    stop_grid: int | None = None,
) -> Evaluator:
    """Train one arm, evaluating every ``every`` steps; stop early once an evaluation at a
    multiple of ``stop_grid`` (None: any) reaches ``stop_at`` (None: run all ``steps``)."""
    env = gym.make(env_id)
    evaluator = Evaluator(env_id, seed, episodes)

    def reached() -> bool:
        if stop_at is None:
            return False
        step, value = evaluator.rows[-1][:2]
        return value >= stop_at and (stop_grid is None or step % stop_grid == 0)

    if arm == "sb3_sac":
        from stable_baselines3.common.callbacks import BaseCallback

        model = make_sb3(env, seed)

        class Callback(BaseCallback):
            def _on_step(self) -> bool:
                if self.num_timesteps % every == 0:
                    evaluator(self.num_timesteps, _SB3Deterministic(self.model))
                    return not reached()
                return True

        evaluator.start()
        model.learn(total_timesteps=steps, callback=Callback())
        return evaluator
    agent = make_rlcore(arm, env, seed)
    policy = agent.greedy_policy()

    class Every(rlcore.Callback):
        def on_step(self, step, transition, metrics):
            if step % every == 0:
                evaluator(step, policy)
                return reached()
            return False

    evaluator.start()
    rlcore.run(agent, env, steps=steps, seed=seed, callbacks=[Every()], progress=False)
    return evaluator


def run_one(arm: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    stop_at = args.threshold if args.stop_at_threshold else None
    ev = train(
        arm,
        args.env,
        seed,
        args.steps,
        args.eval_every,
        args.eval_episodes,
        stop_at,
        args.coarse_every,
    )
    steps, returns, walls, cpus = (list(c) for c in zip(*ev.rows))
    first = next((i for i, r in enumerate(returns) if r >= args.threshold), None)
    coarse = args.coarse_every or args.eval_every
    first_coarse = next(
        (s for s, r in zip(steps, returns) if r >= args.threshold and s % coarse == 0), math.inf
    )
    return {
        "arm": arm,
        "seed": seed,
        "env": args.env,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in OVERRIDES.items()},
        "eval_steps": steps,
        "eval_returns": returns,
        "eval_wall": walls,
        "eval_cpu": cpus,
        "steps_to_threshold": steps[first] if first is not None else math.inf,
        "coarse_every": coarse,
        "steps_to_threshold_coarse": first_coarse,
        "wall_to_threshold": walls[first] if first is not None else math.inf,
        "final_return": returns[-1],
        "ms_per_step": 1000 * walls[-1] / steps[-1],
        "cpu_ms_per_step": 1000 * cpus[-1] / steps[-1],
    }


def speed(args: argparse.Namespace) -> None:
    """ms per env step (training included) after the warm-up, interleaved rounds."""
    env_id, arms = args.env, args.arms
    runners: dict[str, Any] = {}
    for arm in arms:
        env = gym.make(env_id)
        if arm == "sb3_sac":
            model = make_sb3(env, 0)
            model.learn(total_timesteps=300)
            runners[arm] = lambda n, m=model: m.learn(n, reset_num_timesteps=False)
        else:
            agent = make_rlcore(arm, env, 0)
            cfg = agent.config  # past the warm-up: the replay holds a batch, updates run
            warm = max(cfg.learning_starts, cfg.batch_size) + (200 if cfg.utd == 1 else 2)
            rlcore.run(agent, env, steps=warm, seed=0, progress=False)
            runners[arm] = lambda n, a=agent, e=env: rlcore.run(a, e, steps=n, seed=1)
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    cpu_times: dict[str, list[float]] = {arm: [] for arm in arms}
    for r in range(args.rounds):
        for arm in arms[r % len(arms) :] + arms[: r % len(arms)]:
            n = (
                args.speed_steps
                if "utd20" not in arm and "redq" not in arm
                else max(1, args.speed_steps // 20)
            )
            t, c = time.perf_counter(), time.process_time()
            runners[arm](n)
            times[arm].append(1000 * (time.perf_counter() - t) / n)
            cpu_times[arm].append(1000 * (time.process_time() - c) / n)
    lines = [
        "| arm | wall ms per env step (median of rounds) | CPU ms per env step (median) "
        "| wall ratio to sb3_sac | CPU ratio to sb3_sac |",
        "|---|---|---|---|---|",
    ]
    base = np.median(times["sb3_sac"]) if "sb3_sac" in times else None
    cpu_base = np.median(cpu_times["sb3_sac"]) if "sb3_sac" in times else None
    for arm in arms:
        ms, cpu = float(np.median(times[arm])), float(np.median(cpu_times[arm]))
        ratio = f"{ms / base:.2f}" if base else "-"
        cpu_ratio = f"{cpu / cpu_base:.2f}" if cpu_base else "-"
        rounds = ", ".join(f"{t:.1f}" for t in times[arm])
        cpu_rounds = ", ".join(f"{t:.1f}" for t in cpu_times[arm])
        lines.append(
            f"| {arm} | {ms:.2f} (rounds: {rounds}) | {cpu:.2f} (rounds: {cpu_rounds}) "
            f"| {ratio} | {cpu_ratio} |"
        )
    table = "\n".join(lines)
    print(table)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "speed.md").write_text(table + "\n")


def summarise(rows: list[dict[str, Any]], arms: list[str]) -> str:
    lines = [
        "| arm | runs | steps to threshold (IQM [95% CI]) | wall s to threshold (IQM) | "
        "final return (IQM [95% CI]) | ms per env step | CPU ms per env step |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        rs = [r for r in rows if r["arm"] == arm]
        if not rs:
            continue
        st = np.array([r["steps_to_threshold"] for r in rs], dtype=float)
        wall = np.array([r["wall_to_threshold"] for r in rs], dtype=float)
        fin = np.array([r["final_return"] for r in rs], dtype=float)
        ms = np.array([r["ms_per_step"] for r in rs], dtype=float)
        cpu = np.array([r.get("cpu_ms_per_step", np.nan) for r in rs], dtype=float)

        def fmt(x: np.ndarray) -> str:
            if len(x) < 2 or not np.isfinite(x).all():
                return f"{iqm(x):.0f}" if np.isfinite(x).all() else f"{np.median(x):.0f} (median)"
            ci = bootstrap_ci(x, "iqm")
            return f"{ci.estimate:.0f} [{ci.low:.0f}, {ci.high:.0f}]"

        lines.append(
            f"| {arm} | {len(rs)} | {fmt(st)} | {fmt(wall)} | {fmt(fin)} | {np.median(ms):.1f} "
            f"| {np.median(cpu):.1f} |"
        )
    return "\n".join(lines)


# (numerator, denominator): the ratios the goals are stated in.
PAIRS = (
    ("rlcore_redq", "rlcore_sac"),
    ("rlcore_sac", "sb3_sac"),
    ("rlcore_sac_utd20", "rlcore_sac"),
)


def iqm_ratio(num: np.ndarray, den: np.ndarray) -> tuple[float, float, float]:
    """IQM(num) / IQM(den) over paired seeds, with a paired percentile-bootstrap 95% interval
    (seeds resampled together; scipy's ``bootstrap(paired=True)``, seeded)."""
    from scipy import stats

    def ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return iqm(a, axis=axis) / iqm(b, axis=axis)

    estimate = float(ratio(num, den))
    if len(num) < 2 or (np.all(num == num[0]) and np.all(den == den[0])):
        return estimate, estimate, estimate
    res = stats.bootstrap(
        (num, den), ratio, paired=True, vectorized=True, method="percentile", rng=0
    )
    return estimate, float(res.confidence_interval.low), float(res.confidence_interval.high)


def per_seed(rows: list[dict[str, Any]], arms: list[str]) -> str:
    """Per-seed steps to the threshold (fine and coarse grid) and the paired IQM ratios."""
    by = {(r["arm"], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    coarse = rows[0].get("coarse_every") if rows else None
    lines = [
        f"| seed | {' | '.join(arms)} |",
        "|---|" + "---|" * len(arms),
    ]
    for seed in seeds:
        cells = []
        for arm in arms:
            r = by.get((arm, seed))
            if r is None:
                cells.append("-")
                continue
            extra = f" ({r['steps_to_threshold_coarse']:g} on the {coarse} grid)" if coarse else ""
            cells.append(f"{r['steps_to_threshold']:g}{extra}, final {r['final_return']:.0f}")
        lines.append(f"| {seed} | {' | '.join(cells)} |")
    out = ["Steps to threshold per seed:", "", *lines, ""]
    for num_arm, den_arm in PAIRS:
        if num_arm not in arms or den_arm not in arms:
            continue
        paired = [s for s in seeds if (num_arm, s) in by and (den_arm, s) in by]
        if not paired:
            continue
        for key, what in (
            ("steps_to_threshold", "env steps to threshold"),
            ("steps_to_threshold_coarse", f"env steps to threshold, {coarse}-step grid"),
            ("wall_to_threshold", "training wall-clock to threshold"),
            ("cpu_ms_per_step", "CPU ms per env step"),
        ):
            num = np.array([by[(num_arm, s)].get(key, np.nan) for s in paired], dtype=float)
            den = np.array([by[(den_arm, s)].get(key, np.nan) for s in paired], dtype=float)
            if not (np.isfinite(num).all() and np.isfinite(den).all()):
                out.append(f"- {num_arm} / {den_arm}, {what}: a run never reached it (no ratio)")
                continue
            est, low, high = iqm_ratio(num, den)
            each = ", ".join(f"{a / b:.2f}" for a, b in zip(num, den))
            out.append(
                f"- {num_arm} / {den_arm}, {what}: IQM ratio **{est:.2f}x** [{low:.2f}, {high:.2f}] "
                f"over {len(paired)} seeds (per seed {each})"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None, default_arms: tuple[str, ...] = ("sb3_sac", "rlcore_sac")):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--env", default="Pendulum-v1")
    p.add_argument("--arms", nargs="+", default=list(default_arms), choices=ARMS)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=100)
    p.add_argument("--steps", type=int, default=15_000)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-episodes", type=int, default=5)
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="return to reach (default: -200 on Pendulum-v1, else the env spec's reward_threshold)",
    )
    p.add_argument(
        "--coarse-every",
        type=int,
        default=None,
        help="also report the steps to the threshold on this coarser evaluation grid (a multiple "
        "of --eval-every); with --stop-at-threshold a run ends only once that grid has crossed",
    )
    p.add_argument(
        "--learning-starts",
        type=int,
        default=None,
        help="every arm's random start steps (default: each arm's own; SAC/SB3 100, REDQ 5,000)",
    )
    p.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="every arm's Adam step size (default: each arm's own; SAC/SB3 1e-3, REDQ 3e-4)",
    )
    p.add_argument("--speed", action="store_true", help="only ms per env step")
    p.add_argument("--speed-steps", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--hidden",
        nargs="+",
        type=int,
        default=None,
        help="hidden layer sizes of every arm's actor and critics (default: 256 256)",
    )
    p.add_argument(
        "--redq-learning-starts",
        type=int,
        default=None,
        help="REDQ's random start steps (default: the agent's 5,000, Chen et al.'s MuJoCo value)",
    )
    p.add_argument(
        "--stop-at-threshold",
        action="store_true",
        help="end a run at its first evaluation >= --threshold (saves time when only the steps "
        "to the threshold are wanted; the final return is then the return there)",
    )
    args = p.parse_args(argv)
    if args.coarse_every is not None and args.coarse_every % args.eval_every:
        p.error(
            f"--coarse-every {args.coarse_every} must be a multiple of --eval-every "
            f"{args.eval_every} (the coarse grid is a subset of the evaluations)"
        )
    if not args.env.startswith("Pendulum"):
        try:
            import mujoco  # noqa: F401
        except ImportError:
            p.error(
                f"--env {args.env} needs MuJoCo: pip install -e '.[mujoco]' (the mujoco extra, "
                "mujoco 3.3.7), or run --env Pendulum-v1"
            )
    args.threshold = default_threshold(args.env) if args.threshold is None else args.threshold
    OVERRIDES.clear()
    if args.hidden:
        OVERRIDES["hidden"] = tuple(args.hidden)
    if args.learning_starts is not None:
        OVERRIDES["learning_starts"] = args.learning_starts
    if args.learning_rate is not None:
        OVERRIDES["learning_rate"] = args.learning_rate
    if args.redq_learning_starts is not None:
        OVERRIDES["redq_learning_starts"] = args.redq_learning_starts
    torch.set_num_threads(1)
    if args.speed:
        speed(args)
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = out / "runs.jsonl"
    rows = [json.loads(line) for line in runs.read_text().splitlines()] if runs.exists() else []
    done = {(r["arm"], r["seed"], r["env"]) for r in rows}
    for i in range(args.seeds):
        seed = args.first_seed + i
        order = args.arms[i % len(args.arms) :] + args.arms[: i % len(args.arms)]
        for arm in order:
            if (arm, seed, args.env) in done:
                continue
            row = run_one(arm, args, seed)
            rows.append(row)
            with runs.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(
                arm,
                seed,
                "final",
                round(row["final_return"], 1),
                "steps to threshold",
                row["steps_to_threshold"],
                f"{row['ms_per_step']:.1f} ms/step",
                flush=True,
            )
    env_rows = [r for r in rows if r["env"] == args.env]
    table = summarise(env_rows, args.arms) + "\n\n" + per_seed(env_rows, args.arms)
    print(table)
    (out / "table.md").write_text(f"{args.env}, {args.steps} steps\n\n{table}\n")


if __name__ == "__main__":
    main()
