"""The platform's own git host, and the git plumbing the ``publish:*`` actions share.

:class:`GitHost` keeps bare repositories under ``<home>/git/<owner>/<repo>.git``; templates
address it with Backstage's repoUrl syntax on the host ``platform.local``
(``platform.local?owner=team-a&repo=my-api``), so a golden path publishes with no internet.
Clone URLs are ``file://`` URLs; the catalog reads ``<clone url>/blob/<ref>/<path>`` locations
from them like any other git URL (``goldenpath.catalog.locations.parse_git_url``).

The functions below drive the ``git`` binary: :func:`publish_directory` (commit a directory
with a private git dir and push it), :func:`commit_directory` (init, add everything, commit
in place), :func:`push` (optionally with a token sent as an HTTP header, never on the command
line or in a URL) and :func:`remote_refs`. git never runs hooks or ``core.fsmonitor``
commands here. Every git error becomes an
:class:`~goldenpath.errors.InvalidInput` or :class:`~goldenpath.errors.Unavailable` quoting
git's reason with secrets masked.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from goldenpath.errors import InvalidInput, NotFound, Unavailable

__all__ = [
    "ALLOWED_PROTOCOLS",
    "NULL_SHA",
    "GitHost",
    "basic_auth_header",
    "commit_directory",
    "git",
    "headers_for",
    "publish_directory",
    "push",
    "remote_refs",
    "user_author",
    "validate_name",
]

#: Transports publish actions may use (git's ``ext::``/``fd::`` command transports are refused).
ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
#: git's all-zero object name; the ``commitHash`` a dry run reports.
NULL_SHA = "0" * 40
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_TIMEOUT = 300.0
#: No hooks, no fsmonitor command, no signing prompt: git runs no program a template wrote.
_SAFE_CONFIG = (
    "-c",
    "core.hooksPath=" + os.devnull,
    "-c",
    "core.fsmonitor=false",
    "-c",
    "commit.gpgsign=false",
)


def validate_name(value: str, *, what: str) -> str:
    """``value`` if it is a safe owner or repository name, else :class:`InvalidInput`.

    Allowed: ``[A-Za-z0-9._-]+``, at most 100 characters, not ``.``/``..``, not starting
    with ``-`` or ``.``, not ending in ``.git``/``.lock``.
    """
    if not isinstance(value, str) or not _NAME.match(value) or len(value) > 100:
        raise InvalidInput(
            f'{what} "{value}" is not a valid name: use letters, digits, ".", "_" and "-" '
            "(at most 100 characters, no slashes)"
        )
    if value.startswith((".", "-")) or value.endswith((".git", ".lock")):
        raise InvalidInput(
            f'{what} "{value}" is not a valid name: it may not start with "." or "-" or end '
            'in ".git"/".lock"'
        )
    return value


def _environment(
    *,
    author: tuple[str, str] | None = None,
    headers: Sequence[str] = (),
) -> dict[str, str]:
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
        "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
        "LC_ALL": "C",
    }
    if author is not None:
        name, email = author
        env |= {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
    # Headers travel in the environment (git >= 2.31), never in argv where `ps` shows them.
    if headers:
        env["GIT_CONFIG_COUNT"] = str(len(headers))
        for i, header in enumerate(headers):
            env[f"GIT_CONFIG_KEY_{i}"] = "http.extraHeader"
            env[f"GIT_CONFIG_VALUE_{i}"] = header
    return env


def _mask(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def git(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    author: tuple[str, str] | None = None,
    headers: Sequence[str] = (),
    secrets: Iterable[str] = (),
    what: str = "git",
    timeout: float = _TIMEOUT,
) -> str:
    """Run ``git <args>`` and return its stdout (stripped).

    Args:
        args: arguments after ``git`` (hooks, fsmonitor and commit signing are always
            switched off first).
        cwd: working directory.
        author: ``(name, email)`` for author and committer.
        headers: HTTP headers for http(s) remotes (``Authorization: …``).
        secrets: values masked in error messages (tokens and their encodings).
        what: what is being done, for the error message ("push to https://…").
        timeout: seconds before git is killed.

    Raises:
        InvalidInput: git exited non-zero (the message quotes git's reason, secrets masked).
        Unavailable: git is not installed or timed out.
    """
    secret_list = [*secrets, *(h.split(" ", 2)[-1] for h in headers)]
    cmd = ["git", *_SAFE_CONFIG, *args]
    try:
        done = subprocess.run(
            cmd,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_environment(author=author, headers=headers),
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as e:
        raise Unavailable("the git binary is not installed; install git and retry") from e
    except subprocess.TimeoutExpired as e:
        raise Unavailable(f"{what} timed out after {timeout:.0f} s") from e
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        important = [ln for ln in lines if ln.startswith(("fatal", "error", "remote:", "!"))]
        reason = "; ".join(important or lines[-3:]) or f"exit {done.returncode}"
        raise InvalidInput(_mask(f"{what} failed: {reason}", secret_list))
    return done.stdout.strip()


def basic_auth_header(username: str, token: str) -> str:
    """``Authorization: Basic …`` for ``username:token`` (how GitHub/GitLab take a token over
    https git)."""
    raw = base64.b64encode(f"{username}:{token}".encode()).decode("ascii")
    return f"Authorization: Basic {raw}"


def commit_directory(
    directory: Path,
    *,
    branch: str,
    message: str,
    author: tuple[str, str],
) -> str:
    """Make ``directory`` a git work tree on ``branch`` with everything in it committed.

    An existing repository is reused (its current ``HEAD`` is kept when there is nothing new
    to commit). ``.gitignore`` files are honoured. Returns the commit sha (40 hex digits).
    Use it only on directories whose ``.git`` this process made (a clone, a fresh directory);
    for a task workspace use :func:`publish_directory`, which never reads a ``.git`` there.

    Raises:
        InvalidInput: git failed (e.g. an invalid branch name).
    """
    fresh = not (directory / ".git").exists()
    if fresh:
        git(["init", "--quiet", "-b", branch], cwd=directory, what=f"git init in {directory}")
    else:
        git(["checkout", "--quiet", "-B", branch], cwd=directory, what=f"switching to {branch}")
    git(["add", "--all"], cwd=directory, what="git add")
    has_head = not fresh and _succeeds(["rev-parse", "--verify", "--quiet", "HEAD"], cwd=directory)
    staged = not _succeeds(["diff", "--cached", "--quiet"], cwd=directory) if has_head else True
    if staged:
        git(
            ["commit", "--quiet", "--no-verify", "--allow-empty", "-m", message],
            cwd=directory,
            author=author,
            what="git commit",
        )
    return git(["rev-parse", "HEAD"], cwd=directory, what="git rev-parse")


def publish_directory(
    directory: Path,
    remote: str,
    *,
    branch: str,
    message: str,
    author: tuple[str, str],
    headers: Sequence[str] = (),
) -> str:
    """Commit everything in ``directory`` as one commit and push it to ``remote``'s ``branch``.

    The git metadata lives in a private temporary directory, never in ``directory``: a
    ``.git`` a template wrote into the workspace (hooks, ``core.fsmonitor``, …) is neither
    read nor committed. ``.gitignore`` files are honoured. Returns the commit sha.

    Raises:
        InvalidInput: git failed (bad branch name, push refused, remote unreachable).
    """
    with tempfile.TemporaryDirectory(prefix="goldenpath-publish-") as tmp:
        git_dir = Path(tmp) / "repo.git"
        git(
            ["init", "--quiet", "--bare", "--template=", "-b", branch, str(git_dir)],
            what="git init",
        )
        tree = ["--git-dir", str(git_dir), "--work-tree", str(directory)]
        git([*tree, "add", "--all"], cwd=directory, what="git add")
        git(
            [*tree, "commit", "--quiet", "--no-verify", "--allow-empty", "-m", message],
            cwd=directory,
            author=author,
            what="git commit",
        )
        sha = git([*tree, "rev-parse", "HEAD"], cwd=directory, what="git rev-parse")
        git(
            [*tree, "push", "--quiet", "--porcelain", "--", remote, f"HEAD:refs/heads/{branch}"],
            cwd=directory,
            headers=headers,
            what=f"git push to {remote}",
        )
    return sha


def _succeeds(args: Sequence[str], *, cwd: Path) -> bool:
    try:
        git(args, cwd=cwd)
    except InvalidInput:
        return False
    return True


def push(
    directory: Path,
    remote: str,
    *,
    branch: str,
    headers: Sequence[str] = (),
    force: bool = False,
) -> None:
    """Push ``HEAD`` of ``directory`` to ``refs/heads/<branch>`` of ``remote``.

    ``remote`` is a URL or an absolute path; ``headers`` carry a token for https remotes.

    Raises:
        InvalidInput: the push was refused or the remote cannot be reached (git's reason).
    """
    args = ["push", "--quiet", "--porcelain"]
    if force:
        args.append("--force")
    git(
        [*args, "--", remote, f"HEAD:refs/heads/{branch}"],
        cwd=directory,
        headers=headers,
        what=f"git push to {remote}",
    )


def remote_refs(remote: str, *, headers: Sequence[str] = ()) -> dict[str, str]:
    """``{ref name: sha}`` of ``remote`` (``git ls-remote``); empty for an empty repository.

    Raises:
        InvalidInput: the remote does not exist or cannot be read (git's reason).
    """
    out = git(["ls-remote", "--", remote], headers=headers, what=f"reading the remote {remote}")
    refs: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name:
            refs[name] = sha
    return refs


class GitHost:
    """Bare repositories under ``root`` (``<home>/git``), one per ``<owner>/<repo>``.

    Repository paths are ``<root>/<owner>/<repo>.git``; owner and repository names are
    validated with :func:`validate_name` so no name can leave ``root``.
    """

    HOST = "platform.local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, owner: str, repo: str) -> Path:
        """Where ``owner/repo`` lives (it may not exist). Raises InvalidInput for bad names."""
        validate_name(owner, what="repository owner")
        validate_name(repo, what="repository name")
        return self.root / owner / f"{repo}.git"

    def exists(self, owner: str, repo: str) -> bool:
        """Whether ``owner/repo`` has been created."""
        return (self.path(owner, repo) / "HEAD").is_file()

    def ensure_repo(self, owner: str, repo: str, *, branch: str = "main") -> Path:
        """Create the bare repository ``owner/repo`` (``HEAD`` → ``branch``) unless it exists;
        return its path. Idempotent.

        Raises:
            InvalidInput: an invalid owner/repository/branch name.
        """
        path = self.path(owner, repo)
        if not self.exists(owner, repo):
            path.mkdir(parents=True, exist_ok=True)
            git(
                ["init", "--quiet", "--bare", "--template=", "-b", branch, str(path)],
                what=f"creating {path}",
            )
        return path

    def is_empty(self, owner: str, repo: str) -> bool:
        """Whether ``owner/repo`` has no refs (no branch, no tag). Raises NotFound."""
        path = self._existing(owner, repo)
        return not git(["for-each-ref", "--count=1"], cwd=path, what=f"reading {path}")

    def set_default_branch(self, owner: str, repo: str, branch: str) -> None:
        """Point the repository's ``HEAD`` (what ``git clone`` checks out) at ``branch``."""
        path = self._existing(owner, repo)
        git(["symbolic-ref", "HEAD", f"refs/heads/{branch}"], cwd=path, what="setting HEAD")

    def clone_url(self, owner: str, repo: str) -> str:
        """``file:///…/<owner>/<repo>.git``: what ``git clone`` and the catalog accept."""
        return self.path(owner, repo).resolve().as_uri()

    def contents_url(self, owner: str, repo: str, branch: str = "main") -> str:
        """``<clone url>/tree/<branch>``: Backstage's ``repoContentsUrl`` for this repository;
        ``catalog:register`` appends ``/catalog-info.yaml`` to it."""
        return f"{self.clone_url(owner, repo)}/tree/{branch}"

    def locate(self, url: str) -> tuple[str, str] | None:
        """``(owner, repo)`` when ``url`` is a clone URL of this host, else ``None``."""
        if not url.startswith("file://"):
            return None
        root = self.root.resolve().as_uri() + "/"
        rest = url[len(root) :] if url.startswith(root) else ""
        parts = rest.split("/")
        if len(parts) < 2 or not parts[1].endswith(".git"):
            return None
        return parts[0], parts[1][: -len(".git")]

    def list_repos(self) -> list[dict[str, str]]:
        """Every repository, sorted: ``[{"owner", "repo", "path", "clone_url",
        "default_branch", "head"}]`` (``head`` is the default branch's sha, ``""`` when
        the repository is empty)."""
        found: list[dict[str, str]] = []
        if not self.root.is_dir():
            return found
        for owner_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for repo_dir in sorted(owner_dir.glob("*.git")):
                if not (repo_dir / "HEAD").is_file():
                    continue
                head_ref = git(["symbolic-ref", "HEAD"], cwd=repo_dir, what="reading HEAD")
                branch = head_ref.removeprefix("refs/heads/")
                try:
                    head = git(["rev-parse", "--verify", "--quiet", head_ref], cwd=repo_dir)
                except InvalidInput:
                    head = ""
                owner, repo = owner_dir.name, repo_dir.name[: -len(".git")]
                found.append(
                    {
                        "owner": owner,
                        "repo": repo,
                        "path": str(repo_dir),
                        "clone_url": repo_dir.resolve().as_uri(),
                        "default_branch": branch,
                        "head": head,
                    }
                )
        return found

    def _existing(self, owner: str, repo: str) -> Path:
        if not self.exists(owner, repo):
            raise NotFound(
                f"repository {owner}/{repo} does not exist on the platform git host "
                f"({self.root}); publish it with publish:git first"
            )
        return self.path(owner, repo)


def headers_for(token: str | None, *, username: str) -> list[str]:
    """The ``http.extraHeader`` list that authenticates git over https with ``token``."""
    return [basic_auth_header(username, token)] if token else []


def user_author(user: Mapping[str, object] | None) -> tuple[str, str] | None:
    """``(name, email)`` from a task user's entity (``spec.profile.displayName``/``email``,
    else ``metadata.name``), or ``None`` when the user has no e-mail."""
    entity = (user or {}).get("entity")
    if not isinstance(entity, Mapping):
        return None
    spec = entity.get("spec")
    profile = spec.get("profile") if isinstance(spec, Mapping) else None
    if not isinstance(profile, Mapping) or not isinstance(profile.get("email"), str):
        return None
    metadata = entity.get("metadata")
    fallback = metadata.get("name") if isinstance(metadata, Mapping) else None
    name = profile.get("displayName") or fallback or profile["email"]
    return str(name), str(profile["email"])
