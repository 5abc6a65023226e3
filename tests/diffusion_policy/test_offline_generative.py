"""Offline generative agents on the multimodal bandit (issue 16): propose-and-rank identities,
IDQL and Diffusion-QL contracts, bad input, determinism; the bandit goal in ``slow`` tests."""

import numpy as np
import pytest
import torch

import rlcore.data
from rlcore.diffusion_policy.diffusion_ql import (
    DiffusionQL,
    DiffusionQLConfig,
    backup_value,
    edp_loss_and_action,
)
from rlcore.diffusion_policy.idql import IDQL, IDQLConfig
from rlcore.diffusion_policy.offline import (
    ActionModelConfig,
    expectile_loss,
    expectile_weights,
    transition_arrays,
)
from rlcore.diffusion_policy.propose_and_rank import ProposeAndRank, select_candidates
from rlcore.envs.bandit import in_rewarded_mode
from rlcore.registry import make

SMALL = ActionModelConfig(hidden=32, depth=1)
FLOW = ActionModelConfig(objective="objectives.flow_matching", steps=3, hidden=32, depth=1)


@pytest.fixture(scope="module")
def bandit_data():
    return rlcore.data.collect("rlcore/MultimodalBandit-v0", 400, seed=0)


def _gaussian_proposer(s, n, generator):
    return torch.randn(s.shape[0], n, 2, generator=generator)


# ---------------------------------------------------------------- propose and rank
def test_one_candidate_is_the_generators_sample():
    def value(s, a):
        raise AssertionError("one candidate needs no ranking")

    policy = ProposeAndRank(_gaussian_proposer, value, "min", n=1, seed=5)
    chosen = policy.choose(torch.zeros(7, 3))
    expected = _gaussian_proposer(torch.zeros(7, 3), 1, torch.Generator().manual_seed(5))[:, 0]
    assert torch.equal(chosen, expected)


@pytest.mark.parametrize("reduction", ["min", "mean", "ensembles.lcb", "ensembles.mix"])
def test_a_perfect_critic_picks_the_best_candidate(reduction):
    target = torch.tensor([0.3, -0.2])

    def value(s, a):  # 3 identical members: the true value -|a - target|^2
        return (-((a - target) ** 2).sum(-1)).expand(3, *a.shape[:2])

    policy = ProposeAndRank(_gaussian_proposer, value, reduction, n=50, seed=0)
    chosen = policy.choose(torch.zeros(16, 1))
    candidates = _gaussian_proposer(torch.zeros(16, 1), 50, torch.Generator().manual_seed(0))
    best = candidates[torch.arange(16), (-((candidates - target) ** 2).sum(-1)).argmax(1)]
    assert torch.equal(chosen, best)


def test_ranking_uses_the_reduction_over_members():
    # member 0 prefers candidate 0, member 1 candidate 1; min prefers 1, max prefers 0.
    scores = torch.tensor([[[5.0, 1.0]], [[0.0, 2.0]]])  # (M=2, B=1, n=2)
    cands = torch.tensor([[[1.0, 1.0], [2.0, 2.0]]])

    def propose(s, n, g):
        return cands

    def value(s, a):
        return scores

    assert ProposeAndRank(propose, value, "min", n=2).choose(torch.zeros(1, 1))[0, 0] == 2.0
    assert ProposeAndRank(propose, value, "max", n=2).choose(torch.zeros(1, 1))[0, 0] == 1.0


def test_weighted_selection_follows_the_weights():
    scores = torch.zeros(20000, 2)
    index = select_candidates(
        scores,
        lambda x: torch.tensor([0.7, 0.3]).expand_as(x),
        generator=torch.Generator().manual_seed(0),
    )
    assert float(index.float().mean()) == pytest.approx(0.3, abs=0.02)
    soft = select_candidates(
        torch.tensor([[0.0, np.log(3.0)]]).expand(20000, 2),
        "softmax",
        generator=torch.Generator().manual_seed(1),
    )
    assert float(soft.float().mean()) == pytest.approx(0.75, abs=0.02)


