"""Full training checkpoints: everything a run needs to continue as if it had never stopped.

``rlcore.save(agent, dir)`` keeps what an agent *is* (weights, optimizer moments, counters). A
training checkpoint also keeps what a run *was doing*: the replay contents (priorities and sum
tree included), pending n-step windows, every random generator (the agent's NumPy and torch
generators, the env's and its spaces' generators, the global Python / NumPy / torch streams),
the env's own state, the loop's position (observation, running episode return and length, step
counter) and the History so far. So

    run(steps=2k)  ==  run(steps=k, checkpoint_dir=D)  then  run(steps=2k, resume=D)

bit for bit on CPU (returns, lengths, losses), which ``tests/test_training_state.py`` checks.

Pieces, each reusable by any agent:

- ``array_state(obj)`` / ``load_array_state(obj, state)``: a generic ``state_dict`` for plain
  NumPy containers (replay buffers, sum trees): every array attribute, every scalar, recursively
  every attribute that has its own ``state_dict``. A field added to a buffer later is included
  without further code; a field of a type it cannot store is refused with the fix.
- ``pack(parts)`` / ``unpack(parts, config, arrays)``: (JSON config, arrays) of named training
  parts: torch modules and optimizers, NumPy and torch generators, objects with
  ``state_dict``/``load_state_dict`` (buffers), ``None`` and plain JSON values (counters).
  ``unpack`` restores the mutable parts in place and returns the plain values. An agent is
  ``Resumable`` (``rlcore.protocols``) with two short methods over these (see ``agents.dqn``).
- ``env_state(env)`` / ``set_env_state(env, config, arrays)``: the numeric attributes, arrays
  and generators of every wrapper layer and base env (sub-envs of a ``SyncVectorEnv`` included);
  gymnasium's classic-control and toy-text envs and rlcore's envs keep their whole dynamic state
  there. Objects of other types (renderers, specs, spaces' definitions) are configuration and
  are not stored: an env keeping dynamic state in such an object is not resumable bit for bit.
- ``save_training_state`` / ``read_training_state``: the directory, written atomically (a
  temporary directory renamed into place), never pickled: ``training.json`` (header, configs,
  JSON values), ``arrays.npz`` (``allow_pickle=False``) and ``tensors.safetensors``.

``rlcore.run(..., checkpoint_dir=D, checkpoint_every=K)`` writes one every K steps and at the
end; ``rlcore.run(..., resume=D)`` continues from it; ``rlcore train --resume OUT`` does both.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlcore.checkpoint import _is_tensor, atomic_write_text

__all__ = [
    "FORMAT",
    "array_state",
    "env_state",
    "generator_state",
    "load_array_state",
    "pack",
    "read_training_state",
    "save_training_state",
    "set_env_state",
    "set_generator_state",
    "unpack",
]

FORMAT = "rlcore-training-state"
VERSION = 1
_PLAIN = (bool, int, float, str, type(None))


# -- generic state_dict for NumPy containers ---------------------------------------------------
def array_state(obj: Any) -> dict[str, Any]:
    """A flat ``state_dict`` of ``obj``: arrays (by reference), scalars, nested ``state_dict``s.

    Keys are attribute names (``"storage.obs_tm1"`` for nested objects). NumPy scalars become
    0-d arrays (their dtype is kept); tuples of plain values are structure and are checked, not
    restored, by ``load_array_state``.

    Raises:
        TypeError: an attribute holds an object array or a type this function cannot store.
    """
    out: dict[str, Any] = {}
    for key, value in vars(obj).items():
        if isinstance(value, np.ndarray | np.generic):
            if value.dtype == object:
                raise TypeError(
                    f"{type(obj).__name__}.{key} is an object array, which cannot be stored "
                    "without pickle; use a numeric dtype."
                )
            out[key] = value if isinstance(value, np.ndarray) else np.asarray(value)
        elif isinstance(value, _PLAIN):
            out[key] = value
        elif isinstance(value, tuple) and all(isinstance(v, _PLAIN) for v in value):
            out[key] = value
        elif callable(getattr(value, "state_dict", None)):
            out.update({f"{key}.{k}": v for k, v in value.state_dict().items()})
        else:
            raise TypeError(
                f"{type(obj).__name__}.{key} holds a {type(value).__name__}, which the generic "
                f"state_dict cannot store; give {type(obj).__name__} its own state_dict() and "
                "load_state_dict() (see NStepWindows in rlcore/approximation/dqn/replay.py)."
            )
    return out


def load_array_state(obj: Any, state: Mapping[str, Any]) -> None:
    """Restore ``array_state(obj)`` in place: arrays copied into the existing ones (same shape
    and dtype required), scalars set, nested objects through their ``load_state_dict``.

    Raises:
        ValueError: keys, shapes, dtypes or structural tuples differ from ``obj``'s.
    """
    name = type(obj).__name__
    nested: dict[str, dict[str, Any]] = {}
    for key, value in state.items():
        head, dot, rest = key.partition(".")
        if dot:
            nested.setdefault(head, {})[rest] = value
    own = {k for k in vars(obj)}
    keys = {k.partition(".")[0] for k in state}
    if keys != own:
        raise ValueError(
            f"{name} state does not match this object: missing {sorted(own - keys)}, "
            f"unexpected {sorted(keys - own)}; restore into an object built with the same class "
            "and configuration as the one saved."
        )
    for key, current in vars(obj).items():
        if key in nested:
            current.load_state_dict(nested[key])
            continue
        saved = state[key]
        if isinstance(current, np.ndarray):
            saved = np.asarray(saved)
            if saved.shape != current.shape or saved.dtype != current.dtype:
                raise ValueError(
                    f"{name}.{key}: the saved array has shape {saved.shape} and dtype "
                    f"{saved.dtype}, this object {current.shape} {current.dtype}; build it with "
                    "the saved configuration (capacity, observation shape) before loading."
                )
            current[...] = saved
        elif isinstance(current, np.generic):
            setattr(obj, key, np.asarray(saved, dtype=current.dtype)[()])
        elif isinstance(current, tuple):
            if tuple(saved) != current:
                raise ValueError(
                    f"{name}.{key} is {current} here but {tuple(saved)} in the saved state; build "
                    "the object with the saved configuration."
                )
        else:
            setattr(obj, key, saved.item() if isinstance(saved, np.ndarray) else saved)


# -- generators ----------------------------------------------------------------------------------
def generator_state(generator: np.random.Generator) -> dict[str, Any]:
    """The JSON-serialisable state of a NumPy Generator (its bit generator's state dict)."""
    return generator.bit_generator.state


def set_generator_state(generator: np.random.Generator, state: Mapping[str, Any]) -> None:
    """Restore a NumPy Generator in place from ``generator_state``."""
    kind = type(generator.bit_generator).__name__
    if state.get("bit_generator") != kind:
        raise ValueError(
            f"saved generator state is for {state.get('bit_generator')!r}, this generator uses "
            f"{kind!r}; build it with the same bit generator."
        )
    generator.bit_generator.state = dict(state)


def _new_generator(state: Mapping[str, Any]) -> np.random.Generator:
    generator = np.random.Generator(getattr(np.random, state["bit_generator"])())
    set_generator_state(generator, state)
    return generator


def _global_generators() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Python's, NumPy's legacy and (if torch is imported) torch's global streams."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (global stream)
    config = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, int(pos), int(has_gauss), float(cached)],
    }
    arrays = {"numpy_keys": np.asarray(keys)}
    torch = sys.modules.get("torch")
    if torch is not None:
        arrays["torch_cpu"] = torch.get_rng_state().numpy()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                arrays[f"torch_cuda_{i}"] = s.numpy()
    return config, arrays


