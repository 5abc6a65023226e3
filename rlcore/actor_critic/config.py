"""Settings of the soft actor-critic family as one frozen dataclass, and each agent's defaults.

SAC, REDQ, SAC-N and EDAC are one algorithm with different critic ensembles and reductions:

==========  ==========  ===========  ===============  ====  ===  ===============
agent       n_critics   subset_size  actor_reduction  eta   utd  learning_starts
==========  ==========  ===========  ===============  ====  ===  ===============
agents.sac  2           (all)        min              0     1    100
agents.redq 10          2            mean             0     20   5000
agents.sac_n 10         (all)        min              0     1    100
agents.edac 10          (all)        min              1.0   1    100
==========  ==========  ===========  ===============  ====  ===  ===============

SAC's defaults are SB3's (lr 3e-4 would be SB3's; Pendulum-v1 learns faster with 1e-3, the
rl-baselines3-zoo value, which is used here: see ``learning_rate``), REDQ's are Chen et al.
(2021), Table 1; SAC-N / EDAC follow An et al. (2021) with a small N for a CPU and with
layer-normalised critics (``critic_layer_norm=True``, which the paper has not: offline on one
policy's data the paper's critics extrapolate and the policy collapses; pass False for theirs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from rlcore.tabular.base import check_gamma
from rlcore.validation import check_bool, check_choice, check_int, check_range

__all__ = ["DEFAULTS", "ActorCriticConfig"]


@dataclass(frozen=True)
class ActorCriticConfig:
    """Settings of ``agents.sac`` / ``agents.redq`` / ``agents.sac_n`` / ``agents.edac``. Steps
    count environment transitions (a vector-env step of N envs counts N), as in SB3.

    Attributes:
        n_critics: N, the critic ensemble size (>= 2 for every agent here).
        subset_size: M, the target takes the min over a random subset of M critics drawn once per
            minibatch (REDQ); None: the min over all N (SAC's clipped double Q, SAC-N, EDAC).
        actor_reduction: how the actor reads the ensemble: "min" over all N (SAC, SAC-N, EDAC) or
            "mean" (REDQ).
        eta: EDAC's gradient-diversity weight (0: none), >= 0.
        utd: update-to-data ratio G, gradient steps per environment step, >= 1.
        learning_rate: Adam's step size for the actor, the critics and the entropy coefficient.
        batch_size: transitions per gradient step.
        buffer_size: replay capacity.
        learning_starts: steps of uniformly random actions before the first update.
        gamma: discount in [0, 1].
        tau: Polyak step of the target critics, in (0, 1].
        hidden: hidden layer sizes of the actor and of every critic.
        critic_layer_norm: layer normalisation after each hidden layer of every critic (Ball et
            al. 2023's RLPD; Yue et al. 2023: it bounds how far a critic extrapolates to unseen
            actions, the failure of offline SAC-N on one policy's data).
        ent_coef: "auto" (learnt, Haarnoja et al. 2018b section 5) or a fixed alpha > 0.
        ent_coef_init: the initial alpha when learnt.
        target_entropy: the entropy target; None: -|A|.
        action_scale: for Box bounds that are infinite: the half-width s of the action range,
            actions are tanh(u) * s (a float, or one per action dimension); None: the bounds.
        policy_delay: actor and alpha updates every this many critic updates (REDQ: per G),
            and always after the last update of an env step.
        ucb_candidates: K > 0: exploring actions are chosen among K samples of the policy by
            the ensemble's upper confidence bound (``rlcore.ensemble.uncertainty.ucb_select``);
            0: one policy sample.
        ucb_lambda: the UCB's optimism weight lambda >= 0.
        sunrise_temperature: T > 0: SUNRISE's weighted backup (``uncertainty.sunrise_weights``)
            scales each critic error; None: unweighted.
        backend: the ensemble backend of ``rlcore.ensemble`` ("auto", "loop", "vmap", "batched").
        device: "auto", "cpu" or "cuda[:i]".
        torch_threads: ``torch.set_num_threads`` on the CPU when the agent is built (None: leave).
        log_every: steps between the metrics ``observe`` returns.
        actor: "gaussian" (the squashed Gaussian, ``SquashedGaussianActor``) or "flow" (a
            conditional neural spline flow with an exact log pi, ``flow_actor.FlowActor``).
    """

    n_critics: int = 2
    subset_size: int | None = None
    actor_reduction: Literal["min", "mean"] = "min"
    eta: float = 0.0
    utd: int = 1
    learning_rate: float = 1e-3
    batch_size: int = 256
    buffer_size: int = 1_000_000
    learning_starts: int = 100
    gamma: float = 0.99
    tau: float = 0.005
    hidden: tuple[int, ...] = (256, 256)
    critic_layer_norm: bool = False
    ent_coef: float | str = "auto"
    ent_coef_init: float = 1.0
    target_entropy: float | None = None
    action_scale: float | tuple[float, ...] | None = None
    policy_delay: int = 1
    ucb_candidates: int = 0
    ucb_lambda: float = 1.0
    sunrise_temperature: float | None = None
    backend: str = "auto"
    device: str = "auto"
    torch_threads: int | None = 1
    log_every: int = 1000
    actor: Literal["gaussian", "flow"] = "gaussian"

    def __post_init__(self) -> None:
        check_int(
            "n_critics",
            self.n_critics,
            2,
            hint="The soft actor-critic family needs at least two critics (SAC uses 2).",
        )
        if self.subset_size is not None:
            check_int(
                "subset_size",
                self.subset_size,
                1,
                self.n_critics,
                hint=f"REDQ's subset M must satisfy 1 <= M <= n_critics={self.n_critics}.",
            )
        check_choice("actor_reduction", self.actor_reduction, ("min", "mean"))
        check_range("eta", self.eta, 0.0, hint="EDAC's diversity weight; 0 turns it off.")
        check_int("utd", self.utd, 1, hint="utd is gradient steps per env step (REDQ: 20).")
        check_range("learning_rate", self.learning_rate, 0.0, low_open=True, hint="e.g. 3e-4.")
        check_int("batch_size", self.batch_size, 1)
        check_int(
            "buffer_size",
            self.buffer_size,
            self.batch_size,
            hint="The replay must be able to hold at least one batch.",
        )
        check_int("learning_starts", self.learning_starts, 0)
        check_gamma(self.gamma)
        check_range("tau", self.tau, 0.0, 1.0, low_open=True)
        if isinstance(self.hidden, str) or not isinstance(self.hidden, (tuple, list)):
            raise TypeError(f"hidden must be a sequence of layer sizes, got {self.hidden!r}.")
        object.__setattr__(self, "hidden", tuple(check_int("hidden", h, 1) for h in self.hidden))
        check_bool("critic_layer_norm", self.critic_layer_norm)
        if isinstance(self.ent_coef, str):
            check_choice("ent_coef", self.ent_coef, ("auto",))
        else:
            check_range("ent_coef", self.ent_coef, 0.0, low_open=True, hint="Or 'auto'.")
        check_range("ent_coef_init", self.ent_coef_init, 0.0, low_open=True)
        if self.target_entropy is not None:
            check_range("target_entropy", self.target_entropy)
        if self.action_scale is not None:
            scale = self.action_scale
            scales = scale if isinstance(scale, (tuple, list)) else (scale,)
            for s in scales:
                check_range("action_scale", s, 0.0, low_open=True)
            if isinstance(scale, list):
                object.__setattr__(self, "action_scale", tuple(float(s) for s in scale))
        check_int("policy_delay", self.policy_delay, 1)
        check_int("ucb_candidates", self.ucb_candidates, 0, hint="0 turns UCB selection off.")
        check_range("ucb_lambda", self.ucb_lambda, 0.0)
        if self.sunrise_temperature is not None:
            check_range("sunrise_temperature", self.sunrise_temperature, 0.0, low_open=True)
        check_choice("backend", self.backend, ("auto", "loop", "vmap", "batched"))
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string such as 'auto', got {self.device!r}.")
        if self.torch_threads is not None:
            check_int("torch_threads", self.torch_threads, 1)
        check_int("log_every", self.log_every, 1)
        check_choice("actor", self.actor, ("gaussian", "flow"))
        if self.actor == "flow" and self.ucb_candidates:
            raise ValueError(
                f"ucb_candidates={self.ucb_candidates} with actor='flow': UCB selection is built "
                "for the Gaussian actor; pass ucb_candidates=0 or actor='gaussian'."
            )

    def replace(self, **changes: Any) -> ActorCriticConfig:
        return dataclasses.replace(self, **changes)


DEFAULTS: dict[str, ActorCriticConfig] = {
    "agents.sac": ActorCriticConfig(),
    "agents.redq": ActorCriticConfig(
        n_critics=10,
        subset_size=2,
        actor_reduction="mean",
        utd=20,
        policy_delay=20,
        learning_starts=5000,
        learning_rate=3e-4,
    ),
    # layer-normalised critics: not in An et al. (2021); without them both collapse on one
    # policy's data within 10k steps here (README, actor-critic section); False is the paper's
    "agents.sac_n": ActorCriticConfig(n_critics=10, critic_layer_norm=True),
    "agents.edac": ActorCriticConfig(n_critics=10, eta=1.0, critic_layer_norm=True),
}
