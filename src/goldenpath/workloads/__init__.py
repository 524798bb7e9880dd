"""Workload specs: the golden-path ``platform.yaml`` and Score ``score.dev/v1b1``, normalised
into one :class:`~goldenpath.workloads.model.Workload`. Plain Python: no web imports.

Public API: :func:`load_workload` (a file), :func:`parse_workload` (text), the model classes
and :class:`WorkloadError`. Reference: ``docs/workloads.md``.
"""

from goldenpath.workloads._deployment import default_canary_steps
from goldenpath.workloads.errors import WorkloadError
from goldenpath.workloads.loader import WORKLOAD_FILES, load_workload, parse_workload
from goldenpath.workloads.model import (
    Analysis,
    Build,
    BuildKind,
    CanaryStep,
    Container,
    DeploymentPolicy,
    Monitoring,
    Probe,
    ResourceRequest,
    Runtime,
    Workload,
)

__all__ = [
    "WORKLOAD_FILES",
    "Analysis",
    "Build",
    "BuildKind",
    "CanaryStep",
    "Container",
    "DeploymentPolicy",
    "Monitoring",
    "Probe",
    "ResourceRequest",
    "Runtime",
    "Workload",
    "WorkloadError",
    "default_canary_steps",
    "load_workload",
    "parse_workload",
]
