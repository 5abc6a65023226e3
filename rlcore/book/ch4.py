"""Chapter 4 (dynamic programming): Figures 4.1, 4.2 and 4.3 of Sutton & Barto (2018).

Each figure runs exact DP (``rlcore.tabular.planning``) on the book's environment, writes a PNG
and checks its headline numbers: against the book where it prints them, else against ground
truth derived independently (an exact linear solve, a closed form, a theorem). DP has no
randomness and takes seconds, so ``quick`` and ``seed`` change nothing here; they are accepted
because every figure function takes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import rlcore.envs  # noqa: F401  (registers the rlcore/... ids)
from rlcore.book.report import check
from rlcore.envs._grid import COMPASS_NAMES
from rlcore.registry import export
from rlcore.tabular import FiniteMDP, planning

ARROW = {"up": "↑", "right": "→", "down": "↓", "left": "←"}

# Figure 4.1, left column: v_k of the equiprobable random policy (the book rounds to 1 decimal).
BOOK_4_1_VALUES = {
    0: [[0.0] * 4] * 4,
    1: [[0.0, -1.0, -1.0, -1.0], [-1.0] * 4, [-1.0] * 4, [-1.0, -1.0, -1.0, 0.0]],
    2: [
        [0.0, -1.7, -2.0, -2.0],
        [-1.7, -2.0, -2.0, -2.0],
        [-2.0, -2.0, -2.0, -1.7],
        [-2.0, -2.0, -1.7, 0.0],
    ],
    3: [
        [0.0, -2.4, -2.9, -3.0],
        [-2.4, -2.9, -3.0, -2.9],
        [-2.9, -3.0, -2.9, -2.4],
        [-3.0, -2.9, -2.4, 0.0],
    ],
    10: [
        [0.0, -6.1, -8.4, -9.0],
        [-6.1, -7.7, -8.4, -8.4],
        [-8.4, -8.4, -7.7, -6.1],
        [-9.0, -8.4, -6.1, 0.0],
    ],
}
BOOK_4_1_V_INF = [
    [0, -14, -20, -22],
    [-14, -18, -20, -20],
    [-20, -20, -18, -14],
    [-22, -20, -14, 0],
]
# Figure 4.1, right column at k = infinity: the greedy actions (all ties) of each cell.
BOOK_4_1_GREEDY = [
    ["", "←", "←", "←↓"],
    ["↑", "↑←", "←↓", "↓"],
    ["↑", "↑→", "→↓", "↓"],
    ["↑→", "→", "→", ""],
]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _arrows(pi_s: np.ndarray) -> str:
    """The tied greedy actions of one state as arrows, in a fixed order (up, left, right, down)."""
    chosen = {ARROW[COMPASS_NAMES[a]] for a in np.flatnonzero(pi_s > 0)}
    return "".join(c for c in "↑←→↓" if c in chosen)


def _output_dir(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _result(name: str, title: str, png: Path, checks: dict, notes: list[str]) -> dict[str, Any]:
    return {"figure": name, "title": title, "png": str(png), "checks": checks, "notes": notes}


@export("figures.figure_4_1")
def figure_4_1(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 4.1: iterative policy evaluation of the random policy on the 4x4 gridworld
    (Example 4.1), with the greedy policy of each v_k, at k = 0, 1, 2, 3, 10 and infinity."""
    out = _output_dir(out_dir)
    env = gym.make("rlcore/Gridworld4x4-v0")
    random_policy = np.full((16, 4), 0.25)
    # Synchronous sweeps (two arrays), as the figure's numbers are: v_2(1) = -1.75.
    sweeps = planning.policy_evaluation(
        env, random_policy, 1.0, in_place=False, theta=1e-10, record_history=True
    )
    exact = planning.policy_evaluation(env, random_policy, 1.0, method="exact")
    rows = {k: sweeps.history[k] for k in (0, 1, 2, 3, 10)} | {"∞": exact.v}
    greedy = {k: planning.greedy_policy(planning.q_from_v(env, v, 1.0)) for k, v in rows.items()}

    checks = {}
    for k, book in BOOK_4_1_VALUES.items():
        err = np.max(np.abs(rows[k] - np.ravel(book)))
        checks[f"v_{k} max |error| (book rounds to 0.1)"] = check(err, 0.0, 0.05)
    checks["v_inf max |error| (book's integers are exact)"] = check(
        np.max(np.abs(exact.v - np.ravel(BOOK_4_1_V_INF))), 0.0, 1e-9
    )
    checks["v_inf by sweeps vs exact solve"] = check(
        np.max(np.abs(sweeps.v - exact.v)), 0.0, 1e-6, source="derived"
    )
    book_arrows = [a for row in BOOK_4_1_GREEDY for a in row]
    matches = sum(_arrows(greedy["∞"][s]) == book_arrows[s] for s in range(1, 15))
    checks["greedy(v_inf): states whose tied actions match the book"] = check(matches, 14, 0)
    # §4.1: "all policies after the third iteration are optimal": v of greedy(v_3) is v*.
    v_star = planning.value_iteration(env, 1.0, in_place=False, theta=1e-12).v
    v_greedy3 = planning.policy_evaluation(env, greedy[3], 1.0, method="exact").v
    checks["greedy(v_3) is optimal: max |v_greedy - v*|"] = check(
        np.max(np.abs(v_greedy3 - v_star)), 0.0, 1e-9
    )

    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), 2, figsize=(6.4, 2.4 * len(rows)))
    for (k, v), (ax_v, ax_p) in zip(rows.items(), axes):
        for ax in (ax_v, ax_p):
            ax.set_xlim(0, 4), ax.set_ylim(4, 0), ax.set_xticks([]), ax.set_yticks([])
            ax.set_aspect("equal")
            for i in range(5):
                ax.axhline(i, color="k", lw=0.5), ax.axvline(i, color="k", lw=0.5)
            for t in (0, 15):
                ax.add_patch(plt.Rectangle((t % 4, t // 4), 1, 1, color="0.8"))
        for s in range(16):
            r, c = divmod(s, 4)
            ax_v.text(c + 0.5, r + 0.5, f"{v[s]:.1f}", ha="center", va="center", fontsize=8)
            if s not in (0, 15):
                ax_p.text(c + 0.5, r + 0.5, _arrows(greedy[k][s]), ha="center", va="center")
        ax_v.set_ylabel(f"k = {k}")
    axes[0, 0].set_title("v_k for the random policy")
    axes[0, 1].set_title("greedy policy w.r.t. v_k")
    fig.tight_layout()
    png = out / "figure_4_1.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    notes = [
        f"Synchronous iterative policy evaluation, gamma = 1: {sweeps.sweeps} sweeps to "
        "theta = 1e-10; k = infinity is the exact solve of (I - P_pi) v = r_pi.",
        "Arrows list all greedy actions (ties within 1e-9), as the book draws them.",
    ]
    return _result("figure_4_1", "Policy evaluation on the 4x4 gridworld", png, checks, notes)


@export("figures.figure_4_2")
def figure_4_2(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 4.2: the policies pi_0..pi_4 that policy iteration finds for Jack's car rental
    (Example 4.2, gamma = 0.9) from the policy that never moves a car, and v_pi4."""
    out = _output_dir(out_dir)
    env = gym.make("rlcore/JacksCarRental-v0")
    jack = env.unwrapped
    n, max_move = jack.config.max_cars + 1, jack.config.max_move
    never_move = np.full(jack.config.n_states, max_move)  # action index of move 0
    # Exact evaluation (a sparse solve) instead of sweeps: the same policies, in a fraction
    # of the time.
    pi = planning.policy_iteration(
        env, 0.9, policy=never_move, evaluation="exact", record_history=True
    )
    vi = planning.value_iteration(env, 0.9, in_place=False, theta=1e-9)
    moves = [p.argmax(axis=1).reshape(n, n) - max_move for p in pi.policies]  # [first, second]
    v = pi.v.reshape(n, n)

    checks = {
        "policy improvements until stable (book: pi_4 is final)": check(pi.improvements, 4, 0),
        "largest value decrease between successive policies (theorem: none)": check(
            max([0.0] + [float(np.max(a - b)) for a, b in zip(pi.history, pi.history[1:])]),
            0.0,
            1e-9,
            source="derived",
        ),
        "max |v_pi4 - v*| (v* by value iteration)": check(
            np.max(np.abs(pi.v - vi.v)), 0.0, vi.error_bound + 1e-9, source="derived"
        ),
    }

    plt = _pyplot()
    fig = plt.figure(figsize=(13, 8.5), layout="constrained")
    policy_axes = []
    for k, m in enumerate(moves[:5]):
        ax = fig.add_subplot(2, 3, k + 1)
        im = ax.imshow(m, origin="lower", cmap="coolwarm", vmin=-max_move, vmax=max_move)
        ax.contour(m, levels=np.arange(-max_move, max_move) + 0.5, colors="k", linewidths=0.6)
        ax.set_title(f"pi_{k}")
        ax.set_xlabel("# cars at second location")
        ax.set_ylabel("# cars at first location")
        policy_axes.append(ax)
    fig.colorbar(
        im,
        ax=policy_axes,
        location="bottom",
        shrink=0.5,
        ticks=range(-max_move, max_move + 1),
        label="net cars moved overnight, first -> second location",
    )
    ax = fig.add_subplot(2, 3, 6, projection="3d")
    second, first = np.meshgrid(np.arange(n), np.arange(n))
    ax.plot_surface(second, first, v, cmap="viridis")
    ax.set_xlabel("# cars at second location")
    ax.set_ylabel("# cars at first location")
    ax.set_title(f"v_pi{pi.improvements}")
    ax.set_box_aspect(None, zoom=0.85)
    png = out / "figure_4_2.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    notes = [
        f"Policy iteration with exact evaluation from pi_0 = never move: {pi.improvements} "
        f"improvements; value iteration (synchronous, theta 1e-9) took {vi.sweeps} sweeps.",
        f"v_pi4 ranges from {v.min():.1f} (at {_cell(v, v.argmin())}) to "
        f"{v.max():.1f} (at {_cell(v, v.argmax())}), as (first, second). The "
        "book's surface is labelled 420 and 612; an independent brute-force model (Poisson sums "
        "to 60 cars, tests/book/test_ch4.py) agrees with ours, not with 612, so no check is "
        "made against those labels.",
        "The model is exact: Poisson tails are lumped into 'all cars rented' and 'lot full'. "
        f"States where the optimal action is tied (within {pi.tie_tol:.1e}): "
        f"{int(np.sum(np.count_nonzero(pi.policy, axis=1) > 1))}.",
    ]
    return _result("figure_4_2", "Policy iteration on Jack's car rental", png, checks, notes)


def bold_play_values(p_h: float, goal: int = 100) -> np.ndarray:
    """v of bold play (stake min(s, goal - s)), which is optimal for p_h <= 1/2 (Dubins &
    Savage 1965), by the exact linear solve of its Bellman equation; (goal + 1,)."""
    env = gym.make("rlcore/GamblersProblem-v0", p_h=p_h, goal=goal)
    stakes = np.array([min(s, goal - s) for s in range(goal + 1)])
    stakes[[0, goal]] = 1  # any action at the terminal states
    mdp = FiniteMDP.from_env(env)
    return planning.policy_evaluation(mdp, stakes, 1.0, method="exact").v


@export("figures.figure_4_3")
def figure_4_3(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 4.3: value iteration on the gambler's problem (Example 4.3, p_h = 0.4): value
    estimates after sweeps 1, 2, 3, 32 and at convergence, and the optimal stakes."""
    out = _output_dir(out_dir)
    env = gym.make("rlcore/GamblersProblem-v0", p_h=0.4)
    # Synchronous sweeps: the figure's "sweep 32" exists only if value iteration takes more
    # than 32 sweeps, which it does with synchronous sweeps (about 40 to theta = 1e-12; in-place
    # sweeps converge in about 22).
    vi = planning.value_iteration(env, 1.0, in_place=False, theta=1e-12, record_history=True)
    v = vi.v
    optimal = [np.flatnonzero(vi.policy[s]) for s in range(101)]
    bold = bold_play_values(0.4)
    checks = {
        # Bold play's closed forms: 0.4 = p_h, 0.16 = p_h^2, 0.64 = p_h + (1 - p_h) p_h.
        "v*(50)": check(v[50], 0.4, 1e-9, source="derived"),
        "v*(25)": check(v[25], 0.16, 1e-9, source="derived"),
        "v*(75)": check(v[75], 0.64, 1e-9, source="derived"),
        "stake 50 is optimal at capital 50": check(50 in optimal[50], 1, 0),
        "stake 25 is optimal at capital 25": check(25 in optimal[25], 1, 0),
        "max |v* - v(bold play)| (Dubins & Savage)": check(
            np.max(np.abs(v - bold)), 0.0, 1e-9, source="derived"
        ),
        "sweep 1: max |v_1 - 0.4 * [s >= 50]|": check(
            np.max(np.abs(vi.history[1][1:100] - 0.4 * (np.arange(1, 100) >= 50))),
            0.0,
            1e-15,
            source="derived",
        ),
    }

    plt = _pyplot()
    fig, (ax_v, ax_p) = plt.subplots(2, 1, figsize=(7, 8))
    capital = np.arange(1, 100)
    for k in (1, 2, 3, 32):
        if k < len(vi.history):
            ax_v.plot(capital, vi.history[k][1:100], lw=1, label=f"sweep {k}")
    ax_v.plot(capital, v[1:100], "k", lw=1.5, label="final value function")
    ax_v.set_xlabel("capital"), ax_v.set_ylabel("value estimates"), ax_v.legend()
    for s in capital:
        ax_p.scatter([s] * len(optimal[s]), optimal[s], s=6, color="0.6")
    ax_p.step(
        capital,
        [optimal[s][0] for s in capital],
        where="mid",
        color="C0",
        label="smallest optimal stake",
    )
    ax_p.set_xlabel("capital"), ax_p.set_ylabel("final policy (stake)")
    ax_p.legend(title="grey: every optimal stake")
    fig.tight_layout()
    png = out / "figure_4_3.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    ties = sum(len(optimal[s]) > 1 for s in capital)
    notes = [
        f"Synchronous value iteration, gamma = 1: {vi.sweeps} sweeps to theta = 1e-12; ties "
        f"within {vi.tie_tol:.1e} count as optimal ({ties} of 99 states have several optimal "
        "stakes, so several optimal policies exist; the book draws one of them).",
        "Illegal stakes (0, or above min(s, 100 - s)) end the episode with reward 0 in "
        "rlcore/GamblersProblem-v0, which leaves every policy's value as in the book.",
    ]
    return _result("figure_4_3", "Value iteration on the gambler's problem", png, checks, notes)


FIGURES = (figure_4_1, figure_4_2, figure_4_3)


def _cell(v: np.ndarray, flat_index: Any) -> tuple[int, ...]:
    """The (row, column) of a flat index, as plain ints (for notes a person reads)."""
    return tuple(int(i) for i in np.unravel_index(flat_index, v.shape))