def test_propose_and_rank_rejects_bad_input():
    def value(s, a):
        return torch.zeros(1, *a.shape[:2])

    with pytest.raises(ValueError, match="n=0"):
        ProposeAndRank(_gaussian_proposer, value, "min", n=0)
    with pytest.raises(ValueError, match="select"):
        ProposeAndRank(_gaussian_proposer, value, "min", select="best")
    with pytest.raises(ValueError, match="unknown reduction"):
        ProposeAndRank(_gaussian_proposer, value, "minimum")
    with pytest.raises(ValueError, match=r"\(B, n\)"):
        ProposeAndRank(_gaussian_proposer, lambda s, a: torch.zeros(2, 5), "min", n=4).choose(
            torch.zeros(1, 1)
        )


# ---------------------------------------------------------------- pure pieces
def test_expectile_loss_and_weights():
    diff = torch.tensor([-2.0, 1.0])
    assert float(expectile_loss(diff, 0.7)) == pytest.approx((0.3 * 4 + 0.7 * 1) / 2)
    # minimising over v gives the tau-expectile: for tau = 0.5, the mean
    q = torch.tensor([0.0, 1.0, 5.0])
    v = torch.zeros((), requires_grad=True)
    opt = torch.optim.SGD([v], lr=0.5)
    for _ in range(200):
        opt.zero_grad()
        expectile_loss(q - v, 0.5).backward()
        opt.step()
    assert v.item() == pytest.approx(2.0, abs=1e-4)
    w = expectile_weights(torch.tensor([1.0, -1.0]), torch.tensor(0.0), 0.7)
    torch.testing.assert_close(w, torch.tensor([0.7, 0.3]))


# ---------------------------------------------------------------- agents
def _idql(data, **kw):
    kw.setdefault("actor", SMALL)
    config = IDQLConfig(gamma=0.0, hidden=32, batch_size=32, n_candidates=8, **kw)
    return IDQL(data, config, seed=0)


def _dql(data, **kw):
    kw.setdefault("gamma", 0.0)
    config = DiffusionQLConfig(hidden=32, batch_size=32, actor=SMALL, **kw)
    return DiffusionQL(data, config, seed=0)


@pytest.mark.parametrize("build", [_idql, _dql, lambda d: _dql(d, action_approx="edp"),
                                   lambda d: _idql(d, select="expectile"),
                                   lambda d: _idql(d, actor=FLOW)])
def test_agents_train_act_and_are_deterministic(bandit_data, build):
    actions = []
    for _ in range(2):
        agent = build(bandit_data)
        losses = agent.fit(3)
        assert len(losses) == 3 and all(np.isfinite(v) for v in losses[-1].values())
        agent.seed(1)
        actions.append(np.stack([agent.act(np.zeros(1, dtype=np.float32)) for _ in range(3)]))
    assert actions[0].shape == (3, 2) and actions[0].dtype == np.float32
    np.testing.assert_array_equal(actions[0], actions[1])
    assert np.all(np.abs(actions[0]) <= 1.0 + 1e-6)


