"""Stable public names for rlcore objects (the ``tf_export`` idea).

An object gets a dotted, lower-snake public name that does not depend on the module it lives in::

    @export("agents.q_learning", "agents.qlearning", deprecated=("agents.watkins_q",))
    class QLearning: ...

    rlcore.get("agents.q_learning")          # -> QLearning
    rlcore.make("agents.q_learning", env, alpha=0.5)
    rlcore.names("agents.")                  # canonical names under a prefix
    rlcore.name_of(QLearning)                # -> "agents.q_learning"

Rules (checked at import time, so a clash is found by the first ``import``):
- A name is ``namespace.snake_name`` (more dots allowed) with a known namespace.
- Two different objects under one name raise ``RegistryError``; the same object twice is a no-op
  (modules may be re-imported, e.g. by ``importlib.reload``).
- Aliases resolve silently; deprecated names resolve with a ``DeprecationWarning`` that names the
  canonical name.
- An unknown name raises ``UnknownNameError`` with "did you mean" suggestions and the known
  names of its namespace.

Modules that export names are imported lazily (``_PROVIDERS``): a lookup imports its namespace's
modules in order until the name appears, so ``import rlcore`` stays cheap and torch is imported
only when a torch-backed name is used (keep torch-backed modules last in each tuple).
``names()`` imports everything it lists.
"""

from __future__ import annotations

import difflib
import importlib
import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

NAMESPACES: tuple[str, ...] = (
    "agents",  # learning agents (tabular, linear, deep)
    "planning",  # dynamic programming and other model-based solvers
    "policies",  # fixed or learned policies that do not learn through observe()
    "features",  # feature maps for function approximation
    "schedules",  # noise schedules (and step-size / epsilon schedules)
    "samplers",  # generative samplers (DDPM, DDIM, Euler, Heun, ...)
    "objectives",  # generative training objectives
    "flows",  # normalizing / continuous flows
    "guidance",  # guidance rules
    "networks",  # neural network modules
    "ensembles",  # value ensembles: reductions over a member axis
    "estimators",  # batch value estimators (FQI, boosted FQI, stacking, OPE)
    "sdes",  # score SDEs (VP, sub-VP, VE)
    "planners",  # trajectory planners built on generative models (Diffuser, ...)
    "suites",  # benchmark suites
    "backends",  # benchmark execution backends
    "figures",  # book-figure reproductions
    "envs",  # environment helpers (dataset generation, experts)
    "datasets",  # dataset readers and writers
)

# Which modules to import so that a namespace's names are registered, in lookup order: modules
# that import torch go last, so NumPy-only names resolve without it. Later layers append here.
_PROVIDERS: dict[str, tuple[str, ...]] = {
    "agents": (
        "rlcore.tabular.monte_carlo",
        "rlcore.tabular.td",
        "rlcore.tabular.n_step",
        "rlcore.tabular.traces",
        "rlcore.tabular.dyna",
        "rlcore.tabular.ensembles",
        "rlcore.approximation.linear",
        "rlcore.approximation.control",
        "rlcore.approximation.gradient_td",
        "rlcore.approximation.dqn.agent",
        "rlcore.approximation.dqn.ensembles",
        "rlcore.actor_critic.agent",
        "rlcore.diffusion_policy.idql",
        "rlcore.diffusion_policy.iql",
        "rlcore.diffusion_policy.diffusion_ql",
    ),
    "features": ("rlcore.approximation.features",),
    "planning": ("rlcore.tabular.planning",),
    "suites": ("rlcore.bench.suites",),
    "backends": ("rlcore.bench.backends",),
    "policies": (
        "rlcore.policies",
        "rlcore.tabular.policies",
        "rlcore.diffusion_policy",
        "rlcore.diffusion_policy.normalizing_flow",
        "rlcore.diffusion_policy.propose_and_rank",
    ),
    "schedules": ("rlcore.generative.schedules",),
    "samplers": (
        "rlcore.generative.samplers",
        "rlcore.generative.dpm_solver",
        "rlcore.generative.edm",
        "rlcore.generative.sde_samplers",
    ),
    "objectives": (
        "rlcore.generative.diffusion",
        "rlcore.generative.flow_matching",
        "rlcore.diffusion_policy.regression",
        "rlcore.generative.edm",
        "rlcore.generative.consistency",
        "rlcore.generative.score_matching",
        "rlcore.generative.flows.core",
    ),
    "guidance": ("rlcore.generative.guidance",),
    "networks": (
        "rlcore.generative.networks",
        "rlcore.generative.ema",
        "rlcore.generative.dit",
        "rlcore.generative.adapters",
        "rlcore.generative.latent",
        "rlcore.approximation.dqn.networks",
        "rlcore.ensemble.members",
        "rlcore.actor_critic.networks",
        "rlcore.actor_critic.flow_actor",
    ),
    "envs": (
        "rlcore.envs.navigation",
        "rlcore.envs.random_walk",
        "rlcore.envs.gridworld",
        "rlcore.envs.windy_gridworld",
        "rlcore.envs.racetrack",
        "rlcore.envs.maze",
        "rlcore.envs.short_corridor",
        "rlcore.envs.maximization_bias",
        "rlcore.envs.baird",
        "rlcore.envs.gambler",
        "rlcore.envs.jacks_car_rental",
        "rlcore.envs.deep_sea",
        "rlcore.envs.bandit",
        "rlcore.envs.point_maze",
    ),
    "ensembles": ("rlcore.ensemble.reductions",),
    "datasets": (
        "rlcore.data",
        "rlcore.ensemble.estimators.datasets",
        "rlcore.actor_critic.datasets",
    ),
    "estimators": (
        "rlcore.ensemble.estimators.base",
        "rlcore.ensemble.estimators.fqi",
        "rlcore.ensemble.estimators.values",
        "rlcore.ensemble.estimators.stacking",
        "rlcore.ensemble.estimators.ope",
        "rlcore.ensemble.calibration",
        "rlcore.ensemble.estimators.neural",
    ),
    "sdes": ("rlcore.generative.sde",),
    "flows": ("rlcore.generative.flows.models", "rlcore.generative.flows.cnf"),
    "planners": ("rlcore.diffusion_policy.planners",),
    "figures": (
        "rlcore.book.ch4",
        "rlcore.book.ch5",
        "rlcore.book.ch6",
        "rlcore.book.ch7",
        "rlcore.book.ch8",
        "rlcore.book.ch12",
        "rlcore.book.ch9",
        "rlcore.book.ch10",
        "rlcore.book.ch11",
        "rlcore.book.ch12_approx",
        "rlcore.book.estimators",
        "rlcore.book.ensembles",
    ),
}

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

