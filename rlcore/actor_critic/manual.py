"""SAC's critic and actor gradients written out by hand: ``ActorCriticConfig(backprop="manual")``.

The same losses as ``rlcore.actor_critic.losses`` and the same gradients as autograd's (to
rounding; ``tests/actor_critic/test_manual.py`` compares every parameter's gradient), computed
with the matmuls backpropagation needs and nothing else: no graph is recorded, and the actor
step takes no gradient of the critics' weights. Written for the networks the family uses:

- critics: an ``Ensemble`` of ReLU MLPs (stacked weights (N, in, out), without layer
  normalisation or dropout), a loop of ``addmm`` over members as the ensemble's ``auto``
  backend runs at batch 256 on a CPU;
- actor: ``SquashedGaussianActor`` (``nn.Linear`` layers, weights (out, in)).

Backward of y = relu(x w + b) given g = dL/dy-pre-activation: dL/dw = x^T g, dL/db = sum_b g,
dL/dx = g w^T, masked by the previous layer's ReLU (``aten.threshold_backward``, the op autograd
runs). The squashed Gaussian's log-density (``losses.squashed_gaussian_log_prob``) has

    d log pi / d u_i = 2 tanh(u_i)    (from -log(1 - tanh(u)^2)),
    d log pi / d log_std_i = -1       (the Gaussian term: u - mu = sigma eps, so its z = eps),

and u = mu + sigma eps gives dL/dmu = dL/du, dL/dlog_std = dL/du sigma eps - alpha / B.

What it saves (CPU time per env step against SB3's SAC) is in the README's SAC-vs-SB3 rows.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rlcore.actor_critic.losses import squashed_gaussian_log_prob
from rlcore.actor_critic.networks import LOG_STD_MAX, LOG_STD_MIN, SquashedGaussianActor
from rlcore.ensemble.members import Ensemble

__all__ = ["actor_grads", "check_supported", "critic_grads"]

_relu_backward = torch.ops.aten.threshold_backward


def check_supported(actor: torch.nn.Module, critics: Ensemble, eta: float) -> None:
    """Refuse configurations the hand-written gradients do not cover, naming the setting."""
    problems = []
    if not isinstance(actor, SquashedGaussianActor):
        problems.append(f"the actor is {type(actor).__name__} (needs actor='gaussian')")
    if critics.layer_norm:
        problems.append("critic_layer_norm=True (needs False)")
    if critics.activation != "relu" or critics.dropout > 0 or not critics.hidden:
        problems.append("the critics are not plain ReLU MLPs")
    if eta > 0:
        problems.append(f"eta={eta} (EDAC's penalty differentiates a gradient; needs eta=0)")
    if problems:
        raise ValueError(
            "backprop='manual' covers SAC-style updates of ReLU critics only; here "
            + "; ".join(problems)
            + ". Use backprop='autograd' (the default), which runs every configuration."
        )


def _members(params: list[Tensor]) -> list[list[tuple[Tensor, Tensor]]]:
    """Each member's [(w (in, out), b (1, out)), ...]: views of the stacked parameters."""
    layers = [zip(params[i].unbind(0), params[i + 1].unbind(0)) for i in range(0, len(params), 2)]
    return [list(member) for member in zip(*layers)]


def _critic_forward(
    members: list[list[tuple[Tensor, Tensor]]], x: Tensor
) -> tuple[Tensor, list[list[Tensor]]]:
    """Q of every member (N, B) on shared inputs x (B, in), and each member's layer inputs.

    A loop of ``addmm`` over members (what the ensemble's ``auto`` backend runs at batch 256 on a
    CPU): batched matmuls are as fast for the square layers and slower for the skinny first and
    last ones."""
    qs, inputs = [], []
    for layers in members:
        h, ins = x, []
        for w, b in layers[:-1]:
            ins.append(h)
            h = torch.addmm(b, h, w).clamp_min_(0.0)
        ins.append(h)
        w, b = layers[-1]
        qs.append(torch.addmm(b, h, w))
        inputs.append(ins)
    return torch.cat(qs, dim=-1).t(), inputs


def _critic_backward(
    members: list[list[tuple[Tensor, Tensor]]],
    inputs: list[list[Tensor]],
    g_q: Tensor,
    grads: list[Tensor] | None,
) -> Tensor | None:
    """Backpropagate g_q = dL/dQ (N, B) through every member. With ``grads`` (tensors shaped
    like the stacked parameters, in their order) write every parameter gradient into them;
    without, return dL/dx summed over members (B, in)."""
    g_x = None
    for k, (layers, ins) in enumerate(zip(members, inputs)):
        g = g_q[k].unsqueeze(-1)  # (B, 1)
        for i in range(len(layers) - 1, -1, -1):
            w, h = layers[i][0], ins[i]
            if grads is not None:
                torch.mm(h.t(), g, out=grads[2 * i][k])
                torch.sum(g, dim=0, keepdim=True, out=grads[2 * i + 1][k])
            if i > 0:
                g = _relu_backward(torch.mm(g, w.t()), h, 0.0)
            elif grads is None:
                g_x = torch.mm(g, w.t()) if g_x is None else torch.addmm(g_x, g, w.t())
    return g_x


