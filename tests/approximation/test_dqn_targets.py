"""The pure DQN math against naive loops, the tabular layer's targets and closed forms."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rlcore.approximation.dqn.networks import QNetwork
from rlcore.approximation.dqn.targets import (
    double_q_learning_targets,
    dueling_aggregate,
    huber_loss,
    linear_schedule,
    polyak_update_,
    q_learning_targets,
    td_loss,
)
from rlcore.returns import double_q_learning_target, q_learning_target


def _batch(seed, b=7, a=3):
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(b, generator=g, dtype=torch.float64)
    d = torch.rand(b, generator=g, dtype=torch.float64) * (torch.rand(b, generator=g) > 0.3)
    return (
        r,
        d,
        torch.randn(b, a, generator=g, dtype=torch.float64),
        torch.randn(b, a, generator=g, dtype=torch.float64),
    )


@given(st.integers(0, 10_000))
def test_q_learning_targets_equal_a_loop_and_the_tabular_target(seed):
    r, d, q_t, _ = _batch(seed)
    y = q_learning_targets(r, d, q_t)
    for b in range(len(r)):
        assert float(y[b]) == pytest.approx(float(r[b] + d[b] * max(q_t[b].tolist())))
    tabular = q_learning_target(r.numpy(), d.numpy(), q_t.numpy())  # rlcore.returns, NumPy
    np.testing.assert_allclose(y.numpy(), tabular, rtol=1e-12)


@given(st.integers(0, 10_000))
def test_double_q_targets_equal_a_loop_and_reduce_to_q_learning(seed):
    r, d, q_value, q_select = _batch(seed)
    y = double_q_learning_targets(r, d, q_value, q_select)
    for b in range(len(r)):
        row = q_select[b].tolist()
        a_star = row.index(max(row))
        assert float(y[b]) == pytest.approx(float(r[b] + d[b] * q_value[b, a_star]))
    a_star = q_select.argmax(dim=1).numpy()
    tabular = double_q_learning_target(r.numpy(), d.numpy(), q_value.numpy(), a_star)
    np.testing.assert_allclose(y.numpy(), tabular, rtol=1e-12)
    # selecting with the evaluating network itself is the max: plain Q-learning
    torch.testing.assert_close(
        double_q_learning_targets(r, d, q_value, q_value), q_learning_targets(r, d, q_value)
    )


@given(st.floats(-50, 50), st.floats(0.1, 5.0))
def test_huber_is_quadratic_then_linear_with_the_clipped_error_as_gradient(x, delta):
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    loss = huber_loss(t, delta)
    expected = 0.5 * x * x if abs(x) <= delta else delta * (abs(x) - 0.5 * delta)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    loss.backward()
    assert float(t.grad) == pytest.approx(float(np.clip(x, -delta, delta)), abs=1e-12)


def test_td_loss_is_the_weighted_mean_huber_of_the_td_errors():
    r, d, q_t, q_tm1 = _batch(3, b=5)
    a = torch.tensor([0, 2, 1, 1, 0])
    y = q_learning_targets(r, d, q_t) * 4  # some errors beyond the Huber threshold
    w = torch.tensor([1.0, 0.5, 0.25, 1.0, 0.1], dtype=torch.float64)
    loss, td = td_loss(q_tm1, a, y, w, delta=1.0)
    naive_td = [float(y[b] - q_tm1[b, a[b]]) for b in range(5)]
    naive = np.mean(
        [
            float(w[b]) * (0.5 * e * e if abs(e) <= 1 else abs(e) - 0.5)
            for b, e in enumerate(naive_td)
        ]
    )
    np.testing.assert_allclose(td.numpy(), naive_td, rtol=1e-12)
    assert float(loss) == pytest.approx(naive, rel=1e-12)
    unweighted, _ = td_loss(q_tm1, a, y)
    assert float(unweighted) == pytest.approx(float(td_loss(q_tm1, a, y, torch.ones(5))[0]))


@given(st.integers(0, 10_000))
def test_dueling_aggregation_identities(seed):
    g = torch.Generator().manual_seed(seed)
    value, adv = torch.randn(4, 1, generator=g), torch.randn(4, 5, generator=g)
    q = dueling_aggregate(value, adv)
    torch.testing.assert_close(q.mean(dim=1, keepdim=True), value)  # mean_a Q = V
    torch.testing.assert_close(q - value, adv - adv.mean(dim=1, keepdim=True))
    shifted = dueling_aggregate(value, adv + torch.randn(4, 1, generator=g))
    torch.testing.assert_close(shifted, q)  # a per-state shift of A does not change Q


def test_dueling_network_output_is_value_plus_centred_advantage():
    torch.manual_seed(0)
    net = QNetwork(3, 4, hidden=(8,), dueling=True)
    x = torch.randn(6, 3)
    h = torch.relu(net.layers[0](x))
    value, adv = net.value_head(h), net.head(h)
    torch.testing.assert_close(net(x), value + adv - adv.mean(dim=1, keepdim=True))
    with pytest.raises(ValueError, match="expects 3 input features"):
        net(torch.randn(2, 4))


def test_polyak_update_hard_copy_and_soft_average():
    target = [torch.zeros(3), torch.ones(2)]
    online = [torch.full((3,), 4.0), torch.full((2,), 3.0)]
    polyak_update_(target, online, 0.25)
    torch.testing.assert_close(target[0], torch.full((3,), 1.0))  # 0.25 * 4 + 0.75 * 0
    torch.testing.assert_close(target[1], torch.full((2,), 1.5))  # 0.25 * 3 + 0.75 * 1
    polyak_update_(target, online, 1.0)
    torch.testing.assert_close(target[0], online[0])
    assert target[0].data_ptr() != online[0].data_ptr()  # a copy, not an alias


def test_linear_schedule_endpoints_and_midpoint():
    assert linear_schedule(0, 1.0, 0.04, 8000) == 1.0
    assert linear_schedule(4000, 1.0, 0.04, 8000) == pytest.approx(0.52)
    assert linear_schedule(8000, 1.0, 0.04, 8000) == 0.04
    assert linear_schedule(10**6, 1.0, 0.04, 8000) == 0.04
    assert linear_schedule(5, 1.0, 0.1, 0) == 0.1
