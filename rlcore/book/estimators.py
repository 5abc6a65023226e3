"""Boosting and stacking of value functions, measured against dynamic programming.

Three experiments with the batch estimators of ``rlcore.ensemble.estimators`` (figures of the
value-ensemble study, not of the book; run them with ``rlcore figures boosted_fqi`` etc.):

- ``boosted_fqi``: FQI vs boosted FQI (Tosatto et al. 2017) with the same weak learner (a
  regression tree of depth d on the state index, scikit-learn) on a random finite MDP: error to
  value iteration's Q* per iteration, and after K iterations against the tree depth.
- ``boosted_fqi_mountain_car``: FQI vs boosted FQI on the book's Mountain Car with its tile
  coding (ridge least squares per action; the weak model is a heavier ridge): steps to the goal
  of each iterate's greedy policy.
- ``stacked_value``: cross-validated stacking vs its best single member on the 5-, 19- and
  1000-state random walks and two random MDPs under a uniform behaviour policy (RMS error to the
  DP values), for the default TD meta-learner and the convex / NNLS meta-learners on returns;
  plus the calibration of the members' spread.
- ``opera``: importance sampling, weighted IS, doubly robust, FQE and OPERA's blend on two random
  MDPs: mean squared error to the DP value of the target policy.

Every figure takes ``(out_dir, *, quick=False, seed=0)`` and returns the book-figure result dict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rlcore.book.plotting import band, pyplot, result, save, spread, within
from rlcore.ensemble.calibration import calibration
from rlcore.ensemble.calibration import spread as member_spread
from rlcore.ensemble.estimators import (
    FQE,
    FQI,
    OPERA,
    BoostedFQI,
    DoublyRobust,
    ImportanceSampling,
    LSTDValue,
    MCValue,
    StackedValue,
    policy_episodes,
    uniform_transitions,
)
from rlcore.registry import export
from rlcore.tabular import planning
from rlcore.tabular.mdp import random_mdp


def _rng(seed: int, k: int) -> np.random.Generator:
    return np.random.default_rng([seed, k])


# -- 1. FQI vs boosted FQI --------------------------------------------------------------------------
def fqi_curves(mdp, q_star, gamma, depth, n_iterations, n_samples, rng) -> tuple[np.ndarray, ...]:
    """RMS error to Q* over all (s, a) after each iteration of FQI and of boosted FQI, both with
    a depth-``depth`` regression tree per action on the state index, on one uniform dataset."""
    from sklearn.tree import DecisionTreeRegressor

    data = uniform_transitions(mdp, n_samples, rng)
    states = np.arange(mdp.n_states)
    tree = DecisionTreeRegressor(max_depth=depth, random_state=0)
    settings = {"n_actions": mdp.n_actions, "gamma": gamma, "regressor": tree}

    def rms(q):
        return float(np.sqrt(np.mean((q - q_star) ** 2)))

    fqi_err: list[float] = []
    FQI(n_iterations=n_iterations, **settings).fit(
        data, monitor=lambda k, est: fqi_err.append(rms(est.predict(states)))
    )
    boosted = BoostedFQI(n_estimators=n_iterations, **settings).fit(data)
    boost_err = [rms(q) for q in boosted.staged_predict(states)]
    return np.asarray(fqi_err), np.asarray(boost_err)


@export("figures.boosted_fqi")
def boosted_fqi(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """FQI vs boosted FQI on a random MDP (32 states, 2 actions, gamma 0.9), 10 datasets.

    Left: RMS error to Q* per iteration with depth-2 trees. Right: error after K iterations
    against the tree depth (2^depth leaves per action and iteration). Check (Tosatto et al.
    2017's message): with the weak learner, boosting ends below FQI by more than the spread.
    """
    plt = pyplot()
    S, A, gamma = 32, 2, 0.9
    runs, K, n_samples = (3, 15, 2000) if quick else (10, 40, 5000)
    depths = (1, 2, 3, 5) if quick else (1, 2, 3, 4, 5, 6)
    mdp = random_mdp(S, A, _rng(seed, 0))
    q_star = planning.value_iteration(mdp, gamma, theta=1e-10).q
    per_depth = {
        d: [fqi_curves(mdp, q_star, gamma, d, K, n_samples, _rng(seed, 1 + r)) for r in range(runs)]
        for d in depths
    }
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(1, K + 1)
    weak = np.asarray(per_depth[2])  # (R, 2, K)
    band(left, x, weak[:, 0], "FQI, depth-2 trees")
    band(left, x, weak[:, 1], "boosted FQI, depth-2 trees")
    left.set(xlabel="iteration k", ylabel="RMS error to Q*", title="error per iteration")
    left.legend()
    final = {d: np.asarray(v)[:, :, -1] for d, v in per_depth.items()}  # (R, 2)
    dx = np.asarray(depths, dtype=float)
    band(right, dx, np.stack([final[d][:, 0] for d in depths], 1), "FQI", marker="o")
    band(right, dx, np.stack([final[d][:, 1] for d in depths], 1), "boosted FQI", marker="o")
    right.set(
        xlabel="tree depth (2^depth leaves per action)",
        ylabel=f"RMS error to Q* after {K} iterations",
        title="error vs model complexity",
    )
    right.legend()
    png = save(fig, out_dir, "boosted_fqi")
    gap = final[2][:, 0] - final[2][:, 1]  # FQI minus boosted, per dataset
    # The gap (FQI minus boosted) must exceed its own spread; it cannot exceed FQI's error.
    checks = {
        "boosting_beats_fqi_with_depth_2_trees": within(
            gap.mean(), spread(gap), float(final[2][:, 0].max())
        )
    }
    table = ", ".join(
        f"depth {d}: FQI {final[d][:, 0].mean():.3f} / boosted {final[d][:, 1].mean():.3f}"
        for d in depths
    )
    notes = [
        f"{runs} datasets of {n_samples} uniform transitions; RMS over all {S * A} (s, a) pairs "
        f"after {K} iterations: {table}.",
        "Trees split on the state index: a depth-d tree has at most 2^d leaves per action, and "
        "greedy (CART) splits leave some of the 32 states merged even at depth 5-6, so FQI's "
        "error stays at the best tree approximation of one Bellman backup, while boosting's "
        "sum of K depth-d trees is a richer model (Tosatto et al. 2017, §4) and reaches the "
        "sampling-noise floor already with depth-2 trees.",
    ]
    return result("boosted_fqi", "FQI vs boosted FQI: error to Q*", [png], checks, notes)


# -- 1b. FQI vs boosted FQI on Mountain Car ------------------------------------------------------
def mountain_car_transitions(n_samples: int, rng: np.random.Generator) -> Any:
    """``n_samples`` one-step transitions of Mountain Car from states drawn uniformly over the
    tiled box (position in [-1.2, 0.5), velocity in [-0.07, 0.07]) with uniform random actions:
    the batch of Ernst, Geurts & Wehenkel (2005, §5.1), each row its own one-step episode."""
    from rlcore.approximation.mountain_car import TILING_HIGH, TILING_LOW, mountain_car_step
    from rlcore.data import EpisodeDataset

    s = rng.uniform(TILING_LOW, TILING_HIGH, size=(n_samples, 2))
    a = rng.integers(3, size=n_samples)
    s2, r, term = mountain_car_step(s, a)
    return EpisodeDataset(s, a, r, s2, term, ~term, np.ones(n_samples, np.int64))


def greedy_steps(
    weights: np.ndarray, coder: Any, starts: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Steps to the goal of the greedy policies of P linear Q functions on tile features, all
    rolled out together (``rlcore.book.ch10.greedy_rollout`` for many policies at once).

    Q_p(s, a) = sum over the active tiles i of s of weights[p, i, a]; ties go to the lowest
    action. An episode not at the goal after ``cap`` steps counts as ``cap``.

    Args:
        weights: (P, n_features, 3). starts: (k, 2) start states. cap: step limit.

    Returns:
        (P,) mean steps over the starts and (P,) the fraction of starts that reached the goal.
    """
    from rlcore.approximation.mountain_car import mountain_car_step

    P, k = weights.shape[0], len(starts)
    policy = np.repeat(np.arange(P), k)
    s = np.tile(np.asarray(starts, dtype=np.float64), (P, 1))
    steps, live = np.zeros(P * k, np.int64), np.ones(P * k, bool)
    for _ in range(cap):
        idx = np.flatnonzero(live)
        if idx.size == 0:
            break
        q = weights[policy[idx][:, None], coder(s[idx])].sum(axis=1)  # (n, 3)
        s[idx], _, term = mountain_car_step(s[idx], np.argmax(q, axis=1))
        steps[idx] += 1
        live[idx[term]] = False
    return steps.reshape(P, k).mean(axis=1), (~live).reshape(P, k).mean(axis=1)


def mountain_car_curves(
    settings: dict[str, Any], data: Any, K: int, every: int
) -> dict[str, np.ndarray]:
    """Weights (n_evals, d, 3) of FQI with a light ridge, FQI with a heavy ridge (the weak
    learner) and boosted FQI with the heavy ridge, after iterations every, 2 every, ..., K."""
    from rlcore.ensemble.estimators import LeastSquares

    def coef(regressors: Any) -> np.ndarray:
        return np.stack([r.coef_ for r in regressors], axis=1)  # (d, 3)

    out = {}
    for name, alpha in (("fqi", settings["alpha"]), ("fqi_weak", settings["weak_alpha"])):
        kept: list[np.ndarray] = []

        def keep(k: int, est: Any, kept: list[np.ndarray] = kept) -> None:
            if k % every == 0:
                kept.append(coef(est.regressors_))

        FQI(regressor=LeastSquares(alpha=alpha), n_iterations=K, **settings["q"]).fit(
            data, monitor=keep
        )
        out[name] = np.stack(kept)
    boosted = BoostedFQI(
        regressor=LeastSquares(alpha=settings["weak_alpha"]), n_estimators=K, **settings["q"]
    ).fit(data)
    cumulative = np.cumsum([coef(stage) for stage in boosted.estimators_], axis=0)
    out["boosted_weak"] = cumulative[every - 1 :: every] * boosted.learning_rate
    return out


def effective_df(data: Any, coder: Any, alpha: float) -> float:
    """Effective degrees of freedom of ridge regression per action, averaged over the actions:
    df(alpha) = sum_i lambda_i / (lambda_i + alpha), lambda_i the eigenvalues of X_a^T X_a
    (Hastie, Tibshirani & Friedman (2009) eq. 3.50): the complexity of one iteration's model."""
    from rlcore.approximation.features import dense_features

    x = dense_features(coder(data.observations), coder.n_features)
    dfs = []
    for a in range(3):
        lam = np.linalg.eigvalsh(x[data.actions == a].T @ x[data.actions == a])
        dfs.append(float(np.sum(lam / (lam + alpha))))
    return float(np.mean(dfs))


@export("figures.boosted_fqi_mountain_car")
def boosted_fqi_mountain_car(
    out_dir: str | Path, *, quick: bool = False, seed: int = 0
) -> dict[str, Any]:
    """FQI vs boosted FQI on the book's Mountain Car (Example 10.1) with its tile coding (8
    tilings of 8 x 8, ``rlcore.book.ch10.mountain_car_tiles``), 10 datasets.

    Each dataset: uniform states over the tiled box and uniform random actions, one step each
    (Ernst et al. 2005). gamma = 0.99, one ridge least-squares regressor per action on the tile
    features. Three learners: FQI with a light ridge (alpha = 1), FQI with a heavy ridge
    (alpha = 100: the weak, simpler per-iteration model, measured by its effective degrees of
    freedom), boosted FQI with that weak model. Curve: steps to the goal of each iterate's
    greedy policy from 10 start states spread over the book's start interval (cap 1000).

    Checks: the final greedy policies of FQI and of boosted FQI reach the goal within the cap
    from at least 90% of the (dataset, start) pairs (an iterate can still oscillate between
    iterations; the reached fractions are in the notes); boosted FQI with the
    weak model reaches FQI's steps (its mean is at most FQI's plus the spread); FQI with the
    same weak model does not (its steps exceed boosted FQI's by more than the gap's spread:
    the gap minus its spread is >= 0).
    """
    from rlcore.book.ch10 import mountain_car_tiles

    runs, K, n_samples, every = (2, 150, 5000, 15) if quick else (10, 200, 20000, 5)
    cap = 1000
    coder = mountain_car_tiles()
    settings = {"alpha": 1.0, "weak_alpha": 100.0}
    settings["q"] = {"n_actions": 3, "gamma": 0.99, "features": coder}
    starts = np.stack([np.linspace(-0.6, -0.4, 10), np.zeros(10)], axis=-1)
    steps: dict[str, list[np.ndarray]] = {}
    reached: dict[str, list[float]] = {}
    for r in range(runs):
        data = mountain_car_transitions(n_samples, _rng(seed, 200 + r))
        if r == 0:
            df = {
                a: effective_df(data, coder, a) for a in (settings["alpha"], settings["weak_alpha"])
            }
        for name, w in mountain_car_curves(settings, data, K, every).items():
            mean_steps, frac = greedy_steps(w, coder, starts, cap)
            steps.setdefault(name, []).append(mean_steps)
            reached.setdefault(name, []).append(float(frac[-1]))
    curves = {name: np.stack(v) for name, v in steps.items()}  # (R, K // every)
    labels = {
        "fqi": f"FQI, ridge alpha={settings['alpha']:g} (df {df[settings['alpha']]:.0f})",
        "fqi_weak": f"FQI, ridge alpha={settings['weak_alpha']:g} (df "
        f"{df[settings['weak_alpha']]:.0f})",
        "boosted_weak": f"boosted FQI, ridge alpha={settings['weak_alpha']:g}",
    }
    png = _plot_mountain_car(out_dir, curves, labels, np.arange(every, K + 1, every), cap)
    final = {name: c[:, -1] for name, c in curves.items()}
    checks = _mountain_car_checks(final, reached, cap)
    table = ", ".join(
        f"{name} {final[name].mean():.1f} (goal reached from {np.mean(reached[name]):.0%} of "
        "starts)"
        for name in labels
    )
    notes = [
        f"{runs} datasets of {n_samples} transitions, {K} iterations, gamma 0.99, starts x in "
        f"[-0.6, -0.4] (10 evenly spaced), v = 0; mean steps to goal after {K} iterations: "
        f"{table}; lowest fraction of starts reached on one dataset: "
        + ", ".join(f"{name} {np.min(reached[name]):.0%}" for name in labels)
        + ".",
        f"Effective degrees of freedom of one iteration's ridge model per action (of "
        f"{coder.n_features} tile features): {df[settings['alpha']]:.0f} at alpha="
        f"{settings['alpha']:g}, {df[settings['weak_alpha']]:.0f} at alpha="
        f"{settings['weak_alpha']:g}. FQI with the heavy ridge shrinks every backup, which acts "
        "as a smaller discount: far from the goal its values flatten and the greedy policy "
        "stalls. Boosting fits each stage to the Bellman residual of the sum, so the shrinkage "
        "applies to the residual only; its fixed point (X^T (T Q - Q) = 0 per action) is the "
        "unregularised projected fixed point, which the light-ridge FQI approaches too.",
    ]
    return result(
        "boosted_fqi_mountain_car",
        "Mountain Car: FQI vs boosted FQI, steps to goal",
        [png],
        checks,
        notes,
    )


def _plot_mountain_car(out_dir, curves, labels, x, cap) -> Path:
    """Steps to the goal of each iterate's greedy policy, one band per learner."""
    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    for name, label in labels.items():
        band(ax, x, curves[name], label)
    ax.set(
        xlabel="iteration k",
        ylabel=f"steps to goal of the greedy policy (cap {cap})",
        title="Mountain Car, tile coding: FQI vs boosted FQI",
        yscale="log",
    )
    ax.legend()
    return save(fig, out_dir, "boosted_fqi_mountain_car")


def _mountain_car_checks(
    final: dict[str, np.ndarray], reached: dict[str, list[float]], cap: int
) -> dict[str, Any]:
    """The checks of ``boosted_fqi_mountain_car`` on each learner's final mean steps to goal
    per dataset (``final[name]`` shape (R,)) and fraction of starts reached."""
    runs = final["fqi"].size
    gap = final["fqi_weak"] - final["boosted_weak"]
    tol = spread(final["boosted_weak"] - final["fqi"]) if runs > 1 else 0.0
    return {
        "fqi_and_boosted_reach_the_goal_from_90_percent": within(
            min(float(np.mean(reached["fqi"])), float(np.mean(reached["boosted_weak"]))), 0.9, 1.0
        ),
        "boosted_weak_reaches_fqi_steps": within(
            float(final["boosted_weak"].mean()), 0.0, float(final["fqi"].mean()) + tol
        ),
        # the gap (weak FQI minus boosted) less its own spread must be >= 0
        "fqi_weak_does_not": within(
            float(gap.mean()) - (spread(gap) if runs > 1 else 0.0), 0.0, float(cap)
        ),
    }


# -- 2. stacking ---------------------------------------------------------------------------------------
def _prediction_tasks(seed: int) -> list[dict[str, Any]]:
    """The five prediction tasks (the 5- and 19-state walks, the 1000-state walk, two random
    MDPs): model, behaviour policy, true values, states scored, episodes per dataset, members."""
    import gymnasium as gym

    import rlcore.envs  # noqa: F401
    from rlcore.approximation.features import StateAggregation
    from rlcore.envs.random_walk import random_walk_1000_true_values
    from rlcore.tabular.mdp import FiniteMDP

    tasks = []
    for n, episodes in ((5, 10), (19, 20)):  # Example 6.2's walk and chapter 7's
        env = gym.make("rlcore/RandomWalk-v0", n_states=n)
        coarse = StateAggregation(0, n + 1, (n + 2) // 4, discrete=True)
        tasks.append(
            {
                "name": f"walk{n}",
                "model": FiniteMDP.from_env(env),
                "policy": np.ones((n + 2, 1)),
                "gamma": 1.0,
                "v": env.unwrapped.true_values,
                "states": np.arange(1, n + 1),
                "episodes": episodes,
                "members": _tabular_members(n + 2, 1.0, coarse),
            }
        )
    env = gym.make("rlcore/RandomWalk1000-v0")
    fine, coarse = (StateAggregation(0, 1001, n, discrete=True) for n in (100, 10))
    tasks.append(
        {
            "name": "walk1000",
            "model": FiniteMDP.from_env(env),
            "policy": np.ones((1002, 1)),
            "gamma": 1.0,
            "v": random_walk_1000_true_values(),
            "states": np.arange(1, 1001),
            "episodes": 20,
            "members": [
                ("mc_agg100", MCValue(features=fine)),
                ("lstd_agg100", LSTDValue(features=fine)),
                ("lstd0.5_agg100", LSTDValue(features=fine, lambda_=0.5)),
                ("lstd_agg10", LSTDValue(features=coarse)),
                ("neural_agg100", neural_critic(1.0, features=fine)),
            ],
        }
    )
    for k, (S, A) in enumerate(((20, 3), (40, 2))):
        mdp = random_mdp(S, A, _rng(seed, 100 + k))
        b = np.full((S, A), 1.0 / A)
        tasks.append(
            {
                "name": f"random_mdp{k + 1}",
                "model": mdp,
                "policy": b,
                "gamma": 0.9,
                "v": planning.policy_evaluation(mdp, b, 0.9, method="exact").v,
                "states": np.arange(S),
                "episodes": 30,
                "members": _tabular_members(S, 0.9, StateAggregation(0, S - 1, 4, discrete=True)),
            }
        )
    return tasks


def _tabular_members(n_states: int, gamma: float, coarse: Any) -> list[tuple[str, Any]]:
    return [
        ("mc", MCValue(gamma=gamma, n_states=n_states)),
        ("lstd", LSTDValue(gamma=gamma, n_states=n_states)),
        ("lstd0.5", LSTDValue(gamma=gamma, n_states=n_states, lambda_=0.5)),
        ("lstd_agg", LSTDValue(gamma=gamma, features=coarse)),
        ("neural", neural_critic(gamma, n_states=n_states)),
    ]


def neural_critic(gamma: float, **featurization: Any) -> Any:
    """The small neural critic member (``estimators.neural_value``, torch): 16 tanh units, 40
    fitted-TD iterations of 5 Adam steps (learning rate 0.03), cheaper than its defaults (100 x
    10) so that 30 datasets x 10 folds x 5 tasks fit in minutes on a CPU."""
    from rlcore.registry import make

    return make(
        "estimators.neural_value",
        gamma=gamma,
        hidden_sizes=(16,),
        n_iterations=40,
        steps_per_iteration=5,
        learning_rate=0.03,
        **featurization,
    )


STACKS = ("stack", "stack_lstd", "stack_returns")


def oof_loss_z(
    pred_a: np.ndarray, pred_b: np.ndarray, g_t: np.ndarray, episode_ids: np.ndarray
) -> float:
    """How strongly the data favour prediction b over a: the z-score of the out-of-fold
    Monte Carlo loss difference, sum_t (G_t - a_t)^2 - (G_t - b_t)^2, with its standard
    error from the per-episode sums (steps of one episode share one outcome, so the episodes
    are the independent units). On-policy, E[(G - v)^2] = E[(v_true - v)^2] + E[Var(G | S)], so
    this difference is an unbiased estimate of the difference in true squared error; |z| < 2
    means the data cannot tell the two apart."""
    per_episode = np.bincount(episode_ids, (g_t - pred_a) ** 2 - (g_t - pred_b) ** 2)
    se = per_episode.std(ddof=1) * np.sqrt(per_episode.size)
    return float(per_episode.sum() / se) if se > 0 else 0.0


def stacking_errors(
    task: dict[str, Any], runs: int, seed: int, cv: int = 10
) -> dict[str, np.ndarray]:
    """(runs,) RMS errors to the true values of every member and of the stacks, all on the same
    ``cv`` episode folds and out-of-fold predictions (``rlcore.ensemble.estimators.stacking.
    fit_meta`` on them equals ``StackedValue`` with that meta-learner and seed): ``stack`` (the
    default: NNLS on TD targets), ``stack_lstd`` (LSTD on TD targets), ``stack_returns``
    (convex weights on Monte Carlo returns), and ``stack_no_neural`` (the default without the
    neural member's column); plus the pooled (spread, |error|) pairs of the default stack for
    the calibration read-out."""
    from rlcore.ensemble.estimators.base import as_steps, episode_returns
    from rlcore.ensemble.estimators.stacking import fit_meta

    v, states = task["v"][task["states"]], task["states"]
    errors: dict[str, list[float]] = {}
    spreads, abs_err = [], []

    def rms(pred: np.ndarray) -> float:
        return float(np.sqrt(np.mean((pred - v) ** 2)))

    for r in range(runs):
        data = policy_episodes(task["model"], task["policy"], task["episodes"], _rng(seed, r))
        steps = as_steps(data, "stacked_value")
        stack = StackedValue(task["members"], gamma=task["gamma"], cv=cv, seed=r).fit(data)
        z = stack.transform(states)  # (n, M) members refit on all data
        z_tm1, z_t = stack.oof_predictions_, stack.oof_next_predictions_
        errors.setdefault("stack", []).append(rms(stack.predict(states)))
        for name, target, final in (
            ("stack_lstd", "td", "lstd"),
            ("stack_returns", "returns", None),
        ):
            meta = fit_meta(z_tm1, z_t, steps, task["gamma"], target, final)
            errors.setdefault(name, []).append(rms(meta.predict(z)))
        keep = [i for i, n in enumerate(stack.member_names_) if not n.startswith("neural")]
        meta = fit_meta(z_tm1[:, keep], z_t[:, keep], steps, task["gamma"])
        errors.setdefault("stack_no_neural", []).append(rms(meta.predict(z[:, keep])))
        g_t = episode_returns(steps, task["gamma"])
        stack_oof = stack.final_estimator_.predict(z_tm1)
        for m, (name, column) in enumerate(zip(stack.member_names_, z.T)):
            errors.setdefault(name, []).append(rms(column))
            evidence = oof_loss_z(z_tm1[:, m], stack_oof, g_t, steps.episode_ids)
            errors.setdefault(f"_z_{name}", []).append(evidence)
        spreads.append(member_spread(z.T))
        abs_err.append(np.abs(stack.predict(states) - v))
    out = {k: np.asarray(e) for k, e in errors.items()}
    out["_spread"], out["_abs_err"] = np.concatenate(spreads), np.concatenate(abs_err)
    return out


@export("figures.stacked_value")
def stacked_value(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Stacking vs its best single member on five prediction tasks, 30 datasets each, 10 folds.

    Members: Monte Carlo, LSTD(0), LSTD(0.5), LSTD on coarse aggregation and a small neural
    critic (``estimators.neural_value``). Check: the default stack's (NNLS on TD targets) mean
    RMS error is <= the best member's (chosen in hindsight, by its mean over the datasets) on
    at least 4 of the 5 tasks (the issue's goal). LSTD on TD targets, convex weights on
    returns, and the default without the neural member are reported beside it.
    """
    plt = pyplot()
    runs = 3 if quick else 30
    tasks = _prediction_tasks(seed)
    results = {t["name"]: stacking_errors(t, runs, seed) for t in tasks}
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 4))
    wins = dict.fromkeys((*STACKS, "stack_no_neural"), 0)
    lines = []
    for ax, task in zip(axes, tasks):
        res = results[task["name"]]
        names = [n for n in res if not n.startswith("_")]
        means = [res[n].mean() for n in names]
        half = [spread(res[n]) if runs > 1 else 0.0 for n in names]
        colors = ["C1", "C2", "C3", "C4"] + ["C0"] * (len(names) - 4)
        ax.bar(range(len(names)), means, yerr=half, color=colors)
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
        ax.set(title=task["name"], ylabel="RMS error to DP values")
        members = [n for n in names if not n.startswith("stack")]
        best = min(members, key=lambda n: res[n].mean())
        classic = [n for n in members if not n.startswith("neural")]
        best_classic = min(classic, key=lambda n: res[n].mean())
        for stack in STACKS:
            wins[stack] += int(res[stack].mean() <= res[best].mean())
        wins["stack_no_neural"] += int(res["stack_no_neural"].mean() <= res[best_classic].mean())
        cal = calibration(res["_spread"], res["_abs_err"])
        z_best = res[f"_z_{best}"]
        lines.append(
            f"{task['name']}: best member {best} {res[best].mean():.4f} (without the neural "
            f"member: {best_classic} {res[best_classic].mean():.4f}); "
            + ", ".join(f"{n} {res[n].mean():.4f}" for n in names if n not in (best,))
            + f"; member spread vs stack error: Spearman {cal.spearman:.2f}, coverage(1 "
            f"spread) {cal.coverage[1.0]:.2f} (Gaussian 0.68); evidence in the data for "
            f"{best} over the stack (z of the out-of-fold Monte Carlo loss difference, negative "
            f"favours {best}): median {np.median(z_best):+.2f}, z <= -2 in "
            f"{int(np.sum(z_best <= -2))}/{z_best.size} datasets"
        )
    png = save(fig, out_dir, "stacked_value")
    checks = {
        "stack_at_most_best_member_on_4_of_5": within(wins["stack"], 4, len(tasks)),
    }
    notes = [
        f"{runs} datasets per task, 10 episode folds; the stack is <= the best member on "
        f"{wins['stack']}/5 tasks with the default meta-learner (NNLS on TD targets), "
        f"{wins['stack_lstd']}/5 with LSTD on TD targets, {wins['stack_returns']}/5 with convex "
        f"weights on returns; without the neural member (stack and members) on "
        f"{wins['stack_no_neural']}/5.",
        *lines,
        "Returns are a noisy meta-target with few episodes (every step of an episode shares one "
        "outcome), and the out-of-fold predictions are noisy regressors (errors in variables); "
        "TD targets carry one reward's noise. The neural critic (a few hundred Adam steps) "
        "shrinks its values towards their mean, which is Bellman-inconsistent, so a TD "
        "meta-learner does not trust it even where it is the most accurate member. The "
        "default meta-learner was chosen on a development seed (seed 1, 6 datasets per task), "
        "not on this evaluation (seed 0).",
    ]
    return result("stacked_value", "Stacking vs the best single member", [png], checks, notes)


# -- 3. OPERA --------------------------------------------------------------------------------------
def ope_errors(
    mdp, b, pi, gamma, truth, episodes, runs, n_bootstrap, seed
) -> dict[str, np.ndarray]:
    """(runs,) squared errors to the DP value J(pi) of each OPE estimator and of OPERA."""
    S = mdp.n_states
    estimators = [
        ("is", ImportanceSampling(pi, b, gamma=gamma)),
        ("wis", ImportanceSampling(pi, b, gamma=gamma, weighted=True)),
        ("dr", DoublyRobust(pi, b, gamma=gamma)),
        ("fqe", FQE(pi, gamma=gamma, n_states=S, tol=1e-4)),
    ]
    sq: dict[str, list[float]] = {}
    for r in range(runs):
        data = policy_episodes(mdp, b, episodes, _rng(seed, 1000 + r))
        opera = OPERA(estimators, n_bootstrap=n_bootstrap, seed=r).fit(data)
        for name, value in zip(opera.estimator_names_, opera.estimates_):
            sq.setdefault(name, []).append((value - truth) ** 2)
        sq.setdefault("opera", []).append((opera.value_ - truth) ** 2)
    return {k: np.asarray(v) for k, v in sq.items()}


@export("figures.opera")
def opera(out_dir: str | Path, *, quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """OPE estimators and OPERA on two random MDPs (uniform behaviour, target: a softmax of Q*).

    Check: OPERA's MSE is below the mean of the single estimators' MSEs on both MDPs (it beats
    picking an estimator at random); whether it beats the best one is reported in the notes.
    """
    plt = pyplot()
    runs, n_bootstrap = (3, 20) if quick else (30, 100)
    gamma, episodes = 0.9, 50
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    checks, notes = {}, []
    for k, (ax, (S, A)) in enumerate(zip(axes, ((20, 3), (40, 2)))):
        mdp = random_mdp(S, A, _rng(seed, 100 + k))
        b = np.full((S, A), 1.0 / A)
        q = planning.value_iteration(mdp, gamma).q
        logits = 2.0 * (q - q.max(axis=1, keepdims=True))
        pi = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        truth = float(mdp.initial @ planning.policy_evaluation(mdp, pi, gamma, method="exact").v)
        sq = ope_errors(mdp, b, pi, gamma, truth, episodes, runs, n_bootstrap, seed)
        names = list(sq)
        mse = {n: sq[n].mean() for n in names}
        ax.bar(range(len(names)), [mse[n] for n in names], color=["C0"] * 4 + ["C1"])
        ax.set_xticks(range(len(names)), names)
        ax.set(title=f"random MDP {k + 1} ({S} states, {A} actions)", ylabel="MSE to J(pi)")
        singles = [mse[n] for n in names if n != "opera"]
        checks[f"opera_below_mean_estimator_mdp{k + 1}"] = within(
            mse["opera"], 0.0, float(np.mean(singles))
        )
        best = min((n for n in names if n != "opera"), key=mse.get)
        notes.append(
            f"MDP {k + 1}: J(pi) = {truth:.4f}; MSE "
            + ", ".join(f"{n} {mse[n]:.5f}" for n in names)
            + f"; best single {best}; OPERA {'beats' if mse['opera'] <= mse[best] else 'loses to'}"
            " it."
        )
    png = save(fig, out_dir, "opera")
    notes.append(
        f"{runs} datasets of {episodes} episodes per MDP, {n_bootstrap} bootstrap samples. The "
        "random walks of the stacking study have a single action, so their target policy is the "
        "behaviour policy and off-policy evaluation is trivial there."
    )
    return result("opera", "Off-policy evaluation: OPERA vs each estimator", [png], checks, notes)


__all__ = ["boosted_fqi", "boosted_fqi_mountain_car", "opera", "stacked_value"]
