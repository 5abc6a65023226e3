"""Reductions against their formulas, NumPy and torch alike, and their input checks."""

import numpy as np
import pytest
import torch

import rlcore
from rlcore.ensemble.reductions import as_reduction

RNG = np.random.default_rng(0)
X = RNG.normal(size=(5, 7, 3))

FORMULAS = {
    "ensembles.mean": ({}, lambda x: x.mean(0)),
    "ensembles.min": ({}, lambda x: x.min(0)),
    "ensembles.max": ({}, lambda x: x.max(0)),
    "ensembles.sum": ({}, lambda x: x.sum(0)),
    "ensembles.std": ({}, lambda x: np.sqrt(((x - x.mean(0)) ** 2).mean(0))),
    "ensembles.lcb": ({"k": 1.5}, lambda x: x.mean(0) - 1.5 * x.std(0)),
    "ensembles.ucb": ({"k": 2.0, "ddof": 1}, lambda x: x.mean(0) + 2.0 * x.std(0, ddof=1)),
    "ensembles.mix": ({"lam": 0.3}, lambda x: 0.3 * x.min(0) + 0.7 * x.max(0)),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_reductions_match_formulas_numpy_and_torch(name):
    kwargs, formula = FORMULAS[name]
    reduce = rlcore.make(name, **kwargs)
    expected = formula(X)
    out = reduce(X)
    assert isinstance(out, np.ndarray) and out.shape == (7, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    t = torch.tensor(X, requires_grad=True)
    out_t = reduce(t)
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float64
    np.testing.assert_allclose(out_t.detach().numpy(), expected, rtol=1e-10, atol=1e-12)
    out_t.sum().backward()  # the graph is kept
    assert t.grad is not None


def test_mix_defaults_to_bcq_lambda_and_endpoints():
    assert rlcore.make("ensembles.mix").lam == 0.75
    np.testing.assert_allclose(rlcore.make("ensembles.mix", lam=1.0)(X), X.min(0))
    np.testing.assert_allclose(rlcore.make("ensembles.mix", lam=0.0)(X), X.max(0))
    np.testing.assert_allclose(rlcore.make("ensembles.lcb", k=0)(X), X.mean(0))


def test_subset_min_is_min_over_one_drawn_subset_same_for_numpy_and_torch():
    reduce = rlcore.make("ensembles.subset_min", m=2)
    idx = reduce.subset(5, np.random.default_rng(3))
    assert len(set(idx.tolist())) == 2
    out = reduce(X, generator=np.random.default_rng(3))
    np.testing.assert_allclose(out, X[idx].min(0))
    out_t = reduce(torch.tensor(X), generator=np.random.default_rng(3))
    np.testing.assert_allclose(out_t.numpy(), out)
    full = rlcore.make("ensembles.subset_min", m=5)(X, generator=np.random.default_rng(0))
    np.testing.assert_allclose(full, X.min(0))
    # every member is drawn about equally often over many calls
    rng = np.random.default_rng(1)
    counts = np.bincount(np.concatenate([reduce.subset(5, rng) for _ in range(5000)]), minlength=5)
    np.testing.assert_allclose(counts / 10000, 0.2, atol=0.02)


def _naive_vote(a):
    n, b = a.shape
    out = np.zeros(b, dtype=np.int64)
    for j in range(b):
        counts = {}
        for k in range(n):
            counts[a[k, j]] = counts.get(a[k, j], 0) + 1
        best = max(counts.values())
        out[j] = min(act for act, c in counts.items() if c == best)
    return out


def test_vote_is_the_majority_with_ties_to_the_lowest_action():
    a = RNG.integers(0, 4, size=(6, 50))
    vote = rlcore.make("ensembles.vote")
    np.testing.assert_array_equal(vote(a), _naive_vote(a))
    np.testing.assert_array_equal(vote(torch.tensor(a)).numpy(), _naive_vote(a))
    assert vote(np.array([[2], [1]]))[0] == 1  # a tie


def test_as_reduction_accepts_names_objects_and_callables():
    assert as_reduction("min")(X).shape == (7, 3)
    assert as_reduction("ensembles.mean") == rlcore.make("ensembles.mean")
    lcb = rlcore.make("ensembles.lcb", k=2.0)
    assert as_reduction(lcb) is lcb
    with pytest.raises(ValueError, match="unknown reduction 'median'.*known: lcb, max"):
        as_reduction("median")
    with pytest.raises(TypeError, match="a reduction is a name"):
        as_reduction(3)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("ensembles.lcb", {"k": -1.0}, r"k=-1.0 is outside \[0, inf\).*k >= 0"),
        ("ensembles.ucb", {"k": -0.5}, r"k=-0.5 is outside"),
        ("ensembles.mix", {"lam": 1.5}, r"lam=1.5 is outside \[0, 1\].*BCQ"),
        ("ensembles.mix", {"lam": -0.1}, r"lam=-0.1 is outside"),
        ("ensembles.subset_min", {"m": 0}, r"m=0 is outside \[1, inf\].*subset size"),
        ("ensembles.std", {"ddof": 2}, r"ddof=2 is outside \[0, 1\]"),
    ],
)
def test_bad_parameters_are_refused(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rlcore.make(name, **kwargs)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match=r"member axis.*shape \(5,\).*x\[:, None\]"):
        rlcore.make("ensembles.mean")(np.zeros(5))
    with pytest.raises(ValueError, match=r"member axis.*shape \(5,\)"):
        rlcore.make("ensembles.min")(torch.zeros(5))
    with pytest.raises(ValueError, match=r"m=6 exceeds the 5 members; use m in \[1, 5\]"):
        rlcore.make("ensembles.subset_min", m=6)(X, generator=np.random.default_rng(0))
    with pytest.raises(TypeError, match="NumPy Generator.*default_rng"):
        rlcore.make("ensembles.subset_min")(X)
    with pytest.raises(TypeError, match="integer actions; got dtype float64.*argmax"):
        rlcore.make("ensembles.vote")(X)
    with pytest.raises(TypeError, match="integer actions; got dtype torch.float32"):
        rlcore.make("ensembles.vote")(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="negative action"):
        rlcore.make("ensembles.vote")(np.array([[-1], [0]]))
    with pytest.raises(ValueError, match="ddof=1 needs more than 1 member"):
        rlcore.make("ensembles.std", ddof=1)(np.zeros((1, 3)))


def test_the_module_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; import rlcore; "
        "r = rlcore.make('ensembles.lcb', k=1.0); r(np.zeros((3, 2))); "
        "rlcore.make('ensembles.vote')(np.zeros((3, 2), dtype=int)); "
        "import rlcore.ensemble.bagging; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
