"""Normalizing flows with exact log-likelihoods, in zuko's shape (``flows.*``).

- ``flows.realnvp`` (affine coupling), ``flows.maf`` (masked autoregressive affine),
  ``flows.nsf`` (rational-quadratic splines, autoregressive or coupling), ``flows.cnf``
  (FFJORD continuous flow through torchdiffeq): each returns a :class:`Flow`, a module that,
  called with a context (or none), gives a :class:`FlowDistribution` with ``log_prob``,
  ``sample``, ``rsample``, ``sample_and_log_prob`` and ``rsample_and_log_prob``.
- ``objectives.maximum_likelihood``: -log p as a ``GenerativeModel`` loss, so flows train with
  ``rlcore.generative.train``.
- ``univariate``: the element-wise affine and spline maps; ``layers``: coupling, MADE and
  autoregressive layers; ``core``: the flow, its distribution and permutations.
"""

from rlcore.generative.flows.cnf import ConcatSquash, ContinuousTransform, VelocityMLP, cnf
from rlcore.generative.flows.core import (
    Flow,
    FlowDistribution,
    MaximumLikelihood,
    Permutation,
    Transform,
)
from rlcore.generative.flows.layers import MADE, Coupling, MaskedAutoregressive
from rlcore.generative.flows.models import maf, nsf, realnvp

FLOWS = {"realnvp": realnvp, "maf": maf, "nsf": nsf, "cnf": cnf}
"""The flow constructors by short name."""

__all__ = [
    "FLOWS",
    "MADE",
    "ConcatSquash",
    "ContinuousTransform",
    "Coupling",
    "Flow",
    "FlowDistribution",
    "MaskedAutoregressive",
    "MaximumLikelihood",
    "Permutation",
    "Transform",
    "VelocityMLP",
    "cnf",
    "maf",
    "nsf",
    "realnvp",
]
