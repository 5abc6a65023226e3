"""SeedStack: S copies in one vmapped call equal S separate modules, in outputs and in training."""

import copy

import pytest
import torch
from torch import nn

from rlcore.generative.flows import VelocityMLP
from rlcore.generative.seed_stack import SeedStack, clip_grad_norm_per_copy_


def _mlps(s: int) -> list[nn.Module]:
    out = []
    for seed in range(s):
        torch.manual_seed(seed)
        out.append(VelocityMLP(2, 0, (8, 8), "tanh", "concatsquash"))
    return out


def test_forward_matches_each_copy():
    nets = _mlps(3)
    stack = SeedStack(nets)
    x, t = torch.randn(3 * 5, 2), torch.rand(3 * 5)
    expected = torch.cat(
        [n(x[i * 5 : (i + 1) * 5], t[i * 5 : (i + 1) * 5]) for i, n in enumerate(nets)]
    )
    torch.testing.assert_close(stack(x, t), expected)
    torch.testing.assert_close(stack.unstack(_mlps(1)[0], 2)(x[:5], t[:5]), nets[2](x[:5], t[:5]))


def test_training_equals_separate_training_with_per_copy_clipping():
    """Adam on the stack with loss S * mean == Adam on each copy with its own mean loss."""
    nets = _mlps(3)
    separate = [copy.deepcopy(n) for n in nets]
    stack = SeedStack(nets)
    opt = torch.optim.Adam(stack.parameters(), lr=1e-2)
    opts = [torch.optim.Adam(n.parameters(), lr=1e-2) for n in separate]
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        x, t = torch.randn(3 * 4, 2, generator=g), torch.rand(3 * 4, generator=g)
        opt.zero_grad()
        (stack(x, t).pow(2).mean() * 3).backward()
        clip_grad_norm_per_copy_(stack, 0.05)
        opt.step()
        for i, (n, o) in enumerate(zip(separate, opts)):
            o.zero_grad()
            n(x[i * 4 : (i + 1) * 4], t[i * 4 : (i + 1) * 4]).pow(2).mean().backward()
            nn.utils.clip_grad_norm_(n.parameters(), 0.05)
            o.step()
    for i, n in enumerate(separate):
        for (name, p), q in zip(n.named_parameters(), stack.unstack(_mlps(1)[0], i).parameters()):
            torch.testing.assert_close(p, q, atol=2e-6, rtol=1e-5, msg=name)


def test_bad_inputs():
    stack = SeedStack(_mlps(2))
    with pytest.raises(ValueError, match="multiple of 2"):
        stack(torch.randn(3, 2), torch.rand(3))
    with pytest.raises(ValueError, match="one architecture"):
        SeedStack([nn.Linear(2, 3), nn.Linear(3, 2)])
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_per_copy_(stack, 0.0)
