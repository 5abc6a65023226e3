"""The ``rlcore`` command line.

    rlcore list [PREFIX]                 public names (agents., planning., figures., ...)
    rlcore envs [--all]                  registered environment ids
    rlcore check-env ID                  gymnasium's env checker (+ the finite model, if any)
    rlcore figures all | ch4 [ch6 ...] --out DIR [--quick]
                                         reproduce book figures: PNGs + summary.md + checks
    rlcore train AGENT ENV --episodes N  train a registered agent, save it and its History
    rlcore train --resume OUT [--steps N]  continue a run from its training checkpoint
    rlcore check-agent module:Class      check a (student's) agent: protocol + DP learning check
    rlcore data collect ENV -n N -o F    write expert episodes as a dataset (.npz)
    rlcore data pendulum-tiers -o DIR    SAC on Pendulum-v1: random/medium/expert/medium-replay tiers
    rlcore bench SUITE ...               run a benchmark suite (see `rlcore bench --help`)

Every subcommand has ``--help``. Exit status: 0 success, 1 a check failed, 2 bad usage
(set RLCORE_DEBUG=1 for full tracebacks instead of one-line errors).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import rlcore
from rlcore import registry


def _cmd_list(args: argparse.Namespace) -> int:
    found = registry.names(args.prefix)
    if not found:
        namespaces = ", ".join(f"{n}." for n in registry.NAMESPACES)
        print(f"no public names start with {args.prefix!r}; namespaces: {namespaces}")
        return 1
    for name in found:
        obj = registry.get(name)
        doc = (obj.__doc__ or "").strip().splitlines()
        others = registry.aliases_of(name)
        extra = ""
        if others["aliases"]:
            extra += f" (aliases: {', '.join(others['aliases'])})"
        if others["deprecated"]:
            extra += f" (deprecated: {', '.join(others['deprecated'])})"
        print(f"{name:<40} {doc[0] if doc else ''}{extra}")
    return 0


def _cmd_envs(args: argparse.Namespace) -> int:
    import gymnasium as gym

    ids = sorted(gym.registry) if args.all else rlcore.envs.ids()
    for env_id in ids:
        print(env_id)
    return 0


def _cmd_check_env(args: argparse.Namespace) -> int:
    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env

    from rlcore.loop import make_env

    kwargs = _parse_assignments(args.set)
    env = make_env(args.env_id, **kwargs)
    try:
        check_env(env.unwrapped, skip_render_check=True)
        print(f"{args.env_id}: passes gymnasium's check_env")
        if "ansi" in env.metadata.get("render_modes", []):
            text_env = make_env(args.env_id, render_mode="ansi", **kwargs)
            text_env.reset(seed=0)
            frame = text_env.render()
            text_env.close()
            if not isinstance(frame, str):
                raise TypeError(f"render_mode='ansi' returned {type(frame).__name__}, not str")
            print(f"{args.env_id}: renders as text:\n{frame}")
        if getattr(env.unwrapped, "P", None) is not None:
            from rlcore.tabular.mdp import FiniteMDP

            mdp = FiniteMDP.from_env(env)
            print(
                f"{args.env_id}: finite model with {mdp.n_states} states, {mdp.n_actions} actions, "
                f"{len(mdp.prob)} outcomes; every row sums to 1"
            )
        else:
            print(f"{args.env_id}: no finite model (env.unwrapped.P); DP does not apply")
    except (AssertionError, gym.error.Error, ValueError, TypeError) as err:
        print(f"{args.env_id}: FAILED: {err}", file=sys.stderr)
        return 1
    finally:
        env.close()
    return 0


def _chapter_of(figure_name: str) -> int:
    match = re.search(r"(\d+)", figure_name)
    return int(match.group(1)) if match else -1


def _cmd_figures(args: argparse.Namespace) -> int:
    from rlcore.bench.worker import one_thread
    from rlcore.book.report import describe_expectation, write_summary

    one_thread()  # the figures' problems are small: extra math threads only contend

    available = registry.names("figures.")
    by_chapter: dict[int, list[str]] = {}
    for name in available:
        by_chapter.setdefault(_chapter_of(name.split(".", 1)[1]), []).append(name)
    if args.list or not args.chapters:
        for ch in sorted(by_chapter):
            label = f"ch{ch}" if ch >= 0 else "by name (no chapter)"
            print(f"{label}: {', '.join(n.split('.', 1)[1] for n in by_chapter[ch])}")
        return 0 if args.list else 2
    selected: list[str] = []
    for token in args.chapters:
        if token == "all":  # every book figure, chapter by chapter (studies run by name)
            selected.extend(n for ch in sorted(by_chapter) if ch >= 0 for n in by_chapter[ch])
            continue
        match = re.fullmatch(r"(?:ch)?(\d+)", token)
        if match is None:
            name = token if token.startswith("figures.") else f"figures.{token}"
            registry.get(name)  # unknown names raise with suggestions
            selected.append(name)
            continue
        ch = int(match.group(1))
        if ch not in by_chapter:
            have = ", ".join(f"ch{c}" for c in sorted(by_chapter))
            print(
                f"rlcore figures: no figures for chapter {ch}; available: {have}", file=sys.stderr
            )
            return 2
        selected.extend(by_chapter[ch])
    out = Path(args.out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    from rlcore.book.schedule import format_seconds, run_figures

    results = []
    ran = run_figures(
        selected,
        lambda name: registry.get(name)(out, quick=args.quick, seed=args.seed),
        quick=args.quick,
        log=lambda line: print(line, flush=True),
    )
    for name, result, wall, cpu in ran:
        print(f"  {name} took {format_seconds(wall)} ({cpu:.1f} s CPU)", flush=True)
        results.append(result)
        for check, c in result.get("checks", {}).items():
            status = "ok  " if c["passed"] else ("smoke" if args.quick else "FAIL")
            expected, tolerance = describe_expectation(c)
            tol = "" if tolerance == "-" else f" {tolerance}"
            print(
                f"  [{status}] {check}: {c['value']:.4g} ({c.get('source', 'book')} {expected}{tol})"
            )
    summary = write_summary(out, results, title="rlcore book figures", quick=args.quick)
    failed = [
        (r["figure"], k) for r in results for k, c in r.get("checks", {}).items() if not c["passed"]
    ]
    print(f"summary: {summary}")
    if failed and args.quick and not args.strict:
        print(
            f"{len(failed)} check(s) marked [smoke]: quick settings are only a smoke run for "
            f"them (too few runs or episodes to hold the book's number); run without --quick "
            f"for the book's settings, or add --strict: {failed}"
        )
    elif failed:
        print(f"{len(failed)} check(s) failed: {failed}", file=sys.stderr)
        return 1
    return 0


def _parse_value(text: str) -> Any:
    """A JSON literal (number, bool, null, list, quoted string) or else the bare string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_assignments(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise SystemExit(f"expected KEY=VALUE with a Python identifier as key, got {item!r}")
        out[key] = _parse_value(value)
    return out


def _cmd_train(args: argparse.Namespace) -> int:
    from rlcore.loop import make_env
    from rlcore.training_state import check_resumable

    if args.resume is not None:
        out = Path(args.resume).expanduser().resolve()
        run_file = out / "train.json"
        if not run_file.is_file():
            raise FileNotFoundError(
                f"{out} is not an `rlcore train` output directory ({run_file.name} is missing); "
                "pass the --out directory of the run to resume."
            )
        saved = json.loads(run_file.read_text())
        if args.agent is not None or args.env_id is not None or args.set or args.env_set:
            raise ValueError(
                "--resume takes the agent, env and options of the run it continues; give only "
                "--resume OUT and optionally a new --steps / --episodes budget."
            )
        spec = {**saved, "steps": args.steps or saved["steps"]}
        spec["episodes"] = args.episodes or saved["episodes"]
    else:
        if args.agent is None or args.env_id is None:
            raise ValueError("rlcore train needs AGENT and ENV_ID (or --resume OUT).")
        out = Path(args.out).expanduser().resolve()
        spec = {
            "agent": args.agent,
            "env_id": args.env_id,
            "set": _parse_assignments(args.set),
            "env_set": _parse_assignments(args.env_set),
            "seed": args.seed,
            "steps": args.steps,
            "episodes": args.episodes,
        }
    env = make_env(spec["env_id"], **spec["env_set"])
    agent = registry.make(spec["agent"], env, seed=spec["seed"], **spec["set"])
    try:
        check_resumable(agent)
        checkpoint = out / "checkpoint"
    except TypeError:
        if args.resume is not None or args.checkpoint_every is not None:
            raise
        checkpoint = None  # a tabular agent: its checkpoint (rlcore.save) is its whole state
    if args.resume is None:
        from rlcore.checkpoint import atomic_write_text

        atomic_write_text(out / "train.json", json.dumps(spec, indent=1))
    history = rlcore.run(
        agent,
        env,
        episodes=spec["episodes"],
        steps=spec["steps"],
        seed=spec["seed"],
        logdir=out / "logs",
        checkpoint_dir=checkpoint,
        checkpoint_every=args.checkpoint_every,
        resume=checkpoint if args.resume is not None else None,
    )
    rlcore.save(agent, out / "agent")
    returns = history.returns_array()
    tail = returns[-min(len(returns), 100) :]
    resumed = history.config.get("resumed_from_step")
    print(
        f"{spec['agent']} on {spec['env_id']}: {history.episodes} episodes, {history.steps} steps"
        f"{'' if resumed is None else f' (resumed from step {resumed})'}; mean return of the "
        f"last {len(tail)} episodes {tail.mean() if len(tail) else float('nan'):.3f}"
    )
    print(f"agent saved to {out / 'agent'}; logs (TensorBoard, CSV, JSON) in {out / 'logs'}")
    if checkpoint is not None:
        print(f"training checkpoint in {checkpoint} (continue with `rlcore train --resume {out}`)")
    return 0


def _cmd_check_agent(args: argparse.Namespace) -> int:
    from rlcore.testing import check_agent_main

    kwargs = {"episodes": args.episodes, "seed": args.seed}
    if args.kind:
        kwargs["kind"] = args.kind
    return check_agent_main(args.spec, **kwargs)


def _cmd_data_collect(args: argparse.Namespace) -> int:
    from rlcore.data import collect

    out = Path(args.out).expanduser()
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")
    dataset = collect(args.env_id, args.episodes, out, args.seed)
    print(
        f"wrote {dataset.n_episodes} episodes ({dataset.n_steps} steps) of {args.env_id} to {out}"
    )
    return 0


def _cmd_data_pendulum_tiers(args: argparse.Namespace) -> int:
    from rlcore.actor_critic.datasets import pendulum_tiers

    paths = pendulum_tiers(
        Path(args.out).expanduser(), steps=args.steps, train_steps=args.train_steps, seed=args.seed
    )
    info = json.loads(paths["info"].read_text())
    for tier, row in info["tiers"].items():
        print(
            f"{tier:14s} {row['steps']:7d} steps  mean return {row['mean_return']:9.1f}  "
            f"normalised score {row['normalized_score']:6.1f}  -> {paths[tier]}"
        )
    return 0


def _add_figures_parser(sub: Any) -> None:
    """`rlcore figures ...`."""
    p = sub.add_parser(
        "figures",
        help="reproduce Sutton & Barto figures (PNGs, checks, summary.md)",
        description="Reproduce book figures: all, by chapter (ch4, ch6, ...) or by name "
        "(figure_4_1). Prints the set's expected duration and an ETA per figure. "
        "Each figure writes a PNG and checks its headline numbers against the book; the run "
        "ends with summary.md in --out. Exit status 1 when a check fails at the book's "
        "settings; --quick checks are indicative unless --strict.",
    )
    p.add_argument("chapters", nargs="*", help="all, chapters like ch4 ch6, or figure names")
    p.add_argument(
        "--out", default="rlcore-figures", help="output directory (default: %(default)s)"
    )
    p.add_argument("--quick", action="store_true", help="fewer runs: seconds instead of minutes")
    p.add_argument(
        "--strict", action="store_true", help="with --quick: exit 1 on missed checks too"
    )
    p.add_argument("--seed", type=int, default=0, help="base seed (default: %(default)s)")
    p.add_argument("--list", action="store_true", help="list the available figures")
    p.set_defaults(func=_cmd_figures)


def _add_train_parser(sub: Any) -> None:
    """`rlcore train ...` (and `--resume`)."""
    p = sub.add_parser(
        "train",
        help="train a registered agent on an env and save it",
        description="Example: rlcore train agents.q_learning CliffWalking-v1 --episodes 500 "
        "--set alpha=0.5 --set epsilon=0.1 --out runs/q. Resumable agents (agents.dqn) also "
        "write OUT/checkpoint; `rlcore train --resume OUT --steps N` continues the run.",
    )
    p.add_argument(
        "agent",
        nargs="?",
        help="registry name, e.g. agents.q_learning (see `rlcore list agents.`)",
    )
    p.add_argument(
        "env_id", nargs="?", help="gymnasium id, e.g. CliffWalking-v1 (see `rlcore envs`)"
    )
    p.add_argument("--episodes", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="agent option (JSON value)")
    p.add_argument("--env-set", action="append", metavar="KEY=VALUE", help="env option")
    p.add_argument("--out", default="runs/train", help="output directory (default: %(default)s)")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="N",
        help="write a full training checkpoint to OUT/checkpoint every N steps (agents with "
        "replay, e.g. agents.dqn; they always write one at the end)",
    )
    p.add_argument(
        "--resume",
        metavar="OUT",
        default=None,
        help="continue the run whose --out was OUT from OUT/checkpoint, bit for bit; budgets "
        "count from the run's start (default: the original budget)",
    )
    p.set_defaults(func=_cmd_train)


