"""The runtime-driver contract: what ``deploy`` asks of a driver, in the driver's own words.

A driver knows builds, processes (replicas) and routes; it knows nothing of deployments,
strategies or the store. ``goldenpath.deploy`` translates a ``Workload`` and a strategy step
into calls of :class:`RuntimeDriver`; every call is idempotent (calling it again with the
same arguments changes nothing), so the reconciler may repeat a step after a crash.

Vocabulary (Score / Argo Rollouts): a *service* runs in an *environment*; a *version* is one
deployment's release (several versions run side by side during a canary or blue-green
rollout); each version has ``replicas`` numbered from 0; the router splits traffic between
versions by *weight* (percent, summing to 100 over the versions that take traffic).

Implementations: :mod:`goldenpath.drivers.local` (processes + HAProxy, the embedded default).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

__all__ = [
    "BuildKind",
    "BuildRequest",
    "LogFollower",
    "LogLine",
    "LogSink",
    "Release",
    "ReplicaState",
    "ReplicaStatus",
    "Revision",
    "RunSpec",
    "RuntimeDriver",
    "ServiceUrls",
    "VersionFigures",
]

BuildKind = Literal["python", "node", "package"]
LogSink = Callable[[str], None]
"""Receives one human-readable progress line (no trailing newline); never a secret."""


@dataclass(frozen=True)
class Revision:
    """One git commit of a service's repository, resolved from a ref.

    ``sha`` is the full 40-hex commit id; ``committed_at`` the committer time (aware UTC);
    ``author`` as ``"Name <email>"``; ``subject`` the first line of the message.
    """

    sha: str
    committed_at: datetime
    author: str
    subject: str


@dataclass(frozen=True)
class BuildRequest:
    """What to build for one service.

    ``kind`` ``python`` / ``node`` build the git ``repo`` (a URL or an absolute path that
    ``git clone`` takes) at ``ref`` (a sha, branch or tag), from the directory ``subdir``
    inside it. ``package`` installs a published package (PEP 508 requirement such as
    ``"datasette==0.65.1"``) into a fresh environment; ``repo``/``ref`` are then ``None``.
    ``extra_packages`` are installed beside the project (e.g. a WSGI/ASGI server).
    """

    service: str
    kind: BuildKind
    repo: str | None = None
    ref: str | None = None
    subdir: str = ""
    package: str | None = None
    extra_packages: tuple[str, ...] = ()
    build_command: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Release:
    """A built, runnable artifact kept on local disk (rollback needs no git host).

    ``id``: stable per input (same repo sha + build request → same id), safe in file names.
    ``workdir``: where processes run (the source root, or an empty dir for packages).
    ``path_prepend``: directories to put first on ``PATH`` (``.venv/bin``,
    ``node_modules/.bin``). ``revision`` is ``None`` for ``package`` builds.
    """

    id: str
    service: str
    path: Path
    workdir: Path
    path_prepend: tuple[Path, ...]
    revision: Revision | None
    cached: bool = False


@dataclass(frozen=True)
class RunSpec:
    """How to run one replica of a version.

    ``command``: argv; ``$PORT`` / ``${PORT}`` in any argument is replaced by the port the
    driver chose, which is also in the ``PORT`` environment variable. ``env``: extra
    variables (secrets may be among them: a driver never logs values). ``readiness_path``
    gates traffic (HTTP 2xx/3xx); ``liveness_path`` failing ``liveness_failures`` times in a
    row restarts the replica; ``None`` = a TCP connect check. ``start_timeout`` (s): how long
    a replica may take to become ready before the driver reports it ``failed``.
    """

    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    readiness_path: str | None = "/readyz"
    liveness_path: str | None = "/healthz"
    liveness_failures: int = 3
    start_timeout: float = 60.0


ReplicaState = Literal["starting", "ready", "unready", "backoff", "failed", "stopped"]


@dataclass(frozen=True)
class ReplicaStatus:
    """Actual state of one replica as the driver sees it now.

    ``state``: ``starting`` (process up, readiness not yet passed), ``ready`` (takes traffic),
    ``unready`` (was ready, readiness now failing), ``backoff`` (crashed, being restarted),
    ``failed`` (gave up restarting, or never became ready in time), ``stopped``.
    ``restarts``: how many times it was restarted; ``port``: where it listens.
    """

    environment: str
    service: str
    version: str
    replica: int
    state: ReplicaState
    pid: int | None
    port: int | None
    restarts: int = 0
    message: str = ""


@dataclass(frozen=True)
class VersionFigures:
    """The router's counters for one version, cumulative since the router (re)started.

    ``responses`` by class ``"1xx"`` … ``"5xx"``; ``errors``: requests that got no HTTP
    response from the upstream (connection refused/reset, timeouts); ``avg_response_ms``:
    mean response time over recent requests (``None`` with no traffic); ``since``: when
    the counters started (a reload resets them; compare windows only with the same
    ``since``).
    """

    version: str
    requests: int
    responses: Mapping[str, int]
    errors: int
    avg_response_ms: float | None
    since: datetime


@dataclass(frozen=True)
class ServiceUrls:
    """Where a service answers in an environment: by host name (``http``/``https``, e.g.
    ``http://my-api.dev.localhost:18080``) and a ``direct`` URL that needs no name
    resolution (``http://127.0.0.1:<port of its own>``)."""

    http: str
    https: str | None
    direct: str


@dataclass(frozen=True)
class LogLine:
    """One line a replica printed: ``at`` (aware UTC), which ``version``/``replica``,
    ``stream`` (``stdout``; stderr is merged), ``text`` without the newline."""

    at: datetime
    version: str
    replica: int
    text: str
    stream: str = "stdout"


class LogFollower(Protocol):
    """Follows a service's logs without blocking: ``poll()`` returns the lines written since
    the previous call (in time order, possibly none); ``close()`` releases open files."""

    def poll(self) -> list[LogLine]:
        """New lines since the last poll."""
        ...

    def close(self) -> None:
        """Release the follower."""
        ...


class RuntimeDriver(Protocol):
    """The operations ``deploy`` needs; all idempotent, all safe to repeat after a crash."""

    name: str

    def resolve(self, repo: str, ref: str) -> Revision:
        """Resolve ``ref`` in ``repo`` to a commit (fetching as needed).

        Raises ``NotFound`` (no such repo/ref), ``Unavailable`` (git host unreachable)."""
        ...

    def build(self, request: BuildRequest, log: LogSink) -> Release:
        """Build (or reuse the cached build of) ``request``. Raises ``InvalidInput`` with the
        tool's last output lines when the build fails."""
        ...

    def release(self, service: str, release_id: str) -> Release | None:
        """A release built earlier and still on disk, else ``None``."""
        ...

    def start(
        self,
        environment: str,
        service: str,
        version: str,
        release: Release,
        run: RunSpec,
        replicas: int,
    ) -> list[ReplicaStatus]:
        """Ensure replicas ``0..replicas-1`` of ``version`` run (extra ones are stopped).
        Returns at once; poll :meth:`replicas` for readiness."""
        ...

    def stop(self, environment: str, service: str, version: str) -> None:
        """Stop and forget every replica of ``version`` (no-op when none)."""
        ...

    def replicas(self, environment: str, service: str) -> list[ReplicaStatus]:
        """Actual state of every replica of the service in the environment, all versions."""
        ...

    def route(self, environment: str, service: str, weights: Mapping[str, int]) -> ServiceUrls:
        """Send traffic to versions by weight (percent, sum 100, or all 0 = no traffic).
        Within a version, ready replicas share its weight evenly. No connection is dropped
        when only weights change."""
        ...

    def figures(self, environment: str, service: str) -> dict[str, VersionFigures]:
        """The router's counters per version that has (or had) a route."""
        ...

    def urls(self, environment: str, service: str) -> ServiceUrls | None:
        """The service's URLs in the environment, ``None`` when it has no route."""
        ...

    def logs(
        self,
        environment: str,
        service: str,
        *,
        since: datetime | None = None,
    ) -> Iterator[LogLine]:
        """Lines of every replica in time order, from ``since`` on (new ones: :meth:`tail_logs`)."""
        ...

    def tail_logs(self, environment: str, service: str) -> LogFollower:
        """A follower positioned at the current end of every replica log of ``service``;
        logs of replicas started later are read from their first line."""
        ...

    def teardown(self, environment: str, service: str | None = None) -> None:
        """Stop everything of ``service`` (or of every service) in ``environment`` and remove
        its routes. Releases stay on disk."""
        ...
