"""rlcore.torch_utils: the one tensor-averaging step behind DQN's target network and the EMA."""

import pytest
import torch

from rlcore.approximation.dqn import polyak_update_ as dqn_polyak
from rlcore.generative import EMA
from rlcore.torch_utils import polyak_update_


def test_polyak_update_is_the_convex_combination_and_refuses_mismatched_lists():
    g = torch.Generator().manual_seed(0)
    target = [torch.randn(3, 2, generator=g), torch.randn(4, generator=g)]
    online = [torch.randn(3, 2, generator=g), torch.randn(4, generator=g)]
    expected = [0.3 * o + 0.7 * t for t, o in zip(target, online)]
    polyak_update_(target, online, 0.3)
    for got, want in zip(target, expected):
        torch.testing.assert_close(got, want)
    assert dqn_polyak is polyak_update_  # the DQN namespace re-exports the same function
    with pytest.raises(ValueError, match="2 target and 1 online"):
        polyak_update_(target, online[:1], 0.5)


def test_ema_update_moves_by_one_minus_the_decay_it_reports():
    net = torch.nn.Linear(3, 2)
    ema = EMA(net, decay=0.9, warmup=1.0)
    before = [p.clone() for p in ema.averaged.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    d = ema.update(net)
    assert d == pytest.approx(0.9)
    for avg, old, new in zip(ema.averaged.parameters(), before, net.parameters()):
        torch.testing.assert_close(avg, d * old + (1 - d) * new)
