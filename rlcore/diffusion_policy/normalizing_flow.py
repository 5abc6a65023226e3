"""A normalizing-flow policy: action chunks with an exact, differentiable log-likelihood.

``policies.normalizing_flow`` builds a :class:`NormalizingFlowPolicy`: a conditional flow
(``flows.nsf`` with spline coupling by default, or ``flows.realnvp`` / ``flows.maf``) of the
normalised action chunk a_{t-To+1..t-To+H} (flattened, H * A features) given the normalised
observation history o_{t-To+1..t} (To * obs_dim context). It uses the chunking, normalisers,
receding-horizon queue and training loop of the diffusion and flow-matching policies
(``policies.action_chunk``), so the three differ only in the generative model:

- behaviour cloning maximises the exact log-likelihood (``objectives.maximum_likelihood``;
  Papamakarios et al. 2021, §2.3), with optional Gaussian noise of std ``noise_std`` on the
  normalised targets (dequantisation: expert actions that sit exactly on the range's edge
  would otherwise let the density grow without bound);
- one inverse pass samples a chunk (no denoising loop). Two sampling knobs that only a flow
  has, since it knows each sample's exact density: ``temperature`` tau draws the base noise from
  N(0, tau^2 I) (Kingma & Dhariwal 2018, Glow §5; tau < 1 moves samples towards the modes), and
  ``candidates`` K draws K chunks per decision and executes the one of highest log p(chunk | o)
  (best-of-K by likelihood). A continuous bijection of a unimodal base cannot separate two
  routes completely: some samples fall on the low-density bridge between them, i.e. into the
  obstacle; both knobs discard those;
- ``rsample_and_log_prob`` gives reparameterised actions in the environment's units with their
  exact log-density, differentiable in the flow's weights, and ``log_prob`` scores given
  actions: what a SAC-style actor needs (its entropy term -E log pi is then exact; with
  ``ChunkConfig(1, 1, 1)`` the policy is a plain pi(a_t | o_t)). Samples are not squashed: an
  actor for a bounded action space keeps them in range through its loss or the env's clip.

Log-densities in the environment's units include the normaliser's Jacobian:
log pi(a) = log p(n(a)) + sum log(2 / (high - low)) over the chunk (Papamakarios et al. 2021,
eq. 2 with the affine map n).
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from rlcore.data import EpisodeDataset
from rlcore.diffusion_policy.chunking import MinMaxNormalizer, chunk_indices
from rlcore.diffusion_policy.policy import ChunkConfig, TrainConfig, _flat_obs_actions
from rlcore.generative import EMA, train
from rlcore.generative.flows import FlowDistribution, MaximumLikelihood
from rlcore.generative.flows.core import base_log_prob
from rlcore.registry import export, make
from rlcore.validation import check_choice, check_int, check_range

__all__ = ["NormalizingFlowPolicy", "normalizing_flow_policy"]

FLOW_KINDS = ("nsf", "realnvp", "maf")
DEFAULT_CHUNK = ChunkConfig()
DEFAULT_TRAIN = TrainConfig()


@export("policies.normalizing_flow_chunk")
class NormalizingFlowPolicy:
    """Observation-conditioned action chunks from a normalizing flow, with a receding horizon.

    Build it with ``policies.normalizing_flow`` (which fits the normalisers to a dataset), then
    ``fit(dataset)``; evaluate with ``rlcore.run``.

    Args:
        obs_normalizer, action_normalizer: per-coordinate ranges.
        chunk: To, H, Ta.
        flow: "nsf" (spline coupling), "realnvp" or "maf".
        flow_kwargs: further keyword arguments of the flow constructor (transforms, hidden, ...).
        noise_std: std of the Gaussian noise added to the normalised training targets (>= 0).
        seed: seeds the initialisation and the sampling noise.
        temperature: tau > 0, the base noise is N(0, tau^2 I) when acting (1: the model).
        candidates: K >= 1 chunks drawn per decision, the most likely one executed.
    """

    def __init__(
        self,
        obs_normalizer: MinMaxNormalizer,
        action_normalizer: MinMaxNormalizer,
        *,
        chunk: ChunkConfig = DEFAULT_CHUNK,
        flow: Literal["nsf", "realnvp", "maf"] = "nsf",
        flow_kwargs: Mapping[str, Any] | None = None,
        noise_std: float = 0.01,
        seed: int | None = 0,
        temperature: float = 1.0,
        candidates: int = 1,
    ) -> None:
        self.temperature = check_range("temperature", temperature, 0.0, low_open=True)
        self.candidates = check_int("candidates", candidates, 1)
        self.obs_normalizer = obs_normalizer
        self.action_normalizer = action_normalizer
        self.obs_dim = int(obs_normalizer.low.shape[0])
        self.action_dim = int(action_normalizer.low.shape[0])
        self.chunk = chunk
        self.flow_kind = check_choice("flow", flow, FLOW_KINDS)
        self.flow_kwargs = dict(flow_kwargs or {})
        if self.flow_kind == "nsf":
            self.flow_kwargs.setdefault("coupling", True)
        self.noise_std = check_range("noise_std", noise_std, 0.0)
        self.trained_steps = 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0 if seed is None else seed)
            self.flow = make(
                f"flows.{self.flow_kind}",
                features=chunk.horizon * self.action_dim,
                context=chunk.n_obs_steps * self.obs_dim,
                **self.flow_kwargs,
            )
        self.ema_flow = copy.deepcopy(self.flow).eval().requires_grad_(False)
        self._generator = torch.Generator()
        self.seed(seed)
        self._history: np.ndarray | None = None
        self._queue: deque[np.ndarray] = deque()

    # -- Policy protocol --------------------------------------------------------------------
    def seed(self, seed: int | None) -> None:
        """Reseed the sampling noise (None: fresh entropy)."""
        self._generator = torch.Generator()
        if seed is None:
            self._generator.seed()
        else:
            self._generator.manual_seed(int(seed))

    def reset(self) -> None:
        """Start an episode: forget the observation history and the queued actions."""
        self._history = None
        self._queue.clear()

    def act(self, obs: Any, *, explore: bool = False) -> np.ndarray:
        """The next queued action (float32, (action_dim,)); samples a chunk when the queue is
        empty (clipped to the data's action range, as the diffusion policy does)."""
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape != (self.obs_dim,):
            raise ValueError(
                f"act expects one observation of shape ({self.obs_dim},), got {obs.shape}; for "
                "batches call sample_chunks(histories)."
            )
        o_t = self.obs_normalizer.normalize(obs)
        if self._history is None:
            self._history = np.repeat(o_t[None], self.chunk.n_obs_steps, axis=0)
        else:
            self._history = np.concatenate([self._history[1:], o_t[None]])
        if not self._queue:
            cond = torch.as_tensor(self._history.reshape(1, -1), dtype=torch.float32)
            x = self._draw(cond)  # (1, H * A)
            chunk = x.reshape(self.chunk.horizon, self.action_dim).clamp(-1, 1).double().numpy()
            actions = self.action_normalizer.unnormalize(chunk)
            start = self.chunk.n_obs_steps - 1
            self._queue.extend(actions[start : start + self.chunk.n_action_steps])
        return self._queue.popleft().astype(np.float32)

    def sample_chunks(self, obs_history: np.ndarray) -> np.ndarray:
        """(B, To, obs_dim) raw histories -> (B, H, action_dim) chunks (EMA weights, clipped)."""
        cond = self._cond(torch.as_tensor(np.asarray(obs_history), dtype=torch.float32))
        x = self._draw(cond)
        x = x.reshape(-1, self.chunk.horizon, self.action_dim).clamp(-1, 1).double().numpy()
        return self.action_normalizer.unnormalize(x)

    @torch.no_grad()
    def _draw(self, cond: Tensor) -> Tensor:
        """Normalised chunks (B, H * A) for conditions (B, C) from the EMA flow: z ~ N(0, tau^2 I),
        K per row, the one of highest log p(x | cond) kept."""
        b, k, d = cond.shape[0], self.candidates, self.ema_flow.features
        z = self.temperature * torch.randn(k * b, d, generator=self._generator)
        rows = cond.repeat(k, 1)  # (K * B, C): candidate j of row i at j * B + i
        x, log_det = self.ema_flow.inverse(z, rows)
        if k == 1:
            return x
        log_p = (base_log_prob(z) - log_det).reshape(k, b)  # log p(x | cond) under the model
        best = log_p.argmax(dim=0)
        return x.reshape(k, b, d)[best, torch.arange(b)]

    # -- the actor interface: differentiable, in the environment's units --------------------
    def _cond(self, obs_history: Tensor) -> Tensor:
        expected = (self.chunk.n_obs_steps, self.obs_dim)
        if obs_history.dim() != 3 or tuple(obs_history.shape[1:]) != expected:
            raise ValueError(
                f"obs_history must be (B, {expected[0]}, {expected[1]}), got "
                f"{tuple(obs_history.shape)}."
            )
        low, scale = self._affine(self.obs_normalizer, obs_history)
        return ((obs_history - low) / scale - 1.0).reshape(obs_history.shape[0], -1)

    @staticmethod
    def _affine(normalizer: MinMaxNormalizer, like: Tensor) -> tuple[Tensor, Tensor]:
        low = torch.as_tensor(normalizer.low, dtype=like.dtype, device=like.device)
        scale = torch.as_tensor(normalizer.scale, dtype=like.dtype, device=like.device)
        return low, scale

    def distribution(self, obs_history: Tensor, *, ema: bool = False) -> FlowDistribution:
        """p(normalised chunk | history): obs_history (B, To, obs_dim) raw -> batch (B,)."""
        flow = self.ema_flow if ema else self.flow
        return flow(self._cond(obs_history))

    def _log_scale_sum(self, like: Tensor) -> Tensor:
        _, scale = self._affine(self.action_normalizer, like)
        return self.chunk.horizon * torch.log(scale).sum()

    def rsample_and_log_prob(
        self, obs_history: Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Reparameterised chunks (B, H, A) in the env's units and log pi (B,) (nats).

        Differentiable in the (non-EMA) flow's weights and in ``obs_history``."""
        x, log_p = self.distribution(obs_history).rsample_and_log_prob(generator=generator)
        low, scale = self._affine(self.action_normalizer, x)
        chunk = (x.reshape(-1, self.chunk.horizon, self.action_dim) + 1.0) * scale + low
        return chunk, log_p - self._log_scale_sum(x)

    def log_prob(self, obs_history: Tensor, actions: Tensor) -> Tensor:
        """log pi(actions | history) (B,): actions (B, H, A) in the env's units."""
        low, scale = self._affine(self.action_normalizer, actions)
        x = ((actions - low) / scale - 1.0).reshape(actions.shape[0], -1)
        return self.distribution(obs_history).log_prob(x) - self._log_scale_sum(actions)

    # -- training ---------------------------------------------------------------------------
    def training_windows(self, dataset: EpisodeDataset) -> tuple[Tensor, Tensor]:
        """(x0 (N, H * A), cond (N, To * obs_dim)): every step's normalised chunk and history."""
        obs, actions = _flat_obs_actions(dataset, self.obs_dim, self.action_dim)
        obs_idx, act_idx = chunk_indices(
            dataset.episode_lengths, self.chunk.n_obs_steps, self.chunk.horizon
        )
        cond = self.obs_normalizer.normalize(obs)[obs_idx].reshape(len(obs_idx), -1)
        x0 = self.action_normalizer.normalize(actions)[act_idx].reshape(len(act_idx), -1)
        return torch.as_tensor(x0, dtype=torch.float32), torch.as_tensor(cond, dtype=torch.float32)

    def nll(self, dataset: EpisodeDataset, *, ema: bool = True) -> float:
        """Mean -log p of the dataset's normalised chunks (nats per chunk, no training noise)."""
        x0, cond = self.training_windows(dataset)
        flow = self.ema_flow if ema else self.flow
        with torch.no_grad():
            return float(-flow(cond).log_prob(x0).mean())

    def fit(
        self,
        dataset: EpisodeDataset,
        config: TrainConfig = DEFAULT_TRAIN,
        *,
        seed: int = 0,
        logdir: str | None = None,
    ) -> list[float]:
        """Exact-likelihood behaviour cloning with rlcore.generative's loop and EMA.

        Returns the training loss (-log p per chunk, of the noised targets) of every step."""
        x0, cond = self.training_windows(dataset)
        generator = torch.Generator().manual_seed(int(seed))
        optimizer = torch.optim.AdamW(
            self.flow.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        ema = EMA(self.flow, decay=config.ema_decay)

        def batches():
            n = x0.shape[0]
            while True:
                idx = torch.randint(n, (config.batch_size,), generator=generator)
                noise = self.noise_std * torch.randn(
                    (config.batch_size, x0.shape[1]), generator=generator
                )
                yield x0[idx] + noise, cond[idx]

        self.flow.train()
        losses = train(
            MaximumLikelihood(),
            self.flow,
            batches(),
            optimizer,
            steps=config.steps,
            ema=ema,
            generator=generator,
            grad_clip=1.0,
            logdir=logdir,
        )
        self.flow.eval()
        self.ema_flow.load_state_dict(ema.averaged.state_dict())
        self.trained_steps += config.steps
        return [float(v) for v in losses]

    # -- checkpoints ------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        config = {
            "chunk": asdict(self.chunk),
            "flow": self.flow_kind,
            "flow_kwargs": self.flow_kwargs,
            "noise_std": self.noise_std,
            "trained_steps": self.trained_steps,
            "temperature": self.temperature,
            "candidates": self.candidates,
        }
        arrays: dict[str, Any] = {
            "obs_low": self.obs_normalizer.low,
            "obs_high": self.obs_normalizer.high,
            "action_low": self.action_normalizer.low,
            "action_high": self.action_normalizer.high,
        }
        arrays.update({f"flow.{k}": v for k, v in self.flow.state_dict().items()})
        arrays.update({f"ema.{k}": v for k, v in self.ema_flow.state_dict().items()})
        return config, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> NormalizingFlowPolicy:
        policy = cls(
            MinMaxNormalizer(np.asarray(arrays["obs_low"]), np.asarray(arrays["obs_high"])),
            MinMaxNormalizer(np.asarray(arrays["action_low"]), np.asarray(arrays["action_high"])),
            chunk=ChunkConfig(**config["chunk"]),
            flow=config["flow"],
            flow_kwargs=config["flow_kwargs"],
            noise_std=config["noise_std"],
            temperature=config.get("temperature", 1.0),
            candidates=config.get("candidates", 1),
        )
        for prefix, module in (("flow.", policy.flow), ("ema.", policy.ema_flow)):
            module.load_state_dict(
                {
                    k[len(prefix) :]: torch.as_tensor(v)
                    for k, v in arrays.items()
                    if k.startswith(prefix)
                }
            )
        policy.trained_steps = int(config["trained_steps"])
        return policy


@export("policies.normalizing_flow")
def normalizing_flow_policy(
    dataset: EpisodeDataset,
    *,
    chunk: ChunkConfig = DEFAULT_CHUNK,
    flow: Literal["nsf", "realnvp", "maf"] = "nsf",
    transforms: int = 4,
    hidden: tuple[int, ...] = (128, 128),
    noise_std: float = 0.01,
    seed: int | None = 0,
    temperature: float = 1.0,
    candidates: int = 1,
    **flow_kwargs: Any,
) -> NormalizingFlowPolicy:
    """A normalizing-flow action-chunk policy with normalisers fitted to ``dataset``; untrained
    until ``fit``. Default: NSF with spline coupling (one-pass sampling and density), 4 layers of
    (128, 128) conditioners, the diffusion policy's chunking (To = 2, H = 16, Ta = 8)."""
    obs, actions = _flat_obs_actions(dataset)
    return NormalizingFlowPolicy(
        MinMaxNormalizer.fit(obs),
        MinMaxNormalizer.fit(actions),
        chunk=chunk,
        flow=flow,
        flow_kwargs={"transforms": transforms, "hidden": list(hidden), **flow_kwargs},
        noise_std=noise_std,
        seed=seed,
        temperature=temperature,
        candidates=candidates,
    )
