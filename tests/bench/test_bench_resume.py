"""A sweep SIGKILLed mid-way and resumed redoes only the unfinished runs, and its report equals an
uninterrupted sweep's."""

import json
import os
import signal
import subprocess
import sys
import time

from rlcore.bench import LocalBackend, expand, load_suite, sweep

SUITE_FILE = """
from rlcore.bench import AgentSpec, Budget, EnvSpec, EvalProtocol, Grid, Suite

resumable = Suite(
    name="resumable",
    grids=(
        Grid(
            agents=(AgentSpec("agents.q_learning", {"alpha": 0.1, "gamma": 0.99}),
                    AgentSpec("policies.random")),
            envs=(EnvSpec("FrozenLake-v1", score_range=(0.0, 1.0)),),
            budget=Budget(episodes=400),
            protocol=EvalProtocol(score="evaluation", eval_episodes=20),
        ),
    ),
    seeds=6,
)
"""


def _done(out):
    runs = out / "runs"
    if not runs.is_dir():
        return set()
    return {
        p.name
        for p in runs.iterdir()
        if not p.name.startswith(".")
        and json.loads((p / "status.json").read_text())["status"] == "done"
    }


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_resume_after_sigkill_gives_the_uninterrupted_report(tmp_path):
    file = tmp_path / "resume_suite.py"
    file.write_text(SUITE_FILE)
    ref = f"{file}:resumable"
    total = len(expand(load_suite(ref)))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "rlcore.bench.cli", ref, "--out", str(out), "--workers", "2"]
    cmd.append("--quiet")
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while len(_done(out)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # the sweep's main process only, as `kill -9 PID`
        proc.wait()
        # Its workers die with it (and never finish a run afterwards).
        deadline = time.monotonic() + 15
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _group_alive(proc.pid), "worker processes outlived the killed sweep"
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stderr.close()
    finished = _done(out)
    assert 3 <= len(finished) < total, f"kill came too late or too early: {len(finished)} done"
    inodes = {r: (out / "runs" / r / "status.json").stat().st_ino for r in finished}

    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads((out / "sweep.json").read_text())
    assert (record["skipped"], record["ran"]) == (len(finished), total - len(finished))
    assert all((out / "runs" / r / "status.json").stat().st_ino == i for r, i in inodes.items())
    assert not list((out / "runs").glob(".*"))

    clean = tmp_path / "clean"
    sweep(load_suite(ref), clean, backend=LocalBackend(2), log=None)
    for name in ("summary.json", "summary.csv", "report.md"):
        assert (out / name).read_text() == (clean / name).read_text(), name
    summary = json.loads((clean / "summary.json").read_text())
    assert not summary["failures"] and not summary["missing"]
