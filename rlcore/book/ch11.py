"""Chapter 11 (off-policy methods with approximation): Figures 11.2, 11.5 and 11.6 (Baird).

Baird's counterexample (Example 11.1, ``rlcore/Baird-v0``): 7 states, the book's features (11.1)
and initial weights w = (1, 1, 1, 1, 1, 1, 10, 1), behaviour b = (6/7 dashed, 1/7 solid), target
pi = solid, gamma = 0.99, all rewards 0 (so v_pi = 0 and VE(w) = sum_s mu(s) v(s, w)^2).

- Sample runs: R independent streams of transitions stepped together; the weights carry a
  leading run axis and go through the pure update directions of
  ``rlcore.approximation.gradient_td`` (the same functions the agents call).
- Expected ("DP") runs: the probability-weighted sum of those directions over every transition
  of the model (``objectives.model_transitions``), e.g. semi-gradient DP (eq. 11.9).

Divergence is the result here, not an error: weights that overflow are recorded (the step at
which a run went non-finite) and the run stops, instead of raising as the agents do.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import rlcore.envs  # noqa: F401  (registers the rlcore/... ids)
from rlcore.approximation import objectives
from rlcore.approximation.gradient_td import (
    emphatic_td_direction,
    off_policy_td_direction,
    tdc_direction,
)
from rlcore.book.plotting import close, pyplot, result, save, spread, within
from rlcore.envs.baird import (
    GAMMA,
    baird_behavior_policy,
    baird_features,
    baird_initial_weights,
    baird_target_policy,
)
from rlcore.registry import export
from rlcore.returns import importance_ratio
from rlcore.tabular import FiniteMDP

W_LABELS = [f"w{i}" for i in range(1, 9)]


def _rng(seed: int, k: int) -> np.random.Generator:
    return np.random.default_rng([seed, 11, k])


@lru_cache(maxsize=1)
def baird() -> dict[str, Any]:
    """Model, features, policies, mu and the expected-update rows of Baird's counterexample."""
    mdp = FiniteMDP.from_env(gym.make("rlcore/Baird-v0"))
    b, pi, X = baird_behavior_policy(), baird_target_policy(), baird_features()
    mu = objectives.on_policy_distribution(mdp, b)
    P, r = objectives.policy_model(mdp, pi)
    T = objectives.model_transitions(mdp, b, mu)
    rho = importance_ratio(pi[T["s"], T["a"]], b[T["s"], T["a"]])
    discount = np.where(T["terminated"], 0.0, GAMMA)
    rows = (X[T["s"]], T["r"], discount, X[T["s_next"]], rho)
    return {"mdp": mdp, "b": b, "pi": pi, "X": X, "mu": mu, "P": P, "r": r, "T": T, "rows": rows}


def sqrt_ve(w: np.ndarray) -> np.ndarray:
    """sqrt(VE) with v_pi = 0: sqrt(sum_s mu(s) v(s, w)^2); w (..., 8)."""
    m = baird()
    return np.sqrt(objectives.value_error(w @ m["X"].T, np.zeros(7), m["mu"]))


def sqrt_pbe(w: np.ndarray) -> np.ndarray:
    """sqrt(PBE) (§11.4) under the behaviour's distribution mu; w (..., 8)."""
    m = baird()
    return np.sqrt(objectives.projected_bellman_error(w, m["X"], m["mu"], m["P"], m["r"], GAMMA))


def sample_transitions(rng: np.random.Generator, runs: int, steps: int) -> dict[str, np.ndarray]:
    """R streams of behaviour transitions (S_t, A_t, S_{t+1}), each (R, steps), with rho_t.

    Drawn from the env's model: S_0 ~ mu (uniform), A_t ~ b(. | S_t), S_{t+1} ~ p(. | S_t, A_t).
    """
    m = baird()
    mdp, b = m["mdp"], m["b"]
    s = np.empty((runs, steps + 1), np.int64)
    a = np.empty((runs, steps), np.int64)
    s[:, 0] = rng.choice(7, size=runs, p=m["mu"])
    for t in range(steps):
        a[:, t] = (rng.random(runs) >= b[s[:, t], 0]).astype(np.int64)  # 0 dashed, 1 solid
        s[:, t + 1], _, _ = mdp.sample(s[:, t], a[:, t], rng)
    rho = importance_ratio(m["pi"][s[:, :-1], a], b[s[:, :-1], a])
    return {"s": s, "a": a, "rho": rho}


