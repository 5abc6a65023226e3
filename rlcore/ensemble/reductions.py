"""Reductions as data: how an ensemble's N member values become one value.

Every reduction is a small frozen dataclass exported under ``ensembles.*``; build it with
``rlcore.make`` (``rlcore.make("ensembles.lcb", k=1.5)``) or directly, and call it on an array of
shape ``(members, batch, ...)``. It reduces along axis 0 and returns ``(batch, ...)``::

    x = np.random.default_rng(0).normal(size=(5, 32, 1))     # 5 members, a batch of 32
    rlcore.make("ensembles.mean")(x)                           # (32, 1), NumPy in -> NumPy out
    rlcore.make("ensembles.lcb", k=1.5)(q_members)             # torch in -> torch out (same dtype,
                                                               # device, autograd graph)
    rlcore.make("ensembles.subset_min", m=2)(q, generator=rng) # REDQ: one subset per call

The call signature is the same for all of them, ``reduction(x, *, generator=None)``, so generic
code (an agent, a propose-and-rank sampler) takes any reduction and passes its generator along;
only ``subset_min`` uses it. ``as_reduction`` turns a name (``"min"`` or ``"ensembles.min"``),
a reduction or any callable into a reduction.

=================  ===========================================  ====================================
name               formula (over members k = 1..N)              source
=================  ===========================================  ====================================
ensembles.mean     (1/N) sum_k x_k                              Averaged-DQN (Anschel et al. 2017)
ensembles.min      min_k x_k                                    Maxmin Q (Lan et al. 2020), SAC-N
ensembles.max      max_k x_k
ensembles.std      sqrt(sum_k (x_k - mean)^2 / (N - ddof))      spread read-out (ddof 0 default)
ensembles.sum      sum_k x_k
ensembles.subset   min_{k in S} x_k, S a random M-subset of     REDQ (Chen et al. 2021, Alg. 1,
  _min             the members, one draw per call (minibatch)   line 7)
ensembles.lcb      mean - k std                                 pessimism (e.g. SUNRISE, Lee et
                                                                al. 2021; EDAC-style penalties)
ensembles.ucb      mean + k std                                 optimism (SUNRISE's UCB action
                                                                selection)
ensembles.mix      lam min + (1 - lam) max, lam = 0.75          BCQ's clipped double Q (Fujimoto
                                                                et al. 2019, eq. 13)
ensembles.vote     the most frequent of the members' greedy     Bootstrapped DQN's ensemble vote
                   actions (ties: the lowest action)            (Osband et al. 2016, §5)
=================  ===========================================  ====================================

Backends without a torch import: a NumPy array (or anything ``np.asarray`` accepts that is not a
tensor) is reduced with NumPy; a ``torch.Tensor`` with its own methods (``amin``, ``std``, ...),
so results keep the input's dtype, device and gradient. The module never imports torch: the
NumPy-only tabular agents use it too.

``subset_min``'s randomness follows one rule for both array kinds: the subset is drawn on the host
by a NumPy ``Generator`` (``generator.choice(N, M, replace=False)``), so a seed gives the same
subsets whether the values are arrays or tensors, on any device.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rlcore.registry import export, get
from rlcore.validation import check_int, check_range

__all__ = [
    "LCB",
    "UCB",
    "Max",
    "Mean",
    "Min",
    "Mix",
    "Reduction",
    "Std",
    "SubsetMin",
    "Sum",
    "Vote",
    "as_reduction",
    "is_tensor",
]


@runtime_checkable
class Reduction(Protocol):
    """Anything that maps ``(members, batch, ...)`` to ``(batch, ...)`` along axis 0."""

    def __call__(self, x: Any, *, generator: np.random.Generator | None = None) -> Any: ...


def is_tensor(x: Any) -> bool:
    """True for a torch tensor (checked by its type's module: torch is never imported here)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "dim")


def _members(x: Any, what: str) -> Any:
    """x as an array or tensor with a member axis and a batch axis (ndim >= 2)."""
    if not is_tensor(x):
        x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(
            f"{what} reduces over a member axis of an array shaped (members, batch, ...); got "
            f"shape {tuple(x.shape)}. Stack the members' values on axis 0 and keep a batch axis "
            "(for a single state use x[:, None])."
        )
    if x.shape[0] < 1:
        raise ValueError(f"{what} got an array with 0 members (shape {tuple(x.shape)}).")
    return x


def _mean(x: Any) -> Any:
    return x.mean(dim=0) if is_tensor(x) else x.mean(axis=0)


def _std(x: Any, ddof: int, what: str) -> Any:
    if x.shape[0] <= ddof:
        raise ValueError(
            f"{what} with ddof={ddof} needs more than {ddof} member(s), got {x.shape[0]}; use "
            "ddof=0 (the population spread) or more members."
        )
    return x.std(dim=0, correction=ddof) if is_tensor(x) else x.std(axis=0, ddof=ddof)


def _min(x: Any) -> Any:
    return x.amin(dim=0) if is_tensor(x) else x.min(axis=0)


def _max(x: Any) -> Any:
    return x.amax(dim=0) if is_tensor(x) else x.max(axis=0)


def _check_ddof(ddof: Any) -> int:
    return check_int("ddof", ddof, 0, 1, hint="0: population spread, 1: sample spread.")


def _check_k(k: Any) -> float:
    return check_range(
        "k", k, 0.0, hint="k multiplies the members' standard deviation; use k >= 0, e.g. 1.0."
    )


@export("ensembles.mean")
@dataclass(frozen=True)
class Mean:
    """(1/N) sum_k x_k over axis 0: the Averaged-DQN target (Anschel et al. 2017, eq. 2)."""

    def __call__(self, x: Any, *, generator: np.random.Generator | None = None) -> Any:
        return _mean(_members(x, "ensembles.mean"))


@export("ensembles.min")
@dataclass(frozen=True)
class Min:
    """min_k x_k over axis 0: Maxmin Q-learning's target (Lan et al. 2020, eq. 3), SAC-N."""

    def __call__(self, x: Any, *, generator: np.random.Generator | None = None) -> Any:
        return _min(_members(x, "ensembles.min"))


@export("ensembles.max")
@dataclass(frozen=True)
class Max:
    """max_k x_k over axis 0."""

    def __call__(self, x: Any, *, generator: np.random.Generator | None = None) -> Any:
        return _max(_members(x, "ensembles.max"))


@export("ensembles.sum")
@dataclass(frozen=True)
class Sum:
    """sum_k x_k over axis 0 (e.g. the ensemble loss: members' losses are summed, not averaged,
    so a member's gradient does not shrink with N)."""

    def __call__(self, x: Any, *, generator: np.random.Generator | None = None) -> Any:
        x = _members(x, "ensembles.sum")
        return x.sum(dim=0) if is_tensor(x) else x.sum(axis=0)


@export("ensembles.std")
@dataclass(frozen=True)
class Std:
    """sqrt(sum_k (x_k - mean)^2 / (N - ddof)) over axis 0: the members' spread.

    Args:
        ddof: 0 (default: the population standard deviation, defined for N = 1) or 1 (the
            sample standard deviation, ``torch.std``'s default).
    """

    ddof: int = 0

    def __post_init__(self) -> None:
        _check_ddof(self.ddof)

    def __call__(self, x: Any, *, generator: np.random.Generator | None = None) -> Any:
        return _std(_members(x, "ensembles.std"), self.ddof, "ensembles.std")


@export("ensembles.lcb")
@dataclass(frozen=True)
class LCB:
    """Lower confidence bound mean_k x_k - k std_k x_k (pessimistic values).

    Args:
        k: the number of standard deviations, >= 0 (k = 0 is the mean).
        ddof: of the standard deviation (see ``ensembles.std``).
    """

    k: float = 1.0
    ddof: int = 0

    def __post_init__(self) -> None:
        _check_k(self.k)
        _check_ddof(self.ddof)

    def __call__(self, x: Any, *, generator: np.random.Generator | None = None) -> Any:
        x = _members(x, "ensembles.lcb")
        return _mean(x) - self.k * _std(x, self.ddof, "ensembles.lcb")


@export("ensembles.ucb")
@dataclass(frozen=True)
class UCB:
    """Upper confidence bound mean_k x_k + k std_k x_k (optimism in exploration; SUNRISE's
    action selection, Lee et al. 2021, eq. 5).

    Args:
        k: the number of standard deviations, >= 0.
        ddof: of the standard deviation (see ``ensembles.std``).
    """

    k: float = 1.0
    ddof: int = 0

    def __post_init__(self) -> None:
        _check_k(self.k)
        _check_ddof(self.ddof)

    def __call__(self, x: Any, *, generator: np.random.Generator | None = None) -> Any:
        x = _members(x, "ensembles.ucb")
        return _mean(x) + self.k * _std(x, self.ddof, "ensembles.ucb")


@export("ensembles.mix")
@dataclass(frozen=True)
class Mix:
    """lam min_k x_k + (1 - lam) max_k x_k: BCQ's soft clipped double Q (Fujimoto et al. 2019,
    eq. 13, with lam = 0.75).

    Args:
        lam: weight of the minimum, in [0, 1] (1: ``min``, 0: ``max``).
    """

    lam: float = 0.75

    def __post_init__(self) -> None:
        check_range("lam", self.lam, 0.0, 1.0, hint="lam weights the minimum; BCQ uses 0.75.")

    def __call__(self, x: Any, *, generator: np.random.Generator | None = None) -> Any:
        x = _members(x, "ensembles.mix")
        return self.lam * _min(x) + (1.0 - self.lam) * _max(x)


@export("ensembles.subset_min")
@dataclass(frozen=True)
class SubsetMin:
    """min_{k in S} x_k for a random subset S of ``m`` distinct members, drawn once per call.

    REDQ's in-target minimization (Chen et al. 2021, Algorithm 1, line 7): call it once per
    minibatch so every sample of the batch shares the subset, as the paper does.

    Args:
        m: the subset size M >= 1 (REDQ's M = 2); must not exceed the number of members.

    Call with ``generator=`` a NumPy ``Generator`` (for arrays and tensors alike: the subset is
    drawn on the host with ``generator.choice(N, m, replace=False)``).
    """

    m: int = 2

    def __post_init__(self) -> None:
        check_int("m", self.m, 1, hint="m is the subset size; REDQ uses m=2.")

    def subset(self, n_members: int, generator: np.random.Generator) -> np.ndarray:
        """The sorted member indices of one draw, shape (m,)."""
        if self.m > n_members:
            raise ValueError(
                f"ensembles.subset_min: subset size m={self.m} exceeds the {n_members} members; "
                f"use m in [1, {n_members}] or more members."
            )
        if not isinstance(generator, np.random.Generator):
            raise TypeError(
                "ensembles.subset_min draws its subset with a NumPy Generator (for arrays and "
                f"tensors alike); got generator={generator!r}. Pass "
                "generator=np.random.default_rng(seed)."
            )
        return np.sort(generator.choice(n_members, size=self.m, replace=False))

    def __call__(self, x: Any, *, generator: np.random.Generator | None = None) -> Any:
        x = _members(x, "ensembles.subset_min")
        idx = self.subset(x.shape[0], generator)
        return _min(x[idx.tolist()] if is_tensor(x) else x[idx])


@export("ensembles.vote")
@dataclass(frozen=True)
class Vote:
    """The most frequent action among the members' greedy actions; ties go to the lowest action.

    Bootstrapped DQN's evaluation policy (Osband et al. 2016, §5, "ensemble voting").

    Input: integer actions of shape (members, batch, ...), values >= 0 (to vote on Q-values
    ``q`` of shape (members, batch, A), pass ``q.argmax(-1)``). Output: (batch, ...) actions.
    """

    def __call__(self, x: Any, *, generator: np.random.Generator | None = None) -> Any:
        x = _members(x, "ensembles.vote")
        integer = (
            not (x.dtype.is_floating_point or x.dtype.is_complex) and str(x.dtype) != "torch.bool"
            if is_tensor(x)
            else np.issubdtype(x.dtype, np.integer)
        )
        if not integer:
            raise TypeError(
                f"ensembles.vote counts the members' greedy actions and needs integer actions; "
                f"got dtype {x.dtype}. Pass q.argmax(-1) of the members' Q-values, not the "
                "values themselves (for values use ensembles.mean)."
            )
        if x.numel() if is_tensor(x) else x.size:
            if int(x.min()) < 0:
                raise ValueError(
                    f"ensembles.vote got a negative action ({int(x.min())}); actions are "
                    "indices 0..A-1."
                )
        n_actions = int(x.max()) + 1 if (x.numel() if is_tensor(x) else x.size) else 1
        if is_tensor(x):
            arange = sys.modules["torch"].arange(n_actions, device=x.device)
            counts = (x.unsqueeze(-1) == arange).sum(dim=0)  # (batch, ..., A)
            return counts.argmax(dim=-1)  # the first maximum: the lowest action
        counts = (x[..., None] == np.arange(n_actions)).sum(axis=0)
        return counts.argmax(axis=-1)


def as_reduction(spec: str | Reduction | Callable[..., Any]) -> Reduction:
    """A reduction from a short name (``"min"``), a public name (``"ensembles.lcb"``), a
    reduction object, or any callable taking ``(x, *, generator=None)``.

    Names build the reduction with its defaults; for other parameters build it yourself
    (``rlcore.make("ensembles.lcb", k=2.0)``).

    Raises:
        ValueError: an unknown name (lists the known ones).
        TypeError: neither a string nor a callable.
    """
    if isinstance(spec, str):
        name = spec if spec.startswith("ensembles.") else f"ensembles.{spec}"
        known = sorted(n.split(".", 1)[1] for n in _NAMES)
        if name not in _NAMES:
            raise ValueError(
                f"unknown reduction {spec!r}; known: {', '.join(known)} (or pass a reduction "
                "object such as rlcore.make('ensembles.lcb', k=1.5))."
            )
        return get(name)()
    if not callable(spec):
        raise TypeError(
            f"a reduction is a name such as 'min' or a callable (x, *, generator=None); got "
            f"{spec!r}."
        )
    return spec  # type: ignore[return-value]


_NAMES = tuple(
    f"ensembles.{n}"
    for n in ("mean", "min", "max", "std", "sum", "subset_min", "lcb", "ucb", "mix", "vote")
)