def _add_data_parser(sub: Any) -> None:
    """`rlcore data collect ...` and `rlcore data pendulum-tiers ...`."""
    p = sub.add_parser("data", help="offline datasets: `rlcore data collect ...`")
    data_sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    c = data_sub.add_parser(
        "collect",
        help="roll out an env's scripted expert and write episodes (.npz)",
        description="Example: rlcore data collect rlcore/Navigation2D-v0 --episodes 100 "
        "--out nav.npz. The layout is documented in rlcore/data.py.",
    )
    c.add_argument("env_id", help="an env with a scripted expert, e.g. rlcore/Navigation2D-v0")
    c.add_argument("-n", "--episodes", type=int, required=True)
    c.add_argument("-o", "--out", required=True, help="output file (.npz appended if missing)")
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(func=_cmd_data_collect)
    c = data_sub.add_parser(
        "pendulum-tiers",
        help="train SAC on Pendulum-v1 and write the random / medium / expert / medium-replay tiers",
        description="Example: rlcore data pendulum-tiers --out data/pendulum. See "
        "rlcore/actor_critic/datasets.py.",
    )
    c.add_argument("-o", "--out", required=True, help="output directory")
    c.add_argument("--steps", type=int, default=100_000, help="transitions per tier")
    c.add_argument("--train-steps", type=int, default=10_000, help="SAC's training budget")
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(func=_cmd_data_pendulum_tiers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlcore",
        description="rlcore: reinforcement-learning algorithms, book figures and benchmarks.",
        epilog="Run `rlcore COMMAND --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"rlcore {rlcore.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list public names, e.g. `rlcore list agents.`")
    p.add_argument("prefix", nargs="?", default="", help="only names starting with this")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("envs", help="list the rlcore/... environment ids")
    p.add_argument("--all", action="store_true", help="list every gymnasium id, not only rlcore's")
    p.set_defaults(func=_cmd_envs)

    p = sub.add_parser("check-env", help="run gymnasium's env checker on an env id")
    p.add_argument("env_id", help="e.g. rlcore/WindyGridworld-v0 or FrozenLake-v1")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="env constructor option")
    p.set_defaults(func=_cmd_check_env)

    _add_figures_parser(sub)
    _add_train_parser(sub)

    p = sub.add_parser(
        "check-agent",
        help="check your own agent class against the protocol and DP ground truth",
        description="Runs an agent class through the Agent protocol contract (act/observe types, "
        "seeding, determinism, save/load) and a learning check on tiny MDPs whose answer "
        "dynamic programming knows, explaining each failure in plain words. Example: "
        "rlcore check-agent my_agents.py:MyQLearning",
    )
    p.add_argument("spec", help="module:Class or path/to/file.py:Class")
    p.add_argument("--kind", choices=("control", "prediction"), help="default: inferred")
    p.add_argument("--episodes", type=int, default=300, help="learning-check budget")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_check_agent)

    _add_data_parser(sub)

    from rlcore.bench.cli import add_bench_parser

    add_bench_parser(sub)  # listed in --help; `main` forwards `rlcore bench ...` before parsing
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        from rlcore.bench.cli import bench_main

        return bench_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    if os.environ.get("RLCORE_DEBUG"):
        return args.func(args)  # full tracebacks
    try:
        return args.func(args)
    except (registry.UnknownNameError, ValueError, TypeError, FileNotFoundError) as err:
        print(f"rlcore {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # gymnasium's NameNotFound and friends
        if type(err).__module__.startswith("gymnasium"):
            print(f"rlcore {args.command}: error: {err}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