def run_samples(data, steps: int, update) -> tuple[np.ndarray, np.ndarray]:
    """Weights of R runs after each step, (R, steps + 1, 8), and the first non-finite step per
    run (-1: stayed finite). ``update(w, x_tm1, x_t, rho) -> w`` for one step of all runs."""
    X = baird()["X"]
    R = data["s"].shape[0]
    w = np.tile(baird_initial_weights(), (R, 1))
    history = np.empty((R, steps + 1, 8))
    history[:, 0] = w
    blown = np.full(R, -1)
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is recorded, not raised
        for t in range(steps):
            w = update(w, X[data["s"][:, t]], X[data["s"][:, t + 1]], data["rho"][:, t])
            bad = (blown < 0) & ~np.all(np.isfinite(w), axis=1)
            blown[bad] = t + 1
            history[:, t + 1] = w
    return history, blown


def expected_updates(sweeps: int, update) -> np.ndarray:
    """Weights after each expected update, (sweeps + 1, 8); ``update(w, k) -> w``."""
    w = baird_initial_weights()
    out = [w]
    for k in range(sweeps):
        w = update(w, k)
        out.append(w)
    return np.array(out)


def _expected(direction: np.ndarray) -> np.ndarray:
    return np.sum(baird()["T"]["prob"][:, None] * direction, axis=0)


def _plot_weights(ax, x, w, title, xlabel):
    for i in range(8):
        ax.plot(x, w[..., i], label=W_LABELS[i], linewidth=1)
    ax.set(title=title, xlabel=xlabel)


