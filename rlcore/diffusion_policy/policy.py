"""Action-chunk policies trained by behaviour cloning: diffusion, flow matching, and MSE.

One final class, ``ActionChunkPolicy``, holds the machinery Diffusion Policy introduced (Chi et
al. 2023, §3.1-3.2, defaults To = 2 observation steps, H = 16 predicted actions, Ta = 8
executed): an observation history, a generative model of the action chunk given that history,
and a receding-horizon action queue. The generative model is any ``rlcore.generative``
``GenerativeModel`` named by its registry name; the three public constructors pick one:

- ``policies.diffusion``: ``objectives.diffusion`` (DDPM training, DDIM-10 sampling by default);
- ``policies.flow``: ``objectives.flow_matching`` (few-step Euler sampling);
- ``policies.gaussian_bc``: ``objectives.mse_regression``, the Gaussian/MSE baseline, with the
  same network and data.

At each step, ``act``:
  1. normalises the observation to [-1, 1] (dataset min/max) and pushes it into the history
     (at an episode start the history is filled with copies of the first observation);
  2. if the action queue is empty, samples a normalised chunk a_{t-To+1..t-To+H} ~ p(. | history)
     with the EMA network, clips it to [-1, 1] (Diffusion Policy's ``clip_sample``: the range
     of the data), un-normalises it and queues a_{t..t+Ta-1};
  3. pops the next action.

``reset()`` (called by ``rlcore.run`` before every episode) clears the history and the queue.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

import rlcore.generative  # noqa: F401  (registers networks.* and objectives.*)
from rlcore.data import EpisodeDataset
from rlcore.diffusion_policy import regression  # noqa: F401  (registers mse_regression)
from rlcore.diffusion_policy.chunking import MinMaxNormalizer, chunk_indices
from rlcore.generative import EMA, train
from rlcore.registry import export, make
from rlcore.validation import check_choice, check_int, check_range

OBJECTIVES: tuple[str, ...] = (
    "objectives.diffusion",
    "objectives.flow_matching",
    "objectives.mse_regression",
    "objectives.edm",
    "objectives.consistency",
)


@dataclass(frozen=True)
class ChunkConfig:
    """Observation history To, predicted horizon H and executed actions Ta (Chi et al. 2023).

    Requires To - 1 + Ta <= H: the executed actions a_t..a_{t+Ta-1} lie inside the chunk.
    """

    horizon: int = 16
    n_obs_steps: int = 2
    n_action_steps: int = 8

    def __post_init__(self) -> None:
        check_int("n_obs_steps", self.n_obs_steps, 1)
        check_int("n_action_steps", self.n_action_steps, 1)
        check_int(
            "horizon",
            self.horizon,
            self.n_obs_steps - 1 + self.n_action_steps,
            hint="The chunk must hold the To - 1 past actions and the Ta executed ones.",
        )


@dataclass(frozen=True)
class NetworkConfig:
    """The denoiser: ``networks.mlp_denoiser`` on the flattened chunk, ``networks.unet1d`` or
    ``networks.dit1d`` (one token per action).

    ``down_dims`` and ``kernel_size`` are the U-Net's; ``hidden`` and ``depth`` the MLP's (and
    the DiT's width and depth, with ``heads``).
    Diffusion Policy's CNN uses ``unet1d`` with down_dims (256, 512, 1024) (about 66M weights).
    """

    kind: Literal["mlp", "unet1d", "dit1d"] = "mlp"
    hidden: int = 256
    depth: int = 3
    down_dims: tuple[int, ...] = (64, 128, 256)
    kernel_size: int = 5
    time_embed_dim: int = 64
    heads: int = 4

    def __post_init__(self) -> None:
        check_choice("network kind", self.kind, ("mlp", "unet1d", "dit1d"))
        object.__setattr__(self, "down_dims", tuple(self.down_dims))

    def build(self, horizon: int, action_dim: int, cond_dim: int) -> nn.Module:
        if self.kind == "mlp":
            return make(
                "networks.mlp_denoiser",
                horizon * action_dim,
                cond_dim,
                hidden=self.hidden,
                depth=self.depth,
                time_embed_dim=self.time_embed_dim,
            )
        if self.kind == "dit1d":
            return make(
                "networks.dit1d",
                action_dim,
                cond_dim,
                width=self.hidden,
                depth=self.depth,
                heads=self.heads,
                time_embed_dim=self.time_embed_dim,
            )
        return make(
            "networks.unet1d",
            action_dim,
            cond_dim,
            down_dims=self.down_dims,
            kernel_size=self.kernel_size,
            time_embed_dim=self.time_embed_dim,
        )


@dataclass(frozen=True)
class TrainConfig:
    """Behaviour-cloning optimisation: AdamW on random windows, EMA of the weights."""

    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-6
    ema_decay: float = 0.995

    def __post_init__(self) -> None:
        check_int("steps", self.steps, 1)
        check_int("batch_size", self.batch_size, 1)
        check_range("lr", self.lr, 0.0, low_open=True)
        check_range("weight_decay", self.weight_decay, 0.0)
        check_range("ema_decay", self.ema_decay, 0.0, 1.0, high_open=True)


@dataclass(frozen=True)
class SamplingConfig:
    """Inference steps and extra ``sample()`` options (e.g. ``{"sampler": "ddpm"}``)."""

    steps: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@export("policies.action_chunk")
class ActionChunkPolicy:
    """Observation-conditioned generation of action chunks with a receding-horizon queue.

    Build it with ``policies.diffusion`` / ``policies.flow`` / ``policies.gaussian_bc`` (which
    fit the normalisers to a dataset), then ``fit(dataset)``; evaluate with ``rlcore.run``.

    Args:
        objective: registry name of the generative model, one of ``OBJECTIVES``.
        obs_normalizer: per-coordinate range of the observations.
        action_normalizer: per-coordinate range of the actions.
        objective_kwargs: keyword arguments of the objective's constructor.
        chunk: To, H, Ta.
        network: the denoiser network.
        sampling: inference steps and sampler options.
        seed: seeds the network initialisation and the sampling noise.
    """

    def __init__(
        self,
        objective: str,
        obs_normalizer: MinMaxNormalizer,
        action_normalizer: MinMaxNormalizer,
        *,
        objective_kwargs: Mapping[str, Any] | None = None,
        chunk: ChunkConfig = ChunkConfig(),
        network: NetworkConfig = NetworkConfig(),
        sampling: SamplingConfig = SamplingConfig(),
        seed: int | None = 0,
    ) -> None:
        self.objective = check_choice("objective", objective, OBJECTIVES)
        self.objective_kwargs = dict(objective_kwargs or {})
        self.model = make(objective, **self.objective_kwargs)
        self.obs_normalizer = obs_normalizer
        self.action_normalizer = action_normalizer
        self.obs_dim = int(obs_normalizer.low.shape[0])
        self.action_dim = int(action_normalizer.low.shape[0])
        self.chunk = chunk
        self.network = network
        self.sampling = sampling
        self.trained_steps = 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0 if seed is None else seed)
            self.net = network.build(chunk.horizon, self.action_dim, self.cond_dim)
        self.ema_net = _frozen_copy(self.net)
        self.device = torch.device("cpu")
        self._generator = torch.Generator()
        self.seed(seed)
        self._history: np.ndarray | None = None  # (To, obs_dim) normalised
        self._queue: deque[np.ndarray] = deque()

    # -- shapes -----------------------------------------------------------------------------
    @property
    def cond_dim(self) -> int:
        return self.chunk.n_obs_steps * self.obs_dim

    @property
    def x_shape(self) -> tuple[int, ...]:
        """Shape of one normalised chunk as the network sees it (flat for the MLP)."""
        h, a = self.chunk.horizon, self.action_dim
        return (h * a,) if self.network.kind == "mlp" else (h, a)

    # -- Policy protocol --------------------------------------------------------------------
    def seed(self, seed: int | None) -> None:
        """Reseed the sampling noise (None: fresh entropy)."""
        self._generator = torch.Generator(device=self.device)
        if seed is None:
            self._generator.seed()
        else:
            self._generator.manual_seed(int(seed))

    def reset(self) -> None:
        """Start an episode: forget the observation history and the queued actions."""
        self._history = None
        self._queue.clear()

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        """The next queued action (float32, shape (action_dim,)); plans when the queue is empty.

        ``explore`` is ignored: sampling from the learned distribution is the behaviour.
        """
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape != (self.obs_dim,):
            raise ValueError(
                f"act expects one observation of shape ({self.obs_dim},), got {obs.shape}. "
                "Action-chunk policies keep one history and queue, so they run a single env; "
                "for batches call sample_chunks(histories)."
            )
        o_t = self.obs_normalizer.normalize(obs)
        if self._history is None:
            self._history = np.repeat(o_t[None], self.chunk.n_obs_steps, axis=0)
        else:
            self._history = np.concatenate([self._history[1:], o_t[None]])
        if not self._queue:
            chunk = self._sample_normalized(self._history[None])[0]  # (H, A) in [-1, 1]
            actions = self.action_normalizer.unnormalize(chunk)
            start = self.chunk.n_obs_steps - 1
            self._queue.extend(actions[start : start + self.chunk.n_action_steps])
        return self._queue.popleft().astype(np.float32)

    # -- sampling ---------------------------------------------------------------------------
    def set_sampling(self, steps: int | None = None, **options: Any) -> None:
        """Choose the inference steps and sampler options, e.g. ``set_sampling(100,
        sampler="ddpm")`` for DDPM-100 from a diffusion model; takes effect at the next plan."""
        if steps is not None:
            check_int("steps", steps, 1)
        self.sampling = SamplingConfig(steps, dict(options))

    def sample_chunks(self, obs_history: np.ndarray) -> np.ndarray:
        """Action chunks for a batch of raw observation histories.

        Args:
            obs_history: (B, To, obs_dim) observations o_{t-To+1..t}.

        Returns:
            (B, H, action_dim) actions a_{t-To+1..t-To+H}, in the data's action range.
        """
        obs_history = np.asarray(obs_history, dtype=np.float64)
        expected = (self.chunk.n_obs_steps, self.obs_dim)
        if obs_history.ndim != 3 or obs_history.shape[1:] != expected:
            raise ValueError(
                f"obs_history must be (B, {expected[0]}, {expected[1]}), got {obs_history.shape}."
            )
        chunk = self._sample_normalized(self.obs_normalizer.normalize(obs_history))
        return self.action_normalizer.unnormalize(chunk)

    @torch.no_grad()
    def _sample_normalized(self, history: np.ndarray) -> np.ndarray:
        """(B, To, obs_dim) normalised histories -> (B, H, A) normalised chunks in [-1, 1]."""
        batch = history.shape[0]
        cond = torch.as_tensor(history.reshape(batch, -1), dtype=torch.float32, device=self.device)
        x = self.model.sample(
            self.ema_net,
            (batch, *self.x_shape),
            cond,
            steps=self.sampling.steps,
            generator=self._generator,
            **self.sampling.options,
        )
        x = x.reshape(batch, self.chunk.horizon, self.action_dim).clamp(-1.0, 1.0)
        return x.double().cpu().numpy()

    def to(self, device: str | torch.device) -> ActionChunkPolicy:
        """Move the networks (and the sampling generator, reseeded from it) to ``device``."""
        self.device = torch.device(device)
        self.net.to(self.device)
        self.ema_net.to(self.device)
        seed = int(self._generator.initial_seed())
        self.seed(seed)
        return self

    # -- training ---------------------------------------------------------------------------
    def training_windows(self, dataset: EpisodeDataset) -> tuple[Tensor, Tensor]:
        """All (x0, cond) training pairs of a dataset, normalised, one per step.

        Returns:
            x0 (N, *x_shape) action chunks and cond (N, To * obs_dim) observation histories.
        """
        x0, cond = self.chunk_windows(dataset)
        return x0.reshape(len(x0), *self.x_shape), cond

    def chunk_windows(self, dataset: EpisodeDataset) -> tuple[Tensor, Tensor]:
        """As ``training_windows`` with the chunks unflattened: x0 (N, H, action_dim)."""
        obs, actions = _flat_obs_actions(dataset, self.obs_dim, self.action_dim)
        obs_idx, act_idx = chunk_indices(
            dataset.episode_lengths, self.chunk.n_obs_steps, self.chunk.horizon
        )
        cond = self.obs_normalizer.normalize(obs)[obs_idx].reshape(len(obs_idx), -1)
        x0 = self.action_normalizer.normalize(actions)[act_idx]  # (N, H, A)
        return torch.as_tensor(x0, dtype=torch.float32), torch.as_tensor(cond, dtype=torch.float32)

    def fit(
        self,
        dataset: EpisodeDataset,
        config: TrainConfig = TrainConfig(),
        *,
        seed: int = 0,
        logdir: str | None = None,
    ) -> list[float]:
        """Behaviour cloning: minimise the objective's loss on random windows of ``dataset``.

        Uses ``rlcore.generative``'s training loop and EMA (decay ``config.ema_decay``);
        ``act`` then samples with the EMA weights. Same seed, same weights on CPU. ``logdir``
        receives the loss curve as TensorBoard events.

        Returns:
            The training loss of every step.
        """
        x0, cond = self.training_windows(dataset)
        generator = torch.Generator().manual_seed(int(seed))
        optimizer = torch.optim.AdamW(
            self.net.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        ema = EMA(self.net, decay=config.ema_decay)
        self.net.train()
        losses = train(
            self.model,
            self.net,
            _minibatches(x0, cond, config.batch_size, generator),
            optimizer,
            steps=config.steps,
            ema=ema,
            generator=generator,
            logdir=logdir,
        )
        self.net.eval()
        self.ema_net.load_state_dict(ema.averaged.state_dict())
        self.trained_steps += config.steps
        return [float(v) for v in losses]

    # -- checkpoints ------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        config = {
            "objective": self.objective,
            "objective_kwargs": self.objective_kwargs,
            "chunk": asdict(self.chunk),
            "network": asdict(self.network),
            "sampling": {"steps": self.sampling.steps, "options": dict(self.sampling.options)},
            "trained_steps": self.trained_steps,
        }
        arrays: dict[str, Any] = {
            "obs_low": self.obs_normalizer.low,
            "obs_high": self.obs_normalizer.high,
            "action_low": self.action_normalizer.low,
            "action_high": self.action_normalizer.high,
        }
        arrays.update({f"net.{k}": v for k, v in self.net.state_dict().items()})
        arrays.update({f"ema.{k}": v for k, v in self.ema_net.state_dict().items()})
        return config, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> ActionChunkPolicy:
        network = dict(config["network"])
        network["down_dims"] = tuple(network["down_dims"])
        policy = cls(
            config["objective"],
            MinMaxNormalizer(np.asarray(arrays["obs_low"]), np.asarray(arrays["obs_high"])),
            MinMaxNormalizer(np.asarray(arrays["action_low"]), np.asarray(arrays["action_high"])),
            objective_kwargs=config["objective_kwargs"],
            chunk=ChunkConfig(**config["chunk"]),
            network=NetworkConfig(**network),
            sampling=SamplingConfig(config["sampling"]["steps"], config["sampling"]["options"]),
        )
        policy.net.load_state_dict(_strip(arrays, "net."))
        policy.ema_net.load_state_dict(_strip(arrays, "ema."))
        policy.trained_steps = int(config["trained_steps"])
        return policy


def _frozen_copy(net: nn.Module) -> nn.Module:
    ema = copy.deepcopy(net).eval()
    ema.requires_grad_(False)
    return ema


def _strip(arrays: Mapping[str, Any], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith(prefix)}


def _flat_obs_actions(
    dataset: EpisodeDataset, obs_dim: int | None = None, action_dim: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    obs, actions = np.asarray(dataset.observations), np.asarray(dataset.actions)
    if obs.ndim != 2 or actions.ndim != 2:
        raise ValueError(
            f"action-chunk policies need flat vector observations and actions, got "
            f"observations {obs.shape} and actions {actions.shape}; flatten them first."
        )
    sizes = (("obs", obs_dim, obs.shape[1]), ("action", action_dim, actions.shape[1]))
    for name, dim, got in sizes:
        if dim is not None and got != dim:
            raise ValueError(f"dataset {name} size {got} differs from the policy's {dim}.")
    return obs, actions


def _minibatches(
    x0: Tensor, cond: Tensor, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless uniformly drawn (with replacement) minibatches (x0, cond)."""
    n = x0.shape[0]
    while True:
        idx = torch.randint(n, (batch_size,), generator=generator)
        yield x0[idx], cond[idx]


def _build(
    objective: str,
    dataset: EpisodeDataset,
    objective_kwargs: Mapping[str, Any],
    chunk: ChunkConfig,
    network: NetworkConfig,
    sampling: SamplingConfig,
    seed: int | None,
) -> ActionChunkPolicy:
    obs, actions = _flat_obs_actions(dataset)
    return ActionChunkPolicy(
        objective,
        MinMaxNormalizer.fit(obs),
        MinMaxNormalizer.fit(actions),
        objective_kwargs=objective_kwargs,
        chunk=chunk,
        network=network,
        sampling=sampling,
        seed=seed,
    )


@export("policies.diffusion")
def diffusion_policy(
    dataset: EpisodeDataset,
    *,
    chunk: ChunkConfig = ChunkConfig(),
    network: NetworkConfig = NetworkConfig(),
    steps: int = 10,
    sampler: Literal["ddim", "ddpm"] = "ddim",
    num_train_steps: int = 100,
    schedule: str = "cosine",
    prediction: Literal["epsilon", "x0", "v"] = "x0",
    seed: int | None = 0,
) -> ActionChunkPolicy:
    """Diffusion Policy (Chi et al. 2023): DDPM with ``num_train_steps`` steps, sampled with
    DDIM (``steps`` = 10 by default) or DDPM (``sampler="ddpm"``); untrained until ``fit``.
    Normalisers come from ``dataset``.

    The network predicts x0 by default (Diffusion Policy's ``prediction_type="sample"``
    option; its paper uses epsilon): on the short CPU budgets of rlcore's tests it converged far
    faster. Measured on rlcore/Navigation2D-v0, 100 expert episodes, 800 steps, DDIM-10, one
    seed: success 0.98 with x0, 0.80 with v, 0.12 with epsilon (0.64 after 3000 steps).
    """
    kwargs = {
        "schedule": schedule,
        "num_train_steps": check_int("num_train_steps", num_train_steps, 1),
        "prediction": prediction,
        "clip_sample": 1.0,
    }
    sampling = SamplingConfig(check_int("steps", steps, 1), {"sampler": sampler})
    return _build("objectives.diffusion", dataset, kwargs, chunk, network, sampling, seed)


@export("policies.flow")
def flow_policy(
    dataset: EpisodeDataset,
    *,
    chunk: ChunkConfig = ChunkConfig(),
    network: NetworkConfig = NetworkConfig(),
    steps: int = 4,
    solver: Literal["euler", "heun"] = "euler",
    timestep_sampling: Literal["uniform", "logit_normal"] = "uniform",
    seed: int | None = 0,
) -> ActionChunkPolicy:
    """Flow-matching action-chunk policy (Lipman et al. 2023; as a policy: Black et al. 2024,
    pi0) sampled with ``steps`` ODE steps; untrained until ``fit``."""
    kwargs = {"timestep_sampling": timestep_sampling, "solver": solver}
    sampling = SamplingConfig(check_int("steps", steps, 1))
    return _build("objectives.flow_matching", dataset, kwargs, chunk, network, sampling, seed)


@export("policies.gaussian_bc")
def gaussian_bc_policy(
    dataset: EpisodeDataset,
    *,
    chunk: ChunkConfig = ChunkConfig(),
    network: NetworkConfig = NetworkConfig(),
    seed: int | None = 0,
) -> ActionChunkPolicy:
    """The Gaussian/MSE behaviour-cloning baseline: the same chunking, network and data,
    trained with ``objectives.mse_regression`` (a fixed-variance Gaussian likelihood)."""
    return _build("objectives.mse_regression", dataset, {}, chunk, network, SamplingConfig(), seed)