def test_idql_joint_step_equals_one_optimizer_per_network(bandit_data):
    """One backward of L_V + L_Q + L_pi and one fused Adam over all parameters (the cheap step)
    against the naive IQL step: a separate backward and Adam per network, same draws."""
    import copy

    from rlcore.diffusion_policy.offline import expectile_loss, td_target

    agent = IDQL(bandit_data, IDQLConfig(gamma=0.9, hidden=32, batch_size=32, actor=SMALL), seed=2)
    ref = copy.deepcopy(agent)
    c = ref.config
    nets = {"v": ref.v, "q": ref.q, "actor": ref.actor}
    opts = {k: torch.optim.Adam(m.parameters(), lr=c.lr, fused=True) for k, m in nets.items()}
    for step in range(4):
        critic_only = step == 2
        got = agent.update(actor=not critic_only)
        g = ref._train_generator
        s, a, r, s2, d = ref.data.batch(c.batch_size, g)
        with torch.no_grad():
            q_min = ref.q_target(s, a)[..., 0].min(dim=0).values
        losses = {"v": expectile_loss(q_min - ref.v(s)[0, :, 0], c.tau)}
        y = td_target(r, d, c.gamma, ref.v(s2)[0, :, 0])
        losses["q"] = ((ref.q(s, a)[..., 0] - y) ** 2).mean(dim=1).sum()
        if not critic_only:
            losses["actor"] = ref.actor.loss(s, a, g)
        for name, loss in losses.items():
            opts[name].zero_grad()
            loss.backward()
            opts[name].step()
        ref.q_target.polyak_update_(ref.q, c.polyak)
        assert got == {f"train/{k}_loss": v.item() for k, v in losses.items()}
    for m_got, m_ref in [(agent.v, ref.v), (agent.q, ref.q), (agent.actor, ref.actor),
                         (agent.q_target, ref.q_target)]:
        for x, y in zip(m_got.state_dict().values(), m_ref.state_dict().values()):
            torch.testing.assert_close(x, y, atol=0, rtol=0)


def test_agents_run_in_the_env(bandit_data):
    history = rlcore.run(_idql(bandit_data), "rlcore/MultimodalBandit-v0", episodes=3, seed=0)
    assert len(history.returns) == 3


def test_edp_action_inverts_the_forward_process_for_an_exact_denoiser(bandit_data):
    agent = _dql(bandit_data, action_approx="edp")
    a0 = torch.rand(64, 2) * 1.6 - 0.8
    model = agent.actor.objective

    class Oracle(torch.nn.Module):
        def forward(self, x_k, t, s):  # the true eps of the forward draw
            k = torch.round(t * model.num_train_steps).long() - 1
            ab = model.alpha_bar.float()[k][:, None]
            return (x_k - ab.sqrt() * a0) / (1 - ab).sqrt()

    agent.actor.net = Oracle()
    loss, out = edp_loss_and_action(agent.actor, torch.zeros(64, 1), a0,
                                    torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, a0, atol=1e-4, rtol=0)
    assert float(loss) < 1e-8  # the oracle predicts the loss's own eps


