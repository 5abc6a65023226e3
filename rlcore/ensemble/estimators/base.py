"""The contract every batch value estimator shares, the data it reads, and its built-in regressors.

The contract is scikit-learn's ("Developing scikit-learn estimators"):

- ``__init__`` stores its arguments unchanged (validation happens in ``fit``, so ``set_params``
  and ``clone`` work as in scikit-learn);
- ``fit(data)`` returns ``self``; what was learned lives in attributes ending in ``_``;
- ``get_params()`` / ``set_params(**params)``; ``clone(estimator)`` is a fresh unfitted copy;
- ``predict`` (or any read-out) before ``fit`` raises ``NotFittedError``;
- ``save(dir)`` / ``rlcore.load(dir)`` through ``rlcore.checkpoint`` (JSON + npz, never pickle).

``data`` is an ``rlcore.data.EpisodeDataset`` or a mapping with the step keys observations,
actions, rewards, next_observations, terminations, truncations (the project's and Minari's
names), optionally with episode_lengths; without them episodes end at the rows whose
termination or truncation flag is set (``as_steps``). Time index as in ``rlcore.returns``: row i
is (S_t, A_t, R_{t+1}, S_{t+1}); ``discount = gamma * (1 - terminated)`` (a truncated episode keeps
gamma and bootstraps from its last next state).

Observations are integer states (give ``n_states``: one-hot features), arrays passed through a
``features.*`` map (``features=``), or, with neither, the raw observations as float vectors (for
regressors such as scikit-learn's trees that split on the state itself).
"""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rlcore.registry import export, get, name_of
from rlcore.types import STEP_KEYS, EpisodeRows
from rlcore.validation import check_int, check_range