@torch.no_grad()
def critic_grads(
    critics: Ensemble, obs: Tensor, action: Tensor, y: Tensor, weights: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Set ``p.grad`` of every critic parameter to the gradient of ``losses.critic_loss``.

    Args:
        critics: the online critic ensemble.
        obs, action: (B, obs_dim), (B, A) the replayed S_{t-1}, A_{t-1}.
        y: (B,) soft targets.
        weights: (B,) SUNRISE's per-transition weights, or None.

    Returns:
        The loss (scalar) and every member's Q (N, B), both without a graph.
    """
    params = list(critics.parameters())
    members = _members(params)
    q, inputs = _critic_forward(members, torch.cat((obs, action), dim=-1))  # (N, B)
    err = q - y
    if weights is not None:
        err_w = err * weights
        loss = (err * err_w).mean(dim=-1).sum()
    else:
        err_w = err
        loss = err.square().mean(dim=-1).sum()
    grads = [torch.empty_like(p) for p in params]
    _critic_backward(members, inputs, err_w * (2.0 / y.shape[-1]), grads)
    for p, grad in zip(params, grads):
        p.grad = grad
    return loss, q


@torch.no_grad()
def actor_grads(
    actor: SquashedGaussianActor,
    critics: Ensemble,
    obs: Tensor,
    noise: Tensor,
    alpha: Tensor,
    reduction: str,
) -> tuple[Tensor, Tensor]:
    """Set ``p.grad`` of every actor parameter to the gradient of ``losses.actor_loss`` with
    A = tanh(mu + sigma noise) and Q = the ``reduction`` ("min" or "mean") of the critics.

    Args:
        actor: the squashed-Gaussian actor.
        critics: the online critics (only read; their gradients are not touched).
        obs: (B, obs_dim) S_{t-1}.
        noise: (B, A) standard normal draws.
        alpha: the entropy coefficient (a scalar tensor).
        reduction: "min" (ties share the gradient equally, as ``Tensor.amin``) or "mean".

    Returns:
        The loss and log pi(A | S) (B,), without a graph.
    """
    layers = list(actor.layers)
    xs, h = [], obs
    for layer in layers:
        xs.append(h)
        h = torch.addmm(layer.bias, h, layer.weight.t()).clamp_min_(0.0)
    mean = torch.addmm(actor.mu.bias, h, actor.mu.weight.t())
    raw_log_std = torch.addmm(actor.log_std.bias, h, actor.log_std.weight.t())
    log_std = raw_log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
    std = log_std.exp()
    u = mean + std * noise
    a = torch.tanh(u)
    log_pi = squashed_gaussian_log_prob(u, mean, log_std)  # (B,)
    members = _members(list(critics.parameters()))
    q, inputs = _critic_forward(members, torch.cat((obs, a), dim=-1))  # (N, B)
    batch = obs.shape[0]
    if reduction == "min":
        q_pi = q.amin(dim=0)
        at_min = (q == q_pi).to(q.dtype)
        g_q = at_min / at_min.sum(dim=0)
    elif reduction == "mean":
        q_pi = q.mean(dim=0)
        g_q = torch.full_like(q, 1.0 / q.shape[0])
    else:
        raise ValueError(f"reduction must be 'min' or 'mean', got {reduction!r}.")
    loss = (alpha * log_pi - q_pi).mean()
    g_x = _critic_backward(members, inputs, g_q.mul_(-1.0 / batch), None)
    g_a = g_x[:, obs.shape[-1] :]  # (B, A): dL/da through the critics
    c = alpha / batch
    g_u = g_a * (1.0 - a.square()) + (2.0 * c) * a
    g_log_std = g_u * std * noise - c
    in_range = (raw_log_std >= LOG_STD_MIN) & (raw_log_std <= LOG_STD_MAX)
    g_raw = g_log_std * in_range
    grads = {
        actor.mu.weight: torch.mm(g_u.t(), h),
        actor.mu.bias: g_u.sum(dim=0),
        actor.log_std.weight: torch.mm(g_raw.t(), h),
        actor.log_std.bias: g_raw.sum(dim=0),
    }
    g = torch.addmm(torch.mm(g_raw, actor.log_std.weight), g_u, actor.mu.weight)  # dL/dh
    for i in range(len(layers) - 1, -1, -1):
        g = _relu_backward(g, h, 0.0)
        layer, h = layers[i], xs[i]
        grads[layer.weight], grads[layer.bias] = torch.mm(g.t(), h), g.sum(dim=0)
        if i > 0:
            g = torch.mm(g, layer.weight)
    for p in actor.parameters():
        p.grad = grads[p]
    return loss, log_pi