class _CountingNet(torch.nn.Module):
    """A toy denoiser (B, 2) x (B,) x (B, 1) -> (B, 2) that counts its calls."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)
        self.calls = 0

    def forward(self, x, t, s):
        self.calls += 1
        return torch.tanh(self.lin(torch.cat([x, t[:, None], s], dim=-1)))


def test_edp_shares_the_bc_forward_and_matches_the_closed_form(bandit_data):
    agent = _dql(bandit_data, action_approx="edp")
    net = agent.actor.net = _CountingNet()
    model = agent.actor.objective
    s, a0 = torch.rand(32, 1), torch.rand(32, 2) * 2 - 1
    loss, a_pi = edp_loss_and_action(agent.actor, s, a0, torch.Generator().manual_seed(3))
    assert net.calls == 1  # one forward for the loss AND the action
    # the same (k, eps): Diffusion.loss draws k then eps from the generator
    g = torch.Generator().manual_seed(3)
    k = torch.randint(model.num_train_steps, (32,), generator=g)
    eps = torch.randn(a0.shape, generator=g)
    ab = model.alpha_bar.float()[k][:, None]
    x_k = ab.sqrt() * a0 + (1 - ab).sqrt() * eps
    with torch.no_grad():
        eps_hat = net(x_k, model.times.float()[k], s)
    torch.testing.assert_close(loss, torch.mean((eps_hat - eps) ** 2))
    torch.testing.assert_close(a_pi, ((x_k - (1 - ab).sqrt() * eps_hat) / ab.sqrt()).clamp(-1, 1))
    # the Q term's gradient reaches the actor through x0_hat (where it is not clipped)
    a_pi.sum().backward()
    assert net.lin.weight.grad is not None and net.lin.weight.grad.abs().sum() > 0


def test_one_actor_forward_per_edp_step_and_few_target_steps(bandit_data):
    counts = {}
    for approx in ("chain", "edp"):
        agent = _dql(bandit_data, action_approx=approx)
        agent.actor.net = _CountingNet()
        agent.ema.averaged.net = _CountingNet()
        agent.actor_optimizer = torch.optim.Adam(agent.actor.parameters())
        agent.update()
        counts[approx] = (agent.actor.net.calls, agent.ema.averaged.net.calls)
    k = SMALL.steps
    assert counts["chain"] == (1 + k, k)  # BC forward + the K-step chain; the K-step target
    assert counts["edp"] == (1, 3)  # one shared forward; DPM-Solver++ in 3 steps


def test_target_sampler_options_and_bad_steps():
    assert DiffusionQLConfig().target() == ("ddpm", 5)
    assert DiffusionQLConfig(action_approx="edp").target() == ("dpm_solver_pp", 3)
    small_k = ActionModelConfig(steps=2)
    assert DiffusionQLConfig(action_approx="edp", actor=small_k).target() == ("dpm_solver_pp", 2)
    one_k = ActionModelConfig(steps=1)
    assert DiffusionQLConfig(action_approx="edp", actor=one_k).target() == ("ddpm", 1)
    assert DiffusionQLConfig(action_approx="edp", target_sampler="ddim",
                             target_steps=1).target() == ("ddim", 1)
    with pytest.raises(ValueError, match=r"target_steps=1 cannot be taken by .*dpm_solver_pp.*order 2"):
        DiffusionQLConfig(action_approx="edp", target_steps=1)
    with pytest.raises(ValueError, match=r"target_steps=6 .*ddpm.*K=5"):
        DiffusionQLConfig(target_steps=6)
    with pytest.raises(ValueError, match="target_steps"):
        DiffusionQLConfig(target_steps=0)
    with pytest.raises(ValueError, match="target_sampler"):
        DiffusionQLConfig(target_sampler="euler")


def test_max_q_backup_is_the_min_over_critics_of_each_critics_max():
    from rlcore.diffusion_policy.offline import critic_ensemble

    critics = critic_ensemble(3 + 2, 3, hidden=16, depth=2, seed=4).requires_grad_(False)
    g = torch.Generator().manual_seed(0)
    s, a = torch.randn(6, 3, generator=g), torch.randn(6, 4, 2, generator=g)
    got = backup_value(critics, s, a)
    want = torch.empty(6)
    for b in range(6):  # naive: every critic on every draw, one (state, action) at a time
        per_critic = [
            max(float(critics(s[b : b + 1], a[b, i : i + 1])[j, 0, 0]) for i in range(4))
            for j in range(3)
        ]
        want[b] = min(per_critic)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    one = backup_value(critics, s, a[:, :1])
    torch.testing.assert_close(one, critics(s, a[:, 0])[..., 0].min(dim=0).values)
    assert (got >= backup_value(critics, s, a[:, 1:2]) - 1e-6).all()  # a max over more draws


def test_max_q_backup_trains_deterministically_and_one_draw_is_the_default(bandit_data):
    default = _dql(bandit_data, gamma=0.9).fit(3)
    one = _dql(bandit_data, gamma=0.9, backup_samples=1).fit(3)
    assert default == one
    runs = [_dql(bandit_data, gamma=0.9, backup_samples=4).fit(3) for _ in range(2)]
    assert runs[0] == runs[1]
    assert runs[0][-1]["train/critic_loss"] != default[-1]["train/critic_loss"]
    with pytest.raises(ValueError, match=r"backup_samples.*max Q backup"):
        DiffusionQLConfig(backup_samples=0)


def test_layer_normalised_critics_are_normalised_and_travel_through_save(bandit_data, tmp_path):
    """critic_layer_norm=True: scaling a member's first affine map by c > 0 leaves its Q
    unchanged (LayerNorm removes the scale; without it Q changes), and the flag is saved."""
    agent = _dql(bandit_data, critic_layer_norm=True)
    plain = _dql(bandit_data)
    s, a = torch.randn(9, 1), torch.rand(9, 2) * 2 - 1
    for model, invariant in ((agent, True), (plain, False)):
        before = model.q(s, a).detach().clone()
        with torch.no_grad():
            for name in ("w0", "b0"):
                dict(model.q.named_parameters())[name][0].mul_(3.0)
        after = model.q(s, a).detach()
        assert torch.allclose(after[0], before[0], atol=1e-4) is invariant
        torch.testing.assert_close(after[1:], before[1:])  # the other member is untouched
    agent.save(tmp_path / "ckpt")
    assert rlcore.load(tmp_path / "ckpt").config.critic_layer_norm is True
    with pytest.raises(TypeError, match="critic_layer_norm must be True or False"):
        DiffusionQLConfig(critic_layer_norm=1)


def _grads_at_step(agent):
    """Record the critics' and the actor's gradients as their optimizers step (a spy)."""
    seen = {}
    for key, module, optimizer in (
        ("q", agent.q, agent.q_optimizer),
        ("actor", agent.actor, agent.actor_optimizer),
    ):

        def step(*args, _step=optimizer.step, _key=key, _module=module, **kw):
            seen[_key] = [p.grad.clone() for p in _module.parameters()]
            return _step(*args, **kw)

        optimizer.step = step
    return seen


def _member_norms(grads):
    return torch.stack([g.reshape(g.shape[0], -1).pow(2).sum(1) for g in grads]).sum(0).sqrt()


def test_grad_norm_clips_each_critic_and_the_actor(bandit_data, tmp_path):
    """grad_norm = g: at Adam's step each critic member's gradient is the unclipped one times
    min(1, g / ||g_k||) (a naive per-member rescale) and the actor's norm is at most g (its
    step leaves Q's gradients as they were); a bound no gradient reaches changes nothing, and
    the bound travels through save / load."""
    free = _dql(bandit_data, gamma=0.9)
    clipped = _dql(bandit_data, gamma=0.9, grad_norm=1e-3)
    raw, got = _grads_at_step(free), _grads_at_step(clipped)
    free.fit(1)
    clipped.fit(1)  # the same weights and batch: the critics' raw gradients are equal
    norms = _member_norms(raw["q"])
    assert (norms > 1e-3).all()  # the bound bites on every member
    for g_raw, g_clip in zip(raw["q"], got["q"]):
        scale = (1e-3 / (norms + 1e-6)).view(-1, *([1] * (g_raw.dim() - 1)))
        torch.testing.assert_close(g_clip, g_raw * scale, rtol=1e-5, atol=1e-12)
    for p, g in zip(clipped.q.parameters(), got["q"]):  # the actor step adds nothing to Q's
        assert torch.equal(p.grad, g)
    actor_norm = torch.cat([g.flatten() for g in got["actor"]]).norm()
    assert torch.cat([g.flatten() for g in raw["actor"]]).norm() > 1e-2
    assert 0 < actor_norm <= 1e-3 * (1 + 1e-4)
    loose = _dql(bandit_data, gamma=0.9, grad_norm=1e9)
    assert loose.fit(3) == _dql(bandit_data, gamma=0.9).fit(3)
    clipped.save(tmp_path / "ckpt")
    assert rlcore.load(tmp_path / "ckpt").config.grad_norm == 1e-3
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="grad_norm.*None switches clipping off"):
            DiffusionQLConfig(grad_norm=bad)


def test_edp_training_is_deterministic_with_the_dpm_solver_target(bandit_data):
    runs = []
    for _ in range(2):
        agent = _dql(bandit_data, action_approx="edp", gamma=0.9)
        runs.append([agent.fit(4)[-1], [p.detach().clone() for p in agent.q.parameters()]])
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        assert torch.equal(a, b)


def test_bad_input_is_named(bandit_data):
    arrays = {k: getattr(bandit_data, k) for k in ("observations", "actions", "rewards")}
    with pytest.raises(ValueError, match="next_observations"):
        transition_arrays(arrays, "agents.idql")
    with pytest.raises(ValueError, match="tau"):
        IDQLConfig(tau=1.0)
    with pytest.raises(ValueError, match="tau"):
        IDQLConfig(tau=0.0)
    with pytest.raises(ValueError, match="n_candidates"):
        IDQLConfig(n_candidates=0)
    with pytest.raises(ValueError, match="eta"):
        DiffusionQLConfig(eta=-0.1)
    with pytest.raises(ValueError, match="objectives.diffusion"):
        DiffusionQLConfig(actor=ActionModelConfig(objective="objectives.flow_matching"))
    bad = dict(arrays, next_observations=bandit_data.next_observations,
               terminations=bandit_data.terminations, actions=bandit_data.actions[:, 0])
    with pytest.raises(ValueError, match="actions must have shape"):
        transition_arrays(bad, "agents.idql")


def test_registry_names():
    assert make("policies.propose_and_rank", _gaussian_proposer, lambda s, a: a.sum(-1)[None],
                "min", n=2).n == 2


# ---------------------------------------------------------------- the bandit goal
def _rewarded_fraction(agent, n=400):
    return float(in_rewarded_mode(agent.choose(torch.zeros(n, 1)).numpy()).mean())


@pytest.fixture(scope="module")
def bandit_goal_data():
    return rlcore.data.collect("rlcore/MultimodalBandit-v0", 1000, seed=0)


@pytest.mark.slow
def test_bandit_goal_idql(bandit_goal_data):
    actor = ActionModelConfig(hidden=64, depth=2)
    agent = IDQL(bandit_goal_data, IDQLConfig(gamma=0.0, hidden=64, batch_size=128, actor=actor))
    agent.fit(600)
    assert _rewarded_fraction(agent) >= 0.95


@pytest.mark.slow
def test_bandit_goal_diffusion_ql(bandit_goal_data):
    actor = ActionModelConfig(hidden=64, depth=2)
    # eta = 2.5, one actor sample per action (no ranking): measured 0.95 at 800 steps, 0.96
    # at 1000 (eta = 1: 0.915 at 1200).
    config = DiffusionQLConfig(eta=2.5, gamma=0.0, hidden=64, batch_size=128, actor=actor)
    agent = DiffusionQL(bandit_goal_data, config)
    agent.fit(1200)
    assert _rewarded_fraction(agent) >= 0.95


@pytest.mark.slow
def test_bandit_edp_picks_the_rewarded_mode_less_tightly(bandit_goal_data):
    # README: EDP at the chain's settings, 0.895-0.948 within 0.25 over 5 seeds (chain 0.970),
    # but the rewarded mode as the nearest one as often as the chain (98 %).
    actor = ActionModelConfig(hidden=64, depth=2)
    config = DiffusionQLConfig(eta=2.5, gamma=0.0, hidden=64, batch_size=128, actor=actor,
                               action_approx="edp")
    agent = DiffusionQL(bandit_goal_data, config)
    agent.fit(1200)
    a = agent.choose(torch.zeros(400, 1)).numpy()
    assert float(in_rewarded_mode(a).mean()) >= 0.85
    assert float(in_rewarded_mode(a, mode_radius=0.5).mean()) >= 0.95


@pytest.mark.slow
def test_gaussian_bc_puts_its_actions_between_the_modes(bandit_goal_data):
    from rlcore.diffusion_policy import ChunkConfig, NetworkConfig, TrainConfig, gaussian_bc_policy

    policy = gaussian_bc_policy(
        bandit_goal_data, chunk=ChunkConfig(1, 1, 1), network=NetworkConfig(hidden=64, depth=2)
    )
    policy.fit(bandit_goal_data, TrainConfig(steps=300, batch_size=128))
    a = policy.sample_chunks(np.zeros((100, 1, 1)))[:, 0]
    assert float(in_rewarded_mode(a).mean()) <= 0.05
    assert np.all(np.abs(a).max(axis=1) < 0.25)  # near the centre, between the modes
