"""Learning tests on a 2-D mixture, and the training loop's contract."""

import pytest
import torch

from rlcore.generative import EMA, Diffusion, FlowMatching, MLPDenoiser, metrics, toy, train

torch.set_num_threads(1)

# Eight Gaussians (std 0.1 at radius 2). MMD^2 is the unbiased estimate with the multi-bandwidth
# RBF kernel (0.25..4 x the median distance of the held-out data), 1,000 samples vs 1,000 held
# out. Reference points, measured: N(0, I) scores about 0.33, a second draw of the data about 0.
MMD2_THRESHOLD = 0.04


def learn(model, steps=300, seed=0):
    torch.manual_seed(seed)
    net = MLPDenoiser(2, hidden=64, depth=2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed + 1)
    batches = (toy.eight_gaussians(256, gen) for _ in range(steps))
    losses = train(model, net, batches, opt, steps=steps, generator=gen)
    with torch.no_grad():
        x = model.sample(net, (1000, 2), steps=10, generator=torch.Generator().manual_seed(2))
    held_out = toy.eight_gaussians(1000, 123)
    return metrics.mmd2(x, held_out), metrics.mmd2(torch.randn(1000, 2), held_out), losses


@pytest.mark.parametrize(
    "model",
    [FlowMatching(), Diffusion("cosine", 50, prediction="v", sampler="ddim")],
    ids=["flow_matching_euler10", "diffusion_v_ddim10"],
)
def test_learns_eight_gaussians_within_300_steps(model):
    mmd2, noise_mmd2, losses = learn(model)
    assert noise_mmd2 > 0.2  # the metric separates noise from the data
    assert mmd2 < MMD2_THRESHOLD, f"MMD^2 {mmd2:.4f} >= {MMD2_THRESHOLD}"
    assert sum(losses[-30:]) < sum(losses[:30])


def test_training_loop_is_deterministic_logs_and_updates_the_ema(tmp_path):
    def run(logdir=None):
        torch.manual_seed(0)
        net = MLPDenoiser(2, cond_dim=1, hidden=16, depth=1)
        ema = EMA(net, decay=0.9)
        data = [(torch.randn(8, 2), torch.randn(8, 1)) for _ in range(3)]
        opt = torch.optim.SGD(net.parameters(), lr=0.01)
        losses = train(
            Diffusion("cosine", 10),
            net,
            data,
            opt,
            steps=7,
            ema=ema,
            generator=torch.Generator().manual_seed(4),
            cond_dropout=0.5,
            grad_clip=1.0,
            logdir=logdir,
            log_every=2,
        )
        return losses, ema

    losses, ema = run(tmp_path / "tb")
    again, _ = run()
    assert len(losses) == 7 and losses == again
    assert ema.num_updates == 7
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_training_loop_rejects_bad_batches():
    net = MLPDenoiser(2, hidden=8, depth=1)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    with pytest.raises(TypeError, match="pair"):
        train(FlowMatching(), net, [[1, 2, 3]], opt, steps=1)
    with pytest.raises(ValueError, match="steps"):
        train(FlowMatching(), net, [torch.zeros(2, 2)], opt, steps=0)
    with pytest.raises(ValueError, match="ran out after 2 of steps=3"):
        train(FlowMatching(), net, iter([torch.zeros(2, 2)] * 2), opt, steps=3)
    assert len(train(FlowMatching(), net, [torch.zeros(2, 2)] * 2, opt, steps=5)) == 5
