"""End to end: ``rlcore bench suites.smoke`` (2 seeds) on the local backend and on a real local
Ray instance, which must give the same report."""

import importlib.util
import json

import pytest

from rlcore.bench.cli import bench_main


@pytest.fixture(scope="module")
def local_smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke_local")
    status = bench_main(
        ["suites.smoke", "--seeds", "2", "--workers", "2", "--out", str(out), "--quiet"]
    )
    return status, out


def test_smoke_on_the_local_backend(local_smoke):
    status, out = local_smoke
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["suite"] == "smoke" and summary["seeds"] == 2
    assert not summary["failures"] and not summary["missing"]
    cells = {(c["agent"], c["env"]): c for c in summary["cells"]}
    assert len(cells) == 7 and all(c["done"] == 2 for c in cells.values())
    # Example 6.6 (Sutton & Barto): on the cliff Sarsa learns the safe path and earns more per
    # episode while exploring than Q-learning (about -25 vs -50 for the book's settings).
    cliff_sarsa = cells[("sarsa", "cliff")]["mean"]["estimate"]
    cliff_q = cells[("q_learning", "cliff")]["mean"]["estimate"]
    assert cliff_sarsa > cliff_q
    assert -40 < cliff_sarsa < -17 and -70 < cliff_q < -30
    # One run directory holds its config (registry names), History, TensorBoard events, status.
    run = out / "runs" / "q_learning__cliff__s000"
    config = json.loads((run / "config.json").read_text())["run"]
    assert (
        config["agent"]["name"] == "agents.q_learning" and config["env"]["id"] == "CliffWalking-v1"
    )
    assert (run / "history.json").is_file() and list(run.glob("events.out.tfevents.*"))
    assert json.loads((run / "status.json").read_text())["status"] == "done"
    report = (out / "report.md").read_text()
    assert "| cliff | sarsa | 2 / 2 |" in report and "plots/curves_cliff.png" in report
    assert bench_main(["report", str(out)]) == 0
    assert (out / "report.md").read_text() == report


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")
def test_smoke_on_ray_gives_the_same_report(local_smoke, tmp_path):
    # Not importorskip: the backend must be what imports Ray first, to bind it to loopback.
    from rlcore.bench import RayBackend, load_suite, sweep

    _, local_out = local_smoke
    out = tmp_path / "smoke_ray"
    with RayBackend(2) as backend:
        import ray

        # A local instance on 2 CPUs, every node address the loopback one.
        assert ray.cluster_resources()["CPU"] == 2
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
        result = sweep(load_suite("suites.smoke").with_seeds(2), out, backend=backend, log=None)
        assert ray.is_initialized()  # the outer `with` owns the instance
    assert not ray.is_initialized()
    assert result.total == 14 and not result.failed
    assert json.loads((out / "sweep.json").read_text())["backend"] == "ray"
    for name in ("summary.json", "report.md"):
        assert (out / name).read_text() == (local_out / name).read_text()