@export("figures.figure_11_2")
def figure_11_2(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 11.2: semi-gradient off-policy TD (left, sampled transitions) and semi-gradient DP
    (right, expected updates, eq. 11.9) diverge on Baird's counterexample; alpha = 0.01, 1000
    steps / sweeps.

    Checks (divergence recorded as the result): the DP iteration w <- M w has spectral radius
    above 1 (exact), its 1000 sweeps equal M^1000 w_0, and its weights grow; the sampled TD runs'
    weight norm grows more than 10-fold in every run (median reported).
    """
    m = baird()
    runs, steps, alpha = (20 if quick else 100), 1000, 0.01
    data = sample_transitions(_rng(seed, 1), runs, steps)

    def td_step(w, x_tm1, x_t, rho):
        dw, _ = off_policy_td_direction(w, x_tm1, 0.0, GAMMA, x_t, rho)
        return w + alpha * dw

    td, blown = run_samples(data, steps, td_step)
    dp = expected_updates(
        steps, lambda w, k: w + alpha * _expected(off_policy_td_direction(w, *m["rows"])[0])
    )
    X, mu, P = m["X"], m["mu"], m["P"]
    M = np.eye(8) + alpha * X.T @ (mu[:, None] * (GAMMA * P @ X - X))  # rewards 0: linear
    radius = float(np.max(np.abs(np.linalg.eigvals(M))))
    w_power = np.linalg.matrix_power(M, steps) @ baird_initial_weights()
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    _plot_weights(left, np.arange(steps + 1), td[0], "Semi-gradient off-policy TD (run 1)", "Steps")
    _plot_weights(right, np.arange(steps + 1), dp, "Semi-gradient DP (expected)", "Sweeps")
    left.legend(fontsize=7)
    png = save(fig, out_dir, "figure_11_2")
    norm0 = float(np.linalg.norm(baird_initial_weights()))
    growth = np.linalg.norm(td[:, -1], axis=1) / norm0
    growth = np.where(blown >= 0, np.inf, growth)
    checks = {
        "dp_iteration_spectral_radius_above_1": within(radius, 1.0, 2.0, source="derived"),
        "dp_sweeps_equal_matrix_power": close(
            float(np.max(np.abs(dp[-1] - w_power) / np.abs(w_power))), 0.0, 1e-9, source="derived"
        ),
        "dp_weight_norm_growth": within(float(np.linalg.norm(dp[-1]) / norm0), 10.0, 1e6, "book"),
        "td_runs_diverging_fraction": close(float(np.mean(growth > 10.0)), 1.0, 0.0, source="book"),
    }
    notes = [
        f"{runs} sampled runs; median weight-norm growth over 1000 steps {np.median(growth):.1f}x "
        f"({int(np.sum(blown >= 0))} runs overflowed); DP: {np.linalg.norm(dp[-1]) / norm0:.1f}x.",
        f"Spectral radius of the expected update I + alpha X^T D (gamma P_pi - I) X: {radius:.6f}.",
        "Book: both diverge to infinity for any positive step size (Example 11.1).",
    ]
    return result(
        "figure_11_2", "Baird's counterexample: semi-gradient methods diverge", [png], checks, notes
    )


@export("figures.figure_11_5")
def figure_11_5(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 11.5: TDC on Baird's counterexample, alpha = 0.005, beta = 0.05: a typical single
    run (left) and the expected updates (right), with sqrt(VE) and sqrt(PBE).

    Checks: expected TDC drives sqrt(PBE) below 1% of its start (towards 0, where TDC converges)
    while sqrt(VE) stays near 2 (the book: "the PBE falls to zero ... the VE does not"; about 2
    read from the figure, tolerance 0.3); the sampled runs stay bounded and their mean sqrt(PBE)
    after 1000 steps is below a tenth of its start, unlike semi-gradient TD (Figure 11.2).
    """
    m = baird()
    runs, steps, alpha, beta = (20 if quick else 100), 1000, 0.005, 0.05
    data = sample_transitions(_rng(seed, 2), runs, steps)
    v_state = {"v": np.zeros((runs, 8))}

    def tdc_step(w, x_tm1, x_t, rho):
        dw, dv, _ = tdc_direction(w, v_state["v"], x_tm1, 0.0, GAMMA, x_t, rho)
        v_state["v"] = v_state["v"] + beta * dv
        return w + alpha * dw

    sampled, blown = run_samples(data, steps, tdc_step)
    exp_v = {"v": np.zeros(8)}

    def expected_tdc(w, k):
        dw, dv, _ = tdc_direction(w, exp_v["v"], *m["rows"])
        exp_v["v"] = exp_v["v"] + beta * _expected(dv)
        return w + alpha * _expected(dw)

    expected = expected_updates(steps, expected_tdc)
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    x = np.arange(steps + 1)
    for ax, w, title, xlabel in (
        (left, sampled[0], "TDC (one run)", "Steps"),
        (right, expected, "Expected TDC", "Sweeps"),
    ):
        _plot_weights(ax, x, w, title, xlabel)
        ax.plot(x, sqrt_ve(w), "k", linewidth=2, label="sqrt(VE)")
        ax.plot(x, sqrt_pbe(w), "k--", linewidth=2, label="sqrt(PBE)")
    left.legend(fontsize=7)
    png = save(fig, out_dir, "figure_11_5")
    pbe0 = float(sqrt_pbe(baird_initial_weights()))
    final_pbe = sqrt_pbe(sampled[:, -1])
    checks = {
        "expected_tdc_sqrt_pbe_fraction": within(
            float(sqrt_pbe(expected[-1])) / pbe0, 0.0, 0.01, source="derived"
        ),
        "expected_tdc_sqrt_ve": close(float(sqrt_ve(expected[-1])), 2.0, 0.3),
        "sampled_tdc_runs_bounded": close(float(np.mean(blown >= 0)), 0.0, 0.0, source="derived"),
        "sampled_tdc_sqrt_pbe_fraction": within(
            float(final_pbe.mean() + spread(final_pbe)) / pbe0, 0.0, 0.1, source="derived"
        ),
    }
    notes = [
        f"{runs} sampled runs; sqrt(PBE) from {pbe0:.2f} to {final_pbe.mean():.3f} (mean) after "
        f"{steps} steps; expected TDC: sqrt(PBE) {float(sqrt_pbe(expected[-1])):.4f}, sqrt(VE) "
        f"{float(sqrt_ve(expected[-1])):.3f}.",
    ]
    return result("figure_11_5", "TDC on Baird's counterexample", [png], checks, notes)


@export("figures.figure_11_6")
def figure_11_6(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Figure 11.6: one-step emphatic TD in expectation on Baird's counterexample, alpha = 0.03.

    The expected update at step t weights each state by its expected emphasis at t, which
    follows the follow-on recursion f_t = mu * i + gamma P_pi^T f_{t-1} from f_{-1} = 0 (the
    expectation of M_t = gamma rho_{t-1} M_{t-1} + I_t, §11.8). Check: sqrt(VE) reaches 0 (ETD's
    expected update is stable: Sutton, Mahmood & White 2016), below 0.01 after 1000 sweeps.
    """
    m = baird()
    steps, alpha = 1000, 0.03
    P, mu = m["P"], m["mu"]
    follow = {"f": np.zeros(7)}
    s_rows = m["T"]["s"]

    def expected_etd(w, k):
        follow["f"] = mu * 1.0 + GAMMA * P.T @ follow["f"]
        emph = (follow["f"] / mu)[s_rows]
        return w + alpha * _expected(emphatic_td_direction(w, *m["rows"], emph)[0])

    expected = expected_updates(steps, expected_etd)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    x = np.arange(steps + 1)
    _plot_weights(ax, x, expected, "Emphatic TD in expectation", "Sweeps")
    ax.plot(x, sqrt_ve(expected), "k", linewidth=2, label="sqrt(VE)")
    ax.legend(fontsize=7)
    png = save(fig, out_dir, "figure_11_6")
    final_ve = float(sqrt_ve(expected[-1]))
    checks = {"expected_etd_sqrt_ve": within(final_ve, 0.0, 0.01, source="derived")}
    notes = [
        f"sqrt(VE) from {float(sqrt_ve(expected[0])):.2f} to {final_ve:.2e} after {steps} sweeps; "
        f"the expected emphasis of the lower state approaches {float(follow['f'][6] / mu[6]):.0f}."
    ]
    return result("figure_11_6", "Emphatic TD on Baird's counterexample", [png], checks, notes)
