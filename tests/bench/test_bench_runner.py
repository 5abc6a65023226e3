"""The sweep: failure isolation, atomic run directories, output-directory rules, bad input."""

import fcntl
import json
import sys
import textwrap

import pytest

from rlcore.bench import (
    AgentSpec,
    Budget,
    EnvSpec,
    Grid,
    LocalBackend,
    OutputDirError,
    Suite,
    expand,
    load_suite,
    sweep,
)
from rlcore.bench import runner as runner_module
from rlcore.bench.cli import bench_main
from rlcore.bench.runner import record, run_status

FLAKY = '''
import os

import rlcore
from rlcore.bench import AgentSpec, Budget, EnvSpec, Grid, Suite


@rlcore.export("agents.bench_test_flaky")
class Flaky:
    """Random actions; on its 5th action it raises, or ends its process with status 7."""

    def __init__(self, env, *, seed=None, mode="ok"):
        self.space, self.mode, self.calls = env.action_space, mode, 0

    def seed(self, seed):
        self.space.seed(seed)

    def reset(self):
        pass

    def act(self, obs, *, explore=False):
        self.calls += 1
        if self.calls == 5 and self.mode == "raise":
            raise RuntimeError("flaky agent broke on purpose")
        if self.calls == 5 and self.mode == "exit":
            os._exit(7)
        return self.space.sample()


flaky = Suite(
    name="flaky",
    grids=(
        Grid(
            agents=tuple(AgentSpec("agents.bench_test_flaky", {"mode": m}, label=m)
                         for m in ("ok", "raise", "exit")),
            envs=(EnvSpec("CliffWalking-v1", max_episode_steps=10),),
            budget=Budget(episodes=3),
        ),
    ),
    seeds=2,
)
'''


@pytest.fixture(autouse=True)
def _forget_test_agents(isolated_registry):
    """The flaky agent's suite file registers agents.bench_test_flaky in this process."""


def _tiny(name="tiny", seeds=2, episodes=2):
    return Suite(
        name=name,
        grids=(
            Grid(
                agents=(AgentSpec("policies.random"),),
                envs=(EnvSpec("FrozenLake-v1"),),
                budget=Budget(episodes=episodes),
            ),
        ),
        seeds=seeds,
    )


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    file = tmp_path / "flaky_suite.py"
    file.write_text(FLAKY)
    suite = load_suite(f"{file}:flaky")
    out = tmp_path / "out"
    result = sweep(suite, out, backend=LocalBackend(2), log=None)
    assert result.total == 6
    assert sorted(result.failed) == sorted(
        f"{m}__CliffWalking-v1__s00{i}" for m in ("raise", "exit") for i in (0, 1)
    )
    for i in (0, 1):
        ok = run_status(out, f"ok__CliffWalking-v1__s00{i}")
        assert ok["status"] == "done" and ok["exit_status"] == 0 and ok["train_episodes"] == 3
        raised = run_status(out, f"raise__CliffWalking-v1__s00{i}")
        assert raised["status"] == "failed" and raised["exit_status"] == 1
        assert "RuntimeError: flaky agent broke on purpose" in raised["traceback"]
        assert "in act" in raised["traceback"]
        died = run_status(out, f"exit__CliffWalking-v1__s00{i}")
        assert died["status"] == "crashed" and died["exit_status"] == 7
    summary = json.loads((out / "summary.json").read_text())
    assert {f["run_id"] for f in summary["failures"]} == set(result.failed)
    assert "flaky agent broke on purpose" in (out / "report.md").read_text()
    # Every run directory is complete; no scratch is left behind.
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(
        r.run_id for r in expand(suite)
    )
    assert not (out / ".work").exists() or not any((out / ".work").iterdir())