# -- errors ---------------------------------------------------------------------------------------
class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` (scikit-learn's ``NotFittedError``)."""


class ConvergenceWarning(UserWarning):
    """An iterative estimator stopped at its iteration cap before reaching its tolerance."""


def check_is_fitted(estimator: Any, attribute: str) -> None:
    """Raise ``NotFittedError`` unless ``estimator`` has the fitted ``attribute``."""
    if getattr(estimator, attribute, None) is None:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments (an EpisodeDataset or a mapping of step arrays) before "
            "using this estimator."
        )


# -- data -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Steps(EpisodeRows):
    """Validated transitions with their episode structure (rows episode after episode).

    Attributes:
        observations, next_observations: (N, *obs_shape) S_t and S_{t+1}.
        actions: (N,) integer A_t (or (N, *action_shape) for continuous actions).
        rewards: (N,) float R_{t+1}.
        terminations, truncations: (N,) bool.
        episode_lengths: (E,) positive, summing to N.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    episode_lengths: np.ndarray

    def discounts(self, gamma: float) -> np.ndarray:
        """(N,) gamma_t = gamma * (1 - terminated_t)."""
        return np.where(self.terminations, 0.0, float(gamma))

    def select_episodes(self, episodes: np.ndarray) -> Steps:
        """The steps of the given episodes, in that order (repeats allowed, as in a bootstrap)."""
        episodes = np.asarray(episodes, dtype=np.int64)
        starts, lengths = self.episode_starts[episodes], self.episode_lengths[episodes]
        rows = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths)])
        return Steps(
            *(getattr(self, key)[rows] for key in STEP_KEYS), episode_lengths=lengths.copy()
        )


def as_steps(data: Any, what: str) -> Steps:
    """``Steps`` from an ``EpisodeDataset``, a ``Steps`` or a mapping of step arrays.

    Raises:
        TypeError: ``data`` is none of these.
        ValueError: an empty dataset, missing keys, mismatched lengths or bad episode ends.
    """
    from rlcore.data import EpisodeDataset, validate

    if isinstance(data, Steps):
        return data
    if isinstance(data, EpisodeDataset):
        arrays = {key: getattr(data, key) for key in (*STEP_KEYS, "episode_lengths")}
    elif isinstance(data, Mapping):
        missing = [key for key in STEP_KEYS if key not in data]
        if missing:
            raise ValueError(
                f"{what}: data lacks the keys {missing}; it needs {list(STEP_KEYS)} (one row "
                "per step), as an rlcore.data.EpisodeDataset or a mapping of arrays."
            )
        arrays = {key: np.asarray(data[key]) for key in STEP_KEYS}
        for key in ("terminations", "truncations"):
            arrays[key] = arrays[key].astype(bool)
        if "episode_lengths" in data:
            arrays["episode_lengths"] = np.asarray(data["episode_lengths"])
        else:
            arrays["episode_lengths"] = _lengths_from_flags(arrays, what)
    else:
        raise TypeError(
            f"{what}: data must be an rlcore.data.EpisodeDataset or a mapping with keys "
            f"{list(STEP_KEYS)}, got {type(data).__name__}."
        )
    if np.shape(arrays["rewards"])[:1] == (0,):
        raise ValueError(
            f"{what}: the dataset is empty (0 steps); fit needs at least one episode. Collect "
            "data first, e.g. with rlcore.data.collect or rlcore.tabular.sample_episodes."
        )
    validate(arrays, source=what)
    rewards = np.asarray(arrays["rewards"], dtype=np.float64)
    if not np.all(np.isfinite(rewards)):
        raise ValueError(f"{what}: rewards contain NaN or inf; clean the dataset first.")
    return Steps(
        np.asarray(arrays["observations"]),
        np.asarray(arrays["actions"]),
        rewards,
        np.asarray(arrays["next_observations"]),
        np.asarray(arrays["terminations"], dtype=bool),
        np.asarray(arrays["truncations"], dtype=bool),
        np.asarray(arrays["episode_lengths"], dtype=np.int64),
    )


def _lengths_from_flags(arrays: dict[str, np.ndarray], what: str) -> np.ndarray:
    """Episode lengths from the end flags; a trailing unfinished episode is refused."""
    n = np.shape(arrays["rewards"])[0] if np.ndim(arrays["rewards"]) else 0
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.flatnonzero(np.asarray(arrays["terminations"]) | np.asarray(arrays["truncations"]))
    if ends.size == 0 or ends[-1] != n - 1:
        raise ValueError(
            f"{what}: the last row ({n - 1}) is neither terminated nor truncated, so the last "
            "episode has no end; set truncations[-1] = True (a cut episode) or pass "
            "episode_lengths."
        )
    return np.diff(np.concatenate([[-1], ends])).astype(np.int64)


def episode_returns(steps: Steps, gamma: float) -> np.ndarray:
    """(N,) Monte Carlo returns G_t = R_{t+1} + gamma_t G_{t+1} of every row (S&B (2018) eq. 3.9).

    Episodes are processed together, padded to the longest (``rlcore.returns.discounted_returns``
    along the last axis); a truncated episode's return stops at its cut (no bootstrap).
    """
    from rlcore.returns import discounted_returns

    rows = steps.padded_rows()  # (E, L)
    live = rows >= 0
    r = np.where(live, steps.rewards[rows], 0.0)
    d = np.where(live, steps.discounts(gamma)[rows], 0.0)
    g = discounted_returns(r, d)  # (E, L)
    return g[live]  # padded rows are episode-major, so this is row order


def check_actions(actions: np.ndarray, n_actions: int, what: str) -> np.ndarray:
    """Integer actions in [0, n_actions), else ValueError naming the first bad one."""
    a = np.asarray(actions)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(
            f"{what}: actions must be a 1-D integer array of discrete actions, got dtype "
            f"{a.dtype} and shape {a.shape}."
        )
    bad = np.flatnonzero((a < 0) | (a >= n_actions))
    if bad.size:
        raise ValueError(
            f"{what}: action {int(a[bad[0]])} at row {int(bad[0])} is outside [0, "
            f"{n_actions - 1}] (n_actions={n_actions}); pass the env's number of actions."
        )
    return a.astype(np.int64)


def check_states(observations: Any, n_states: int, what: str) -> np.ndarray:
    """Integer states in [0, n_states) as int64, else ValueError naming the first bad one."""
    obs = np.asarray(observations)
    if obs.ndim != 1 or not np.issubdtype(obs.dtype, np.integer):
        raise ValueError(
            f"{what}: with n_states={n_states} the observations must be a 1-D array of "
            f"integer states, got dtype {obs.dtype} and shape {obs.shape}; pass features= "
            "for other observations."
        )
    bad = np.flatnonzero((obs < 0) | (obs >= n_states))
    if bad.size:
        raise ValueError(
            f"{what}: state {int(obs[bad[0]])} (row {int(bad[0])}) is outside [0, "
            f"{n_states - 1}] (n_states={n_states}); pass the env's number of states."
        )
    return obs.astype(np.int64)


def featurize(observations: Any, n_states: int | None, features: Any, what: str) -> np.ndarray:
    """(n, d) float features of a batch of observations.

    ``features`` (a ``features.*`` map) takes precedence; else ``n_states`` gives one-hot
    vectors of integer states in [0, n_states); else the raw observations, flattened per row.
    """
    from rlcore.approximation.features import dense_features

    obs = np.asarray(observations)
    if features is not None:
        return dense_features(features(obs), features.n_features).reshape(obs.shape[0], -1)
    if n_states is not None:
        return np.eye(n_states)[check_states(obs, n_states, what)]
    x = np.asarray(obs, dtype=np.float64)
    return x.reshape(x.shape[0], -1)


def check_featurization(n_states: Any, features: Any, what: str) -> None:
    """Validate the ``n_states`` / ``features`` pair of an estimator."""
    from rlcore.approximation.features import FeatureMap

    if n_states is not None:
        check_int("n_states", n_states, 1, hint=f"{what} one-hot encodes states 0..n_states-1.")
    if features is not None and not isinstance(features, FeatureMap):
        raise TypeError(
            f"{what}: features must be a state feature map (rlcore.names('features.')), got "
            f"{features!r}."
        )
    if n_states is not None and features is not None:
        raise ValueError(
            f"{what}: give n_states (one-hot features) or features (a feature map), not both."
        )


def policy_table(policy: Any, what: str) -> np.ndarray:
    """A fixed policy's (S, A) probability table from an array or a ``policies.tabular``."""
    from rlcore.tabular.policies import TablePolicy, check_probability_table

    if isinstance(policy, TablePolicy):
        return policy.table
    if not isinstance(policy, (np.ndarray, list, tuple)):
        raise TypeError(
            f"{what} must be an (n_states, n_actions) probability table (an array or "
            f"rlcore.make('policies.tabular', probs)), got {type(policy).__name__}."
        )
    return check_probability_table(policy, what)


def policy_probs(table: np.ndarray, observations: Any, what: str) -> np.ndarray:
    """(n, A) rows pi(. | s) of ``table`` for integer states ``observations``."""
    return table[check_states(observations, table.shape[0], what)]


# -- cloning and parameters ---------------------------------------------------------------------
def clone(estimator: Any) -> Any:
    """A fresh, unfitted copy with the same parameters (scikit-learn's ``clone``, shallow)."""
    get_params = getattr(estimator, "get_params", None)
    if callable(get_params):
        return type(estimator)(**get_params())
    return copy.deepcopy(estimator)


def display_name(estimator: Any) -> str:
    """The registry name without its namespace ('mc_value'), else the lower-case class name."""
    try:
        return name_of(estimator).split(".", 1)[1]
    except KeyError:
        return type(estimator).__name__.lower()


def check_regressor(regressor: Any, what: str) -> Any:
    """``regressor`` if it has callable ``fit`` and ``predict``, else TypeError."""
    if not (
        callable(getattr(regressor, "fit", None)) and callable(getattr(regressor, "predict", None))
    ):
        raise TypeError(
            f"{what}: regressor={regressor!r} has no fit/predict methods. Pass an object with "
            "fit(X, y) and predict(X) (e.g. rlcore.make('estimators.least_squares') or a "
            "scikit-learn regressor), or one of the names 'least_squares', 'extra_trees'."
        )
    return regressor


def make_regressor(regressor: Any, what: str) -> Any:
    """The regressor an estimator clones: None / 'least_squares' (built in), 'extra_trees'
    (scikit-learn, Ernst et al. 2005's settings: 50 trees, n_min = 2, all features), or an object."""
    if regressor is None or regressor == "least_squares":
        return LeastSquares()
    if regressor == "extra_trees":
        try:
            from sklearn.ensemble import ExtraTreesRegressor
        except ImportError as err:  # pragma: no cover - the extra is installed by make setup
            raise ImportError(
                f"{what}: regressor='extra_trees' needs scikit-learn: pip install 'rlcore[sklearn]'."
            ) from err
        return ExtraTreesRegressor(n_estimators=50, min_samples_split=2, max_features=1.0)
    if isinstance(regressor, str):
        raise ValueError(
            f"{what}: regressor={regressor!r} is not one of 'least_squares', 'extra_trees'; or "
            "pass an object with fit(X, y) and predict(X)."
        )
    return check_regressor(regressor, what)


def fit_per_action(
    regressor: Any, x: np.ndarray, a: np.ndarray, y: np.ndarray, n_actions: int, what: str
) -> list[Any]:
    """One clone of ``regressor`` per action a, fit on the rows with A_t = a: q(s, a) = f_a(x(s)).

    This is the state-action map of ``features.state_action`` (one block of weights per action)
    for any regressor.
    """
    check_action_coverage(a, n_actions, what)
    return [clone(regressor).fit(x[a == action], y[a == action]) for action in range(n_actions)]


def check_action_coverage(a: np.ndarray, n_actions: int, what: str) -> None:
    """ValueError unless every action 0..n_actions-1 occurs in ``a`` (q(., a) needs data)."""
    missing = np.setdiff1d(np.arange(n_actions), a)
    if missing.size:
        action = int(missing[0])
        raise ValueError(
            f"{what}: the data has no step with action {action}, so q(., {action}) cannot "
            f"be fit; collect data that covers all {n_actions} actions (e.g. a uniform or "
            "epsilon-soft behaviour policy)."
        )


def predict_per_action(regressors: Sequence[Any], x: np.ndarray) -> np.ndarray:
    """(n, A) q values from the per-action regressors of ``fit_per_action``."""
    return np.stack([np.asarray(r.predict(x), dtype=np.float64) for r in regressors], axis=1)


# -- checkpoints without pickle ------------------------------------------------------------------
def _encode(value: Any, arrays: dict[str, Any], key: str) -> Any:
    """A JSON-able description of ``value``; arrays go into ``arrays`` under ``key``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, (list, tuple)):
        return {"__list__": [_encode(v, arrays, f"{key}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, Mapping):
        return {"__dict__": {str(k): _encode(v, arrays, f"{key}.{k}") for k, v in value.items()}}
    if callable(getattr(value, "state", None)):
        config, sub = value.state()
        arrays.update({f"{key}/{k}": v for k, v in sub.items()})
        return {"__object__": name_of(value), "config": config}
    raise TypeError(
        f"{key}: {type(value).__name__} cannot be saved without pickle; only built-in rlcore "
        "objects (estimators.least_squares, features.*, estimators.*), arrays and plain values "
        "can. Refit the estimator after loading instead, or use the built-in regressor."
    )


def _decode(spec: Any, arrays: Mapping[str, Any], key: str) -> Any:
    if not isinstance(spec, dict):
        return spec
    if "__array__" in spec:
        return np.asarray(arrays[spec["__array__"]])
    if "__list__" in spec:
        return [_decode(v, arrays, f"{key}.{i}") for i, v in enumerate(spec["__list__"])]
    if "__dict__" in spec:
        return {k: _decode(v, arrays, f"{key}.{k}") for k, v in spec["__dict__"].items()}
    prefix = f"{key}/"
    sub = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
    return get(spec["__object__"]).from_state(spec["config"], sub)


class Estimator:
    """Base of the batch estimators: parameters, cloning, checkpoints (subclassed once each).

    Subclasses list their fitted attributes in ``_fitted`` (the first one marks "fitted").
    """

    _fitted: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p for p in signature.parameters if p != "self"]

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The constructor's arguments as stored (``deep`` is accepted for scikit-learn's API)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Estimator:
        """Set constructor arguments; unknown names raise listing the valid ones."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; valid parameters: "
                    f"{', '.join(valid)}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
        return f"{type(self).__name__}({params})"

    def _check_fitted(self) -> None:
        check_is_fitted(self, self._fitted[0])

    # -- rlcore.protocols.Checkpointable --
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        arrays: dict[str, Any] = {}
        params = _encode(self.get_params(), arrays, "params")
        fitted = {k: getattr(self, k, None) for k in self._fitted}
        return {"params": params, "fitted": _encode(fitted, arrays, "fitted")}, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> Any:
        estimator = cls(**_decode(config["params"], arrays, "params"))
        for key, value in _decode(config["fitted"], arrays, "fitted").items():
            setattr(estimator, key, value)
        return estimator

    def save(self, directory: str | Path) -> Path:
        """Write the parameters and the fitted state (``rlcore.load(directory)`` reads it)."""
        from rlcore.checkpoint import save

        return save(self, directory)


# -- built-in regressors ---------------------------------------------------------------------------
@export("estimators.least_squares")
class LeastSquares(Estimator):
    """Ridge least squares: w = argmin ||X w + b - y||^2 + alpha ||w||^2, by a d x d solve.

    The default regressor of the fitted value estimators (NumPy only). With one-hot features and
    a tiny ``alpha`` the prediction for a state is the mean target of that state (0 for a state
    never seen), i.e. the tabular estimate.

    Args:
        alpha: ridge penalty >= 0 (0 needs X^T X invertible).
        fit_intercept: also fit an unpenalised intercept b.

    Attributes:
        coef_: (d,) weights. intercept_: float.
    """

    _fitted = ("coef_", "intercept_")

    def __init__(self, alpha: float = 1e-8, fit_intercept: bool = False) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def fit(self, X: Any, y: Any) -> LeastSquares:
        """Args: X (n, d) features, y (n,) targets. Returns self."""
        alpha = check_range("alpha", self.alpha, 0.0, hint="Use a small penalty such as 1e-8.")
        X, y = _regression_data(X, y, "least_squares")
        x_mean = X.mean(axis=0) if self.fit_intercept else np.zeros(X.shape[1])
        y_mean = float(y.mean()) if self.fit_intercept else 0.0
        Xc = X - x_mean
        gram = Xc.T @ Xc + alpha * np.eye(X.shape[1])
        try:
            self.coef_ = np.linalg.solve(gram, Xc.T @ (y - y_mean))
        except np.linalg.LinAlgError as err:
            raise ValueError(
                "least_squares: X^T X is singular; use alpha > 0 (ridge) or fewer features."
            ) from err
        self.intercept_ = y_mean - float(x_mean @ self.coef_)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """(n,) X w + b."""
        self._check_fitted()
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_


@export("estimators.nnls")
class NonNegativeLeastSquares(Estimator):
    """w = argmin_{w >= 0} ||X w - y||^2 (Lawson & Hanson; ``scipy.optimize.nnls``), optionally
    with sum_m w_m = 1 (a convex combination).

    Breiman (1996), "Stacked regressions", found non-negative weights on the members'
    out-of-fold predictions the reliable choice; the Super Learner (van der Laan, Polley &
    Hubbard 2007) constrains them to a convex combination. ``estimators.stacked_value`` uses
    the convex version by default: with noisy out-of-fold predictions as regressors, free
    weights are attenuated towards 0 (errors in variables), which the sum constraint rules out.

    The equality is imposed by Lawson & Hanson's weighting method (1974, ch. 22): NNLS on X and
    y with the row (s, ..., s | s) appended, s = 1e3 (1 + max |X|) sqrt(n), then w / sum(w).

    Args:
        sum_to_one: constrain the weights to sum to 1 (the probability simplex).

    Attributes:
        coef_: (d,) non-negative weights, one per column (per member).
    """

    _fitted = ("coef_",)

    def __init__(self, sum_to_one: bool = False) -> None:
        self.sum_to_one = sum_to_one

    def fit(self, X: Any, y: Any) -> NonNegativeLeastSquares:
        from scipy.optimize import nnls

        X, y = _regression_data(X, y, "nnls")
        if not self.sum_to_one:
            self.coef_, _ = nnls(X, y)
            return self
        s = 1e3 * (1.0 + np.abs(X).max()) * np.sqrt(X.shape[0])
        w, _ = nnls(np.vstack([X, np.full((1, X.shape[1]), s)]), np.append(y, s))
        self.coef_ = w / w.sum()
        return self

    def predict(self, X: Any) -> np.ndarray:
        self._check_fitted()
        return np.asarray(X, dtype=np.float64) @ self.coef_


def _regression_data(X: Any, y: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],) or X.shape[0] == 0:
        raise ValueError(
            f"{what}: fit needs X of shape (n, d) and y of shape (n,) with n >= 1, got "
            f"{X.shape} and {y.shape}."
        )
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError(f"{what}: X or y holds NaN or inf.")
    return X, y


def warn_not_converged(what: str, iterations: int, change: float, tol: float) -> None:
    warnings.warn(
        f"{what} stopped after max_iterations={iterations} with a last change of {change:.3g} "
        f"> tol={tol:g}; raise max_iterations, loosen tol, or lower gamma.",
        ConvergenceWarning,
        stacklevel=3,
    )


Monitor = Callable[[int, Any], Any]

__all__ = [
    "ConvergenceWarning",
    "Estimator",
    "LeastSquares",
    "NonNegativeLeastSquares",
    "NotFittedError",
    "Steps",
    "as_steps",
    "check_is_fitted",
    "clone",
    "episode_returns",
    "featurize",
]
