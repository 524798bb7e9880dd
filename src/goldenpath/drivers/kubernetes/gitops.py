"""Rendered manifests into a GitOps repository that Argo CD or Flux applies.

Layout of the repository (a local clone at ``path``, pushed to ``remote`` when one is set)::

    <environment>/kustomization.yaml              resources: the service folders, sorted
    <environment>/<service>/kustomization.yaml    resources: the object files, sorted
    <environment>/<service>/<kind>-<name>.yaml    one object per file (kind lower-cased)
    bootstrap/argocd/…, bootstrap/flux/…          see :mod:`.bootstrap`

``kubectl kustomize <environment>`` builds an environment; ``kubectl kustomize
<environment>/<service>`` one service. Every :meth:`GitOpsRepo.write` that changes files is
one commit ``deploy <service> to <env> (deployment <id>)`` with ``Goldenpath-*`` trailers;
an unchanged render changes no file and makes no commit (nor runs git at all).
:meth:`GitOpsRepo.rollback` restores a service folder from the commit of an earlier
deployment, from local history, so it works while the remote is down. A failed push keeps
the local commit; :attr:`GitOpsRepo.push_error` says why and the next commit (or
:meth:`GitOpsRepo.push`) pushes everything pending. When the remote moved on (another
writer), local commits are rebased onto it before pushing again.

Invariant: between calls the work tree equals ``HEAD``. Writers take an exclusive lock
(``.git/goldenpath.lock``); a marker file (``.git/goldenpath-dirty``) is present while files
are being changed, and a writer that finds it (a crash mid-write) resets to ``HEAD`` first.
git never runs hooks, ``core.fsmonitor`` commands or signing here, and never prompts.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from goldenpath.drivers.kubernetes import _kustomize as kz
from goldenpath.drivers.kubernetes._worktree import Session, subdirs
from goldenpath.drivers.kubernetes.bootstrap import bootstrap
from goldenpath.errors import Conflict, InvalidInput, NotFound, Unavailable

__all__ = ["GitOpsRepo"]

_log = logging.getLogger(__name__)
_SAFE_CONFIG = (
    "-c",
    "core.hooksPath=" + os.devnull,
    "-c",
    "core.fsmonitor=false",
    "-c",
    "commit.gpgsign=false",
)
_COMMITTER = ("goldenpath", "goldenpath@platform.local")
_AUTHOR = re.compile(r"^\s*(?P<name>[^<>]*?)\s*<(?P<email>[^<>\s]+)>\s*$")
_TRAILER = re.compile(r"^Goldenpath-(?P<key>[A-Za-z-]+):\s*(?P<value>.+)$", re.M)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")
_REJECTED = ("rejected", "non-fast-forward", "fetch first")


class GitOpsRepo:
    """A GitOps repository: a local clone at ``path`` (created on first use), pushed to
    ``remote`` (URL or path, optional) on ``branch``.

    Attributes:
        push_error: why the last push failed (``None`` after a successful one, or with no
            remote); commits stay local until a push succeeds.
    """

    def __init__(self, path: Path, *, remote: str | None = None, branch: str = "main") -> None:
        self.path = Path(path)
        self.remote = remote
        self.branch = branch
        self.push_error: str | None = None
        self._opened = False
        self._mutex = threading.RLock()
        if branch.startswith("-") or not branch or any(c.isspace() for c in branch):
            raise InvalidInput(f"branch {branch!r} is not a valid git branch name")

    # -- use cases -----------------------------------------------------------------------

    def write(
        self,
        environment: str,
        service: str,
        objects: Sequence[Mapping[str, Any]],
        *,
        deployment_id: int,
        author: str,
    ) -> str | None:
        """Write ``objects`` as ``<environment>/<service>/`` and commit them.

        Files of objects no longer rendered are removed; an empty ``objects`` removes the
        service folder (and its line in ``<environment>/kustomization.yaml``). The commit
        message is ``deploy <service> to <environment> (deployment <deployment_id>)``;
        ``author`` is ``Name <email>`` or a user name. Returns the commit sha (40 hex), or
        ``None`` when nothing changed (no commit). The commit is pushed when a remote is
        set; a failed push is recorded in :attr:`push_error`, not raised.

        Raises:
            InvalidInput: a bad environment/service name or a malformed object.
            Unavailable: git failed locally (the work tree is reset to ``HEAD``).
        """
        return self.write_many(
            environment, {service: objects}, deployment_id=deployment_id, author=author
        )

    def write_many(
        self,
        environment: str,
        services: Mapping[str, Sequence[Mapping[str, Any]]],
        *,
        deployment_id: int,
        author: str,
    ) -> str | None:
        """:meth:`write` for several services of one environment in one commit (``deploy
        <service> to <env> …`` for one, ``deploy <n> services to <env> …`` for more; the
        ``Goldenpath-Service`` trailers name them all, so :meth:`history` and
        :meth:`rollback` see the commit for each). Returns the sha or ``None`` (unchanged).

        Raises:
            InvalidInput: as :meth:`write`.
        """
        env = kz.validate_segment(environment, what="environment")
        rendered = {
            kz.validate_segment(name, what="service"): kz.render_service(objects)
            for name, objects in services.items()
        }
        touched: list[str] = []
        with self._session() as session:
            stale = False
            for svc, files in rendered.items():
                folder = self.path / env / svc
                existed = folder.is_dir()
                if session.sync_folder(folder, files):
                    touched.append(svc)
                # The environment's list only changes when a service folder appears or goes.
                stale = stale or not (existed and files and session.listed(env, svc))
            if stale and session.sync_environment(env) and not touched:
                touched.append(next(iter(rendered)))
            if not touched:
                return None
            what = touched[0] if len(touched) == 1 else f"{len(touched)} services"
            message = f"deploy {what} to {env} (deployment {int(deployment_id)})"
            trailers = [("Environment", env), *(("Service", svc) for svc in sorted(touched))]
            trailers.append(("Deployment", str(int(deployment_id))))
            sha = self._commit([env], message, trailers, author)
        self._try_push()
        return sha

    def rollback(self, environment: str, service: str, *, to_deployment_id: int, actor: str) -> str:
        """Restore ``<environment>/<service>/`` exactly as the commit of deployment
        ``to_deployment_id`` left it, and commit ``rollback <service> in <environment> to
        deployment <id>``. Uses local history only (works while the remote is down).
        Returns the new commit's sha, or ``HEAD``'s when the folder already is that tree.

        Raises:
            NotFound: no commit of that deployment touched this service (its render was
                unchanged, or it deployed elsewhere); the message lists the ones there are.
        """
        env = kz.validate_segment(environment, what="environment")
        svc = kz.validate_segment(service, what="service")
        wanted = int(to_deployment_id)
        with self._session() as session:
            entries = self._log(env, svc)
            target = next(
                (e for e in entries if e["action"] == "deploy" and e["deploymentId"] == wanted),
                None,
            )
            if target is None:
                known = sorted({e["deploymentId"] for e in entries if e["action"] == "deploy"})
                raise NotFound(
                    f"no commit of deployment {wanted} for {svc} in {env} in the GitOps "
                    f"repository {self.path} (deployments with commits: {known or 'none'}); "
                    "a deployment whose render was unchanged made no commit"
                )
            folder = f"{env}/{svc}"
            session.touch()
            self._git(["rm", "-r", "-q", "--ignore-unmatch", "--", folder])
            shutil.rmtree(self.path / folder, ignore_errors=True)
            if self._try_git(["cat-file", "-e", f"{target['sha']}:{folder}"]) is not None:
                self._git(["checkout", target["sha"], "--", folder])
            session.sync_environment(env)
            message = f"rollback {svc} in {env} to deployment {wanted}"
            trailers = [("Environment", env), ("Service", svc), ("Rollback-To", str(wanted))]
            sha = self._commit([env], message, trailers, actor)
            if sha is None:
                return self._git(["rev-parse", "HEAD"])
        self._try_push()
        return sha

    def history(self, environment: str, service: str) -> list[dict[str, Any]]:
        """The commits that changed ``<environment>/<service>/``, newest first:
        ``[{"sha", "deploymentId", "message", "at", "action", "author"}]`` where
        ``deploymentId`` is the deployment written (``action`` ``deploy``) or rolled back
        to (``rollback``), ``None`` for other commits (``action`` ``other``); ``at`` is the
        commit time, ISO 8601 UTC."""
        env = kz.validate_segment(environment, what="environment")
        svc = kz.validate_segment(service, what="service")
        with self._session():
            return self._log(env, svc)

    def diff(
        self, environment: str, service: str, objects: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, str]]:
        """What writing ``objects`` would change, object by object, against the current
        tree: ``[{"kind", "name", "change": "added"|"removed"|"changed", "diff"}]`` sorted
        by kind and name (``diff`` is a unified diff of the YAML files). Unchanged objects
        are left out. Nothing is written.

        Raises:
            InvalidInput: as :meth:`write`.
        """
        env = kz.validate_segment(environment, what="environment")
        svc = kz.validate_segment(service, what="service")
        new = {k: v for k, v in kz.render_service(objects).items() if k != kz.KUSTOMIZATION}
        with self._session():
            folder = self.path / env / svc
            old = {
                p.name: p.read_bytes()
                for p in (folder.iterdir() if folder.is_dir() else [])
                if p.is_file() and p.name != kz.KUSTOMIZATION
            }
        changes: list[dict[str, str]] = []
        for name in sorted(old.keys() | new.keys()):
            before, after = old.get(name), new.get(name)
            if before == after:
                continue
            kind, obj_name = kz.identify(name, after if after is not None else before or b"")
            change = "added" if before is None else "removed" if after is None else "changed"
            text = "".join(
                difflib.unified_diff(
                    (before or b"").decode("utf-8", "replace").splitlines(keepends=True),
                    (after or b"").decode("utf-8", "replace").splitlines(keepends=True),
                    fromfile=f"a/{env}/{svc}/{name}" if before is not None else "/dev/null",
                    tofile=f"b/{env}/{svc}/{name}" if after is not None else "/dev/null",
                )
            )
            changes.append({"kind": kind, "name": obj_name, "change": change, "diff": text})
        return sorted(changes, key=lambda c: (c["kind"], c["name"]))

    def write_bootstrap(
        self, repo_url: str, environments: Sequence[str], *, author: str, **options: Any
    ) -> str | None:
        """Write :func:`~goldenpath.drivers.kubernetes.bootstrap.bootstrap`'s files under
        ``bootstrap/`` (replacing what was there) and commit ``bootstrap GitOps for <envs>``.
        Returns the sha, or ``None`` when unchanged. ``options`` go to ``bootstrap``."""
        objects = bootstrap(repo_url, environments, branch=self.branch, **options)
        files = {name: kz.dump_yaml(obj) for name, obj in objects.items()}
        with self._session() as session:
            root = self.path / "bootstrap"
            changed = False
            for tool in sorted({name.split("/", 1)[0] for name in files} | subdirs(root)):
                part = {n.split("/", 1)[1]: b for n, b in files.items() if n.startswith(tool + "/")}
                changed = session.sync_folder(root / tool, part) or changed
            if not changed:
                return None
            message = f"bootstrap GitOps for {', '.join(sorted(set(environments)))}"
            sha = self._commit(["bootstrap"], message, [], author)
        self._try_push()
        return sha

    def push(self) -> None:
        """Push local commits to the remote now (rebasing onto it first when it moved on).

        Raises:
            Unavailable: the push failed (also kept in :attr:`push_error`).
        """
        with self._session():
            pass
        self._try_push()
        if self.push_error:
            raise Unavailable(self.push_error)

    # -- git --------------------------------------------------------------------------------

    def _run(self, args: Sequence[str], *, timeout: float = 120.0) -> tuple[int, str, str]:
        env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
            "GIT_COMMITTER_NAME": _COMMITTER[0],
            "GIT_COMMITTER_EMAIL": _COMMITTER[1],
            "GIT_EDITOR": "true",
            "LC_ALL": "C",
        }
        try:
            done = subprocess.run(
                ["git", *_SAFE_CONFIG, *args],
                cwd=self.path,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                env=env,
            )
        except FileNotFoundError as e:
            raise Unavailable("the git binary is not installed; install git and retry") from e
        except subprocess.TimeoutExpired:
            return -1, "", f"fatal: git {args[0]} timed out after {timeout:.0f} s"
        return done.returncode, done.stdout, done.stderr

    def _git(self, args: Sequence[str], *, what: str | None = None) -> str:
        code, out, err = self._run(args)
        if code != 0:
            raise Unavailable(f"{what or 'git ' + args[0]} in {self.path} failed: {_reason(err)}")
        return out.strip()

    def _try_git(self, args: Sequence[str]) -> str | None:
        code, out, _ = self._run(args)
        return out.strip() if code == 0 else None

    def _commit(
        self,
        paths: Sequence[str],
        subject: str,
        trailers: Sequence[tuple[str, str]],
        author: str,
    ) -> str | None:
        self._git(["add", "--all", "--", *paths])
        if self._try_git(["diff", "--cached", "--quiet"]) is not None:
            return None
        name, email = _parse_author(author)
        body = "\n".join(f"Goldenpath-{k}: {v}" for k, v in trailers)
        message = f"{subject}\n\n{body}\n" if body else subject
        self._git(
            ["commit", "-q", "--no-verify", f"--author={name} <{email}>", "-m", message],
            what="git commit",
        )
        return self._git(["rev-parse", "HEAD"])

    def _log(self, env: str, svc: str) -> list[dict[str, Any]]:
        out = self._git(
            ["log", "--format=%H%x1f%ct%x1f%an <%ae>%x1f%s%x1f%b%x1e", "--", f"{env}/{svc}"]
        )
        entries: list[dict[str, Any]] = []
        for record in filter(None, (r.strip() for r in out.split("\x1e"))):
            sha, stamp, author, subject, body = (record.split("\x1f") + [""] * 5)[:5]
            found = [(m["key"], m["value"].strip()) for m in _TRAILER.finditer(body)]
            trailers = dict(found)
            ours = ("Environment", env) in found and ("Service", svc) in found
            action, target = "other", None
            if ours and trailers.get("Deployment", "").isdigit():
                action, target = "deploy", int(trailers["Deployment"])
            elif ours and trailers.get("Rollback-To", "").isdigit():
                action, target = "rollback", int(trailers["Rollback-To"])
            at = datetime.fromtimestamp(int(stamp), UTC).isoformat().replace("+00:00", "Z")
            entries.append(
                {
                    "sha": sha,
                    "deploymentId": target,
                    "message": subject,
                    "at": at,
                    "action": action,
                    "author": author,
                }
            )
        return entries

    # -- opening, syncing and pushing -------------------------------------------------------

    @contextlib.contextmanager
    def _session(self) -> Iterator[Session]:
        with self._mutex:
            if not self._opened:
                self._open()
            lock_path = self.path / ".git" / "goldenpath.lock"
            with lock_path.open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                session = Session(self)
                if session.marker.exists():
                    session.restore()
                try:
                    yield session
                except BaseException:
                    if session.marker.exists():
                        session.restore()
                    raise
                session.marker.unlink(missing_ok=True)

    def _open(self) -> None:
        is_repo = (self.path / ".git").is_dir()
        if not is_repo and self.path.exists() and any(self.path.iterdir()):
            raise InvalidInput(
                f"{self.path} exists and is not a git repository: point the GitOps "
                "repository at an empty folder or an existing clone"
            )
        fresh = not (self.path / ".git").is_dir()
        if fresh:
            self.path.mkdir(parents=True, exist_ok=True)
            self._git(["init", "-q", "-b", self.branch], what="git init")
        if self.remote is not None:
            if self._try_git(["remote", "get-url", "origin"]) is None:
                self._git(["remote", "add", "origin", self.remote])
            else:
                self._git(["remote", "set-url", "origin", self.remote])
            self._sync()
        if self._try_git(["rev-parse", "--verify", "-q", "HEAD"]) is None:
            readme = self.path / "README.md"
            readme.write_text(
                "# GitOps repository\n\nWritten by goldenpath: one folder per environment and "
                "service; Argo CD or Flux apply it (see bootstrap/).\n",
                encoding="utf-8",
            )
            self._commit(["README.md"], "initialise the GitOps repository", [], "goldenpath")
        self._opened = True

    def _sync(self) -> None:
        """Fetch ``origin/<branch>`` and bring local history onto it (fast-forward, or rebase
        local commits); offline or conflicting, local history is kept and the reason noted."""
        code, _, err = self._run(["fetch", "-q", "origin", self.branch], timeout=60.0)
        if code != 0:
            if "couldn't find remote ref" not in err:
                self.push_error = f"cannot fetch {_redact(self.remote or '')}: {_reason(err)}"
            return
        upstream = self._git(["rev-parse", "FETCH_HEAD"])
        head = self._try_git(["rev-parse", "--verify", "-q", "HEAD"])
        if head is None or self._try_git(["merge-base", "--is-ancestor", "HEAD", upstream]) == "":
            self._git(["reset", "-q", "--hard", upstream])
            return
        if self._try_git(["merge-base", "--is-ancestor", upstream, "HEAD"]) is not None:
            return  # only local commits on top: the next push sends them
        if not self._rebase(upstream):
            self.push_error = str(
                Conflict(
                    f"local commits in {self.path} conflict with {self.branch} of "
                    f"{_redact(self.remote or '')}; resolve them in the clone and push"
                )
            )

    def _rebase(self, upstream: str) -> bool:
        """Rebase local commits onto ``upstream``. Conflicts in ``<env>/kustomization.yaml``
        (two writers adding services) are resolved by regenerating the file from the folders;
        any other conflict aborts the rebase (False)."""
        code, _, _ = self._run(["rebase", "-q", upstream])
        for _ in range(1000):
            if code == 0:
                return True
            conflicted = (self._try_git(["diff", "--name-only", "--diff-filter=U"]) or "").split()
            envs = {f.split("/")[0] for f in conflicted}
            if not conflicted or conflicted != [f"{e}/{kz.KUSTOMIZATION}" for e in sorted(envs)]:
                break
            session = Session(self)
            for env in envs:
                session.sync_environment(env)
            self._git(["add", "--all", "--", *envs])
            code, _, _ = self._run(["rebase", "--continue"])
        self._try_git(["rebase", "--abort"])
        return False

    def _try_push(self) -> None:
        if self.remote is None:
            return
        args = ["push", "-q", "--porcelain", "origin", f"HEAD:refs/heads/{self.branch}"]
        code, out, err = self._run(args, timeout=60.0)
        if code != 0 and any(word in out + err for word in _REJECTED):
            with self._mutex, (self.path / ".git" / "goldenpath.lock").open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self._sync()
            code, _, err = self._run(args, timeout=60.0)
        if code != 0:
            self.push_error = (
                f"push to {_redact(self.remote)} failed ({_reason(err)}); the commit is kept "
                f"in {self.path} and pushed with the next one"
            )
            _log.warning("gitops: %s", self.push_error)
        else:
            self.push_error = None


def _parse_author(author: str) -> tuple[str, str]:
    match = _AUTHOR.match(author or "")
    if match and match["name"]:
        return match["name"], match["email"]
    name = re.sub(r"[<>\n\r]", "", (author or "").strip()) or "goldenpath"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "goldenpath"
    return name, f"{slug}@users.platform.local"


def _redact(text: str) -> str:
    return _USERINFO.sub(r"\g<scheme>***@", text)


def _reason(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    important = [ln for ln in lines if ln.startswith(("fatal", "error", "remote:", "!"))]
    return _redact("; ".join(important or lines[-3:]) or "no output")
