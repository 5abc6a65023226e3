"""Bootstrap masks, their storage in the replay buffer, masked losses and out-of-bag scores."""

import numpy as np
import pytest
import torch

from rlcore.approximation.dqn.replay import PrioritizedReplay, ReplayBuffer
from rlcore.ensemble.bagging import (
    draw_masks,
    masked_member_loss,
    out_of_bag_errors,
    out_of_bag_values,
    sample_member,
)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 1.0])
def test_bernoulli_masks_have_mean_p_within_binomial_bounds(p):
    m = draw_masks(np.random.default_rng(0), 20_000, 10, p=p)
    assert m.shape == (20_000, 10) and m.dtype == np.float32
    assert set(np.unique(m)) <= {0.0, 1.0}
    n = m.size
    assert abs(m.mean() - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12
    # independent across members: the correlation of two columns is near 0
    if p < 1:
        assert abs(np.corrcoef(m[:, 0], m[:, 1])[0, 1]) < 5 / np.sqrt(len(m))


def test_poisson_masks_have_mean_and_variance_one():
    m = draw_masks(np.random.default_rng(1), 20_000, 10, distribution="poisson")
    n = m.size
    assert abs(m.mean() - 1.0) <= 5 / np.sqrt(n)
    assert abs(m.var() - 1.0) <= 0.05
    assert np.all(m == np.round(m)) and m.min() == 0


def test_mask_arguments_are_checked():
    rng = np.random.default_rng(0)
    for p in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"p=.* is outside \(0, 1\].*Osband"):
            draw_masks(rng, 3, 2, p=p)
    with pytest.raises(ValueError, match="distribution='gauss' is not one of 'bernoulli'"):
        draw_masks(rng, 3, 2, distribution="gauss")
    with pytest.raises(ValueError, match=r"n_members=0 is outside \[1, inf\]"):
        draw_masks(rng, 3, 0)


def test_sample_member_is_uniform():
    rng = np.random.default_rng(0)
    counts = np.bincount([sample_member(rng, 4) for _ in range(8000)], minlength=4)
    np.testing.assert_allclose(counts / 8000, 0.25, atol=0.03)


def test_replay_stores_masks_with_each_transition():
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(8, (2,), mask_size=3)
    for start in range(0, 12, 3):  # wraps around the ring
        k = 3
        obs = np.full((k, 2), start, np.float32) + np.arange(k)[:, None]
        masks = draw_masks(rng, k, 3)
        slots = buf.add(obs, np.arange(k), np.zeros(k), np.ones(k), obs, masks)
        np.testing.assert_array_equal(buf.masks[slots], masks)
    batch = buf.sample(6, rng)
    assert batch.masks.shape == (6, 3)
    np.testing.assert_array_equal(batch.masks, buf.masks[batch.indices])
    assert ReplayBuffer(4, (2,)).gather(np.array([0])).masks is None
    with pytest.raises(ValueError, match=r"stores 3 bootstrap mask\(s\).*shape None"):
        buf.add(obs, np.arange(3), np.zeros(3), np.ones(3), obs)
    with pytest.raises(ValueError, match=r"stores 0 bootstrap mask\(s\).*mask_size=N"):
        ReplayBuffer(4, (2,)).add(obs, np.arange(3), np.zeros(3), np.ones(3), obs, masks)
    per = PrioritizedReplay(8, (2,), mask_size=3)
    per.add(obs, np.arange(3), np.zeros(3), np.ones(3), obs, masks)
    assert per.sample(3, rng, beta=0.5).masks.shape == (3, 3)


def test_masked_member_loss_matches_the_naive_sum():
    rng = np.random.default_rng(0)
    losses, masks = rng.random((4, 6)), draw_masks(rng, 6, 4, p=0.5)
    naive = sum(sum(masks[b, k] * losses[k, b] for b in range(6)) / 6 for k in range(4))
    assert masked_member_loss(losses, masks) == pytest.approx(naive)
    t = torch.tensor(losses, requires_grad=True)
    out = masked_member_loss(t, torch.tensor(masks, dtype=torch.float64))
    assert float(out.detach()) == pytest.approx(naive)
    out.backward()
    np.testing.assert_allclose(t.grad.numpy(), masks.T / 6)  # masked-out entries get no gradient
    with pytest.raises(ValueError, match=r"masks of shape \(4, 6\) do not match 4 members x 6"):
        masked_member_loss(losses, masks.T)


def test_out_of_bag_uses_only_masked_out_transitions():
    rng = np.random.default_rng(0)
    td, masks = rng.normal(size=(3, 40)), draw_masks(rng, 40, 3, p=0.6)
    masks[:, 2] = 1.0  # member 2 saw everything
    oob = out_of_bag_errors(td, masks)
    for k in range(2):
        out = masks[:, k] == 0
        assert oob[k] == pytest.approx(np.mean(td[k, out] ** 2))
    assert np.isnan(oob[2])
    # changing the errors on in-bag transitions leaves the scores unchanged
    td2 = np.where(masks.T > 0, 1e6, td)
    np.testing.assert_array_equal(out_of_bag_errors(td2, masks), oob)
    oob_t = out_of_bag_errors(torch.tensor(td), torch.tensor(masks))
    np.testing.assert_allclose(oob_t.numpy(), oob)
    values = rng.normal(size=(3, 40))
    pred = out_of_bag_values(values, masks)
    for b in range(40):
        out = masks[b] == 0
        if out.any():
            assert pred[b] == pytest.approx(values[out, b].mean())
        else:
            assert np.isnan(pred[b])
