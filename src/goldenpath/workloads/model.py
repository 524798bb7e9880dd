"""The normalised workload: what one service needs to build, run, be probed and be rolled out.

Both input formats — the golden-path ``platform.yaml`` (``kind: Service``) and Score
``score.dev/v1b1`` — load into one :class:`Workload`. Frozen dataclasses, pure, no IO; the
mappings they hold are plain dicts that callers must treat as read-only.

Vocabulary follows Score (``containers``, ``variables``, ``resources``,
``${resources.<name>.<output>}`` placeholders) and Argo Rollouts (``setWeight``, ``pause``,
``analysis`` canary steps). Spec: https://docs.score.dev/docs/score-specification/score-spec-reference/
and https://argoproj.github.io/argo-rollouts/features/canary/.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
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
]

BuildKind = Literal["python", "node", "package"]


@dataclass(frozen=True)
class Probe:
    """A health check on the replica's port: HTTP GET ``path`` (2xx/3xx = healthy).

    ``path`` ``None`` means a TCP connect check; ``timeout`` is seconds per check.
    """

    path: str | None
    timeout: float = 2.0


@dataclass(frozen=True)
class Build:
    """How to turn the repository (or a package) into something runnable.

    Attributes:
        kind: ``python`` (uv project/requirements), ``node`` (npm), ``package`` (install the
            PEP 508 requirement ``package`` into a fresh venv), or ``None`` when no local
            build is known (a Score workload that only names an image).
        package: the PEP 508 requirement when ``kind == "package"``.
        subdir: the service root inside the repository (``""`` = repository root).
        extra_packages: more requirements/npm packages installed next to the service.
        command: an explicit build argv; ``None`` = the build step's default for ``kind``.
        image: the container image (Score / Kubernetes); informational for local runs.
    """

    kind: BuildKind | None
    package: str | None = None
    subdir: str = ""
    extra_packages: tuple[str, ...] = ()
    command: tuple[str, ...] | None = None
    image: str | None = None


@dataclass(frozen=True)
class Runtime:
    """Replica count and per-replica limits (Kubernetes quantities: ``"500m"``, ``"512Mi"``)."""

    replicas: int = 1
    cpu: str | None = None
    memory: str | None = None


@dataclass(frozen=True)
class ResourceRequest:
    """A dependency the platform provisions: Score ``resources.<name>`` / ``spec.database``.

    ``type`` is e.g. ``postgres``/``redis``; ``size`` the size class (Score ``class``);
    ``params`` the type-specific parameters, verbatim.
    """

    name: str
    type: str
    size: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Monitoring:
    """Seed ``monitoring``: alerts and a dashboard on/off; ``slo`` availability in percent."""

    alerts: bool = True
    dashboard: bool = True
    slo: float | None = None


@dataclass(frozen=True)
class Analysis:
    """One canary analysis: compares the canary with the stable version on router figures.

    Attributes:
        interval: seconds of traffic per measurement.
        count: measurements taken; all must pass.
        max_error_rate: absolute ceiling on the canary's (5xx + errors) / requests.
        max_error_rate_increase: ceiling on canary error rate minus the stable's.
        max_latency_ratio: ceiling on canary mean latency / stable mean latency.
        min_requests: fewer canary requests than this in a measurement = inconclusive.
    """

    interval: float = 5.0
    count: int = 3
    max_error_rate: float = 0.05
    max_error_rate_increase: float = 0.02
    max_latency_ratio: float = 1.5
    min_requests: int = 20


@dataclass(frozen=True)
class CanaryStep:
    """One Argo Rollouts canary step; exactly one of the three fields is set.

    ``set_weight`` is the canary's traffic percent 0..100; ``pause`` seconds to wait
    (``math.inf`` = until ``platform deploy promote``); ``analysis`` a measurement run.
    """

    set_weight: int | None = None
    pause: float | None = None
    analysis: Analysis | None = None


@dataclass(frozen=True)
class DeploymentPolicy:
    """How a new version replaces the old one.

    Attributes:
        strategy: ``rolling``, ``canary`` or ``blue-green``.
        canary: seed flag: canary deploys are allowed (``--canary 10%``) even when the
            default strategy is rolling.
        steps: the canary steps (a default set is filled in when canary is possible).
        rollback: ``automatic`` (failed analysis/probes roll back) or ``manual``.
        max_surge: rolling: extra replicas started at once.
        progress_deadline: seconds the whole rollout may take before it fails.
    """

    strategy: Literal["rolling", "canary", "blue-green"] = "rolling"
    canary: bool = False
    steps: tuple[CanaryStep, ...] = ()
    rollback: Literal["automatic", "manual"] = "automatic"
    max_surge: int = 1
    progress_deadline: float = 300.0


@dataclass(frozen=True)
class Container:
    """One Score container, kept as declared (the workload's main one feeds ``Workload``).

    ``command`` is Score ``command`` + ``args`` (empty = the image's default); ``env`` the
    ``variables`` with placeholders verbatim; probes ``None`` when not declared.
    """

    name: str
    image: str
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    readiness: Probe | None = None
    liveness: Probe | None = None
    cpu: str | None = None
    memory: str | None = None


@dataclass(frozen=True)
class Workload:
    """One service as the platform deploys it, whatever file it came from.

    ``command`` is the argv of one replica; the driver replaces ``$PORT``/``${PORT}`` in it
    and sets ``PORT`` in the environment. ``env`` values may hold ``${resources.<name>.<output>}``
    placeholders (Score syntax), resolved at deploy time. ``environments`` keeps the raw
    per-environment overrides (``platform.yaml`` ``spec`` shape); :meth:`for_environment`
    applies them. ``containers`` holds every Score container (empty for ``platform.yaml``).
    """

    name: str
    team: str | None
    tier: str | None
    description: str | None
    language: str | None
    framework: str | None
    build: Build
    command: tuple[str, ...]
    port: int
    readiness: Probe
    liveness: Probe
    env: Mapping[str, str]
    runtime: Runtime
    resources: Mapping[str, ResourceRequest]
    monitoring: Monitoring
    deployment: DeploymentPolicy
    dependencies: tuple[str, ...]
    environments: Mapping[str, Mapping[str, Any]]
    source: str
    format: Literal["platform.yaml", "score"]
    containers: Mapping[str, Container] = field(default_factory=dict)

    def for_environment(self, environment: str) -> Workload:
        """This workload with ``environments[environment]`` applied and re-checked.

        Overrides merge into the ``platform.yaml`` ``spec`` (mappings merge key by key, lists
        and scalars replace). An environment without overrides returns ``self``.

        Raises:
            goldenpath.workloads.WorkloadError: the merged spec is invalid (field named).
        """
        overrides = self.environments.get(environment)
        if not overrides:
            return self
        from goldenpath.workloads import _platform  # the parser imports this module

        return _platform.apply_environment(self, environment)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (snake_case field names); ``pause: None`` in a step = until promoted."""
        from goldenpath.workloads import _codec

        return _codec.workload_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Workload:
        """The inverse of :meth:`to_dict`. Raises ``KeyError``/``TypeError`` on foreign shapes."""
        from goldenpath.workloads import _codec

        return _codec.workload_from_dict(data)
