"""Aggregation of a sweep's runs: statistics with intervals, learning curves, Markdown, PNG, JSON.

Per (agent, env) cell, over its seeds: the mean and the interquartile mean (IQM) of the final
score with percentile bootstrap intervals, and the learning curve (mean over seeds with a Student-t
band). Per agent, over the envs that declare a ``score_range``: the mean and IQM of normalised
scores with stratified bootstrap intervals (envs are the strata; Agarwal et al. 2021, rliable).

Everything in ``summary.json``, ``summary.csv`` and ``report.md`` is a function of the runs'
recorded results and the suite (intervals use seeds derived from the cell names), never of
timings, so a resumed sweep's report equals an uninterrupted one's.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.bench.expansion import RunSpec, expand
from rlcore.bench.outdir import read_manifest, run_status
from rlcore.bench.suite import Suite
from rlcore.checkpoint import atomic_write_bytes, atomic_write_text
from rlcore.stats import iqm, mean_ci, stratified_bootstrap_ci
from rlcore.types import History

CONFIDENCE = 0.95
N_RESAMPLES = 2000


def _key_seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:4], "little")


def _interval(strata: list[np.ndarray], statistic: str, seed: int) -> dict[str, float | None]:
    """Point estimate with a bootstrap interval; no interval from fewer than two runs."""
    pooled = np.concatenate(strata) if strata else np.empty(0)
    if pooled.size == 0:
        return {"estimate": None, "low": None, "high": None}
    point = float(np.mean(pooled) if statistic == "mean" else iqm(pooled))
    if pooled.size < 2:
        return {"estimate": point, "low": None, "high": None}
    ci = stratified_bootstrap_ci(
        strata, statistic, confidence=CONFIDENCE, n_resamples=N_RESAMPLES, rng=seed
    )
    return {"estimate": point, "low": float(ci.low), "high": float(ci.high)}


def run_curve(history: History, spec: RunSpec) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): a run's returns averaged in ``curve_points`` equal windows of its budget.

    With an episode budget, window k averages the returns of episodes in
    ``[k B / P, (k + 1) B / P)``; with a step budget, of the episodes that end in that window of
    steps, carrying the last value forward through windows where none ends (NaN before the
    first). x is the end of each window.
    """
    points = spec.protocol.curve_points
    returns = history.returns_array()
    if spec.budget.episodes is not None:
        total = spec.budget.episodes
        points = min(points, total)
        edges = np.linspace(0, total, points + 1).round().astype(int)
        y = np.array(
            [
                returns[a:b].mean() if b <= returns.size and b > a else np.nan
                for a, b in zip(edges[:-1], edges[1:])
            ]
        )
        return edges[1:].astype(float), y
    edges = np.linspace(0, spec.budget.steps, points + 1)
    ends = np.cumsum(np.asarray(history.lengths, dtype=np.int64))
    y = np.full(points, np.nan)
    last = np.nan
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        inside = (ends > a) & (ends <= b)
        if inside.any():
            last = returns[inside].mean()
        y[k] = last
    return edges[1:], y


def _curve(histories: list[History], spec: RunSpec) -> dict[str, Any] | None:
    if not histories:
        return None
    xs, ys = zip(*(run_curve(h, spec) for h in histories))
    y = np.vstack(ys)  # (runs, points)
    keep = np.all(np.isfinite(y), axis=0)
    if not keep.any():
        return None
    ci = mean_ci(y[:, keep], axis=0, confidence=CONFIDENCE)
    return {
        "x": [float(v) for v in xs[0][keep]],
        "x_unit": "episodes" if spec.budget.episodes is not None else "steps",
        "mean": [float(v) for v in np.atleast_1d(ci.estimate)],
        "low": [float(v) for v in np.atleast_1d(ci.low)],
        "high": [float(v) for v in np.atleast_1d(ci.high)],
    }


