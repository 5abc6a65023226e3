"""rlcore: reinforcement-learning algorithms, from Sutton & Barto tables to diffusion policies.

The public surface at the top level:

- the registry: ``export``, ``get``, ``make``, ``names``, ``name_of``
- the protocols and types: ``Policy``, ``TabularPolicy``, ``Agent``, ``Transition``, ``History``
- the one interaction loop: ``run`` (module ``rlcore.loop``), ``Callback``, ``make_vector_env``
- checkpoints: ``save``, ``load`` (JSON + npz / safetensors, never pickle); full training
  checkpoints through ``run(..., checkpoint_dir=, resume=)`` for ``Resumable`` agents

Importing rlcore registers the book environments with gymnasium under ``rlcore/...`` (cheaply,
through string entry points) and imports neither torch nor any algorithm module: those load when
their public names are first used.
"""

from rlcore import envs as _envs  # noqa: F401  (registers the rlcore/... gymnasium ids)
from rlcore.checkpoint import load, save
from rlcore.loop import Callback, make_vector_env, run
from rlcore.protocols import Agent, Checkpointable, Policy, Resumable, TabularPolicy
from rlcore.registry import RegistryError, UnknownNameError, export, get, make, name_of, names
from rlcore.types import History, Transition

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "Callback",
    "Checkpointable",
    "History",
    "Policy",
    "RegistryError",
    "Resumable",
    "TabularPolicy",
    "Transition",
    "UnknownNameError",
    "export",
    "get",
    "load",
    "make",
    "make_vector_env",
    "name_of",
    "names",
    "run",
    "save",
]
