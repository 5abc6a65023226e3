"""Latent diffusion policy (Rombach et al. 2022 applied to action chunks): the diffusion runs in
the unit-variance latent of a ``networks.chunk_autoencoder`` fitted to the normalised chunks.

``fit`` first trains the autoencoder on the dataset's chunks (and measures the latent scale),
then the diffusion on the encoded chunks; ``act`` samples a latent (B, latent_dim) and decodes
it to a chunk (B, H, action_dim). The denoiser is the MLP (the latent is a flat vector).

``LatentDiffusionPolicy`` extends ``ActionChunkPolicy`` by replacing its three shape-specific
steps (what the network models, how windows become training data, how samples become chunks)
rather than composing it: the observation history, action queue, training loop and EMA are the
base class's unchanged, and a wrapper would have to re-expose all of them.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from rlcore.data import EpisodeDataset
from rlcore.diffusion_policy.chunking import MinMaxNormalizer
from rlcore.diffusion_policy.policy import (
    ActionChunkPolicy,
    ChunkConfig,
    NetworkConfig,
    SamplingConfig,
    TrainConfig,
    _flat_obs_actions,
    _frozen_copy,
    _strip,
)
from rlcore.generative.latent import ChunkAutoencoder
from rlcore.registry import export
from rlcore.validation import check_int

# Frozen default configs (module-level, so no call sits in an argument default).
DEFAULT_CHUNK = ChunkConfig()
DEFAULT_NETWORK = NetworkConfig()
DEFAULT_SAMPLING = SamplingConfig()
DEFAULT_TRAIN = TrainConfig()


@export("policies.latent_action_chunk")
class LatentDiffusionPolicy(ActionChunkPolicy):
    """An ``ActionChunkPolicy`` whose generative model lives in an autoencoder's latent.

    Args (beyond ``ActionChunkPolicy``'s):
        latent_dim: size of the flat latent.
        autoencoder_hidden: hidden width of the autoencoder's MLPs.
        autoencoder_steps: Adam steps of the autoencoder in the first ``fit``.
    """

    def __init__(
        self,
        objective: str,
        obs_normalizer: MinMaxNormalizer,
        action_normalizer: MinMaxNormalizer,
        *,
        latent_dim: int = 8,
        autoencoder_hidden: int = 256,
        autoencoder_steps: int = 2000,
        objective_kwargs: dict[str, Any] | None = None,
        chunk: ChunkConfig = DEFAULT_CHUNK,
        network: NetworkConfig = DEFAULT_NETWORK,
        sampling: SamplingConfig = DEFAULT_SAMPLING,
        seed: int | None = 0,
    ) -> None:
        if network.kind != "mlp":
            raise ValueError(
                f"the latent is a flat vector, so the latent diffusion policy uses the MLP "
                f"denoiser; got network kind {network.kind!r}: use NetworkConfig(kind='mlp')."
            )
        self.latent_dim = check_int("latent_dim", latent_dim, 1)
        self.autoencoder_steps = check_int("autoencoder_steps", autoencoder_steps, 1)
        self.autoencoder_hidden = check_int("autoencoder_hidden", autoencoder_hidden, 1)
        super().__init__(
            objective,
            obs_normalizer,
            action_normalizer,
            objective_kwargs=objective_kwargs,
            chunk=chunk,
            network=network,
            sampling=sampling,
            seed=seed,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0 if seed is None else seed)
            self.net = network.build(1, self.latent_dim, self.cond_dim)  # x_dim = latent_dim
            self.autoencoder = ChunkAutoencoder(
                chunk.horizon, self.action_dim, self.latent_dim, self.autoencoder_hidden
            )
        self.ema_net = _frozen_copy(self.net)
        self.autoencoder_fitted = False

    @property
    def x_shape(self) -> tuple[int, ...]:
        """The latent (latent_dim,): what the generative model sees."""
        return (self.latent_dim,)

    def training_windows(self, dataset: EpisodeDataset) -> tuple[Tensor, Tensor]:
        """(encoded chunks (N, latent_dim), cond (N, To * obs_dim)); needs a fitted autoencoder."""
        x0, cond = self.chunk_windows(dataset)
        with torch.no_grad():
            return self.autoencoder.encode(x0), cond

    def fit(
        self,
        dataset: EpisodeDataset,
        config: TrainConfig = DEFAULT_TRAIN,
        *,
        seed: int = 0,
        logdir: str | None = None,
    ) -> list[float]:
        """Fit the autoencoder (first call only), then the latent diffusion; diffusion losses."""
        if not self.autoencoder_fitted:
            chunks, _ = self.chunk_windows(dataset)
            self.autoencoder.fit(
                chunks, steps=self.autoencoder_steps, batch_size=config.batch_size, seed=seed
            )
            self.autoencoder.requires_grad_(False)
            self.autoencoder_fitted = True
        return super().fit(dataset, config, seed=seed, logdir=logdir)

    def reconstruction_error(self, dataset: EpisodeDataset) -> float:
        """Mean squared error of decode(encode(chunk)) on the dataset's normalised chunks."""
        chunks, _ = self.chunk_windows(dataset)
        with torch.no_grad():
            return float(torch.mean((self.autoencoder(chunks) - chunks) ** 2))

    @torch.no_grad()
    def _sample_normalized(self, history: np.ndarray) -> np.ndarray:
        batch = history.shape[0]
        cond = torch.as_tensor(history.reshape(batch, -1), dtype=torch.float32, device=self.device)
        z = self.model.sample(
            self.ema_net,
            (batch, self.latent_dim),
            cond,
            steps=self.sampling.steps,
            generator=self._generator,
            **self.sampling.options,
        )
        x = self.autoencoder.decode(z).clamp(-1.0, 1.0)  # (B, H, A)
        return x.double().cpu().numpy()

    def to(self, device: str | torch.device) -> LatentDiffusionPolicy:
        self.autoencoder.to(device)
        super().to(device)
        return self

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        config, arrays = super().state()
        config["latent"] = {
            "latent_dim": self.latent_dim,
            "autoencoder_hidden": self.autoencoder_hidden,
            "autoencoder_steps": self.autoencoder_steps,
            "autoencoder_fitted": self.autoencoder_fitted,
        }
        arrays.update({f"ae.{k}": v for k, v in self.autoencoder.state_dict().items()})
        return config, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, Any]) -> LatentDiffusionPolicy:
        network = dict(config["network"])
        network["down_dims"] = tuple(network["down_dims"])
        latent = dict(config["latent"])
        fitted = latent.pop("autoencoder_fitted")
        policy = cls(
            config["objective"],
            MinMaxNormalizer(np.asarray(arrays["obs_low"]), np.asarray(arrays["obs_high"])),
            MinMaxNormalizer(np.asarray(arrays["action_low"]), np.asarray(arrays["action_high"])),
            **latent,
            objective_kwargs=config["objective_kwargs"],
            chunk=ChunkConfig(**config["chunk"]),
            network=NetworkConfig(**network),
            sampling=SamplingConfig(config["sampling"]["steps"], config["sampling"]["options"]),
        )
        policy.net.load_state_dict(_strip(arrays, "net."))
        policy.ema_net.load_state_dict(_strip(arrays, "ema."))
        policy.autoencoder.load_state_dict(_strip(arrays, "ae."))
        policy.autoencoder_fitted = bool(fitted)
        policy.trained_steps = int(config["trained_steps"])
        return policy