def _set_global_generators(config: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    version, internal, gauss = config["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, pos, has_gauss, cached = config["numpy"]
    np.random.set_state((kind, arrays["numpy_keys"], pos, has_gauss, cached))  # noqa: NPY002
    if "torch_cpu" in arrays:
        import torch

        torch.set_rng_state(torch.from_numpy(np.array(arrays["torch_cpu"])))
        cuda = [k for k in arrays if k.startswith("torch_cuda_")]
        if cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(
                [torch.from_numpy(np.array(arrays[f"torch_cuda_{i}"])) for i in range(len(cuda))]
            )


# -- named training parts ------------------------------------------------------------------------
def _torch_kind(value: Any) -> str | None:
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if isinstance(value, torch.nn.Module):
        return "module"
    if isinstance(value, torch.optim.Optimizer):
        return "optimizer"
    if isinstance(value, torch.Generator):
        return "torch_generator"
    return None


def _json_groups(groups: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    out = []
    for group in groups:
        row = {}
        for k, v in group.items():
            v = list(v) if isinstance(v, tuple) else v
            if not isinstance(v, _PLAIN + (list,)):
                raise TypeError(
                    f"optimizer {name!r} has a param_groups entry {k!r} of type "
                    f"{type(v).__name__}; only plain numbers, strings and lists are stored."
                )
            row[k] = v
        out.append(row)
    return out


def pack(parts: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(JSON config, name -> array or tensor) of named training parts.

    A part is a torch ``nn.Module`` (its ``state_dict``), a torch ``Optimizer`` (moments, step
    counts and param groups), a ``numpy.random.Generator`` or ``torch.Generator`` (its state), an
    object with ``state_dict()`` / ``load_state_dict()`` returning arrays and scalars (a replay
    buffer), ``None`` (an absent part), or a plain JSON value (a counter, a list of sums).
    """
    config: dict[str, Any] = {}
    arrays: dict[str, Any] = {}
    for name, part in parts.items():
        kind = _torch_kind(part)
        if kind == "module":
            arrays.update({f"{name}.{k}": v for k, v in part.state_dict().items()})
            config[name] = {"kind": kind}
        elif kind == "optimizer":
            sd = part.state_dict()
            plain: dict[str, dict[str, Any]] = {}
            for i, slot in sd["state"].items():
                for k, v in slot.items():
                    if _is_tensor(v):
                        arrays[f"{name}.state.{i}.{k}"] = v
                    else:
                        plain.setdefault(str(i), {})[k] = v
            groups = _json_groups(sd["param_groups"], name)
            config[name] = {"kind": kind, "plain": plain, "param_groups": groups}
        elif kind == "torch_generator":
            arrays[name] = part.get_state().numpy()
            config[name] = {"kind": kind}
        elif isinstance(part, np.random.Generator):
            config[name] = {"kind": "generator", "state": generator_state(part)}
        elif part is None or isinstance(part, _PLAIN + (list, dict)):
            config[name] = {"kind": "value", "value": part}
        elif callable(getattr(part, "state_dict", None)):
            values = {}
            for k, v in part.state_dict().items():
                if isinstance(v, np.ndarray):
                    arrays[f"{name}.{k}"] = v
                else:
                    values[k] = list(v) if isinstance(v, tuple) else v
            config[name] = {"kind": "state_dict", "values": values}
        else:
            raise TypeError(
                f"training part {name!r} is a {type(part).__name__}; pack() stores torch modules, "
                "optimizers, NumPy / torch generators, objects with state_dict(), None and plain "
                "JSON values. Give it a state_dict()/load_state_dict() pair."
            )
    return config, arrays


def unpack(
    parts: Mapping[str, Any], config: Mapping[str, Any], arrays: Mapping[str, Any]
) -> dict[str, Any]:
    """Restore ``pack(parts)`` into ``parts`` in place; returns the plain values by name.

    Raises:
        ValueError: the saved parts differ from ``parts`` (names or kinds).
    """
    if set(parts) != set(config):
        raise ValueError(
            f"training state holds parts {sorted(config)}, this agent has {sorted(parts)}; "
            "resume with the agent class and configuration that wrote it."
        )
    values: dict[str, Any] = {}
    for name, part in parts.items():
        saved = config[name]
        kind = saved["kind"]
        prefix = f"{name}."
        mine = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        if kind == "module":
            import torch

            part.load_state_dict({k: torch.as_tensor(v) for k, v in mine.items()})
        elif kind == "optimizer":
            import torch

            state: dict[int, dict[str, Any]] = {}
            for key, v in mine.items():
                _, i, k = key.split(".", 2)
                state.setdefault(int(i), {})[k] = torch.as_tensor(v)
            for i, slot in saved["plain"].items():
                state.setdefault(int(i), {}).update(slot)
            groups = part.state_dict()["param_groups"]
            for group, old in zip(saved["param_groups"], groups, strict=True):
                for k, v in group.items():
                    if isinstance(old.get(k), tuple):
                        group[k] = tuple(v)
            part.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
        elif kind == "torch_generator":
            import torch

            part.set_state(torch.from_numpy(np.array(arrays[name])))
        elif kind == "generator":
            if not isinstance(part, np.random.Generator):
                raise ValueError(f"training part {name!r} was a NumPy Generator when saved.")
            set_generator_state(part, saved["state"])
        elif kind == "state_dict":
            if part is None:
                raise ValueError(f"training part {name!r} was saved but this agent has none.")
            part.load_state_dict({**saved["values"], **mine})
        else:  # a plain value
            if saved["value"] is None and part is not None and not isinstance(part, _PLAIN):
                raise ValueError(f"training part {name!r} was None when saved.")
            values[name] = saved["value"]
    return values


# -- environments --------------------------------------------------------------------------------
def _env_slots(env: Any, prefix: str = "") -> dict[str, tuple[Any, str, Any]]:
    """path -> (owner, attribute, value) for every stored attribute of an env and its layers."""
    slots: dict[str, tuple[Any, str, Any]] = {}
    for key, value in vars(env).items():
        path = prefix + key
        if key == "env" and isinstance(value, gym.Env | gym.vector.VectorEnv):
            slots.update(_env_slots(value, path + "."))
        elif key == "envs" and isinstance(value, list):
            for i, sub in enumerate(value):
                slots.update(_env_slots(sub, f"{path}.{i}."))
        elif isinstance(value, gym.Space):
            slots[path + "#np_random"] = (value, "_np_random", value._np_random)
        elif isinstance(value, (np.random.Generator, np.ndarray, np.generic, *_PLAIN)):
            if not (isinstance(value, np.ndarray | np.generic) and value.dtype == object):
                slots[path] = (env, key, value)
    return slots


def env_state(env: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON config, arrays) of an env's dynamic state (see the module docstring)."""
    config: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for path, (_, _, value) in _env_slots(env).items():
        if isinstance(value, np.random.Generator):
            config[path] = ["generator", generator_state(value)]
        elif isinstance(value, np.ndarray | np.generic):
            arrays[path] = np.array(value)
            config[path] = ["array" if isinstance(value, np.ndarray) else "scalar"]
        else:
            config[path] = ["value", value]
    return config, arrays


def set_env_state(env: Any, config: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Restore ``env_state`` into an env built the same way (id, wrappers, number of envs).

    Raises:
        ValueError: the env's layers or attributes differ from the saved env's.
    """
    for path, entry in config.items():
        owner, attr = _resolve(env, path)
        kind = entry[0]
        if kind == "generator":
            value = entry[1] if entry[1] is None else _new_generator(entry[1])
        elif kind == "array":
            value = np.array(arrays[path])
        elif kind == "scalar":
            value = np.array(arrays[path])[()]
        else:
            value = entry[1]
        setattr(owner, attr, value)


def _resolve(env: Any, path: str) -> tuple[Any, str]:
    """The (object, attribute) a saved env path names in ``env``, checking the layers match."""
    *layers, attr = path.split(".")
    obj = env
    parts = iter(layers)
    try:
        for part in parts:
            obj = obj.envs[int(next(parts))] if part == "envs" else getattr(obj, part)
        name, _, space = attr.partition("#")
        if space:
            return getattr(obj, name), "_np_random"
        # The layers must match; a leaf attribute an env creates lazily (Pendulum's last_u exists
        # only after its first reset) may be missing from a fresh env and is set.
    except (AttributeError, IndexError, StopIteration) as err:
        raise ValueError(
            f"this env does not match the checkpoint's: it has no {path!r}; resume with the env "
            "the run was started with (same id, wrappers and number of envs)."
        ) from err
    return obj, name


# -- the checkpoint directory --------------------------------------------------------------------
def _split(arrays: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    numpy_arrays, tensors = {}, {}
    for key, value in arrays.items():
        if _is_tensor(value):
            tensors[key] = value.detach().cpu().contiguous()
        else:
            numpy_arrays[key] = np.asarray(value)
    return numpy_arrays, tensors


def save_training_state(
    directory: str | Path,
    *,
    agent: Any,
    env: Any,
    loop: Mapping[str, Any],
    loop_arrays: Mapping[str, np.ndarray],
    history: Mapping[str, Any],
) -> Path:
    """Write a training checkpoint into ``directory``, atomically (temp directory + rename).

    Args:
        agent: a ``Resumable`` agent (``training_state()`` / ``load_training_state``).
        env: the env the loop steps (single or vector).
        loop, loop_arrays: the loop's position (JSON values and arrays).
        history: ``History.to_dict()`` of the run so far.

    A crash while writing leaves the previous checkpoint in place (or, between the two renames,
    under ``.NAME.old-*``, which ``read_training_state`` falls back to).
    """
    from rlcore.registry import UnknownNameError, name_of

    try:
        agent_name = name_of(agent)
    except UnknownNameError:
        agent_name = f"{type(agent).__module__}.{type(agent).__qualname__}"
    agent_config, agent_arrays = agent.training_state()
    env_config, env_arrays = env_state(env)
    rng_config, rng_arrays = _global_generators()
    header = {
        "format": FORMAT,
        "version": VERSION,
        "agent": agent_name,
        "agent_state": agent_config,
        "env": env_config,
        "loop": dict(loop),
        "generators": rng_config,
        "history": dict(history),
    }
    everything = {
        **{f"agent/{k}": v for k, v in agent_arrays.items()},
        **{f"env/{k}": v for k, v in env_arrays.items()},
        **{f"loop/{k}": v for k, v in loop_arrays.items()},
        **{f"generators/{k}": v for k, v in rng_arrays.items()},
    }
    numpy_arrays, tensors = _split(everything)
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        with open(tmp / "arrays.npz", "wb") as f:
            np.savez(f, **numpy_arrays)
            f.flush()
            os.fsync(f.fileno())
        if tensors:
            from safetensors.torch import save_file

            save_file(tensors, str(tmp / "tensors.safetensors"))
        atomic_write_text(tmp / "training.json", json.dumps(header, sort_keys=True))
        old = None
        if directory.exists():
            old = directory.parent / f".{directory.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(directory, old)
        os.rename(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return directory


class TrainingState:
    """A training checkpoint read back: ``header`` (JSON) and ``arrays`` by section."""

    def __init__(self, directory: Path, header: dict[str, Any], arrays: dict[str, Any]) -> None:
        self.directory = directory
        self.header = header
        self.arrays = arrays

    def section(self, name: str) -> dict[str, Any]:
        prefix = name + "/"
        return {k[len(prefix) :]: v for k, v in self.arrays.items() if k.startswith(prefix)}

    @property
    def step(self) -> int:
        """The environment step the checkpoint was taken at."""
        return int(self.header["loop"]["total"])

    def restore(self, agent: Any, env: Any) -> None:
        """Load the agent's training state, the env's state and the global generators."""
        from rlcore.registry import UnknownNameError, name_of

        try:
            name = name_of(agent)
        except UnknownNameError:
            name = f"{type(agent).__module__}.{type(agent).__qualname__}"
        if name != self.header["agent"]:
            raise ValueError(
                f"{self.directory} was written by a {self.header['agent']} run; resume it with "
                f"that agent, not {name}."
            )
        check_resumable(agent)
        agent.load_training_state(self.header["agent_state"], self.section("agent"))
        set_env_state(env, self.header["env"], self.section("env"))
        _set_global_generators(self.header["generators"], self.section("generators"))


def read_training_state(directory: str | Path) -> TrainingState:
    """Read a directory written by ``save_training_state`` (never unpickles).

    Raises:
        FileNotFoundError: no training checkpoint there.
        ValueError: another format or version.
    """
    directory = Path(directory)
    if not (directory / "training.json").is_file():
        olds = sorted(directory.parent.glob(f".{directory.name}.old-*"))
        if olds and (olds[-1] / "training.json").is_file():
            directory = olds[-1]  # a crash between the two renames of save_training_state
        else:
            raise FileNotFoundError(
                f"{directory} holds no training checkpoint (training.json is missing); write one "
                "with rlcore.run(..., checkpoint_dir=DIR) or `rlcore train ... --out DIR`."
            )
    header = json.loads((directory / "training.json").read_text())
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(
            f"{directory / 'training.json'} is not an rlcore training checkpoint of version "
            f"{VERSION} (format {header.get('format')!r}, version {header.get('version')!r})."
        )
    arrays: dict[str, Any] = {}
    with np.load(directory / "arrays.npz", allow_pickle=False) as data:
        arrays.update({k: data[k] for k in data.files})
    if (directory / "tensors.safetensors").exists():
        from safetensors.torch import load_file

        arrays.update(load_file(str(directory / "tensors.safetensors")))
    return TrainingState(directory, header, arrays)


def check_resumable(agent: Any) -> None:
    """Raise TypeError unless ``agent`` implements ``training_state`` / ``load_training_state``."""
    from rlcore.protocols import Resumable

    if not isinstance(agent, Resumable):
        raise TypeError(
            f"{type(agent).__name__} cannot write training checkpoints: implement "
            "training_state() -> (config, arrays) and load_training_state(config, arrays) "
            "(rlcore.protocols.Resumable; rlcore.training_state.pack/unpack do the work)."
        )
