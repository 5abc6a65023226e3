"""Checkpoints: JSON + npz / safetensors round trip, and loading never unpickles."""

import json

import numpy as np
import pytest

import rlcore
from rlcore import checkpoint, registry


class Table:
    def __init__(self, q, alpha):
        self.q, self.alpha = q, alpha

    def state(self):
        return {"alpha": self.alpha}, {"q": self.q}

    @classmethod
    def from_state(cls, config, arrays):
        return cls(arrays["q"], config["alpha"])


@pytest.fixture
def exported_table():
    registry.export("policies.test_table")(Table)
    yield Table
    for d in (registry._by_name, registry._canonical):
        d.pop("policies.test_table", None)
    registry._name_of.pop(id(Table), None)


def test_numpy_round_trip(tmp_path, exported_table):
    q = np.random.default_rng(0).normal(size=(5, 3))
    rlcore.save(Table(q, 0.25), tmp_path)
    header = json.loads((tmp_path / "config.json").read_text())
    assert header["name"] == "policies.test_table" and header["config"] == {"alpha": 0.25}
    loaded = rlcore.load(tmp_path)
    assert isinstance(loaded, Table) and loaded.alpha == 0.25
    np.testing.assert_array_equal(loaded.q, q)


def test_torch_tensors_go_to_safetensors(tmp_path, exported_table):
    torch = pytest.importorskip("torch")
    w = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    rlcore.save(Table(w, 0.5), tmp_path)
    assert (tmp_path / "tensors.safetensors").exists() and not (tmp_path / "arrays.npz").exists()
    loaded = rlcore.load(tmp_path)
    assert torch.equal(loaded.q, w)


def test_pickled_npz_is_refused(tmp_path, exported_table):
    rlcore.save(Table(np.zeros(2), 0.1), tmp_path)
    np.savez(tmp_path / "arrays.npz", q=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match="never unpickles"):
        rlcore.load(tmp_path)


def test_object_arrays_refused_at_save(tmp_path, exported_table):
    with pytest.raises(TypeError, match="pickle"):
        rlcore.save(Table(np.array([None, 1], dtype=object), 0.1), tmp_path)


def test_missing_and_foreign_checkpoints_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        rlcore.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not an rlcore checkpoint"):
        rlcore.load(tmp_path)


def test_unexported_or_stateless_objects_refused(tmp_path):
    with pytest.raises(TypeError, match="state"):
        rlcore.save(object(), tmp_path)

    class Unexported(Table):
        pass

    with pytest.raises(registry.UnknownNameError):
        rlcore.save(Unexported(np.zeros(1), 0.1), tmp_path)


def test_atomic_write_leaves_no_temp_files(tmp_path):
    checkpoint.atomic_write_text(tmp_path / "a.txt", "one")
    checkpoint.atomic_write_text(tmp_path / "a.txt", "two")
    assert (tmp_path / "a.txt").read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
