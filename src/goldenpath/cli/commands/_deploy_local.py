"""The local side of ``platform deploy``: find and validate the spec, find the git checkout,
resolve the ref and build the request body — all before any request is made.

The server builds from git, so the CLI sends the repository root (an absolute path), the
resolved commit and the spec's path inside the repository; uncommitted changes are not
deployed and a dirty working tree is reported. Outside a git repository only a spec that
builds a published package (``build.package``) can be deployed: its text is sent instead.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from goldenpath import workloads
from goldenpath.errors import InvalidInput, PlatformError

__all__ = ["SPEC_NAMES", "DeployPlan", "default_service", "find_spec", "plan_deploy"]

#: spec files looked for in the current directory, in this order
SPEC_NAMES = ("platform.yaml", "score.yaml")
_GIT_TIMEOUT = 60.0


@dataclass(frozen=True)
class DeployPlan:
    """What ``platform deploy`` sends: ``body`` (the API request) and ``warnings`` for stderr;
    ``service`` the spec's name, ``spec`` the spec file."""

    service: str
    spec: Path
    body: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def find_spec(file: Path | None, directory: Path | None = None) -> Path:
    """``file`` when given, else ``platform.yaml`` or ``score.yaml`` in ``directory`` (cwd).

    Raises:
        InvalidInput: ``file`` does not exist, or the directory has neither spec file.
    """
    if file is not None:
        if not file.is_file():
            raise InvalidInput(f"{file}: no such file; pass the service's platform.yaml")
        return file.resolve()
    folder = (directory or Path.cwd()).resolve()
    for name in SPEC_NAMES:
        if (folder / name).is_file():
            return folder / name
    raise InvalidInput(
        f"no platform.yaml or score.yaml in {folder}: run this in the service's directory, "
        "or pass --file PATH (or the service name where the command takes one)"
    )


def default_service(service: str | None, file: Path | None = None) -> str:
    """``service`` when given, else ``metadata.name`` of ./platform.yaml (or score.yaml).

    Raises:
        InvalidInput: no service given and no readable spec with a ``metadata.name``.
    """
    if service:
        return service
    spec = find_spec(file)
    try:
        doc = yaml.safe_load(spec.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise InvalidInput(f"{spec}: cannot read the service name ({e}); pass it") from e
    name = ((doc or {}).get("metadata") or {}).get("name") if isinstance(doc, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{spec}: metadata.name is missing; pass the service name")
    return name


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise PlatformError(f"git {' '.join(args)} in {cwd} failed: {e}") from e


def _repo_root(directory: Path) -> Path | None:
    done = _git(directory, "rev-parse", "--show-toplevel")
    return Path(done.stdout.strip()).resolve() if done.returncode == 0 else None


def _resolve(root: Path, ref: str) -> str:
    done = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if done.returncode != 0 or not done.stdout.strip():
        hint = "commit first (git commit)" if ref == "HEAD" else "check `git log` / `git branch`"
        raise InvalidInput(
            f"--ref: {ref!r} is not a commit in {root}; {hint}",
            details={"errors": [{"path": "ref", "message": f"{ref!r} does not resolve"}]},
        )
    return done.stdout.strip()


def plan_deploy(
    spec: Path,
    *,
    environment: str,
    ref: str | None,
    canary: int | None,
    strategy: str | None,
) -> DeployPlan:
    """Validate ``spec`` for ``environment`` and build the request body.

    Raises:
        WorkloadError: the spec is invalid (``file:line: field: reason``).
        InvalidInput: the ref does not resolve, the spec is not committed at it, or the
            directory is not a git repository and the spec does not build a package.
    """
    workload = workloads.load_workload(spec).for_environment(environment)
    body: dict[str, Any] = {"environment": environment}
    if canary is not None:
        body["canary"] = canary
    if strategy is not None:
        body["strategy"] = strategy
    warnings: list[str] = []
    root = _repo_root(spec.parent)
    if root is None:
        if workload.build.kind != "package" or ref is not None:
            raise InvalidInput(
                f"{spec.parent} is not inside a git repository: the platform builds services "
                "from git (git init && git add -A && git commit), or set build.package in "
                f"{spec.name} to deploy a published package"
            )
        body["spec"] = spec.read_text(encoding="utf-8")
        return DeployPlan(workload.name, spec, body, warnings)
    sha = _resolve(root, ref or "HEAD")
    relative = spec.relative_to(root).as_posix()
    if _git(root, "cat-file", "-e", f"{sha}:{relative}").returncode != 0:
        raise InvalidInput(
            f"{relative} is not committed at {sha[:12]}: the server builds from git; "
            f"commit it (git add {relative} && git commit)"
        )
    if _git(root, "status", "--porcelain").stdout.strip():
        warnings.append(
            f"{root} has uncommitted changes; they are not deployed (deploying {sha[:12]})"
        )
    body.update(repo=str(root), ref=sha, specPath=relative)
    return DeployPlan(workload.name, spec, body, warnings)
