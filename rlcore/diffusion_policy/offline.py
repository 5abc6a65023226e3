"""Pieces the offline generative agents share: transition data, a state-conditioned generative
model of actions, critic members, and the IQL / TD losses.

Time index (as in ``rlcore.types``): a transition row is (s_tm1, a_tm1, r_t, s_t, d_t) with
d_t = 1 when s_t is terminal; ``discount_t = gamma (1 - d_t)``.

Everything works in normalised coordinates: observations and actions are mapped to [-1, 1] by
the dataset's min/max (``MinMaxNormalizer``); the diffusion actor samples in that box and is
clipped to it (Diffusion-QL's ``clip_denoised``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rlcore.diffusion_policy.chunking import MinMaxNormalizer
from rlcore.registry import make
from rlcore.validation import check_choice, check_int, check_range

TRANSITION_KEYS: tuple[str, ...] = (
    "observations",
    "actions",
    "rewards",
    "next_observations",
    "terminations",
)
ACTION_OBJECTIVES: tuple[str, ...] = ("objectives.diffusion", "objectives.flow_matching")


# ---------------------------------------------------------------------------- data
def transition_arrays(dataset: Any, what: str) -> dict[str, np.ndarray]:
    """The five transition arrays an offline agent needs, checked and as float64 / bool.

    Args:
        dataset: an ``EpisodeDataset`` or a mapping with the keys ``TRANSITION_KEYS``.
        what: the caller's name, for the messages.

    Returns:
        observations (N, obs_dim), actions (N, action_dim), rewards (N,), next_observations
        (N, obs_dim), terminations (N,) bool.

    Raises:
        ValueError: a missing key (named), a non-flat observation or action, mismatched lengths,
            a NaN or inf (key and first row named).
    """
    if isinstance(dataset, Mapping):
        missing = [k for k in TRANSITION_KEYS if k not in dataset]
        get = dataset.__getitem__
    else:
        missing = [k for k in TRANSITION_KEYS if not hasattr(dataset, k)]
        get = lambda k: getattr(dataset, k)  # noqa: E731
    if missing:
        raise ValueError(
            f"{what}: the dataset lacks {missing}; offline agents need {list(TRANSITION_KEYS)} "
            "(an rlcore.data.EpisodeDataset has them: build one with `rlcore data collect`)."
        )
    arrays = {k: np.asarray(get(k)) for k in TRANSITION_KEYS}
    n = arrays["rewards"].shape[0] if arrays["rewards"].ndim == 1 else -1
    for key, rank in (
        ("observations", 2),
        ("actions", 2),
        ("next_observations", 2),
        ("rewards", 1),
        ("terminations", 1),
    ):
        if arrays[key].ndim != rank or arrays[key].shape[0] != n or n < 1:
            want = "(N, dim)" if rank == 2 else "(N,)"
            raise ValueError(
                f"{what}: {key} must have shape {want} with the N={n} rows of rewards, got "
                f"{arrays[key].shape}; flatten observations and actions to vectors."
            )
    if arrays["observations"].shape != arrays["next_observations"].shape:
        raise ValueError(
            f"{what}: observations {arrays['observations'].shape} and next_observations "
            f"{arrays['next_observations'].shape} differ in shape."
        )
    out = {k: arrays[k].astype(np.float64) for k in TRANSITION_KEYS[:4]}
    for key, values in out.items():
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(
                f"{what}: {key} has {int(bad.sum())} non-finite values (NaN or inf), the first "
                f"in row {row}; drop or repair those transitions before training."
            )
    out["terminations"] = arrays["terminations"].astype(bool)
    return out


@dataclass(frozen=True, eq=False)
class TransitionTensors:
    """Normalised transitions as float32 tensors, and the normalisers that made them.

    Attributes:
        s_tm1 (N, obs_dim), a_tm1 (N, action_dim), r_t (N,), s_t (N, obs_dim), d_t (N,) in {0, 1}.
    """

    s_tm1: Tensor
    a_tm1: Tensor
    r_t: Tensor
    s_t: Tensor
    d_t: Tensor
    obs_normalizer: MinMaxNormalizer
    action_normalizer: MinMaxNormalizer

    @classmethod
    def from_dataset(cls, dataset: Any, what: str) -> TransitionTensors:
        arrays = transition_arrays(dataset, what)
        obs_norm = MinMaxNormalizer.fit(
            np.concatenate([arrays["observations"], arrays["next_observations"]])
        )
        action_norm = MinMaxNormalizer.fit(arrays["actions"])

        def f32(x: np.ndarray) -> Tensor:
            return torch.as_tensor(x, dtype=torch.float32)

        return cls(
            f32(obs_norm.normalize(arrays["observations"])),
            f32(action_norm.normalize(arrays["actions"])),
            f32(arrays["rewards"]),
            f32(obs_norm.normalize(arrays["next_observations"])),
            f32(arrays["terminations"].astype(np.float64)),
            obs_norm,
            action_norm,
        )

    @property
    def n(self) -> int:
        return int(self.r_t.shape[0])

    def batch(self, size: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        """A minibatch (s_tm1, a_tm1, r_t, s_t, d_t) drawn uniformly with replacement."""
        idx = torch.randint(self.n, (size,), generator=generator)
        return self.s_tm1[idx], self.a_tm1[idx], self.r_t[idx], self.s_t[idx], self.d_t[idx]


def adam(params: Any, lr: float) -> torch.optim.Adam:
    """Adam with PyTorch's fused kernel (one kernel over all tensors instead of a Python loop
    per tensor: 10-20 % of an IDQL step on one CPU thread, measured side by side); the
    same update rule and deterministic, but not bit-identical to the per-tensor loop."""
    return torch.optim.Adam(params, lr=lr, fused=True)


# ---------------------------------------------------------------------------- actor
@dataclass(frozen=True)
class ActionModelConfig:
    """A state-conditioned generative model of one action.

    Defaults are Diffusion-QL's and IDQL's: DDPM with the short VP schedule and K = 5 steps,
    epsilon prediction, samples clipped to the normalised box; an MLP denoiser.

    Attributes:
        objective: "objectives.diffusion" or "objectives.flow_matching".
        steps: K (diffusion training steps, also the sampling steps) or the flow's Euler steps.
        hidden, depth: the ``networks.mlp_denoiser`` size.
    """

    objective: str = "objectives.diffusion"
    steps: int = 5
    hidden: int = 256
    depth: int = 3

    def __post_init__(self) -> None:
        check_choice("objective", self.objective, ACTION_OBJECTIVES)
        check_int("steps", self.steps, 1)
        check_int("hidden", self.hidden, 1)
        check_int("depth", self.depth, 1)

    def build_objective(self) -> Any:
        if self.objective == "objectives.diffusion":
            return make(
                self.objective,
                schedule="vp_short",
                num_train_steps=self.steps,
                prediction="epsilon",
                sampler="ddpm",
                clip_sample=1.0,
            )
        return make(self.objective, sample_steps=self.steps)


class ActionModel(nn.Module):
    """p(a | s) by a generative objective and an MLP denoiser over normalised actions.

    Shapes: ``loss(s (B, obs_dim), a0 (B, action_dim))`` -> scalar;
    ``sample(s (B, obs_dim), n)`` -> (B, n, action_dim) in [-1, 1].
    """

    def __init__(self, obs_dim: int, action_dim: int, config: ActionModelConfig) -> None:
        super().__init__()
        self.config = config
        self.objective = config.build_objective()
        self.action_dim = action_dim
        self.net = make(
            "networks.mlp_denoiser", action_dim, obs_dim, hidden=config.hidden, depth=config.depth
        )

    def loss(self, s: Tensor, a0: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The objective's behaviour-cloning loss (DDPM: Ho et al. 2020, eq. 14)."""
        return self.objective.loss(self.net, a0, s, generator=generator)

    def loss_and_x0_hat(
        self, s: Tensor, a0: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """``loss`` and the one-step action estimate x0_hat (B, action_dim), unclipped, from the
        same noised action and the same network call (``objectives.diffusion`` only)."""
        return self.objective.loss_and_x0_hat(self.net, a0, s, generator=generator)

    def sample(
        self, s: Tensor, n: int = 1, generator: torch.Generator | None = None, **sampling: Any
    ) -> Tensor:
        """n actions per state, in the caller's grad mode: the objective's reverse chain, or the
        sampler and steps given in ``sampling`` (``Diffusion.sample``'s ``sampler=``,
        ``steps=``)."""
        batch = s.shape[0]
        cond = s.repeat_interleave(n, dim=0)  # (B n, obs_dim)
        a = self.objective.sample(
            self.net,
            (batch * n, self.action_dim),
            cond,
            generator=generator,
            dtype=s.dtype,
            **sampling,
        )
        return a.clamp(-1.0, 1.0).reshape(batch, n, self.action_dim)


# ---------------------------------------------------------------------------- critics
def critic_ensemble(
    n_in: int,
    members: int,
    hidden: int = 256,
    depth: int = 2,
    seed: int = 0,
    layer_norm: bool = False,
):
    """M critics as one ``networks.ensemble`` (stacked members): ``(B, n_in)`` -> ``(M, B, 1)``.

    Q(s, a) takes n_in = obs_dim + action_dim (call it with (s, a)); V(s) takes obs_dim.
    ``layer_norm`` normalises each hidden layer (``Ensemble(layer_norm=True)``).
    """
    from rlcore.ensemble.members import Ensemble

    return Ensemble(
        members,
        n_in,
        1,
        hidden=(hidden,) * depth,
        activation="relu",
        layer_norm=layer_norm,
        seed=seed,
    )


def expectile_loss(diff: Tensor, tau: float) -> Tensor:
    """mean |tau - 1(diff < 0)| diff^2: IQL's asymmetric L2 (Kostrikov et al. 2022, eq. 5).

    With diff = Q(s, a) - V(s), minimising over V gives the tau-expectile of Q under the data's
    actions; tau = 0.5 is the mean, tau -> 1 the maximum over in-support actions.
    """
    weight = torch.where(diff < 0, 1.0 - tau, tau)
    return torch.mean(weight * diff**2)


def expectile_weights(q: Tensor, v: Tensor, tau: float) -> Tensor:
    """w = |tau - 1(Q - V < 0)|: IDQL's expectile importance weights (Hansen-Estruch et al.
    2023, §4.2); shapes broadcast."""
    return torch.where(q - v < 0, 1.0 - tau, tau)


def td_target(r_t: Tensor, d_t: Tensor, gamma: float, v_t: Tensor) -> Tensor:
    """y = r_t + gamma (1 - d_t) v_t, with no gradient through v_t; shapes (B,)."""
    return r_t + gamma * (1.0 - d_t) * v_t.detach()


def iql_critics(
    obs_dim: int, action_dim: int, members: int, hidden: int, depth: int, seed: int
) -> tuple[nn.Module, nn.Module, nn.Module]:
    """IQL's critics: Q (``members`` of (s, a); seed + 1), V (one, of s; seed + 2) and Q's
    target copy Q'."""
    q = critic_ensemble(obs_dim + action_dim, members, hidden, depth, seed=seed + 1)
    v = critic_ensemble(obs_dim, 1, hidden, depth, seed=seed + 2)
    return q, v, q.target_copy()


def joint_step(
    optimizer: torch.optim.Optimizer,
    losses: dict[str, Tensor],
    q: nn.Module,
    q_target: nn.Module,
    polyak: float,
) -> dict[str, float]:
    """One backward of the summed losses, one optimizer step, the Polyak update of Q', and one
    read of the losses (``{"train/<name>_loss": value}``).

    For losses of disjoint parameters (IQL's and IDQL's V, Q and actor) the sum's gradient is
    each loss's own, so one fused Adam over all parameters is exactly one optimizer per network.
    """
    stacked = torch.stack(list(losses.values()))
    optimizer.zero_grad(set_to_none=True)
    stacked.sum().backward()
    optimizer.step()
    q_target.polyak_update_(q, polyak)
    values = stacked.detach().tolist()  # one host read
    return {f"train/{name}_loss": value for name, value in zip(losses, values)}


def iql_critic_losses(
    q: nn.Module,
    v: nn.Module,
    q_target: nn.Module,
    batch: tuple[Tensor, ...],
    tau: float,
    gamma: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """IQL's two critic losses on one minibatch (Kostrikov et al. 2022, eq. 5 and 6), and the
    advantage that policy extraction weights by.

        L_V = E[ |tau - 1(u < 0)| u^2 ],  u = min_j Q'_j(s, a) - V(s)
        L_Q = sum_j E[ (Q_j(s, a) - r - gamma (1 - d) V(s'))^2 ]      (sum: members)

    Args:
        q, v, q_target: ``critic_ensemble`` members, Q and Q' of (s, a), V of s.
        batch: (s_tm1, a_tm1, r_t, s_t, d_t) from ``TransitionTensors.batch``.
        tau, gamma: the expectile and the discount.

    Returns:
        v_loss, q_loss (scalars, with graphs into V and Q only) and the advantage
        min_j Q'_j(s, a) - V(s) (B,) without a graph.
    """
    s_tm1, a_tm1, r_t, s_t, d_t = batch
    sa_tm1 = torch.cat([s_tm1, a_tm1], dim=-1)  # (B, obs_dim + action_dim), for Q and Q'
    with torch.no_grad():
        q_min = q_target(sa_tm1)[..., 0].min(dim=0).values  # (B,)
        v_t = v(s_t)[0, :, 0]  # V(s'), a fixed regression target for Q
    v_tm1 = v(s_tm1)[0, :, 0]
    v_loss = expectile_loss(q_min - v_tm1, tau)
    y = td_target(r_t, d_t, gamma, v_t)
    q_loss = ((q(sa_tm1)[..., 0] - y) ** 2).mean(dim=1).sum()
    return v_loss, q_loss, (q_min - v_tm1).detach()


def check_tau(tau: float) -> float:
    return check_range(
        "tau",
        tau,
        0.0,
        1.0,
        low_open=True,
        high_open=True,
        hint="IQL's expectile; 0.7 in Kostrikov et al. (2022) and IDQL.",
    )


def check_gamma(gamma: float) -> float:
    return check_range("gamma", gamma, 0.0, 1.0)


# ---------------------------------------------------------------------------- env units
def _affine(normalizer: MinMaxNormalizer) -> tuple[Tensor, Tensor]:
    low = torch.as_tensor(normalizer.low, dtype=torch.float32)
    scale = torch.as_tensor(normalizer.scale, dtype=torch.float32)
    return low, scale


def env_unit_io(actor: ActionModel, critic: nn.Module, data: TransitionTensors) -> tuple[Any, Any]:
    """(propose, value) in the env's units for ``ProposeAndRank``, from normalised networks.

    propose(s (B, obs_dim), n, generator) -> (B, n, action_dim) raw actions;
    value(s (B, obs_dim), a (B, n, action_dim) raw) -> (M, B, n).
    """
    s_low, s_scale = _affine(data.obs_normalizer)
    a_low, a_scale = _affine(data.action_normalizer)

    def propose(s: Tensor, n: int, generator: torch.Generator | None) -> Tensor:
        s_n = (s.float() - s_low) / s_scale - 1.0
        return (actor.sample(s_n, n, generator) + 1.0) * a_scale + a_low

    def value(s: Tensor, a: Tensor) -> Tensor:
        batch, n = a.shape[:2]
        s_n = ((s.float() - s_low) / s_scale - 1.0).repeat_interleave(n, dim=0)  # (B n, obs_dim)
        a_n = (a.float().reshape(batch * n, -1) - a_low) / a_scale - 1.0
        return critic(s_n, a_n).reshape(-1, batch, n)  # (M, B, n)

    return propose, value


# ---------------------------------------------------------------------------- checkpoints
class SavedDataset:
    """The arrays an offline agent was built from, as read back from a checkpoint (attributes
    ``TRANSITION_KEYS`` and, for the planners, ``episode_lengths``)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        for key, value in arrays.items():
            setattr(self, key, np.asarray(value))


def dataset_arrays(dataset: Any, what: str) -> dict[str, np.ndarray]:
    """``transition_arrays`` plus ``episode_lengths`` when the dataset has them (to save)."""
    arrays = transition_arrays(dataset, what)
    lengths = (
        dataset.get("episode_lengths")
        if isinstance(dataset, Mapping)
        else getattr(dataset, "episode_lengths", None)
    )
    if lengths is not None:
        arrays["episode_lengths"] = np.asarray(lengths, dtype=np.int64)
    return arrays


def config_from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuild a (possibly nested) config dataclass from ``dataclasses.asdict`` output; JSON
    lists become tuples."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value, hint = values[f.name], hints[f.name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = config_from_dict(hint, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


class OfflineCheckpoint:
    """``save`` / ``state`` / ``from_state`` (``rlcore.checkpoint``, no pickle) for the offline
    agents and planners, which are built as ``cls(dataset, config, **options, seed=seed)``.

    A checkpoint holds the construction arguments (JSON), the dataset's arrays (the object is
    rebuilt from them, so its normalisers and training windows are the same), every network's
    weights and the torch generators' states. Adam's moments are not kept: ``fit`` after
    ``rlcore.load`` continues from the loaded weights with fresh optimiser moments.
    Subclasses call ``_remember(...)`` in ``__init__`` and define ``_modules()`` and
    ``_generators()``; ``_options_state`` / ``_restore_extra`` add their own values.
    """

    config: Any
    trained_steps: int = 0

    def _remember(self, dataset: Any, what: str, seed: int, **options: Any) -> None:
        self._saved_arrays = dataset_arrays(dataset, what)
        self._saved_options = options
        self._saved_seed = int(seed)

    def _modules(self) -> dict[str, nn.Module]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _generators(self) -> dict[str, torch.Generator]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {}, {}

    def _restore_extra(self, config: dict[str, Any], arrays: dict[str, Any]) -> None:
        """Restore what ``_extra_state`` wrote (called after the networks are loaded)."""

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(config, arrays) for ``rlcore.save``."""
        import dataclasses

        for key, value in self._saved_options.items():
            if not (value is None or isinstance(value, (str, int, float, bool, list, dict))):
                raise TypeError(
                    f"{type(self).__name__} cannot be saved: option {key}={value!r} is not "
                    "JSON data; pass a registry name (e.g. reduction='ensembles.min')."
                )
        extra_config, extra_arrays = self._extra_state()
        config = {
            "config": dataclasses.asdict(self.config),
            "options": self._saved_options,
            "seed": self._saved_seed,
            "trained_steps": int(self.trained_steps),
            **extra_config,
        }
        arrays: dict[str, Any] = {f"data.{k}": v for k, v in self._saved_arrays.items()}
        for prefix, module in self._modules().items():
            arrays.update({f"{prefix}.{k}": v for k, v in module.state_dict().items()})
        for name, generator in self._generators().items():
            arrays[f"generator.{name}"] = generator.get_state()
        arrays.update(extra_arrays)
        return config, arrays

    @classmethod
    def _config_type(cls) -> type:  # pragma: no cover - overridden
        raise NotImplementedError

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> Any:
        """Rebuild from ``state()``'s output (``rlcore.load``)."""
        data = SavedDataset(
            {k[len("data.") :]: np.asarray(v) for k, v in arrays.items() if k.startswith("data.")}
        )
        settings = config_from_dict(cls._config_type(), config["config"])
        obj = cls(data, settings, **cls._options_from_state(config["options"]), seed=config["seed"])
        obj.trained_steps = int(config["trained_steps"])
        obj._restore_extra(config, arrays)
        for prefix, module in obj._modules().items():
            module.load_state_dict(
                {k[len(prefix) + 1 :]: v for k, v in arrays.items() if k.startswith(prefix + ".")}
            )
        for name, generator in obj._generators().items():
            generator.set_state(arrays[f"generator.{name}"])
        return obj

    @classmethod
    def _options_from_state(cls, options: dict[str, Any]) -> dict[str, Any]:
        return dict(options)

    def save(self, directory: Any) -> Any:
        """Write a checkpoint (JSON config, .npz data, safetensors weights); ``rlcore.load``
        reads it back."""
        from rlcore.checkpoint import save

        return save(self, directory)
