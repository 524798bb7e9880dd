"""Git plumbing for local builds: mirrors, ref resolution, source export.

A service repository is mirrored once (``git clone --mirror``) under
``<mirrors>/<sha256(repo)[:16]>.git`` and fetched (``git fetch --prune``) before refs are
resolved; a full 40-hex sha already in the mirror needs no fetch at all, and when the git
host is down a ref the mirror already knows is used as it is. Sources are exported with
``git archive`` (no ``.git`` inside). git never runs hooks or ``core.fsmonitor`` commands
here, never prompts, and credentials in repository URLs are masked in every message.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from goldenpath.drivers.base import Revision
from goldenpath.errors import InvalidInput, NotFound, Unavailable

__all__ = [
    "FULL_SHA",
    "GitResult",
    "clone_mirror",
    "export_tree",
    "fetch_mirror",
    "lookup",
    "mirror_path",
    "redact",
    "validate_ref",
]

FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")
_SAFE_CONFIG = (
    "-c",
    "core.hooksPath=" + os.devnull,
    "-c",
    "core.fsmonitor=false",
    "-c",
    "protocol.ext.allow=never",
)
_NOT_FOUND_HINTS = (
    "does not appear to be a git repository",
    "does not exist",
    "repository not found",
    "not found",
)


def redact(text: str) -> str:
    """``text`` with the user-info part of every URL (``user:token@``) replaced by ``***@``."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def mirror_path(root: Path, repo: str) -> Path:
    """``<root>/<sha256(repo)[:16]>.git``: where ``repo`` is mirrored."""
    return root / f"{hashlib.sha256(repo.encode()).hexdigest()[:16]}.git"


def validate_ref(ref: str) -> str:
    """``ref`` if git may be given it safely (no leading ``-``, no whitespace/control
    characters, not empty), else :class:`InvalidInput`."""
    if (
        not isinstance(ref, str)
        or not ref
        or ref.startswith("-")
        or any(c.isspace() or ord(c) < 32 for c in ref)
    ):
        raise InvalidInput(
            f"ref {ref!r} is not a valid git ref: give a sha, branch or tag name "
            "(no spaces, not starting with '-')"
        )
    return ref


class GitResult:
    """Exit code and merged output of one git run."""

    def __init__(self, returncode: int, output: str) -> None:
        self.returncode = returncode
        self.output = output

    @property
    def ok(self) -> bool:
        """True when git exited 0."""
        return self.returncode == 0

    def reason(self) -> str:
        """git's complaint in one line (its ``fatal:``/``error:`` lines, else the last ones)."""
        lines = [ln.strip() for ln in self.output.splitlines() if ln.strip()]
        important = [ln for ln in lines if ln.startswith(("fatal", "error", "remote:"))]
        return redact("; ".join(important or lines[-3:]) or f"exit {self.returncode}")


def _run(args: Sequence[str], *, timeout: float, cwd: Path | None = None) -> GitResult:
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
        "LC_ALL": "C",
    }
    try:
        done = subprocess.run(
            ["git", *_SAFE_CONFIG, *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=max(timeout, 1.0),
            env=env,
        )
    except FileNotFoundError as e:
        raise Unavailable("the git binary is not installed; install git and retry") from e
    except subprocess.TimeoutExpired:
        return GitResult(-1, f"fatal: git timed out after {timeout:.0f} s")
    return GitResult(done.returncode, done.stdout + done.stderr)


def _is_local_path(repo: str) -> bool:
    """Whether git reads ``repo`` as a local path: not a URL (``scheme://``) and not the
    scp-like ``[user@]host:path`` (a colon before any slash), per git-clone(1) "GIT URLS"."""
    if "://" in repo:
        return False
    head, colon, _ = repo.partition(":")
    return not colon or "/" in head


def _exists(local: str) -> bool:
    try:
        return Path(local).exists()  # as git reads it: no ~ expansion
    except OSError:  # e.g. a name longer than the file system allows
        return False


def clone_mirror(repo: str, path: Path, *, timeout: float) -> None:
    """``git clone --mirror repo`` into ``path`` (via a temporary sibling, renamed at the end).

    Raises:
        NotFound: git says there is no such repository.
        Unavailable: any other failure (host unreachable, timeout).
    """
    if _is_local_path(repo) and not _exists(repo):
        # said before git runs: git's message for a very long path is cut before its reason
        raise NotFound(f"git repository {redact(repo)} not found: no such directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        result = _run(["clone", "--mirror", "--quiet", "--", repo, str(tmp)], timeout=timeout)
        if not result.ok:
            reason = result.reason()
            shown = redact(repo)
            if any(hint in reason.lower() for hint in _NOT_FOUND_HINTS):
                raise NotFound(f"git repository {shown} not found: {reason}")
            raise Unavailable(f"cannot clone {shown}: {reason}; check the URL and the git host")
        tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_mirror(path: Path, *, timeout: float) -> GitResult:
    """``git fetch --prune`` in the mirror at ``path``; the caller decides what a failure
    means (a ref the mirror already has is still usable)."""
    return _run(["fetch", "--prune", "--quiet"], cwd=path, timeout=timeout)


def lookup(path: Path, ref: str, *, timeout: float = 60.0) -> Revision | None:
    """The commit ``ref`` names in the repository at ``path``, or ``None`` when it has none."""
    result = _run(
        ["log", "-1", "--no-show-signature", "--format=%H%x00%ct%x00%an <%ae>%x00%s", ref, "--"],
        cwd=path,
        timeout=timeout,
    )
    if not result.ok or "\x00" not in result.output:
        return None
    sha, stamp, author, subject = result.output.rstrip("\n").split("\x00", 3)
    return Revision(
        sha=sha,
        committed_at=datetime.fromtimestamp(int(stamp), UTC),
        author=author,
        subject=subject,
    )


def export_tree(path: Path, sha: str, subdir: str, dest: Path, *, timeout: float) -> None:
    """Write the files of ``subdir`` (``""`` = the root) at commit ``sha`` of the repository at
    ``path`` into ``dest`` (created), without ``.git``.

    Raises:
        InvalidInput: ``subdir`` is not a directory at ``sha``, or the tree holds a link that
            points outside itself.
        Unavailable: git failed or timed out.
    """
    treeish = f"{sha}:{subdir}"  # "<sha>:" is the root tree
    kind = _run(["cat-file", "-t", treeish], cwd=path, timeout=timeout)
    if not kind.ok or kind.output.strip() != "tree":
        raise InvalidInput(
            f"subdir {subdir!r} is not a directory of the repository at {sha[:12]}; "
            "fix the service's subdir"
        )
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["git", *_SAFE_CONFIG, "archive", "--format=tar", treeish],
        cwd=path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "LC_ALL": "C"},
    )
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            archive.extractall(dest, filter="data")
    except tarfile.FilterError as e:
        raise InvalidInput(f"the source at {sha[:12]} cannot be exported safely: {e}") from e
    finally:
        proc.stdout.close()
        try:
            proc.wait(timeout=max(timeout, 1.0))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise Unavailable(f"git archive of {sha[:12]} failed: {redact(stderr.strip())}")