def test_a_half_written_run_never_looks_done(tmp_path, monkeypatch):
    suite = _tiny()
    spec = expand(suite)[0]
    out = tmp_path
    (out / "runs").mkdir()
    real_write = runner_module._write

    def dying_write(path, data):
        if path.name == "status.json":
            raise KeyboardInterrupt  # the process stops between the data files and the status
        real_write(path, data)

    monkeypatch.setattr(runner_module, "_write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        record(out, spec, {"status": "done", "score": 1.0}, {"history.json": b"{}"})
    assert run_status(out, spec.run_id) is None
    assert not (out / "runs" / spec.run_id).exists()
    monkeypatch.setattr(runner_module, "_write", real_write)
    # An earlier failed attempt is replaced as a whole.
    record(out, spec, {"status": "failed", "error": "x"}, {"stale.txt": b"old"})
    record(out, spec, {"status": "done", "score": 1.0}, {"history.json": b"{}"})
    assert run_status(out, spec.run_id)["status"] == "done"
    assert not (out / "runs" / spec.run_id / "stale.txt").exists()
    with pytest.raises(ValueError, match="outside its directory"):
        record(out, spec, {"status": "done"}, {"../evil": b""})


def test_output_directory_rules(tmp_path):
    out = tmp_path / "out"
    first = sweep(_tiny(), out, backend=LocalBackend(1), report=False, log=None)
    assert first.done == 2 and first.skipped == 0
    with pytest.raises(OutputDirError, match="--resume"):
        sweep(_tiny(), out, backend=LocalBackend(1), log=None)
    with pytest.raises(OutputDirError, match="not of suite 'other'"):
        sweep(_tiny("other"), out, backend=LocalBackend(1), resume=True, log=None)
    with pytest.raises(OutputDirError, match="3 seeds"):
        sweep(_tiny(seeds=3), out, backend=LocalBackend(1), resume=True, log=None)
    again = sweep(_tiny(), out, backend=LocalBackend(1), resume=True, log=None)
    assert (again.skipped, again.done) == (2, 0) and again.report.is_file()
    fresh = sweep(_tiny(seeds=3), out, backend=LocalBackend(1), overwrite=True, log=None)
    assert (fresh.skipped, fresh.done) == (0, 3)
    with open(out / ".lock", "a+") as f:  # another sweep holds the directory
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(OutputDirError, match="another rlcore bench"):
            sweep(_tiny(seeds=3), out, backend=LocalBackend(1), resume=True, log=None)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match="not empty"):
        sweep(_tiny(), stranger, backend=LocalBackend(1), log=None)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["suites.smok"], "Did you mean: 'suites.smoke'"),
        (["smoke", "--seeds", "0"], "must be at least 1"),
        (["nowhere.py:suite"], "does not exist"),
        (["smoke", "--ray-address", "auto"], "--ray-address needs --backend ray"),
    ],
)
def test_cli_bad_input(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) if "--seeds" in argv else _nothing():
        status = bench_main([*argv, "--out", str(tmp_path / "o")])
        assert status == 2
    assert message in capsys.readouterr().err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_cli_unknown_agent_and_env_get_suggestions(tmp_path, capsys):
    file = tmp_path / "typos.py"
    file.write_text(
        textwrap.dedent("""
        from rlcore.bench import AgentSpec, Budget, EnvSpec, Grid, Suite

        def one(agent, env):
            return Suite(name="typo", grids=(Grid(agents=(AgentSpec(agent),), envs=(EnvSpec(env),),
                                                  budget=Budget(episodes=1)),))

        agent_typo = one("agents.q_lerning", "FrozenLake-v1")
        env_typo = one("policies.random", "FrozenLake-v2")
    """)
    )
    assert bench_main([f"{file}:agent_typo", "--out", str(tmp_path / "a")]) == 2
    assert "Did you mean: 'agents.q_learning'" in capsys.readouterr().err
    assert bench_main([f"{file}:env_typo", "--out", str(tmp_path / "b")]) == 2
    assert "FrozenLake-v1" in capsys.readouterr().err
    assert bench_main([f"{file}:nothing", "--out", str(tmp_path / "c")]) == 2
    assert "agent_typo, env_typo" in capsys.readouterr().err


def test_cli_ray_not_installed(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert bench_main(["smoke", "--backend", "ray", "--out", str(tmp_path / "o")]) == 2
    assert "pip install 'rlcore[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_bench_subcommand_plugs_into_an_argparse_cli(capsys):
    import argparse

    from rlcore.bench.cli import add_bench_parser

    parser = argparse.ArgumentParser(prog="rlcore")
    add_bench_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "list"])
    assert args.func(args) == 0
    assert "suites.smoke" in capsys.readouterr().out


def test_one_thread_pins_torch_imported_later_and_blas():
    """bench.worker.one_thread (also what `rlcore figures` calls): in a fresh process, torch
    imported after it runs on one thread, and NumPy's BLAS is limited where threadpoolctl is
    installed."""
    import subprocess
    import sys

    code = (
        "import numpy, rlcore.bench.worker as w; w.one_thread(); import torch; "
        "print(torch.get_num_threads());\n"
        "try:\n"
        "    from threadpoolctl import threadpool_info\n"
        "    print(max([p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'] "
        "or [1]))\n"
        "except ImportError:\n"
        "    print(1)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["1", "1"]
