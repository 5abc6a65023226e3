"""Chapter 5 (Monte Carlo methods) of Sutton & Barto (2018): Figures 5.1-5.4, batched.

Blackjack (Example 5.1, gymnasium's ``Blackjack-v1`` rules with ``sab=True``) has no finite model,
so episodes come from the vectorised simulator ``rlcore.tabular.blackjack.BlackjackBatchEnv``
(tested against gymnasium's env); ground truth comes from the exact infinite-deck solution of
the same module. Fixed-policy experiments (5.1, 5.3, 5.4) sample all their independent episodes
at once (``sample_episodes``); Monte Carlo ES (5.2) runs R learners at once (``run_batched``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rlcore.book.plotting import band, close, pyplot, result, save, spread, within
from rlcore.registry import export
from rlcore.returns import discounted_returns, importance_ratio
from rlcore.tabular import FiniteMDP
from rlcore.tabular import blackjack as bj
from rlcore.tabular.batched import run_batched, sample_episodes

SUMS = np.arange(12, 22)  # player sums shown in the book's figures
DEALER = np.arange(1, 11)
BOOK_V_13_2_USABLE = -0.27726  # Example 5.4: from 100 million episodes of the target policy


def book_policy() -> np.ndarray:
    """The optimal policy of Figure 5.2 as printed (Thorp's basic strategy without doubling or
    splitting), as a (32, 11, 2) grid: 1 = hit, 0 = stick, for player sums 12-21."""
    pi = np.ones((32, 11, 2), dtype=np.int64)
    pi[19:, :, 1] = bj.STICK  # usable ace: stick on 19 and more,
    pi[18, 2:9, 1] = bj.STICK  # and on 18 against a dealer 2-8
    pi[17:, :, 0] = bj.STICK  # no usable ace: stick on 17 and more,
    pi[13:17, 2:7, 0] = bj.STICK  # on 13-16 against 2-6,
    pi[12, 4:7, 0] = bj.STICK  # and on 12 against 4-6
    return pi


def _grid(values_by_state: np.ndarray) -> np.ndarray:
    """(N_STATES,) state-indexed values -> (2, 10, 10) [usable, player sum 12-21, dealer 1-10]."""
    s = bj.encode(SUMS[None, :, None], DEALER[None, None, :], np.array([0, 1])[:, None, None])
    return values_by_state[s]


def _mc_averages(env, pi, episodes, rng, chunk=100_000):
    """Every-visit Monte Carlo averages of returns per state (first visit = every visit in
    blackjack, where no state repeats): (mean, standard error, count), each (N_STATES,)."""
    total, squares, count = np.zeros(bj.N_STATES), np.zeros(bj.N_STATES), np.zeros(bj.N_STATES)
    done = 0
    while done < episodes:
        n = min(chunk, episodes - done)
        ep = sample_episodes(env, pi, n, rng)
        valid = np.arange(ep["states"].shape[1])[None] < ep["lengths"][:, None]
        g = discounted_returns(np.where(valid, ep["rewards"], 0.0), 1.0)
        s, g = ep["states"][valid], g[valid]
        total += np.bincount(s, g, bj.N_STATES)
        squares += np.bincount(s, g * g, bj.N_STATES)
        count += np.bincount(s, minlength=bj.N_STATES)
        done += n
    n = np.maximum(count, 1)
    mean = total / n
    var = np.maximum(squares / n - mean**2, 0.0) / np.maximum(count - 1, 1)
    return mean, np.sqrt(var), count


def _heatmaps(axes, grids, titles, vmin=-1, vmax=1, cmap="viridis"):
    for ax, g, title in zip(axes, grids, titles):
        im = ax.imshow(
            g,
            origin="lower",
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            aspect="auto",
            extent=(0.5, 10.5, 11.5, 21.5),
        )
        ax.set(title=title, xlabel="Dealer showing", ylabel="Player sum", xticks=DEALER)
    return im


@export("figures.figure_5_1")
def figure_5_1(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 5.1: Monte Carlo prediction of the policy that sticks only on 20 or 21, after
    10,000 and 500,000 episodes.

    Checks: the estimates against the exact values of that policy (infinite-deck DP), as an RMS
    error over the 200 states of the figure (the usable-ace 21, which a natural shares, left
    out), within 3 times the RMS of the estimates' standard errors.
    """
    sizes = (2_000, 20_000) if quick else (10_000, 500_000)
    pi = np.eye(2)[bj.policy_table(bj.threshold_policy(20))]
    exact = bj.exact_values(bj.threshold_policy(20))[SUMS][:, DEALER].transpose(2, 0, 1)
    keep = np.ones((2, 10, 10), dtype=bool)
    keep[1, -1] = False  # (21, usable ace): mixes naturals (see blackjack.exact_values)
    grids, checks = [], {}
    for k, n in enumerate(sizes):
        mean, se, _ = _mc_averages(bj.BlackjackBatchEnv(), pi, n, np.random.default_rng([seed, k]))
        grid, se_grid = _grid(mean), _grid(se)
        grids.append(grid)
        rms = float(np.sqrt(np.mean((grid - exact)[keep] ** 2)))
        noise = float(np.sqrt(np.mean(se_grid[keep] ** 2)))
        checks[f"rms_vs_exact_after_{n}"] = close(rms, 0.0, 3 * noise, source="derived")
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(9, 7), layout="constrained")
    titles = [
        f"{'Usable' if u else 'No usable'} ace, {n:,} episodes" for u in (1, 0) for n in sizes
    ]
    im = _heatmaps(axes.ravel(), [grids[0][1], grids[1][1], grids[0][0], grids[1][0]], titles)
    fig.colorbar(im, ax=axes, shrink=0.8)
    png = save(fig, out_dir, "figure_5_1")
    notes = [
        "Values of the stick-on-20-or-21 policy; exact values by dynamic programming on the "
        "infinite-deck model, tolerance 3 x RMS standard error of the estimates."
    ]
    return result("figure_5_1", "Blackjack: Monte Carlo prediction", [png], checks, notes)


