"""What a deploy request is, and how it becomes a workload: private half of
:mod:`goldenpath.deploy.service` (which re-exports :class:`DeployRequest`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from goldenpath.deploy import _workload as wl
from goldenpath.drivers.base import Revision, RuntimeDriver
from goldenpath.errors import InvalidInput
from goldenpath.workloads import parse_workload
from goldenpath.workloads.model import Workload

__all__ = ["DeployRequest", "choose_strategy", "read_workload"]

_STRATEGIES = ("rolling", "canary", "blue-green")


@dataclass(frozen=True)
class DeployRequest:
    """What ``platform deploy`` asks for.

    Attributes:
        environment: where to deploy (must exist and not be being deleted).
        repo: the service's git repository (URL, or absolute path of a local clone); the
            build and the spec are read from it at ``ref``.
        ref: branch, tag, sha or ``HEAD``, resolved to a commit once, at request time.
        spec_path: the ``platform.yaml`` / ``score.yaml`` inside the repository.
        spec_text: the spec itself (a ``package`` build with no repository, or a spec the
            CLI sends); with a repo as well, the build still uses the repo at ``ref``.
        canary: ``--canary 10%`` → ``10``: a canary rollout whose first step sends 10 %.
        strategy: ``rolling`` / ``canary`` / ``blue-green``, overriding the workload's.
    """

    environment: str = "dev"
    repo: str | None = None
    ref: str = "HEAD"
    spec_path: str = "platform.yaml"
    spec_text: str | None = None
    canary: int | None = None
    strategy: str | None = None


def read_workload(
    request: DeployRequest, *, driver: RuntimeDriver, home: Path
) -> tuple[Workload, Revision | None]:
    """The request's workload (``for_environment`` applied) and the resolved commit.

    The spec is ``request.spec_text`` when given, else ``spec_path`` read at the resolved
    commit of ``repo`` (``git show``; a remote repo through the driver's mirror under
    ``home``).

    Raises:
        InvalidInput: neither repo nor spec; the spec is invalid (``WorkloadError``).
        NotFound: unknown repo/ref, or no spec file at that commit.
        Unavailable: the git host is unreachable.
    """
    revision = driver.resolve(request.repo, request.ref or "HEAD") if request.repo else None
    if request.spec_text is not None:
        text = request.spec_text
        source = (
            f"{request.repo.rstrip('/')}/{request.spec_path}" if request.repo else request.spec_path
        )
    elif request.repo is not None and revision is not None:
        text = wl.read_spec(
            request.repo, revision.sha, request.spec_path, mirror=_mirror(home, request.repo)
        )
        source = f"{request.repo.rstrip('/')}/{request.spec_path}"
    else:
        raise InvalidInput(
            "nothing to deploy: give the service's repository (repo) or its spec "
            "(platform.yaml text)",
            details={"field": "repo"},
        )
    return parse_workload(text, source=source).for_environment(request.environment), revision


def _mirror(home: Path, repo: str) -> Path:
    # the local driver's mirror layout (goldenpath.drivers.local build); resolve() fetched it
    digest = hashlib.sha256(repo.encode()).hexdigest()[:16]
    return home / "builds" / "mirrors" / f"{digest}.git"


def choose_strategy(request: DeployRequest, workload: Workload) -> str:
    """``request.strategy``, else canary with ``--canary``, else the workload's.

    Raises:
        InvalidInput: canary weight outside 1..100, ``--canary`` with another strategy, or
            an unknown strategy.
    """
    if request.canary is not None and not (
        isinstance(request.canary, int) and 1 <= request.canary <= 100
    ):
        raise InvalidInput(
            f"canary weight {request.canary!r} is not a percentage of traffic: use 1..100, "
            "e.g. --canary 10%",
            details={"field": "canary", "value": request.canary},
        )
    if request.canary is not None and request.strategy not in (None, "canary"):
        raise InvalidInput(
            f"--canary sets the canary strategy; it cannot be combined with strategy "
            f"{request.strategy!r}",
            details={"field": "strategy"},
        )
    strategy = request.strategy or (
        "canary" if request.canary is not None else workload.deployment.strategy
    )
    if strategy not in _STRATEGIES:
        raise InvalidInput(
            f"unknown strategy {strategy!r}: use rolling, canary or blue-green",
            details={"field": "strategy", "value": strategy},
        )
    return strategy