_by_name: dict[str, Any] = {}  # canonical name -> object
_canonical: dict[str, str] = {}  # alias or canonical name -> canonical name
_deprecated: dict[str, str] = {}  # deprecated name -> canonical name
_name_of: dict[int, str] = {}  # id(object) -> canonical name
_loaded: set[str] = set()


class RegistryError(ValueError):
    """A public name is malformed or already taken by a different object."""


class UnknownNameError(KeyError):
    """A public name is not registered. The message lists suggestions."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise RegistryError(
            f"invalid public name {name!r}: use dotted lower_snake_case such as "
            f"'agents.q_learning' (a namespace, a dot, then the name)."
        )
    namespace = name.split(".", 1)[0]
    if namespace not in NAMESPACES:
        raise RegistryError(
            f"unknown namespace {namespace!r} in public name {name!r}; known namespaces: "
            f"{', '.join(NAMESPACES)}. Add a new namespace to rlcore.registry.NAMESPACES "
            "deliberately if none fits."
        )


def _claim(name: str, canonical: str, obj: Any) -> None:
    taken = _canonical.get(name)
    if taken is not None and _by_name[taken] is not obj:
        raise RegistryError(
            f"public name {name!r} is already taken by {_describe(_by_name[taken])}; refusing to "
            f"give it to {_describe(obj)}. Pick another name or remove one of the exports."
        )


def _describe(obj: Any) -> str:
    module = getattr(obj, "__module__", "?")
    qualname = getattr(obj, "__qualname__", type(obj).__name__)
    return f"{module}.{qualname}"


def export(name: str, *aliases: str, deprecated: Iterable[str] = ()) -> Callable[[T], T]:
    """Register the decorated object under a stable public name; returns it unchanged.

    Args:
        name: canonical dotted name, e.g. ``"agents.sarsa"``.
        *aliases: further names that resolve silently to the same object.
        deprecated: old names that still resolve, with a ``DeprecationWarning`` naming ``name``.

    Raises:
        RegistryError: a malformed name, an unknown namespace, or a name taken by another object.
    """
    deprecated = tuple(deprecated)
    all_names = (name, *aliases, *deprecated)
    for n in all_names:
        _check_name(n)
    if len(set(all_names)) != len(all_names):
        raise RegistryError(f"export({name!r}, ...) repeats a name: {all_names}")

    def decorator(obj: T) -> T:
        for n in all_names:
            _claim(n, name, obj)
        previous = _name_of.get(id(obj))
        if previous is not None and previous != name:
            raise RegistryError(
                f"{_describe(obj)} is already exported as {previous!r}; an object has one "
                f"canonical name (add {name!r} as an alias of {previous!r} instead)."
            )
        _by_name[name] = obj
        for n in (name, *aliases, *deprecated):
            _canonical[n] = name
        for n in deprecated:
            _deprecated[n] = name
        _name_of[id(obj)] = name
        return obj

    return decorator


def _load(namespace: str | None) -> None:
    """Import every provider module of ``namespace`` (of all namespaces when None)."""
    spaces = _PROVIDERS if namespace is None else {namespace: _PROVIDERS.get(namespace, ())}
    for modules in spaces.values():
        for module in modules:
            _import(module)


def _import(module: str) -> None:
    if module not in _loaded:
        importlib.import_module(module)
        _loaded.add(module)


def _resolve(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"public names are strings such as 'agents.sarsa', got {name!r}")
    namespace = name.split(".", 1)[0]
    # Import the namespace's providers one at a time, in order, until the name appears: the
    # torch-backed modules come last in each tuple, so `make("agents.q_learning")` never pays
    # for importing torch.
    for module in _PROVIDERS.get(namespace, ()):
        if name in _canonical:
            break
        _import(module)
    if name not in _canonical:
        _load(None)  # an alias may live in another namespace's module
    if name not in _canonical:
        raise UnknownNameError(_unknown_message(name, namespace))
    canonical = _canonical[name]
    if name in _deprecated:
        warnings.warn(
            f"{name!r} is deprecated; use {canonical!r} (same object).",
            DeprecationWarning,
            stacklevel=3,
        )
    return canonical


def _unknown_message(name: str, namespace: str) -> str:
    candidates = sorted(_canonical)
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    in_space = [n for n in sorted(_by_name) if n.split(".", 1)[0] == namespace]
    lines = [f"unknown public name {name!r}."]
    if close:
        lines.append(f"Did you mean: {', '.join(repr(c) for c in close)}?")
    if in_space:
        lines.append(f"Known names in {namespace!r}: {', '.join(in_space)}.")
    elif namespace not in NAMESPACES:
        lines.append(f"Known namespaces: {', '.join(NAMESPACES)}.")
    lines.append("List everything with `rlcore list` or rlcore.names().")
    return " ".join(lines)


def get(name: str) -> Any:
    """Return the object exported under ``name`` (canonical, alias or deprecated).

    Raises:
        UnknownNameError: with close matches and the namespace's known names.
    """
    return _by_name[_resolve(name)]


def make(name: str, *args: Any, **kwargs: Any) -> Any:
    """Build the object exported under ``name``: ``get(name)(*args, **kwargs)``."""
    obj = get(name)
    if not callable(obj):
        raise TypeError(f"{name!r} names {_describe(obj)}, which is not callable; use get().")
    _check_call(name, obj, args, kwargs)
    return obj(*args, **kwargs)


def _check_call(name: str, obj: Any, args: tuple, kwargs: dict) -> None:
    """Raise a TypeError naming the public ``name`` (not a private base class, as Python's own
    "__init__() missing ..." message would) when the arguments do not fit ``obj``'s signature."""
    import inspect

    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # a builtin without a signature: let the call speak
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as err:
        raise TypeError(
            f"rlcore.make({name!r}, ...): {err}. Its arguments: {name}{signature}; see "
            f"help(rlcore.get({name!r}))."
        ) from None


