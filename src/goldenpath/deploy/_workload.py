"""Workload → driver requests (BuildRequest, RunSpec), the deployability checks, and reading a
service's spec file at a commit.

Private to :mod:`goldenpath.deploy`. The checks run in ``DeployService.deploy`` before any
record exists (a refused request leaves nothing behind) and again when the reconciler turns a
stored workload into driver calls.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

from goldenpath.drivers.base import BuildRequest, RunSpec
from goldenpath.errors import InvalidInput, NotFound, Unavailable
from goldenpath.settings import Settings
from goldenpath.workloads.model import Workload

__all__ = ["build_request", "check_deployable", "local_repo_path", "read_spec", "run_spec"]

_GIT_TIMEOUT = 60.0


def check_deployable(workload: Workload, *, repo: str | None) -> None:
    """Refuse a workload the local runtime cannot build or run yet.

    Raises:
        InvalidInput: no build kind (set ``spec.build`` / ``spec.language``), a git build
            without a repository, or no command. (``${resources…}`` placeholders are
            resolved by :mod:`goldenpath.deploy.provisioning`.)
    """
    where = workload.source
    kind = workload.build.kind
    if kind is None:
        raise InvalidInput(
            f"{where}: the platform does not know how to build {workload.name!r}: set "
            "spec.build.kind (python, node or package) or spec.language (python, typescript, "
            "javascript) in platform.yaml",
            details={"field": "spec.build", "source": where},
        )
    if kind in ("python", "node") and not repo:
        raise InvalidInput(
            f"{where}: a {kind} build needs the service's git repository; deploy from the "
            "repository (platform deploy in its directory) or use spec.build.kind: package",
            details={"field": "repo", "source": where},
        )
    if kind == "package" and not workload.build.package:
        raise InvalidInput(
            f"{where}: spec.build.package is empty; name the package to install, e.g. "
            "'datasette==0.65.1'",
            details={"field": "spec.build.package", "source": where},
        )
    if not workload.command:
        raise InvalidInput(
            f"{where}: no command to run {workload.name!r}: set spec.run.command "
            "(e.g. ['uvicorn', 'app:app', '--port', '$PORT'])",
            details={"field": "spec.run.command", "source": where},
        )


def build_request(workload: Workload, *, repo: str | None, sha: str | None) -> BuildRequest:
    """The driver's :class:`BuildRequest` for ``workload`` at commit ``sha`` of ``repo``
    (``repo``/``sha`` ignored for ``package`` builds). Call :func:`check_deployable` first."""
    build = workload.build
    assert build.kind is not None, "check_deployable refuses workloads without a build kind"
    package_build = build.kind == "package"
    return BuildRequest(
        service=workload.name,
        kind=build.kind,
        repo=None if package_build else repo,
        ref=None if package_build else sha,
        subdir=build.subdir,
        package=build.package,
        extra_packages=tuple(build.extra_packages),
        build_command=tuple(build.command) if build.command else None,
    )


def run_spec(
    workload: Workload, settings: Settings, *, env: Mapping[str, str] | None = None
) -> RunSpec:
    """How to run one replica: command, env (``env``, or the spec's own when None), probe
    paths, ``settings.runtime.start_timeout``."""
    return RunSpec(
        command=tuple(workload.command),
        env=dict(workload.env if env is None else env),
        readiness_path=workload.readiness.path,
        liveness_path=workload.liveness.path,
        start_timeout=settings.runtime.start_timeout,
    )


def local_repo_path(repo: str) -> Path | None:
    """The directory of a repository given as an absolute path or ``file://`` URL, else None."""
    if repo.startswith("file://"):
        path = Path(unquote(urlparse(repo).path))
    elif os.path.isabs(repo):
        path = Path(repo)
    else:
        return None
    return path if path.exists() else None


def read_spec(repo: str, sha: str, spec_path: str, *, mirror: Path | None = None) -> str:
    """The text of ``spec_path`` in ``repo`` at commit ``sha`` (``git show``; no checkout).

    A local repository (absolute path / ``file://``) is read in place; another URL through
    ``mirror`` (the driver's bare mirror, fetched by ``resolve``).

    Raises:
        InvalidInput: ``spec_path`` is absolute or leaves the repository.
        NotFound: no such file at that commit (the message says to commit it).
        Unavailable: the repository cannot be read.
    """
    clean = spec_path.strip()
    clean = clean[2:] if clean.startswith("./") else clean
    if not clean or os.path.isabs(clean) or ".." in Path(clean).parts:
        raise InvalidInput(
            f"spec path {spec_path!r} must be relative to the repository root, e.g. "
            "'platform.yaml' or 'services/api/score.yaml'",
            details={"field": "specPath"},
        )
    local = local_repo_path(repo)
    if local is not None:
        args = ["git", "-C", str(local)]
    elif mirror is not None and mirror.exists():
        args = ["git", "--git-dir", str(mirror)]
    else:
        raise Unavailable(
            f"cannot read {clean} of {repo}: the repository is not on this machine; deploy "
            "from a local clone or send the spec with the request"
        )
    try:
        done = subprocess.run(
            [*args, "show", f"{sha}:{clean}"],
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Unavailable(f"cannot read {clean} of {repo}: {e}") from e
    if done.returncode != 0:
        raise NotFound(
            f"{repo} has no {clean} at commit {sha[:12]}: commit the file (platform.yaml or "
            "score.yaml) and deploy again, or pass its path (--spec)",
            details={"field": "specPath", "repo": repo, "sha": sha},
        )
    return done.stdout.decode("utf-8", errors="replace")
