"""One run, as a worker process (or Ray task) executes it: build, train, score, hand back files.

``execute_run(task)`` takes a ``RunSpec`` as a dict and returns an outcome dict: the run's status
(``done`` with its scores, or ``failed`` with the exception and traceback) and the bytes of every
file the run wrote (History, CSV, TensorBoard events) in a private scratch directory. The parent
process alone writes them into the sweep's output directory, atomically; a worker never touches
it, so a worker killed mid-run leaves nothing behind that could look finished, and a Ray worker
on another machine needs no shared file system.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

# Registers policies.random so that looking it up does not load the whole "policies" namespace
# (whose providers include torch-backed modules: seconds per worker process).
import rlcore.policies  # noqa: F401

THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def import_extra(module: str) -> ModuleType:
    """Import a module by dotted name, or a ``.py`` file under a name derived from its path
    (so that the parent and every worker import the same file exactly once)."""
    if not module.endswith(".py"):
        return importlib.import_module(module)
    path = Path(module).expanduser().resolve()
    name = "rlcore_bench_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    if not path.is_file():
        raise FileNotFoundError(f"suite import {module!r}: no such file {path}")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    return mod


def one_thread() -> None:
    """One math thread for this process (2-core machines: FIELD-NOTES; a small MLP ran 28x
    slower with torch's default threads on a shared machine).

    torch: through ``OMP_NUM_THREADS`` when it is imported later, ``set_num_threads`` if it
    already is (it is never imported here). NumPy's BLAS read its variables when NumPy loaded,
    so it is limited through ``threadpoolctl`` where that is installed (scikit-learn's
    dependency); without it BLAS keeps its threads.
    """
    os.environ.update(THREAD_ENV)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1)


def _mean_or_none(x: np.ndarray) -> float | None:
    return float(np.mean(x)) if len(x) else None


def eval_seed(seed: int) -> int:
    """Seed of the greedy evaluation episodes, independent of the training stream."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])


def _train_and_score(task: Mapping[str, Any], work: Path) -> dict[str, Any]:
    import rlcore
    from rlcore.loop import make_env

    for module in task.get("imports", ()):
        import_extra(module)
    env_spec, agent_spec = task["env"], task["agent"]
    budget, protocol, seed = task["budget"], task["protocol"], int(task["seed"])
    env = make_env(env_spec["id"], **env_spec["kwargs"])
    try:
        agent = rlcore.make(agent_spec["name"], env, seed=seed, **agent_spec["config"])
        one_thread()
        common = {"max_episode_steps": env_spec["max_episode_steps"], "progress": False}
        train = rlcore.run(
            agent,
            env,
            episodes=budget["episodes"],
            steps=budget["steps"],
            seed=seed,
            logdir=work,
            **common,
        )
        returns = train.returns_array()
        scores: dict[str, Any] = {
            "last_episodes": _mean_or_none(returns[-protocol["last_episodes"] :]),
            "evaluation": None,
            "train_episodes": train.episodes,
            "train_steps": train.steps,
        }
        if protocol["eval_episodes"] > 0:
            evaluation = rlcore.run(
                agent,
                env,
                episodes=protocol["eval_episodes"],
                seed=eval_seed(seed),
                learn=False,
                explore=False,
                logdir=work / "eval",
                **common,
            )
            scores["evaluation"] = _mean_or_none(evaluation.returns_array())
    finally:
        env.close()
    scores["score"] = scores[protocol["score"]]
    return scores


def _collect(work: Path) -> dict[str, bytes]:
    return {
        p.relative_to(work).as_posix(): p.read_bytes()
        for p in sorted(work.rglob("*"))
        if p.is_file()
    }


def execute_run(task: Mapping[str, Any], work_root: str | None = None) -> dict[str, Any]:
    """Run one ``RunSpec`` (as a dict) and return its outcome; never raises for the run's errors.

    Args:
        task: ``RunSpec.to_dict()``.
        work_root: where to make the scratch directory (None: the system temp directory).

    Returns:
        ``{"run_id", "status": {...}, "files": {relative path: bytes}}``; ``status["status"]`` is
        ``"done"`` (with ``score``, ``last_episodes``, ``evaluation``, ``train_episodes``,
        ``train_steps``) or ``"failed"`` (with ``error``, ``traceback``), and ``exit_status`` is
        0 or 1 as for a process that ran the run alone.
    """
    start = time.perf_counter()
    if work_root is not None:
        Path(work_root).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{task['run_id']}.", dir=work_root))
    try:
        try:
            status: dict[str, Any] = {
                "status": "done",
                "exit_status": 0,
                **_train_and_score(task, work),
            }
        except Exception as err:  # recorded, and the sweep goes on
            status = {
                "status": "failed",
                "exit_status": 1,
                "error": f"{type(err).__name__}: {err}",
                "traceback": traceback.format_exc(),
            }
        files = _collect(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    status.update(
        run_id=task["run_id"],
        wall_time=time.perf_counter() - start,
        host=platform.node(),
        pid=os.getpid(),
    )
    return {"run_id": task["run_id"], "status": status, "files": files}