def names(prefix: str = "") -> list[str]:
    """Sorted canonical public names that start with ``prefix`` (all of them by default)."""
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string such as 'agents.', got {prefix!r}")
    namespace = prefix.split(".", 1)[0]
    _load(namespace if "." in prefix and namespace in _PROVIDERS else None)
    return sorted(n for n in _by_name if n.startswith(prefix))


def aliases_of(name: str) -> dict[str, list[str]]:
    """The aliases and deprecated names of a canonical name."""
    canonical = _resolve(name)
    others = [n for n, c in _canonical.items() if c == canonical and n != canonical]
    return {
        "aliases": sorted(n for n in others if n not in _deprecated),
        "deprecated": sorted(n for n in others if n in _deprecated),
    }


def name_of(obj: Any) -> str:
    """Canonical public name of an exported object, or of the class of an instance.

    Raises:
        UnknownNameError: when neither the object nor its type is exported.
    """
    # No lazy loading needed: an object that exists has had its module (and export) run.
    for candidate in (obj, type(obj)):
        found = _name_of.get(id(candidate))
        if found is not None and _by_name.get(found) is candidate:
            return found
    raise UnknownNameError(
        f"{_describe(obj)} has no public name; decorate it with @rlcore.export('namespace.name') "
        "to save, load or list it."
    )


def register_provider(namespace: str, module: str) -> None:
    """Declare that importing ``module`` registers names of ``namespace`` (used by plug-ins)."""
    if namespace not in NAMESPACES:
        raise RegistryError(f"unknown namespace {namespace!r}; known: {', '.join(NAMESPACES)}")
    current = _PROVIDERS.get(namespace, ())
    if module not in current:
        _PROVIDERS[namespace] = (*current, module)
