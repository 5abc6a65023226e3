"""Value-ensemble figures: Maxmin Q-learning against the maximization bias (Lan et al. 2020).

``figures.maxmin_bias`` reproduces the picture of Lan, Pan, Fyshe & White (2020), "Maxmin
Q-learning: Controlling the Estimation Bias of Q-learning" (ICLR), Figure 1-style: the percentage
of "left" actions from A by episode on the maximization-bias MDP of Sutton & Barto (2018)
Example 6.7 (10 actions in B with rewards N(-0.1, 1)), for Q-learning, Double Q-learning and
Maxmin Q-learning with N = 2, 4, 8 (alpha 0.1, epsilon 0.1, as Figure 6.5). Every method runs
through the batched engine (``rlcore.tabular.run_batched``; Maxmin's learner is
``rlcore.tabular.batched_ensembles.MaxminQ``). Run it with ``rlcore figures maxmin_bias --out DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import rlcore.envs  # noqa: F401  (registers the rlcore/... ids)
from rlcore.book.plotting import band, pyplot, result, save, spread, within
from rlcore.registry import export
from rlcore.tabular.batched import run_batched

ENV = "rlcore/MaximizationBias-v0"
EPISODES = 300
MAXMIN_N = (2, 4, 8)


def left_fractions(runs: int, seed: int, episodes: int = EPISODES) -> dict[str, np.ndarray]:
    """(runs, episodes) 0/1 arrays, 1 where the episode went left from A (length 2), for
    "Q-learning", "Double Q", "Maxmin N=1" (the same method as Q-learning, as a control),
    and "Maxmin N=2/4/8"."""
    settings = {"runs": runs, "episodes": episodes, "alpha": 0.1, "epsilon": 0.1}
    methods: list[tuple[str, str, dict]] = [
        ("Q-learning", "q_learning", {}),
        ("Double Q", "double_q_learning", {}),
        ("Maxmin N=1", "maxmin_q_learning", {"n": 1}),
    ] + [(f"Maxmin N={n}", "maxmin_q_learning", {"n": n}) for n in MAXMIN_N]
    out = {}
    for k, (label, learner, extra) in enumerate(methods):
        res = run_batched(learner, ENV, seed=np.random.default_rng([seed, k]), **settings, **extra)
        out[label] = (res.lengths == 2).astype(float)
    return out


@export("figures.maxmin_bias")
def maxmin_bias(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """% left actions from A by episode: Q-learning, Double Q, Maxmin N = 2, 4, 8 (1,000 runs;
    quick: 200).

    Checks (derived from Lan et al.'s claim that Maxmin's bias falls with N): Maxmin N = 4 goes
    left markedly less than N = 1 (Q-learning) in episodes 10-20, by more than 10 points and
    beyond both 99% confidence half-widths; and Maxmin N = 8 ends (episodes 251-300) within 3
    points plus the 99% half-width of the 5% that epsilon-greedy forces.
    """
    runs = 200 if quick else 1000
    left = left_fractions(runs, seed)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(1, EPISODES + 1)
    for label, values in left.items():
        if label != "Maxmin N=1":
            band(ax, x, 100 * values, label)
    ax.axhline(5, color="k", ls=":", label="optimal (5%)")
    ax.set(
        xlabel="Episodes",
        ylabel="% left actions from A",
        ylim=(0, 100),
        title=f"Maximization bias: Maxmin Q-learning ({runs} runs)",
    )
    ax.legend()
    png = save(fig, out_dir, "maxmin_bias")
    early = {k: v[:, 9:20].mean(axis=1) for k, v in left.items()}  # episodes 10-20, per run
    gap = early["Maxmin N=1"].mean() - early["Maxmin N=4"].mean()
    noise = spread(early["Maxmin N=1"]) + spread(early["Maxmin N=4"])
    end8 = left["Maxmin N=8"][:, 250:].mean(axis=1)
    checks = {
        "maxmin4_left_less_than_n1_episodes_10_20": within(gap, max(0.1, noise), 1.0),
        "maxmin8_left_fraction_at_end": within(end8.mean(), 0.0, 0.08 + spread(end8)),
    }
    means = ", ".join(f"{k} {100 * v.mean():.1f}%" for k, v in early.items())
    notes = [
        f"{runs} runs per method, alpha 0.1, epsilon 0.1; left % in episodes 10-20: {means}.",
        "Maxmin N=1 is Q-learning run a second time through the Maxmin learner (a control).",
    ]
    return result("maxmin_bias", "Maximization bias: Maxmin Q-learning", [png], checks, notes)