@export("policies.latent_diffusion")
def latent_diffusion_policy(
    dataset: EpisodeDataset,
    *,
    latent_dim: int = 8,
    chunk: ChunkConfig = DEFAULT_CHUNK,
    network: NetworkConfig = DEFAULT_NETWORK,
    steps: int = 10,
    sampler: Literal["ddim", "ddpm"] = "ddim",
    num_train_steps: int = 100,
    prediction: Literal["epsilon", "x0", "v"] = "x0",
    autoencoder_hidden: int = 256,
    autoencoder_steps: int = 2000,
    seed: int | None = 0,
) -> LatentDiffusionPolicy:
    """Diffusion Policy in the unit-variance latent of a chunk autoencoder (DDPM training, DDIM
    sampling, cosine schedule, no clipping: the latent is not bounded); untrained until ``fit``."""
    obs, actions = _flat_obs_actions(dataset)
    kwargs = {
        "schedule": "cosine",
        "num_train_steps": check_int("num_train_steps", num_train_steps, 1),
        "prediction": prediction,
    }
    return LatentDiffusionPolicy(
        "objectives.diffusion",
        MinMaxNormalizer.fit(obs),
        MinMaxNormalizer.fit(actions),
        latent_dim=latent_dim,
        autoencoder_hidden=autoencoder_hidden,
        autoencoder_steps=autoencoder_steps,
        objective_kwargs=kwargs,
        chunk=chunk,
        network=network,
        sampling=SamplingConfig(check_int("steps", steps, 1), {"sampler": sampler}),
        seed=seed,
    )