def summarize(out: str | Path) -> dict[str, Any]:
    """The statistics of the sweep in ``out`` as a JSON-ready dict (see the module docstring)."""
    out = Path(out)
    manifest = read_manifest(out)
    if manifest is None:
        raise FileNotFoundError(
            f"{out} holds no rlcore bench results (no suite.json); run `rlcore bench SUITE --out "
            f"{out}` first."
        )
    suite = Suite.from_dict(manifest["suite"])
    runs = expand(suite)
    by_cell: dict[tuple[str, str], list[RunSpec]] = {}
    for spec in runs:
        by_cell.setdefault((spec.agent.label, spec.env.label), []).append(spec)
    cells, failures, missing = [], [], []
    normalised: dict[str, list[tuple[str, np.ndarray]]] = {}
    for agent, env, _ in suite.cells:
        specs = by_cell[(agent.label, env.label)]
        scores, histories, done, bad = _read_cell(out, specs, missing, failures)
        x = np.asarray(scores, dtype=np.float64)
        seed = _key_seed(suite.name, agent.label, env.label)
        cells.append(
            {
                "agent": agent.label,
                "agent_name": agent.name,
                "env": env.label,
                "env_id": env.id,
                "runs": len(specs),
                "done": done,
                "failed": bad,
                "scored": int(x.size),
                "scores": [float(v) for v in x],
                "mean": _interval([x], "mean", seed),
                "iqm": _interval([x], "iqm", seed + 1),
                "curve": _curve(histories, specs[0]),
            }
        )
        if env.score_range is not None and x.size:
            low, high = env.score_range
            normalised.setdefault(agent.label, []).append((env.label, (x - low) / (high - low)))
    aggregates = []
    for agent_label, strata in normalised.items():
        seed = _key_seed(suite.name, agent_label, "aggregate")
        arrays = [s for _, s in strata]
        aggregates.append(
            {
                "agent": agent_label,
                "envs": [e for e, _ in strata],
                "mean": _interval(arrays, "mean", seed),
                "iqm": _interval(arrays, "iqm", seed + 1),
            }
        )
    return {
        "format": "rlcore-bench-summary",
        "suite": suite.name,
        "hash": suite.hash,
        "seeds": suite.seeds,
        "confidence": CONFIDENCE,
        "protocols": sorted(
            {json.dumps(g.protocol.to_dict(), sort_keys=True) for g in suite.grids}
        ),
        "cells": cells,
        "aggregates": aggregates,
        "failures": failures,
        "missing": missing,
    }


def _read_cell(
    out: Path, specs: list[RunSpec], missing: list[str], failures: list[dict[str, Any]]
) -> tuple[list[float], list[History], int, int]:
    """One cell's finished runs: (scores, histories, runs done, runs failed); appends the run
    ids with no result to ``missing`` and a record per failed run to ``failures``."""
    scores, histories, done, bad = [], [], 0, 0
    for spec in specs:
        status = run_status(out, spec.run_id)
        if status is None:
            missing.append(spec.run_id)
            continue
        if status["status"] != "done":
            bad += 1
            error = (status.get("error") or "").strip().splitlines()
            failures.append(
                {
                    "run_id": spec.run_id,
                    "status": status["status"],
                    "exit_status": status.get("exit_status"),
                    "error": error[-1] if error else "",
                }
            )
            continue
        done += 1
        histories.append(History.load(out / "runs" / spec.run_id))
        if status.get("score") is not None:
            scores.append(float(status["score"]))
    return scores, histories, done, bad


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _fmt_ci(stat: dict[str, float | None]) -> str:
    if stat["estimate"] is None:
        return "–"
    if stat["low"] is None:
        return f"{_fmt(stat['estimate'])} (1 run)"
    return f"{_fmt(stat['estimate'])} [{_fmt(stat['low'])}, {_fmt(stat['high'])}]"


def _markdown(summary: dict[str, Any], description: str, plots: list[str]) -> str:
    pct = f"{summary['confidence']:.0%}"
    lines = [
        f"# Benchmark report: {summary['suite']}",
        "",
        *([description, ""] if description else []),
        f"Suite hash `{summary['hash']}`, {summary['seeds']} seeds per cell. Final score: see the "
        f"protocol below; intervals are {pct} percentile bootstrap intervals over seeds "
        "(stratified over envs for aggregates), learning-curve bands are Student-t intervals.",
        "",
        "## Final scores",
        "",
        f"| env | agent | runs done / planned | mean [{pct} CI] | IQM [{pct} CI] |",
        "|---|---|---|---|---|",
    ]
    for c in summary["cells"]:
        runs = f"{c['done']} / {c['runs']}" + (f" ({c['failed']} failed)" if c["failed"] else "")
        lines.append(
            f"| {c['env']} | {c['agent']} | {runs} | {_fmt_ci(c['mean'])} | {_fmt_ci(c['iqm'])} |"
        )
    if summary["aggregates"]:
        lines += [
            "",
            "## Aggregates over envs (normalised scores)",
            "",
            "Scores normalised per env to (score - low) / (high - low) with the env's "
            "`score_range`; runs resampled within each env (stratified bootstrap).",
            "",
            f"| agent | envs | mean [{pct} CI] | IQM [{pct} CI] |",
            "|---|---|---|---|",
        ]
        for a in summary["aggregates"]:
            envs = ", ".join(a["envs"])
            lines.append(f"| {a['agent']} | {envs} | {_fmt_ci(a['mean'])} | {_fmt_ci(a['iqm'])} |")
    lines += ["", "## Protocol", ""]
    lines += [f"- `{p}`" for p in summary["protocols"]]
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{Path(p).stem}]({p})" for p in plots]
    lines += ["", "## Failures", ""]
    if summary["failures"]:
        lines += ["| run | status | exit status | error |", "|---|---|---|---|"]
        for f in summary["failures"]:
            error = f["error"].replace("|", "\\|")
            lines.append(f"| {f['run_id']} | {f['status']} | {f['exit_status']} | {error} |")
        lines += ["", "Tracebacks: `runs/RUN/status.json`. `--resume` retries these runs."]
    else:
        lines.append("None.")
    if summary["missing"]:
        lines += [
            "",
            f"{len(summary['missing'])} run(s) have not finished; finish them with `--resume`.",
        ]
    return "\n".join(lines) + "\n"


