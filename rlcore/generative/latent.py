"""A deterministic autoencoder over action (or state) chunks, for latent diffusion.

Latent diffusion (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion
Models", §3 and §4.3.2) runs the diffusion in the latent z = E(x) of a pretrained autoencoder
and decodes samples with D. The latent is rescaled to unit variance by a factor measured on the
data, z <- z / std(z) (SD's ``scale_factor``, there measured on the first batch; here on the
whole training set after fitting), so that the noise schedule meets data of the variance it
was designed for.

``ChunkAutoencoder`` maps a chunk (B, H, D) to a flat latent (B, latent_dim) and back with MLPs;
a small L2 penalty on the unscaled latent keeps it bounded (the KL-reg of SD, §G, in its
deterministic limit).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rlcore.registry import export
from rlcore.validation import check_int, check_range

__all__ = ["ChunkAutoencoder"]


@export("networks.chunk_autoencoder")
class ChunkAutoencoder(nn.Module):
    """MLP autoencoder (B, H, D) <-> (B, latent_dim) with a measured latent scale.

    Args:
        horizon: H, the chunk length.
        x_dim: D, features per element.
        latent_dim: size of the flat latent.
        hidden: width of the two hidden layers of encoder and decoder.

    ``encode`` returns the *scaled* latent z / std (unit variance on the data once
    :meth:`fit` has measured the factor), ``decode`` takes it back.
    """

    def __init__(self, horizon: int, x_dim: int, latent_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.horizon = check_int("horizon", horizon, 1)
        self.x_dim = check_int("x_dim", x_dim, 1)
        self.latent_dim = check_int("latent_dim", latent_dim, 1)
        check_int("hidden", hidden, 1)
        flat = self.horizon * self.x_dim
        self.encoder = nn.Sequential(
            nn.Linear(flat, hidden), nn.Mish(), nn.Linear(hidden, hidden), nn.Mish(),
            nn.Linear(hidden, latent_dim),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.Mish(), nn.Linear(hidden, hidden), nn.Mish(),
            nn.Linear(hidden, flat),
        )  # fmt: skip
        self.register_buffer("scale_factor", torch.ones(()))

    def _check_x(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[1:] != (self.horizon, self.x_dim):
            raise ValueError(
                f"ChunkAutoencoder expects chunks of shape (B, H, D) = (B, {self.horizon}, "
                f"{self.x_dim}), got {tuple(x.shape)}."
            )

    def encode(self, x: Tensor) -> Tensor:
        """z = E(x) * scale_factor: (B, H, D) -> (B, latent_dim)."""
        self._check_x(x)
        return self.encoder(x.flatten(1)) * self.scale_factor

    def decode(self, z: Tensor) -> Tensor:
        """x = D(z / scale_factor): (B, latent_dim) -> (B, H, D)."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"decode expects latents of shape (B, latent_dim) = (B, {self.latent_dim}), got "
                f"{tuple(z.shape)}; sample the diffusion with x_dim = latent_dim."
            )
        return self.decoder(z / self.scale_factor).view(-1, self.horizon, self.x_dim)

    def forward(self, x: Tensor) -> Tensor:
        """The reconstruction D(E(x)) of chunks (B, H, D)."""
        return self.decode(self.encode(x))

    def fit(
        self,
        chunks: Tensor,
        *,
        steps: int = 2000,
        batch_size: int = 256,
        lr: float = 1e-3,
        latent_penalty: float = 1e-4,
        seed: int = 0,
    ) -> list[float]:
        """Minimise ||D(E(x)) - x||^2 + latent_penalty ||E(x)||^2 with Adam, then set
        ``scale_factor = 1 / std(E(x))`` over all ``chunks`` (N, H, D). Returns the losses."""
        self._check_x(chunks)
        check_int("steps", steps, 1)
        check_int("batch_size", batch_size, 1)
        check_range("lr", lr, 0.0, low_open=True)
        check_range("latent_penalty", latent_penalty, 0.0)
        g = torch.Generator().manual_seed(int(seed))
        self.scale_factor.fill_(1.0)
        optimizer = torch.optim.Adam(
            list(self.encoder.parameters()) + list(self.decoder.parameters()), lr=lr
        )
        losses = []
        self.train()
        for _ in range(steps):
            x = chunks[torch.randint(chunks.shape[0], (batch_size,), generator=g)]
            z = self.encoder(x.flatten(1))
            recon = self.decoder(z).view_as(x)
            loss = torch.mean((recon - x) ** 2) + latent_penalty * torch.mean(z**2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        self.eval()
        with torch.no_grad():
            std = self.encoder(chunks.flatten(1)).std()
        self.scale_factor.fill_(1.0 / float(std))
        return losses
