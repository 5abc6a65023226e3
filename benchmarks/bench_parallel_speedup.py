"""How much the bench backends buy on this machine: a suite of many short runs, one after another
versus the local process pool, and the Ray backend's per-run overhead.

    .venv/bin/python benchmarks/bench_parallel_speedup.py --out /tmp/bench-speedup [--no-ray]

Writes ``speedup.json`` into --out and prints a table. Target (issue 6): with 2 workers on a
2-core machine the pool finishes in at most 0.6x the serial time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rlcore.bench import (
    AgentSpec,
    Budget,
    EnvSpec,
    EvalProtocol,
    Grid,
    LocalBackend,
    Suite,
    expand,
    sweep,
)


class SerialBackend:
    """Runs every task in this process, one after another: the baseline."""

    name = "serial"
    workers = 1

    def __enter__(self) -> SerialBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def map_unordered(
        self, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(item)


def short_runs_suite(runs: int, episodes: int) -> Suite:
    # Q-learning and the random policy on FrozenLake: runs of a few tenths of a second.
    agents = (
        AgentSpec("agents.q_learning", {"alpha": 0.1, "gamma": 0.99}),
        AgentSpec("policies.random"),
    )
    return Suite(
        name="speedup",
        grids=(
            Grid(
                agents=agents,
                envs=(EnvSpec("FrozenLake-v1"),),
                budget=Budget(episodes=episodes),
                protocol=EvalProtocol(last_episodes=50),
            ),
        ),
        seeds=max(1, runs // len(agents)),
    )


def _timed_sweep(suite: Suite, out: Path, backend: Any) -> float:
    start = time.perf_counter()
    result = sweep(suite, out, backend=backend, report=False, log=None)
    assert not result.failed, result.failed
    return time.perf_counter() - start


def _noop(item: int) -> int:
    return item


def _per_task_overhead(backend: Any, tasks: int) -> float:
    with backend:
        list(backend.map_unordered(_noop, list(range(4))))  # warm: workers up
        start = time.perf_counter()
        done = list(backend.map_unordered(_noop, list(range(tasks))))
        elapsed = time.perf_counter() - start
    assert len(done) == tasks
    return elapsed / tasks


def bench_parallel_speedup(
    out_dir: str | Path,
    *,
    runs: int = 40,
    episodes: int = 400,
    workers: int = 2,
    repeats: int = 3,
    ray: bool = True,
) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    suite = short_runs_suite(runs, episodes)
    n = len(expand(suite))
    results: dict[str, Any] = {
        "runs": n,
        "episodes_per_run": episodes,
        "workers": workers,
        "loadavg_before": os.getloadavg(),
    }
    # Warm this process (lazy imports of the agent module, TensorBoard writer) before timing.
    _timed_sweep(short_runs_suite(2, 5), out / "warmup", SerialBackend())
    # Starting the fork server (it imports what this process has of rlcore, torch included when
    # the registry pulled it in) happens once per process: timed apart, then added back.
    start = time.perf_counter()
    with LocalBackend(workers) as backend:
        list(backend.map_unordered(_noop, [0]))
    startup = time.perf_counter() - start
    # Serial and pool sweeps alternate, so that a change of load on a shared machine hits both.
    serial, warm = [], []
    for r in range(repeats):
        serial.append(_timed_sweep(suite, out / f"serial{r}", SerialBackend()))
        warm.append(_timed_sweep(suite, out / f"local{r}", LocalBackend(workers)))
    cold_ratios = [(w + startup) / s_ for w, s_ in zip(warm, serial)]
    results.update(
        serial_s=serial,
        local_startup_s=startup,
        local_warm_s=warm,
        local_ratio=statistics.median(cold_ratios),
        local_ratios=cold_ratios,
        local_warm_ratio=statistics.median(w / s_ for w, s_ in zip(warm, serial)),
        local_per_task_overhead_ms=1e3 * _per_task_overhead(LocalBackend(workers), 400),
    )
    if ray:
        from rlcore.bench.backends import RayBackend

        start = time.perf_counter()
        backend = RayBackend(workers)
        with backend:
            results["ray_init_s"] = time.perf_counter() - start
            results["ray_per_task_overhead_ms"] = 1e3 * _per_task_overhead(backend, 400)
            results["ray_s"] = _timed_sweep(suite, out / "ray", backend)
        results["ray_ratio"] = results["ray_s"] / statistics.median(serial)
        # Per run, beyond the warm local pool's time for the same runs.
        results["ray_extra_per_run_ms"] = 1e3 * (results["ray_s"] - statistics.median(warm)) / n
    results["loadavg_after"] = os.getloadavg()
    (out / "speedup.json").write_text(json.dumps(results, indent=1))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--episodes", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="alternating serial/pool pairs")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray measurements")
    args = parser.parse_args()
    r = bench_parallel_speedup(
        args.out,
        runs=args.runs,
        episodes=args.episodes,
        workers=args.workers,
        repeats=args.repeats,
        ray=not args.no_ray,
    )
    print(f"{r['runs']} runs of {r['episodes_per_run']} episodes, {r['workers']} workers")
    print(f"load average before / after: {r['loadavg_before']} / {r['loadavg_after']}")
    print(f"serial (one after another, in process): {r['serial_s']} s")
    print(f"local pool, warm:                       {r['local_warm_s']} s")
    print(f"fork server and pool start (once):      {r['local_startup_s']:.2f} s")
    print(
        f"local / serial, start included:         median {r['local_ratio']:.2f} of "
        f"{[round(x, 2) for x in r['local_ratios']]} (target <= 0.6)"
    )
    print(f"local / serial, warm:                   median {r['local_warm_ratio']:.2f}")
    print(f"local pool per-task overhead:           {r['local_per_task_overhead_ms']:.2f} ms")
    if "ray_s" in r:
        print(f"ray init (local instance):              {r['ray_init_s']:.2f} s")
        print(
            f"ray sweep:                              {r['ray_s']:.2f} s, "
            f"ratio {r['ray_ratio']:.2f} to serial"
        )
        print(f"ray per-task overhead (no-op task):     {r['ray_per_task_overhead_ms']:.2f} ms")
        print(f"ray extra time per run vs warm pool:    {r['ray_extra_per_run_ms']:.1f} ms")


if __name__ == "__main__":
    main()