def _csv(summary: dict[str, Any]) -> str:
    header = "agent,env,runs,done,failed,mean,mean_low,mean_high,iqm,iqm_low,iqm_high"
    rows = [header]
    for c in summary["cells"]:
        vals = [c["mean"][k] for k in ("estimate", "low", "high")]
        vals += [c["iqm"][k] for k in ("estimate", "low", "high")]
        text = ["" if v is None else repr(v) for v in vals]
        rows.append(
            ",".join(
                [c["agent"], c["env"], str(c["runs"]), str(c["done"]), str(c["failed"]), *text]
            )
        )
    return "\n".join(rows) + "\n"


def _plots(summary: dict[str, Any], out: Path) -> list[str]:
    """One learning-curve PNG per env and one score PNG; returns paths relative to ``out``."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    plot_dir = out / "plots"
    plot_dir.mkdir(exist_ok=True)
    envs = list(dict.fromkeys(c["env"] for c in summary["cells"]))
    agents = list(dict.fromkeys(c["agent"] for c in summary["cells"]))

    def color(agent: str) -> str:  # one colour per agent across all plots
        return f"C{agents.index(agent) % 10}"

    written = []
    for env in envs:
        cells = [c for c in summary["cells"] if c["env"] == env and c["curve"]]
        if not cells:
            continue
        fig = Figure(figsize=(6, 4), layout="constrained")
        ax = fig.add_subplot()
        for c in cells:
            x, curve = c["curve"]["x"], c["curve"]
            label = f"{c['agent']} ({c['done']} runs)"
            ax.plot(x, curve["mean"], color=color(c["agent"]), label=label)
            ax.fill_between(x, curve["low"], curve["high"], color=color(c["agent"]), alpha=0.2)
        ax.set(xlabel=cells[0]["curve"]["x_unit"], ylabel="return", title=env)
        ax.legend(fontsize="small")
        written.append(_save(fig, plot_dir / f"curves_{env}.png", out))
    scored = [c for c in summary["cells"] if c["iqm"]["estimate"] is not None]
    if scored:
        cols = min(3, len(envs))
        rows = math.ceil(len(envs) / cols)
        most = max(sum(c["env"] == env for c in scored) for env in envs)
        fig = Figure(figsize=(4.2 * cols, rows * (1.3 + 0.35 * most)), layout="constrained")
        for k, env in enumerate(envs):
            ax = fig.add_subplot(rows, cols, k + 1)
            cells = [c for c in scored if c["env"] == env]
            for j, c in enumerate(cells):
                est, low, high = (c["iqm"][key] for key in ("estimate", "low", "high"))
                err = None if low is None else [[est - low], [high - est]]
                ax.errorbar([est], [j], xerr=err, fmt="o", capsize=3, color=color(c["agent"]))
            ax.set_yticks(range(len(cells)), [c["agent"] for c in cells])
            ax.set_ylim(-0.6, len(cells) - 0.4)
            ax.set(title=env, xlabel="IQM of final score")
        written.append(_save(fig, plot_dir / "scores.png", out))
    return written


def _save(fig: Any, path: Path, out: Path) -> str:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    atomic_write_bytes(path, buffer.getvalue())
    return path.relative_to(out).as_posix()


def write_report(out: str | Path) -> Path:
    """Write ``summary.json``, ``summary.csv``, ``plots/*.png`` and ``report.md`` into ``out``.

    Returns:
        The path of ``report.md``.
    """
    out = Path(out).expanduser().resolve()
    summary = summarize(out)
    description = read_manifest(out)["suite"].get("description", "")
    plots = _plots(summary, out)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    atomic_write_text(out / "summary.csv", _csv(summary))
    report = out / "report.md"
    atomic_write_text(report, _markdown(summary, description, plots))
    return report
