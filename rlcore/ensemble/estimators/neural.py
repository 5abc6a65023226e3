"""A small neural critic: an MLP state-value estimator fit by fitted TD(0) evaluation (torch).

The neural member of ``estimators.stacked_value``. Fitted evaluation with a network (neural
fitted Q iteration, Riedmiller 2005, applied to state values; FQE, Le et al. 2019, for the
behaviour policy): for k = 1..K,

    y_t = R_{t+1} + gamma_t v_{k-1}(S_{t+1})            (targets frozen during iteration k)
    v_k = argmin_theta (1/N) sum_t (v_theta(S_t) - y_t)^2   (``steps_per_iteration`` Adam steps
                                                             on the full batch, warm-started)

with gamma_t = gamma (1 - terminated_t) (a terminal S_{t+1} is never evaluated). The loss is
computed on the distinct inputs weighted by their counts with their rows' mean target (the same
gradient as the full batch; tabular and aggregated features have few distinct inputs). v_theta is an
MLP on the state features x(s) (one-hot from ``n_states``, a ``features.*`` map, or the raw
observations): hidden layers of ``hidden_sizes`` units with tanh or ReLU, a linear output.

Torch is used for training only; the fitted weights are NumPy arrays (``coefs_`` (in, out) and
``intercepts_`` per layer, scikit-learn's ``MLPRegressor`` names) and ``predict`` runs the same
forward pass in NumPy, so a saved estimator loads and predicts without pickle. The weights start
as ``torch.nn.Linear``'s default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from a generator
seeded by ``seed``, and training is full-batch, so the same seed gives the same numbers on CPU.

This module imports torch; ``rlcore.ensemble.estimators`` does not import it (the registry
imports it last, only when ``estimators.neural_value`` is asked for).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rlcore.ensemble.estimators.base import (
    Estimator,
    as_steps,
    check_featurization,
    featurize,
)
from rlcore.registry import export
from rlcore.validation import check_choice, check_int, check_range


def _forward(x: Any, coefs: Sequence[Any], intercepts: Sequence[Any], activation: str) -> Any:
    """(n,) MLP output; works on NumPy arrays and torch tensors alike."""
    h = x
    for i, (w, b) in enumerate(zip(coefs, intercepts)):
        h = h @ w + b
        if i < len(coefs) - 1:
            h = _activate(h, activation)
    return h[:, 0]


def _activate(h: Any, activation: str) -> Any:
    if activation == "relu":
        return h * (h > 0)
    return h.tanh() if isinstance(h, torch.Tensor) else np.tanh(h)


@export("estimators.neural_value")
class NeuralValue(Estimator):
    """MLP state values by fitted TD(0) evaluation (module docstring).

    Args:
        gamma: discount in [0, 1].
        n_states, features: see ``estimators.base`` (one-hot, a feature map, or raw observations).
        hidden_sizes: units per hidden layer (each >= 1; () is a linear model).
        activation: 'tanh' or 'relu'.
        n_iterations: K >= 1 target refreshes.
        steps_per_iteration: full-batch Adam steps per iteration (>= 1).
        learning_rate: Adam's step size (> 0).
        weight_decay: L2 penalty of Adam (>= 0).
        seed: seeds the initial weights.

    Attributes:
        coefs_: list of (in, out) weight arrays. intercepts_: list of (out,) biases.
        n_iter_: iterations run. loss_: (K,) the last training loss of each iteration, computed
            on the distinct inputs (the full-batch TD loss minus the within-input variance of
            the targets, which has the same gradient).
    """

    _fitted = ("coefs_", "intercepts_", "n_iter_", "loss_")

    def __init__(
        self,
        *,
        gamma: float = 1.0,
        n_states: int | None = None,
        features: Any = None,
        hidden_sizes: Sequence[int] = (32,),
        activation: str = "tanh",
        n_iterations: int = 100,
        steps_per_iteration: int = 10,
        learning_rate: float = 0.01,
        weight_decay: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.gamma = gamma
        self.n_states = n_states
        self.features = features
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.n_iterations = n_iterations
        self.steps_per_iteration = steps_per_iteration
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.seed = seed

    def _check(self, what: str) -> list[int]:
        check_range("gamma", self.gamma, 0.0, 1.0, hint="gamma is a discount in [0, 1].")
        check_featurization(self.n_states, self.features, what)
        if isinstance(self.hidden_sizes, (str, bytes)) or not isinstance(
            self.hidden_sizes, Sequence
        ):
            raise TypeError(
                f"{what}: hidden_sizes must be a sequence of layer widths such as (32,) or "
                f"(64, 64), got {self.hidden_sizes!r}."
            )
        sizes = [check_int("hidden_sizes[i]", h, 1) for h in self.hidden_sizes]
        check_choice("activation", self.activation, ("tanh", "relu"))
        check_int("n_iterations", self.n_iterations, 1)
        check_int("steps_per_iteration", self.steps_per_iteration, 1)
        check_range("learning_rate", self.learning_rate, 0.0, low_open=True, hint="e.g. 0.01.")
        check_range("weight_decay", self.weight_decay, 0.0, hint="0 for no penalty.")
        check_int("seed", self.seed, 0)
        return sizes

    def fit(self, data: Any) -> NeuralValue:
        what = "estimators.neural_value"
        sizes = self._check(what)
        steps = as_steps(data, what)
        x_tm1 = featurize(steps.observations, self.n_states, self.features, what)
        live = ~steps.terminations  # a terminal S_{t+1} needs no features: its value is 0
        x_t = np.zeros_like(x_tm1)
        x_t[live] = featurize(steps.next_observations[live], self.n_states, self.features, what)
        # The full-batch loss (1/N) sum_t (v(S_t) - y_t)^2 equals, up to a constant, the loss on
        # the distinct inputs u weighted by their frequency n_u / N with the mean target of
        # their rows: the same gradient at the cost of the distinct rows (few when tabular).
        u_tm1, row_to_u = np.unique(x_tm1, axis=0, return_inverse=True)
        u_t, row_to_u_t = np.unique(x_t, axis=0, return_inverse=True)
        row_to_u, row_to_u_t = row_to_u.reshape(-1), row_to_u_t.reshape(-1)
        counts = np.bincount(row_to_u, minlength=u_tm1.shape[0]).astype(np.float64)
        x_tm1_, x_t_ = torch.from_numpy(u_tm1), torch.from_numpy(u_t)
        freq = torch.from_numpy(counts / steps.n_steps)
        inverse, inverse_t = torch.from_numpy(row_to_u), torch.from_numpy(row_to_u_t)
        counts_ = torch.from_numpy(counts)
        r_t = torch.from_numpy(steps.rewards)
        discount_t = torch.from_numpy(steps.discounts(self.gamma))
        generator = torch.Generator().manual_seed(int(self.seed))
        coefs, intercepts = [], []
        for fan_in, fan_out in zip([x_tm1.shape[1], *sizes], [*sizes, 1]):
            bound = 1.0 / np.sqrt(fan_in)
            for shape, out in (((fan_in, fan_out), coefs), ((fan_out,), intercepts)):
                u = torch.rand(shape, generator=generator, dtype=torch.float64)
                out.append(((2 * u - 1) * bound).requires_grad_(True))
        optimizer = torch.optim.Adam(
            [*coefs, *intercepts], lr=self.learning_rate, weight_decay=self.weight_decay
        )
        losses = []
        for _ in range(self.n_iterations):
            with torch.no_grad():  # y_t per row, then its mean over the rows of each input
                v_t = _forward(x_t_, coefs, intercepts, self.activation)[inverse_t]
                y = r_t + discount_t * v_t
                y_mean = torch.zeros_like(counts_).index_add_(0, inverse, y) / counts_
            for _ in range(self.steps_per_iteration):
                v = _forward(x_tm1_, coefs, intercepts, self.activation)
                loss = torch.sum(freq * (v - y_mean) ** 2)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            losses.append(loss.item())
            if not np.isfinite(losses[-1]):
                raise FloatingPointError(
                    f"{what}: the TD loss went non-finite; lower learning_rate or gamma."
                )
        self.coefs_ = [w.detach().numpy().copy() for w in coefs]
        self.intercepts_ = [b.detach().numpy().copy() for b in intercepts]
        self.n_iter_ = int(self.n_iterations)
        self.loss_ = np.asarray(losses)
        return self

    def predict(self, observations: Any) -> np.ndarray:
        """(n,) v(s) by the MLP's forward pass in NumPy."""
        self._check_fitted()
        x = featurize(observations, self.n_states, self.features, "NeuralValue")
        return np.asarray(_forward(x, self.coefs_, self.intercepts_, self.activation))


__all__ = ["NeuralValue"]
