"""Git plumbing for template upgrades (:mod:`goldenpath.scaffolder.upgrade`).

Opening the user's repository (:func:`open_project`: clean work tree, ``HEAD``, prefix),
and the three-way merge in a scratch bare repository that borrows the user's objects
(:class:`Scratch`, :func:`merge`), parsed from ``git merge-tree --write-tree -z``.
Nothing here writes to the user's repository.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from goldenpath.errors import Conflict, InvalidInput

__all__ = [
    "MergeConflict",
    "Project",
    "RenderedFile",
    "Scratch",
    "git",
    "merge",
    "open_project",
]

_GIT_TIMEOUT = 120.0
_STAGE_ENTRY = re.compile(r"^[0-7]{6} [0-9a-f]{40,64} [123]\t")
_BOT = {"name": "goldenpath", "email": "goldenpath@localhost"}


@dataclass(frozen=True, slots=True)
class RenderedFile:
    """One file of a rendered template: its bytes and whether it is executable."""

    content: bytes
    executable: bool = False


@dataclass(frozen=True, slots=True)
class MergeConflict:
    """A file git could not merge: ``kind`` is git's (``contents``, ``modify/delete``, …)."""

    path: str
    kind: str
    message: str


# --------------------------------------------------------------------------- git helpers


def git(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    """Run git; raise InvalidInput quoting git's stderr when the exit status is not in ``ok``."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=_GIT_TIMEOUT,
            env=full_env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InvalidInput(f"git {args[0]} in {cwd} failed: {e}") from e
    if done.returncode not in ok:
        reason = done.stderr.strip() or f"exit status {done.returncode}"
        raise InvalidInput(f"git {args[0]} in {cwd} failed: {reason}")
    return done


def git_input(cwd: Path, *args: str, data: bytes, env: Mapping[str, str]) -> str:
    """Run git with ``data`` on stdin; its stripped stdout. Raises InvalidInput on failure."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=data,
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            env={**os.environ, "LC_ALL": "C", **env},
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InvalidInput(f"git {args[0]} in {cwd} failed: {e}") from e
    if done.returncode != 0:
        raise InvalidInput(f"git {args[0]} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode().strip()


def identity(repo: Path) -> dict[str, str]:
    """Author/committer env for commits: the repository's configured user, else goldenpath."""
    name = git(repo, "config", "user.name", ok=(0, 1)).stdout.strip() or _BOT["name"]
    email = git(repo, "config", "user.email", ok=(0, 1)).stdout.strip() or _BOT["email"]
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


# --------------------------------------------------------------------------- the project


@dataclass(frozen=True, slots=True)
class Project:
    """The user's repository as :func:`open_project` found it."""

    root: Path  # the directory holding .goldenpath/answers.yaml
    top: Path  # the git work tree's top level
    prefix: str  # root relative to top, "" or "sub/dir/"
    head: str  # HEAD commit
    branch: str  # current branch name, or "HEAD" when detached
    objects: Path  # the repository's object directory


def open_project(root: Path) -> Project:
    """The git work tree holding ``root``, checked to be committed and clean.

    Raises:
        InvalidInput: ``root`` is not in a git work tree, or the repository has no commit.
        Conflict: uncommitted or untracked changes (the message lists up to 10 paths).
    """
    inside = git(root, "rev-parse", "--is-inside-work-tree", ok=(0, 128)).stdout.strip()
    if inside != "true":
        raise InvalidInput(
            f"{root} is not inside a git work tree: upgrades commit on a new branch, so the "
            "generated project must be a git repository (git init && git commit)"
        )
    top = Path(git(root, "rev-parse", "--show-toplevel").stdout.strip())
    head = git(root, "rev-parse", "--verify", "--quiet", "HEAD", ok=(0, 1)).stdout.strip()
    if not head:
        raise InvalidInput(f"{top} has no commit yet: commit the generated project first")
    status = git(top, "status", "--porcelain", "--untracked-files=normal").stdout
    if status.strip():
        dirty = [line[3:] for line in status.splitlines()][:10]
        raise Conflict(
            f"{top} has uncommitted or untracked changes ({', '.join(dirty)}): commit or stash "
            "them first, so the upgrade cannot mix with unsaved work"
        )
    prefix = git(root, "rev-parse", "--show-prefix").stdout.strip()
    branch = git(top, "symbolic-ref", "--quiet", "--short", "HEAD", ok=(0, 1)).stdout.strip()
    common = Path(git(top, "rev-parse", "--git-common-dir").stdout.strip())
    objects = (common if common.is_absolute() else top / common) / "objects"
    return Project(root, top, prefix, head, branch or "HEAD", objects.resolve())


# --------------------------------------------------------------------------- the merge


class Scratch:
    """A bare repository under ``path`` that reads the user's objects through ``alternates``.

    Every object the merge creates lands here, never in the user's repository, until
    :meth:`publish` fetches the one result commit into it.
    """

    def __init__(self, path: Path, project: Project) -> None:
        self.path = path
        self.project = project
        git(path.parent, "init", "--quiet", "--bare", str(path))
        (path / "objects" / "info" / "alternates").write_text(f"{project.objects}\n")
        self.env = {**identity(project.top), "GIT_INDEX_FILE": str(path / "scratch-index")}

    def git(self, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        """Run git in the scratch repository (its own index); stripped stdout."""
        return git(self.path, *args, env=self.env, ok=ok).stdout.strip()

    def tree_of(self, files: Mapping[str, RenderedFile]) -> str:
        """A tree holding ``files`` under the project's prefix."""
        (self.path / "scratch-index").unlink(missing_ok=True)
        lines = []
        for path, file in sorted(files.items()):
            blob = git_input(
                self.path, "hash-object", "-w", "--stdin", data=file.content, env=self.env
            )
            mode = "100755" if file.executable else "100644"
            lines.append(f"{mode} {blob}\t{self.project.prefix}{path}\n")
        git_input(
            self.path,
            "update-index",
            "--add",
            "--index-info",
            data="".join(lines).encode(),
            env=self.env,
        )
        return self.git("write-tree")

    def commit(self, tree: str, message: str, *parents: str) -> str:
        """A commit of ``tree`` with ``parents``, as the user's git identity; its sha."""
        args = [a for p in parents for a in ("-p", p)]
        return self.git("commit-tree", tree, *args, "-m", message)

    def with_file(self, tree: str, path: str, content: bytes) -> str:
        """``tree`` with ``path`` replaced by ``content``."""
        self.git("read-tree", tree)
        blob = git_input(self.path, "hash-object", "-w", "--stdin", data=content, env=self.env)
        self.git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
        return self.git("write-tree")


def merge(
    scratch: Scratch,
    old: Mapping[str, RenderedFile],
    new: Mapping[str, RenderedFile],
    new_label: str,
) -> tuple[str, list[MergeConflict]]:
    """Three-way merge of (old render → new render) onto ``HEAD``: ``(tree, conflicts)``.

    git 2.39's ``merge-tree`` has no ``--merge-base``, so the base is made the real merge
    base: a commit of the old render is the parent of both the new render's commit and a
    copy of ``HEAD``'s tree. The refs' names label the conflict markers.
    """
    project = scratch.project
    base = scratch.commit(scratch.tree_of(old), "old template render")
    theirs = scratch.commit(scratch.tree_of(new), "new template render", base)
    ours = scratch.commit(f"{project.head}^{{tree}}", "your repository", base)
    ours_label = project.branch if project.branch != "HEAD" else "yours"
    scratch.git("update-ref", f"refs/heads/{ours_label}", ours)
    scratch.git("update-ref", f"refs/heads/{new_label}", theirs)
    out = git(
        scratch.path,
        "merge-tree",
        "--write-tree",
        "-z",
        ours_label,
        new_label,
        env=scratch.env,
        ok=(0, 1),
    ).stdout
    return _parse_merge_tree(out)


def _parse_merge_tree(out: str) -> tuple[str, list[MergeConflict]]:
    """Parse ``git merge-tree --write-tree -z`` output (git-merge-tree(1), "OUTPUT").

    Fields: the tree id; conflicted file info ``<mode> <oid> <stage>\\t<path>`` entries; an
    empty field; then informational messages as ``<n>, <n paths>, <type>, <message>``.
    """
    fields = out.split("\0")
    tree, i = fields[0], 1
    while i < len(fields) and _STAGE_ENTRY.match(fields[i]):
        i += 1
    if i < len(fields) and fields[i] == "":
        i += 1
    conflicts: dict[str, MergeConflict] = {}
    while i < len(fields) and fields[i].isdigit():
        count = int(fields[i])
        paths = fields[i + 1 : i + 1 + count]
        kind, message = fields[i + 1 + count], fields[i + 2 + count]
        i += count + 3
        if kind.startswith("CONFLICT") and paths and paths[0] not in conflicts:
            label = kind.removeprefix("CONFLICT").strip(" ()")
            conflicts[paths[0]] = MergeConflict(paths[0], label, message.strip())
    return tree, sorted(conflicts.values(), key=lambda c: c.path)
