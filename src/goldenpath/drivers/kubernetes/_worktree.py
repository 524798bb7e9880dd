"""The work tree side of a GitOps write: make folders hold exactly the rendered files.

Private to :mod:`goldenpath.drivers.kubernetes.gitops`. A :class:`Session` lives inside the
repository's lock; it writes only files whose bytes differ (so an unchanged render touches
nothing) and creates the ``.git/goldenpath-dirty`` marker before the first change, which
the repository clears once the change is committed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from goldenpath.drivers.kubernetes import _kustomize as kz

if TYPE_CHECKING:
    from goldenpath.drivers.kubernetes.gitops import GitOpsRepo

__all__ = ["MARKER", "Session", "subdirs"]

#: Present (under ``.git/``) while a writer changes files it has not committed yet.
MARKER = "goldenpath-dirty"


class Session:
    """One locked write: compares wanted files with the work tree, writes what differs."""

    def __init__(self, repo: GitOpsRepo) -> None:
        self.repo = repo
        self.marker = repo.path / ".git" / MARKER

    def touch(self) -> None:
        """Mark the work tree as being changed (cleared when the session ends cleanly)."""
        if not self.marker.exists():
            self.marker.touch()

    def restore(self) -> None:
        """Reset the work tree to ``HEAD`` (after a failed or interrupted write)."""
        self.repo._git(["reset", "-q", "--hard", "HEAD"])
        self.repo._git(["clean", "-q", "-fd"])
        self.marker.unlink(missing_ok=True)

    def sync_folder(self, folder: Path, files: Mapping[str, bytes]) -> bool:
        """Make ``folder`` hold exactly ``files`` (``{}``: remove it); True when it changed."""
        changed = False
        present: list[os.DirEntry[str]] = []
        if folder.is_dir():
            with os.scandir(folder) as entries:
                present = list(entries)
        for entry in present:
            if entry.name not in files or not entry.is_file(follow_symlinks=False):
                self.touch()
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                changed = True
        for name, content in files.items():
            target = folder / name
            try:
                if target.read_bytes() == content:
                    continue
            except FileNotFoundError:
                pass
            self.touch()
            folder.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            changed = True
        if not files and folder.is_dir():
            folder.rmdir()
        return changed

    def listed(self, env: str, svc: str) -> bool:
        """Whether ``<env>/kustomization.yaml`` lists the service folder ``svc``."""
        try:
            content = (self.repo.path / env / kz.KUSTOMIZATION).read_bytes()
        except FileNotFoundError:
            return False
        return f"\n- {svc}\n".encode() in content

    def sync_environment(self, env: str) -> bool:
        """Rewrite ``<env>/kustomization.yaml`` to list the env's service folders (removed,
        with the folder, when there are none); True when it changed."""
        root = self.repo.path / env
        services: list[str] = []
        if root.is_dir():
            with os.scandir(root) as entries:
                services = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        target = root / kz.KUSTOMIZATION
        if not services:
            if target.exists():
                self.touch()
                target.unlink()
                if root.is_dir() and not any(root.iterdir()):
                    root.rmdir()
                return True
            return False
        content = kz.kustomization(services)
        try:
            if target.read_bytes() == content:
                return False
        except FileNotFoundError:
            pass
        self.touch()
        target.write_bytes(content)
        return True


def subdirs(root: Path) -> set[str]:
    """Names of the folders directly under ``root`` (none when it does not exist)."""
    return {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
