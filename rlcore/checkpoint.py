"""Checkpoints without pickle: a JSON config (with the registry name) plus arrays.

Layout of a checkpoint directory::

    config.json         {"format": "rlcore-checkpoint", "version": 1, "name": "agents.sarsa",
                         "config": {...}}
    arrays.npz          NumPy arrays (written and read with allow_pickle=False)
    tensors.safetensors torch tensors (safetensors never executes code)

``rlcore.save(obj, dir)`` works for any exported object that implements ``state()`` and the
classmethod ``from_state(config, arrays)`` (``rlcore.protocols.Checkpointable``); agents also offer
``agent.save(dir)``. ``rlcore.load(dir)`` is a plain function, so it can never be the
"classmethod called on an instance that silently does nothing" trap.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from rlcore import registry

FORMAT = "rlcore-checkpoint"
VERSION = 1


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and type(value).__name__ in {
        "Tensor",
        "Parameter",
    }


def save(obj: Any, directory: str | Path) -> Path:
    """Save an exported, checkpointable object into ``directory`` (created if needed).

    Returns:
        The directory path.

    Raises:
        TypeError: the object does not implement ``state()`` / ``from_state``.
        rlcore.registry.UnknownNameError: the object's class has no public name.
    """
    cls = type(obj)
    if not (callable(getattr(obj, "state", None)) and callable(getattr(cls, "from_state", None))):
        raise TypeError(
            f"{cls.__qualname__} cannot be saved: implement state() -> (config, arrays) and the "
            "classmethod from_state(config, arrays) (see rlcore.protocols.Checkpointable)."
        )
    name = registry.name_of(cls)
    config, arrays = obj.state()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    numpy_arrays: dict[str, np.ndarray] = {}
    tensors: dict[str, Any] = {}
    for key, value in arrays.items():
        if _is_tensor(value):
            tensors[key] = value.detach().cpu().contiguous()
        else:
            array = np.asarray(value)
            if array.dtype == object:
                raise TypeError(
                    f"array {key!r} of {name} has dtype object, which cannot be stored without "
                    "pickle; convert it to a numeric array."
                )
            numpy_arrays[key] = array
    header = {"format": FORMAT, "version": VERSION, "name": name, "config": config}
    atomic_write_text(directory / "config.json", json.dumps(header, indent=1, sort_keys=True))
    for stale in ("arrays.npz", "tensors.safetensors"):
        (directory / stale).unlink(missing_ok=True)
    if numpy_arrays:
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=directory)
        os.close(fd)
        np.savez(tmp, **numpy_arrays)
        os.replace(tmp, directory / "arrays.npz")
    if tensors:
        from safetensors.torch import save_file

        fd, tmp = tempfile.mkstemp(suffix=".safetensors", dir=directory)
        os.close(fd)
        save_file(tensors, tmp)
        os.replace(tmp, directory / "tensors.safetensors")
    return directory


def read(directory: str | Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Read a checkpoint without building the object: (registry name, config, arrays)."""
    directory = Path(directory)
    config_file = directory / "config.json"
    if directory.is_file():
        kind = _pickle_kind(directory)
        raise ValueError(
            f"{directory} is a file{kind}, not an rlcore checkpoint directory, and rlcore never "
            "unpickles (a pickle can run code when it is read). Instead, in the session that "
            "made the object, save it with rlcore.save(obj, DIR) or agent.save(DIR) (a JSON "
            "config plus .npz / safetensors arrays) and load that with rlcore.load(DIR); for "
            "torch weights alone, read them yourself with torch.load(file, weights_only=True)."
        )
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{directory} is not an rlcore checkpoint: {config_file.name} is missing. Save one "
            "with rlcore.save(obj, dir) or agent.save(dir)."
        )
    header = json.loads(config_file.read_text())
    if header.get("format") != FORMAT or "name" not in header:
        raise ValueError(f"{config_file} is not an rlcore checkpoint header (format={FORMAT!r}).")
    if header.get("version") != VERSION:
        raise ValueError(
            f"{config_file} has checkpoint version {header.get('version')!r}; this rlcore reads "
            f"version {VERSION}."
        )
    arrays: dict[str, Any] = {}
    npz = directory / "arrays.npz"
    if npz.exists():
        try:
            with np.load(npz, allow_pickle=False) as data:
                arrays.update({k: data[k] for k in data.files})
        except ValueError as err:
            raise ValueError(
                f"{npz} holds a pickled (object) array, and rlcore never unpickles checkpoints. "
                "Instead, in a session you trust, rebuild the object and save it again with "
                "rlcore.save(obj, DIR) (which writes numeric arrays only), or rewrite "
                "arrays.npz with numeric arrays (np.savez)."
            ) from err
    st = directory / "tensors.safetensors"
    if st.exists():
        from safetensors.torch import load_file

        arrays.update(load_file(st))
    return header["name"], header.get("config", {}), arrays


def load(directory: str | Path) -> Any:
    """Rebuild the object saved in ``directory`` (its class is found by its registry name)."""
    name, config, arrays = read(directory)
    cls = registry.get(name)
    return cls.from_state(config, arrays)


def _pickle_kind(file: Path) -> str:
    """ " (a pickle)" / " (a torch.save zip)" from a file's first bytes, else ""."""
    with open(file, "rb") as f:
        head = f.read(4)
    if head[:1] == b"\x80":
        return " (a pickle)"
    if head == b"PK\x03\x04" and file.suffix in (".pt", ".pth", ".ckpt", ".bin"):
        return " (a torch.save archive, which holds a pickle)"
    return ""