@export("figures.figure_5_2")
def figure_5_2(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 5.2: the optimal policy and value of blackjack found by Monte Carlo ES.

    R independent MC ES learners (exploring starts over the 200 states and both actions) run at
    once: 8 x 100,000 episodes (quick: 4 x 5,000); the book shows one run and does not state
    its length. Checks: exact DP's optimal policy equals the printed one; in every state whose
    exact action gap exceeds 3 standard errors of the learner's estimates, every run picks the
    printed action (at most 1% misses); and max_a Q against v* (RMS, within 3 RMS standard
    errors plus 0.02 for the bias of averaging returns of earlier, worse policies).
    """
    runs, episodes = (4, 5_000) if quick else (8, 100_000)
    res = run_batched(
        "mc_es",
        bj.BlackjackBatchEnv("exploring"),
        runs=runs,
        episodes=episodes,
        seed=np.random.default_rng(seed),
    )
    q, counts = res.learner.q, res.learner.counts  # (R, S, A)
    book = book_policy()
    pi_star, v_star, q_star = bj.optimal_policy()
    s = bj.encode(SUMS[:, None, None], DEALER[None, :, None], np.array([0, 1])[None, None, :])
    q_runs, n_runs = q[:, s], counts[:, s]  # (R, 10, 10, 2, A)
    greedy = (q_runs[..., bj.HIT] > q_runs[..., bj.STICK]).astype(np.int64)
    gap = np.abs(q_star[SUMS][:, DEALER][..., bj.HIT] - q_star[SUMS][:, DEALER][..., bj.STICK])
    se_gap = np.sqrt(1 / np.maximum(n_runs[..., 0], 1) + 1 / np.maximum(n_runs[..., 1], 1))
    clear = gap[None] > 3 * se_gap
    agree = (greedy == book[SUMS][:, DEALER][None])[clear]
    v_runs = q_runs.max(axis=-1)
    v_exact = v_star[SUMS][:, DEALER]
    rms = float(np.sqrt(np.mean((v_runs - v_exact[None]) ** 2)))
    noise = float(np.sqrt(np.mean(1 / np.maximum(n_runs.max(axis=-1), 1))))
    checks = {
        "dp_optimal_policy_is_the_books": close(
            int(np.sum(pi_star[SUMS][:, DEALER] != book[SUMS][:, DEALER])), 0, 0
        ),
        "mc_es_picks_the_books_action_where_clear": close(
            float(agree.mean()) if agree.size else float("nan"), 1.0, 0.01
        ),
        "mc_es_value_rms_vs_exact": close(rms, 0.0, 3 * noise + 0.02, source="derived"),
    }
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(9, 7))
    titles = [
        "pi*, usable ace (run 1)",
        "v*, usable ace (run 1)",
        "pi*, no usable ace",
        "v*, no usable ace",
    ]
    grids = [greedy[0, :, :, 1], v_runs[0, :, :, 1], greedy[0, :, :, 0], v_runs[0, :, :, 0]]
    for ax, g, title, is_policy in zip(axes.ravel(), grids, titles, (1, 0, 1, 0)):
        _heatmaps(
            [ax],
            [g],
            [title],
            vmin=0 if is_policy else -1,
            vmax=1,
            cmap="coolwarm" if is_policy else "viridis",
        )
    png = save(fig, out_dir, "figure_5_2")
    notes = [
        f"{runs} runs x {episodes:,} episodes. Policy maps: red = hit, blue = stick. "
        f"{int(clear.sum())} of {clear.size} (run, state) pairs have a clear action gap."
    ]
    return result("figure_5_2", "Blackjack: Monte Carlo ES", [png], checks, notes)


def _ratios_and_returns(env, pi, b, n, rng, chunk=200_000):
    """Per-episode importance-sampling ratio prod pi/b and return G of n behaviour episodes."""
    rho, g = [], []
    while sum(map(len, g)) < n:
        m = min(chunk, n - sum(map(len, g)))
        ep = sample_episodes(env, b, m, rng)
        valid = np.arange(ep["states"].shape[1])[None] < ep["lengths"][:, None]
        s, a = ep["states"], ep["actions"]
        step_ratio = importance_ratio(pi[s, a], b[s, a])  # (m, L)
        rho.append(np.prod(np.where(valid, step_ratio, 1.0), axis=1))
        g.append(np.where(valid, ep["rewards"], 0.0).sum(axis=1))
    return np.concatenate(rho), np.concatenate(g)


@export("figures.figure_5_3")
def figure_5_3(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 5.3 (Example 5.4): weighted vs ordinary importance sampling, estimating the value
    of the state (player 13 with a usable ace, dealer 2) under the stick-on-20-or-21 policy from
    uniformly random play; mean squared error over 100 runs of 10,000 episodes (quick: 1,000).

    Checks: the exact value of that state against the book's -0.27726 (from 10^8 episodes:
    standard error about 1e-4, tolerance 3e-4); weighted IS has the lower error early (the mean
    over runs of the per-run excess error of ordinary IS over episodes 1-100 exceeds its spread);
    and, ordinary IS being unbiased, its MSE after n episodes equals Var(rho G) / n (tolerance
    45%: three relative standard errors of a mean of 100 squared errors).
    """
    runs, episodes = (100, 1_000) if quick else (100, 10_000)
    state = (13, 2, True)
    env = bj.BlackjackBatchEnv(start=state)
    pi = np.eye(2)[bj.policy_table(bj.threshold_policy(20))]
    b = np.full((bj.N_STATES, 2), 0.5)
    true_v = float(bj.exact_values(bj.threshold_policy(20))[13, 2, 1])
    rho, g = _ratios_and_returns(env, pi, b, runs * episodes, np.random.default_rng(seed))
    rho, rg = rho.reshape(runs, episodes), (rho * g).reshape(runs, episodes)
    n = np.arange(1, episodes + 1)
    ordinary = np.cumsum(rg, axis=1) / n
    weight = np.cumsum(rho, axis=1)
    weighted = np.divide(np.cumsum(rg, axis=1), weight, out=np.zeros_like(weight), where=weight > 0)
    err_o, err_w = (ordinary - true_v) ** 2, (weighted - true_v) ** 2
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    band(ax, n, err_o, "Ordinary importance sampling")
    band(ax, n, err_w, "Weighted importance sampling")
    ax.set(
        xscale="log",
        xlabel="Episodes (log scale)",
        ylim=(0, 5),
        ylabel=f"Mean square error (average over {runs} runs)",
        title="Example 5.4",
    )
    ax.legend()
    png = save(fig, out_dir, "figure_5_3")
    excess = (err_o - err_w)[:, :100].mean(axis=1)
    predicted = float(np.var(rg, ddof=1) / episodes)
    checks = {
        "exact_value_is_the_books": close(true_v, BOOK_V_13_2_USABLE, 3e-4),
        "weighted_beats_ordinary_early": within(float(excess.mean()), spread(excess), 1e6),
        "ordinary_mse_is_variance_over_n": close(
            float(err_o[:, -1].mean()), predicted, 0.45 * predicted, source="derived"
        ),
    }
    notes = [
        f"Exact value of the state: {true_v:.5f} (book: {BOOK_V_13_2_USABLE}).",
        f"{runs} runs x {episodes:,} episodes.",
    ]
    return result("figure_5_3", "Weighted vs ordinary importance sampling", [png], checks, notes)


def one_state_mdp() -> FiniteMDP:
    """Example 5.5's MDP: in state s (0), "left" (0) returns to s with probability 0.9 and ends
    with +1 with probability 0.1; "right" (1) ends with 0. State 1 is terminal."""
    p = np.zeros((2, 2, 2))
    p[0, 0] = (0.9, 0.1)
    p[0, 1, 1] = 1.0
    p[1, :, 1] = 1.0
    r = np.zeros((2, 2, 2))
    r[0, 0, 1] = 1.0
    return FiniteMDP.from_arrays(
        p, r, terminal=np.array([False, True]), initial=np.array([1.0, 0.0])
    )


def one_state_ratios_and_returns(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(rho, G) of n episodes of Example 5.5 under the uniform behaviour policy, for the target
    "always left", drawn from their exact distribution instead of step by step.

    Each step goes on (left, back to s) with probability 0.45, ends with +1 (left) with 0.05
    and ends with 0 (right) with 0.5: the length T is geometric with success probability 0.55,
    the episode ended left with probability 0.05 / 0.55 = 1/11, and then rho = 2^T (pi / b = 2
    at every step) and G = 1, else rho = G = 0. The same distribution as sampling
    ``one_state_mdp`` with ``sample_episodes`` (a test compares them), at about a hundredth of
    the cost, which makes the book's 10^7 episodes per run take seconds.

    Returns:
        rho (n,) and G (n,).
    """
    steps = rng.geometric(0.55, size=n)
    left = rng.random(n) < 1.0 / 11.0
    rho = np.where(left, np.ldexp(1.0, steps), 0.0)
    return rho, left.astype(np.float64)


@export("figures.figure_5_4")
def figure_5_4(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 5.4 (Example 5.5): ordinary importance sampling has infinite variance here.

    Target: always left (v_pi(s) = 1); behaviour: uniform. 10 runs of 10^7 episodes (quick:
    10^5). Checks: weighted IS gives exactly 1 once any episode ended by "left"; and the
    infinite variance itself: the running mean of (rho G)^2 keeps growing. With
    P(rho G >= 2^k) ~ 0.45^k, (rho G)^2 has tail index a = ln(1/0.45) / (2 ln 2) < 1, so its
    running mean grows like n^(1/a - 1): about 100^0.74 = 30 times between n/100 and n
    (log10 1.47; a finite variance would give log10 0). Tolerance 1 (the median of 10 runs).
    """
    runs, episodes = (10, 100_000) if quick else (10, 10_000_000)
    marks = np.unique(np.logspace(0, np.log10(episodes), 200).astype(np.int64))
    estimates = np.empty((runs, marks.size))
    growth, weighted_error = [], 0.0
    rng = np.random.default_rng(seed)
    for i in range(runs):
        rho, g = one_state_ratios_and_returns(episodes, rng)
        rg = rho * g
        estimates[i] = np.cumsum(rg)[marks - 1] / marks
        second = np.cumsum(rg**2)
        growth.append((second[-1] / episodes) / (second[episodes // 100 - 1] / (episodes // 100)))
        hit = rho > 0
        weighted_error = max(weighted_error, abs(rg[hit].sum() / rho[hit].sum() - 1.0))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in estimates:
        ax.plot(marks, row, lw=0.8)
    ax.axhline(1.0, color="k", ls=":")
    ax.set(
        xscale="log",
        xlabel="Episodes (log scale)",
        ylim=(0, 3),
        ylabel="Ordinary IS estimate of v_pi(s)",
        title=f"Infinite variance ({runs} runs)",
    )
    png = save(fig, out_dir, "figure_5_4")
    checks = {
        "weighted_is_exactly_one": close(weighted_error, 0.0, 1e-12, source="derived"),
        "second_moment_keeps_growing": close(
            float(np.log10(np.median(growth))), 1.47, 1.0, source="derived"
        ),
    }
    notes = [
        f"{runs} runs x {episodes:,} episodes; final ordinary-IS estimates: "
        + ", ".join(f"{e:.3f}" for e in estimates[:, -1])
    ]
    return result(
        "figure_5_4", "Ordinary importance sampling: infinite variance", [png], checks, notes
    )
