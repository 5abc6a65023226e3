"""networks.controlnet: bit-exact at init, the base untouched by training, wrong bases refused."""

import hashlib

import pytest
import torch

from rlcore import registry
from rlcore.generative import Diffusion
from rlcore.generative.adapters import ControlNet
from rlcore.generative.dit import DiT1D
from rlcore.generative.networks import MLPDenoiser, UNet1D

torch.set_num_threads(1)


def _hash(net):
    h = hashlib.sha256()
    for k, v in sorted(net.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def _perturbed(net, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return net


BASES = {
    "mlp": (lambda: MLPDenoiser(6, 4, hidden=32, depth=2), (5, 6)),
    "unet": (lambda: UNet1D(2, 4, down_dims=(16, 32), n_groups=4), (5, 8, 2)),
    "dit": (lambda: DiT1D(2, 4, width=16, depth=2, heads=2), (5, 8, 2)),
}


@pytest.mark.parametrize("kind", sorted(BASES))
def test_adapter_is_bit_exact_at_init_and_training_leaves_the_base_untouched(kind):
    build, shape = BASES[kind]
    torch.manual_seed(0)
    base = _perturbed(build(), 1)  # a "trained" base: non-zero everywhere (also the DiT gates)
    g = torch.Generator().manual_seed(2)
    x, t = torch.randn(shape, generator=g), torch.rand(shape[0], generator=g)
    cond, control = torch.randn(shape[0], 4, generator=g), torch.randn(shape[0], 3, generator=g)
    expected = base(x, t, cond)
    before = _hash(base)
    adapted = registry.make("networks.controlnet", base, 3)
    assert torch.equal(adapted(x, t, torch.cat([cond, control], 1)), expected)  # bit for bit
    assert adapted.cond_dim == 7 and adapted.null_cond.shape == (7,)
    # Only the adapter trains; the base's weights hash the same after several steps.
    assert all(not p.requires_grad for p in base.parameters())
    base_ids = {id(p) for p in base.parameters()}
    assert not base_ids & {id(p) for p in adapted.parameters()}
    model = Diffusion(num_train_steps=20)
    opt = torch.optim.Adam(adapted.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model.loss(adapted, x, torch.cat([cond, control], 1), generator=g).backward()
        opt.step()
    assert _hash(base) == before
    out = adapted(x, t, torch.cat([cond, control], 1))
    assert (out - expected).abs().max() > 1e-6  # the control now acts
    other = adapted(x, t, torch.cat([cond, -control], 1))
    assert (out - other).abs().max() > 1e-6


def test_adapter_refuses_other_architectures_and_bad_conditions():
    base = MLPDenoiser(6, 4, hidden=32, depth=2)
    adapted = ControlNet(base, 3)
    adapted.attach(MLPDenoiser(6, 4, hidden=32, depth=2))  # same architecture: fine
    with pytest.raises(ValueError, match="different architecture"):
        adapted.attach(MLPDenoiser(6, 4, hidden=64, depth=2))
    with pytest.raises(ValueError, match="different architecture"):
        adapted.attach(UNet1D(2, 4, down_dims=(16, 32), n_groups=4))
    with pytest.raises(TypeError, match="mlp_denoiser"):
        ControlNet(torch.nn.Linear(3, 3), 2)
    with pytest.raises(ValueError, match="MM-DiT"):
        ControlNet(DiT1D(2, 4, width=16, heads=2, cond_tokens=2), 2)
    with pytest.raises(ValueError, match="4 \\+ 3"):
        adapted(torch.zeros(2, 6), torch.zeros(2), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="control_dim"):
        ControlNet(base, 0)
