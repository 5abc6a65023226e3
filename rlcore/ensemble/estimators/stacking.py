"""Stacked value estimation: heterogeneous members combined by a meta-learner on out-of-fold
predictions (Wolpert 1992, "Stacked generalization"; Breiman 1996, "Stacked regressions"; the
interface of scikit-learn's ``StackingRegressor``).

    1. split the EPISODES into ``cv`` folds (steps of one episode are correlated: a split by
       step would let a member see the held-out episode's other steps, so its out-of-fold
       predictions would be too good and the meta-learner would over-trust it);
    2. for each fold f, fit a clone of every member on the other folds and predict v_m(S_t) on
       the held-out steps: Z[t, m] (N, M) out-of-fold predictions;
    3. fit the meta-learner on the out-of-fold predictions (below);
    4. refit every member on all the data (``estimators_``); predict = meta(members(s)).

With ``passthrough=True`` the meta-learner also sees the state features x(s) (``n_states`` /
``features`` of the stack), as scikit-learn's option of the same name.

The meta-learner's target (``meta_target``):

- ``"td"`` (the default): fitted TD(0) in the members' prediction space,
  meta_k = Regress(z_t; R_{t+1} + gamma_t meta_{k-1}(z_{t+1})) with z_{t+1} the same held-out
  member's prediction at S_{t+1}, iterated to its fixed point, with non-negative least squares
  by default (v_stack = sum_m w_m v_m, w >= 0) or any ``final_estimator``; 'lstd' is the
  unconstrained closed form, LSTD's fixed point in the members' span (S&B (2018) eq. 9.20
  with x = z): w = (eps I + sum_t z_t (z_t - gamma_t z_{t+1})^T)^{-1} sum_t z_t R_{t+1}. A TD
  target has the variance of one reward instead of a whole return.
- ``"returns"``: regress the held-out steps' Monte Carlo returns G_t (an unbiased target for
  v(S_t) on-policy) with ``final_estimator``, by default non-negative least squares with the
  weights summing to 1 (a convex combination, the Super Learner's meta-learner; van der Laan,
  Polley & Hubbard 2007), 'nnls' without the sum constraint (Breiman 1996), 'ridge', or any
  regressor.

Why NNLS on TD targets by default: with few episodes the returns are a noisy target (on the
random walks every step of an episode shares one +-1 outcome, so 20 episodes are 20 samples of
the meta-regression however many steps they have), and the out-of-fold predictions are noisy
regressors, which attenuates free weights towards 0 (errors in variables); unconstrained (LSTD)
weights on nearly collinear members are noisy. The default was chosen on a development seed
(``figures.stacked_value``'s tasks at seed 1, 6 datasets each, separate from the figure's seed 0)
by the rule "most tasks where the stack is <= the best member, ties broken by the mean ratio of
the stack's error to the best member's": NNLS on TD targets 2 of 5 (mean ratio 1.20), convex
weights on TD targets 2 (1.26), convex on returns 2 (1.42), NNLS on returns 2 (1.54), LSTD 1,
ridge on returns 0. (Without the neural member, LSTD won 4 of 5 there and NNLS on TD targets 3;
the neural critic is the best member on the walks and no meta-learner matched it.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rlcore.ensemble.estimators.base import (
    Estimator,
    LeastSquares,
    NonNegativeLeastSquares,
    as_steps,
    check_featurization,
    check_regressor,
    clone,
    display_name,
    episode_returns,
    featurize,
)
from rlcore.registry import export
from rlcore.validation import as_generator, check_choice, check_int, check_range


def episode_folds(
    n_episodes: int, cv: int, seed: int | np.random.Generator | None = 0, *, shuffle: bool = True
) -> np.ndarray:
    """(E,) fold index in [0, cv) of every episode, folds as equal as possible (sizes differ by
    at most one), episodes shuffled by ``seed`` first when ``shuffle``.

    Raises:
        ValueError: cv < 2 or cv > n_episodes.
    """
    E = check_int("n_episodes", n_episodes, 1)
    check_int(
        "cv",
        cv,
        2,
        E,
        hint=f"Folds are made of whole episodes, so 2 <= cv <= the number of episodes ({E}); "
        "lower cv or collect more episodes.",
    )
    order = as_generator(seed).permutation(E) if shuffle else np.arange(E)
    folds = np.empty(E, dtype=np.int64)
    folds[order] = np.arange(E) % cv
    return folds


def _final_estimator(spec: Any) -> Any:
    if spec == "convex":
        return NonNegativeLeastSquares(sum_to_one=True)
    if spec == "nnls":
        return NonNegativeLeastSquares()
    if spec == "ridge":
        return LeastSquares(alpha=1.0, fit_intercept=True)
    if isinstance(spec, str):
        raise ValueError(
            f"final_estimator={spec!r} is not one of 'lstd', 'convex', 'nnls', 'ridge'; or pass a regressor with "
            "fit(X, y) and predict(X)."
        )
    return check_regressor(spec, "estimators.stacked_value final_estimator")


def _named(members: Any) -> list[tuple[str, Any]]:
    """[(name, estimator)] from pairs or bare estimators (named after their registry name)."""
    if not isinstance(members, Sequence) or isinstance(members, str) or not members:
        raise ValueError(
            "estimators.stacked_value: members must be a non-empty list of estimators or of "
            "(name, estimator) pairs, e.g. [('mc', rlcore.make('estimators.mc_value', ...)), ...]."
        )
    named = []
    for i, m in enumerate(members):
        pair = isinstance(m, (tuple, list)) and len(m) == 2 and isinstance(m[0], str)
        name, est = m if pair else (None, m)
        if not (callable(getattr(est, "fit", None)) and callable(getattr(est, "predict", None))):
            raise TypeError(
                f"estimators.stacked_value: member {i} ({est!r}) has no fit/predict; members are "
                "value estimators such as estimators.mc_value, td_value, lstd_value."
            )
        if name is None:  # automatic names are numbered on repeats: lstd_value, lstd_value_2
            base = display_name(est)
            taken = sum(1 for n, _ in named if n == base or n.startswith(f"{base}_"))
            name = base if taken == 0 else f"{base}_{taken + 1}"
        named.append((str(name), est))
    names = [n for n, _ in named]
    if len(set(names)) != len(names):
        raise ValueError(f"member names must be distinct, got {names}; name them with pairs.")
    return named


def fit_meta(
    z_tm1: np.ndarray,
    z_t: np.ndarray,
    steps: Any,
    gamma: float,
    meta_target: str = "td",
    final_estimator: Any = None,
) -> Any:
    """The fitted meta-learner on out-of-fold member predictions (module docstring).

    Args:
        z_tm1, z_t: (N, M) the held-out members' predictions at S_t and S_{t+1}.
        steps: the ``Steps`` they were predicted on (rewards, discounts, episodes).
        gamma: discount. meta_target: 'td' or 'returns'.
        final_estimator: None (the target's default), 'lstd' ('td' only: the closed form),
            'convex', 'nnls', 'ridge' or a regressor.
    """
    what = "estimators.stacked_value"
    if meta_target == "returns":
        spec = "convex" if final_estimator is None else final_estimator
        if isinstance(spec, str) and spec == "lstd":
            raise ValueError(
                f"{what}: final_estimator='lstd' is a TD meta-learner; use meta_target='td'."
            )
        return _final_estimator(spec).fit(z_tm1, episode_returns(steps, gamma))
    if isinstance(final_estimator, str) and final_estimator == "lstd":
        gz_t = steps.discounts(gamma)[:, None] * z_t
        A = 1e-6 * np.eye(z_tm1.shape[1]) + z_tm1.T @ (z_tm1 - gz_t)
        meta = LeastSquares(alpha=0.0)
        meta.coef_, meta.intercept_ = np.linalg.solve(A, z_tm1.T @ steps.rewards), 0.0
        return meta
    spec = "nnls" if final_estimator is None else final_estimator
    return _fitted_td_meta(_final_estimator(spec), z_tm1, z_t, steps, gamma, what)


def _fitted_td_meta(
    regressor: Any, z_tm1: np.ndarray, z_t: np.ndarray, steps: Any, gamma: float, what: str
) -> Any:
    """Fitted TD(0) in the members' prediction space: meta_k = Regress(z(S_t);
    R_{t+1} + gamma_t meta_{k-1}(z(S_{t+1}))), meta_0 = 0, until the largest change of the
    meta prediction over the data is below 1e-7 (at most 2000 iterations; a
    ``ConvergenceWarning`` then)."""
    from rlcore.ensemble.estimators.base import warn_not_converged

    discount_t = steps.discounts(gamma)
    v_tm1, v_t = np.zeros(steps.n_steps), np.zeros(steps.n_steps)
    cap, tol = 2000, 1e-7
    for _ in range(cap):
        meta = clone(regressor).fit(z_tm1, steps.rewards + discount_t * v_t)
        new_tm1, new_t = meta.predict(z_tm1), meta.predict(z_t)
        change = float(max(np.abs(new_tm1 - v_tm1).max(), np.abs(new_t - v_t).max()))
        v_tm1, v_t = new_tm1, new_t
        if change < tol:
            return meta
    warn_not_converged(f"{what} meta_target='td'", cap, change, tol)
    return meta


@export("estimators.stacked_value")
class StackedValue(Estimator):
    """Cross-validated stacking of state-value estimators, folds by episode (module docstring).

    Args:
        members: estimators with fit(data) and predict(observations) -> (n,) values, or
            (name, estimator) pairs (each is cloned; the originals stay unfitted).
        final_estimator: None (meta_target 'td': 'nnls'; 'returns': 'convex'), 'lstd' (TD
            only: LSTD's closed form, unconstrained), 'convex' (non-negative least squares,
            weights summing to 1), 'nnls' (non-negative, no intercept), 'ridge' (least squares
            with alpha = 1 and an intercept) or any regressor (with meta_target 'td': fitted
            TD(0) with it).
        cv: number of episode folds, 2 <= cv <= number of episodes.
        gamma: discount of the meta-learner's target (TD targets or returns).
        passthrough: also give the meta-learner the state features.
        n_states, features: the stack's own features for ``passthrough``.
        meta_target: 'td' (default: TD targets, see the module docstring) or 'returns' (the
            meta-learner regresses the Monte Carlo returns).
        shuffle, seed: shuffle the episodes before making the folds.

    Attributes:
        estimators_: the members refit on all data, in order.
        final_estimator_: the fitted meta-learner (``coef_`` are the member weights, then the
            passthrough features' weights).
        fold_of_step_: (N,) the fold each training step was held out in.
        oof_predictions_: (N, M) the members' out-of-fold predictions at S_t.
        oof_next_predictions_: (N, M) the same held-out members' predictions at S_{t+1}.
        member_names_: the M names.
    """

    _fitted = (
        "estimators_",
        "final_estimator_",
        "fold_of_step_",
        "oof_predictions_",
        "oof_next_predictions_",
        "member_names_",
    )

    def __init__(
        self,
        members: Any,
        *,
        final_estimator: Any = None,
        cv: int = 5,
        gamma: float = 1.0,
        passthrough: bool = False,
        n_states: int | None = None,
        features: Any = None,
        meta_target: str = "td",
        shuffle: bool = True,
        seed: int | None = 0,
    ) -> None:
        self.members = members
        self.final_estimator = final_estimator
        self.cv = cv
        self.gamma = gamma
        self.passthrough = passthrough
        self.n_states = n_states
        self.features = features
        self.meta_target = meta_target
        self.shuffle = shuffle
        self.seed = seed

    def fit(self, data: Any) -> StackedValue:
        what = "estimators.stacked_value"
        named = _named(self.members)
        gamma = check_range("gamma", self.gamma, 0.0, 1.0)
        check_featurization(self.n_states, self.features, what)
        check_choice("meta_target", self.meta_target, ("returns", "td"))
        steps = as_steps(data, what)
        folds = episode_folds(steps.n_episodes, self.cv, self.seed, shuffle=bool(self.shuffle))
        fold_of_step = folds[steps.episode_ids]
        oof = np.zeros((steps.n_steps, len(named)))  # z(S_t), out of fold
        oof_next = np.zeros_like(oof)  # z(S_{t+1}), same held-out members
        for f in range(self.cv):
            train = steps.select_episodes(np.flatnonzero(folds != f))
            held_out = fold_of_step == f
            for m, (_, member) in enumerate(named):
                fitted = clone(member).fit(train)
                oof[held_out, m] = fitted.predict(steps.observations[held_out])
                oof_next[held_out, m] = fitted.predict(steps.next_observations[held_out])
        z_tm1 = self._meta_inputs(oof, steps.observations)
        z_t = self._meta_inputs(oof_next, steps.next_observations)
        meta = fit_meta(z_tm1, z_t, steps, gamma, self.meta_target, self.final_estimator)
        self.final_estimator_ = meta
        self.estimators_ = [clone(member).fit(steps) for _, member in named]
        self.member_names_ = [name for name, _ in named]
        self.fold_of_step_ = fold_of_step
        self.oof_predictions_ = oof
        self.oof_next_predictions_ = oof_next
        return self

    def _meta_inputs(self, z: np.ndarray, observations: Any) -> np.ndarray:
        if not self.passthrough:
            return z
        x = featurize(observations, self.n_states, self.features, "estimators.stacked_value")
        return np.concatenate([z, x], axis=1)

    def transform(self, observations: Any) -> np.ndarray:
        """(n, M) the refit members' predictions v_m(s)."""
        self._check_fitted()
        return np.stack(
            [np.asarray(m.predict(observations), dtype=np.float64) for m in self.estimators_],
            axis=1,
        )

    def predict(self, observations: Any) -> np.ndarray:
        """(n,) the meta-learner's combination of the members' predictions."""
        z = self.transform(observations)
        return np.asarray(self.final_estimator_.predict(self._meta_inputs(z, observations)))

    @property
    def weights_(self) -> dict[str, float]:
        """Member name -> meta-learner weight (the first M coefficients of a linear meta)."""
        self._check_fitted()
        coef = np.asarray(self.final_estimator_.coef_)
        return {name: float(w) for name, w in zip(self.member_names_, coef)}


__all__ = ["StackedValue", "episode_folds", "fit_meta"]
