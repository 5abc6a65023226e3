"""The command line, called in-process and as the installed console script."""

import subprocess
import sys
from pathlib import Path

import pytest

from rlcore.cli import main


def test_list_shows_names(capsys):
    assert main(["list", "policies."]) == 0
    assert "policies.random" in capsys.readouterr().out


def test_list_unknown_prefix(capsys):
    assert main(["list", "nothing."]) == 1
    assert "namespaces" in capsys.readouterr().out


def test_envs_lists_rlcore_ids(capsys):
    import rlcore.envs

    assert main(["envs"]) == 0
    assert capsys.readouterr().out.split() == rlcore.envs.ids()


def test_check_env_on_gymnasium_finite_env(capsys):
    assert main(["check-env", "FrozenLake-v1"]) == 0
    out = capsys.readouterr().out
    assert "passes" in out and "16 states" in out


def test_check_env_unknown_id_suggests(capsys):
    assert main(["check-env", "FrozenLak-v1"]) == 2
    assert "FrozenLake-v1" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


def test_console_script_works_from_another_directory(tmp_path):
    exe = Path(sys.executable).parent / "rlcore"  # installed next to the venv's python
    if not exe.exists():
        pytest.skip(f"no console script at {exe}: rlcore is not installed in this interpreter")
    out = subprocess.run(
        [str(exe), "list", "policies."], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0 and "policies.random" in out.stdout


def test_check_agent_passes_a_registered_agent(capsys):
    assert main(["check-agent", "rlcore.tabular.td:QLearning", "--episodes", "200"]) == 0
    assert "honours the contract" in capsys.readouterr().out


def test_check_agent_unloadable_spec(capsys):
    assert main(["check-agent", "no_such_module:Nothing"]) == 2


def test_data_collect_writes_a_loadable_dataset(tmp_path, capsys):
    from rlcore.data import load_dataset

    assert (
        main(["data", "collect", "rlcore/Navigation2D-v0", "-n", "2", "-o", str(tmp_path / "d")])
        == 0
    )
    dataset = load_dataset(tmp_path / "d.npz")
    assert dataset.n_episodes == 2


def test_train_saves_a_loadable_agent(tmp_path, capsys):
    import rlcore

    args = [
        "train",
        "agents.q_learning",
        "CliffWalking-v1",
        "--episodes",
        "30",
        "--out",
        str(tmp_path),
    ]
    assert main([*args, "--set", "alpha=0.5", "--set", "epsilon=0.1"]) == 0
    agent = rlcore.load(tmp_path / "agent")
    assert rlcore.name_of(agent) == "agents.q_learning" and agent.q.shape == (48, 4)
    assert (tmp_path / "logs" / "history.json").exists()


def test_train_bad_option_is_a_clear_error(tmp_path, capsys):
    args = [
        "train",
        "agents.q_learning",
        "CliffWalking-v1",
        "--episodes",
        "3",
        "--out",
        str(tmp_path),
    ]
    assert main([*args, "--set", "alpha=1.5"]) == 2
    assert "alpha" in capsys.readouterr().err


def test_figures_exit_status_and_summary(tmp_path, capsys, isolated_registry, monkeypatch):
    from rlcore.book.report import check

    def figure_99_1(out_dir, *, quick=False, seed=0):
        return {"figure": "figure_99_1", "png": None, "checks": {"off": check(2.0, 1.0, 0.5)}}

    isolated_registry.export("figures.figure_99_1")(figure_99_1)
    out = str(tmp_path)
    assert main(["figures", "figure_99_1", "--out", out]) == 1  # book settings: a miss fails
    assert main(["figures", "figure_99_1", "--quick", "--out", out]) == 0  # indicative
    assert main(["figures", "figure_99_1", "--quick", "--strict", "--out", out]) == 1
    summary = (tmp_path / "summary.md").read_text()
    assert "0 of 1 checks passed" in summary and "smoke run only" in summary  # said per check
    assert "[smoke] off" in capsys.readouterr().out
    assert main(["figures", "figure_99_1", "--out", out]) == 1
    assert "**NO**" in (tmp_path / "summary.md").read_text()  # at book settings: a failure
    assert "[FAIL] off" in capsys.readouterr().out
    real_names = isolated_registry.names
    monkeypatch.setattr(  # "all" = every registered figure: here only the one above
        isolated_registry, "names", lambda prefix="": [n for n in real_names(prefix) if "99" in n]
    )
    assert main(["figures", "all", "--quick", "--out", out]) == 0  # every figure
    printed = capsys.readouterr().out
    assert "1 figure(s) at quick settings; expected" in printed and "set ETA" in printed
    assert main(["figures", "ch99", "--quick", "--out", out]) == 0  # chapter selection
    assert main(["figures", "ch98", "--out", out]) == 2
