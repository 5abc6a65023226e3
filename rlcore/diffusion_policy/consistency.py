"""EDM and consistency action-chunk policies (Karras et al. 2022; Prasad et al. 2024,
"Consistency Policy": distil an EDM-trained policy into a one- or two-step sampler).

- ``policies.edm``: an ``ActionChunkPolicy`` trained with ``objectives.edm`` and sampled with
  the Heun (or Euler) EDM sampler.
- ``policies.consistency``: an ``ActionChunkPolicy`` with ``objectives.consistency``; given a
  trained ``policies.edm`` teacher it is trained by consistency distillation (the teacher's EMA
  network is the teacher; the same normalisers, chunking and condition), without one by
  consistency training from the data. ``steps`` = 1 or 2 at inference.

The teacher is a training-time reference: a saved consistency policy samples without it.
"""

from __future__ import annotations

from typing import Literal

from rlcore.data import EpisodeDataset
from rlcore.diffusion_policy.policy import (
    ActionChunkPolicy,
    ChunkConfig,
    NetworkConfig,
    SamplingConfig,
    _build,
)
from rlcore.registry import export
from rlcore.validation import check_int

# Frozen default configs (module-level, so no call sits in an argument default).
DEFAULT_CHUNK = ChunkConfig()
DEFAULT_NETWORK = NetworkConfig()


@export("policies.edm")
def edm_policy(
    dataset: EpisodeDataset,
    *,
    chunk: ChunkConfig = DEFAULT_CHUNK,
    network: NetworkConfig = DEFAULT_NETWORK,
    steps: int = 10,
    solver: Literal["heun", "euler"] = "heun",
    sigma_data: float = 0.5,
    sigma_max: float = 80.0,
    seed: int | None = 0,
) -> ActionChunkPolicy:
    """EDM action-chunk policy (preconditioned, log-normal sigmas); ``steps`` grid steps of the
    Heun sampler (2 steps - 1 network calls) from ``sigma_max``; untrained until ``fit``."""
    kwargs = {"sigma_data": sigma_data, "solver": solver, "sigma_max": sigma_max}
    sampling = SamplingConfig(check_int("steps", steps, 1))
    return _build("objectives.edm", dataset, kwargs, chunk, network, sampling, seed)


@export("policies.consistency")
def consistency_policy(
    dataset: EpisodeDataset,
    *,
    teacher: ActionChunkPolicy | None = None,
    chunk: ChunkConfig = DEFAULT_CHUNK,
    network: NetworkConfig = DEFAULT_NETWORK,
    steps: int = 1,
    bins: int = 40,
    target_ema: float = 0.0,
    dsm_weight: float = 0.0,
    weighting: Literal["ict", "uniform"] = "ict",
    init_from_teacher: bool = True,
    seed: int | None = 0,
) -> ActionChunkPolicy:
    """Consistency Policy: distilled from an EDM ``teacher`` policy (CD) or trained from the
    data (CT, ``teacher=None``); ``steps`` network calls per chunk; untrained until ``fit``.

    With a teacher, ``chunk`` and the normalisers are the teacher's (the student models the
    same normalised chunks given the same histories), and with ``init_from_teacher`` (the
    default, as Consistency Policy recommends) the student starts from the teacher's EMA
    weights, which needs ``network`` equal to the teacher's. ``bins``, ``target_ema``,
    ``dsm_weight`` and ``weighting`` are ``objectives.consistency``'s N, mu, beta and lambda_i.
    """
    steps = check_int("steps", steps, 1, hint="Consistency sampling uses 1 or 2 steps.")
    if teacher is None:
        kwargs = {
            "bins": bins,
            "target_ema": target_ema,
            "dsm_weight": dsm_weight,
            "weighting": weighting,
        }
        return _build(
            "objectives.consistency", dataset, kwargs, chunk, network, SamplingConfig(steps), seed
        )
    if teacher.objective != "objectives.edm":
        raise ValueError(
            f"consistency distillation needs a teacher trained with objectives.edm (build it "
            f"with policies.edm), got a policy with {teacher.objective}."
        )
    if teacher.trained_steps == 0:
        raise ValueError("the teacher policy is untrained; call teacher.fit(dataset) first.")
    edm = teacher.model
    kwargs = {
        "bins": bins,
        "target_ema": target_ema,
        "dsm_weight": dsm_weight,
        "weighting": weighting,
        "sigma_data": edm.sigma_data,
        "sigma_min": edm.sigma_min,
        "sigma_max": edm.sigma_max,
    }
    student = ActionChunkPolicy(
        "objectives.consistency",
        teacher.obs_normalizer,
        teacher.action_normalizer,
        objective_kwargs=kwargs,
        chunk=teacher.chunk,
        network=network,
        sampling=SamplingConfig(steps),
        seed=seed,
    )
    student.model.distill_from(edm, teacher.ema_net)
    if init_from_teacher:
        if network != teacher.network:
            raise ValueError(
                "init_from_teacher needs the student's network config to equal the teacher's "
                f"({teacher.network}); pass network=teacher.network or init_from_teacher=False."
            )
        student.net.load_state_dict(teacher.ema_net.state_dict())
        student.ema_net.load_state_dict(teacher.ema_net.state_dict())
    return student
