"""Backup files of claims: where they go, their ids, retention.

Private to :mod:`goldenpath.resources.service`. Files live in
``<settings.resources.backup_dir or <home>/backups>/<environment>/<claim>/<id>.dump``; ids are
the UTC time with microseconds (``20261204T135600123456Z``) so they sort by age. Retention
runs only after a new backup is complete and recorded, so a failed backup never costs an old
one.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from goldenpath.errors import InvalidInput, NotFound
from goldenpath.resources import store
from goldenpath.resources.model import Backup, Claim
from goldenpath.settings import Settings

if TYPE_CHECKING:
    from goldenpath.drivers.local.postgres import ManagedPostgres

__all__ = ["backup_dir", "find", "new_backup_id", "prune", "take"]


def backup_dir(settings: Settings, environment: str, name: str) -> Path:
    """The directory of claim ``name``'s backups in ``environment``."""
    root = settings.resources.backup_dir or settings.home / "backups"
    return Path(root) / environment / name


def new_backup_id(directory: Path, now: datetime) -> str:
    """A sortable id not used by a file in ``directory`` yet."""
    base = now.strftime("%Y%m%dT%H%M%S%fZ")
    ident, n = base, 0
    while (directory / f"{ident}.dump").exists():
        n += 1
        ident = f"{base}{n:02d}"
    return ident


def prune(engine: Engine, name: str, environment: str, keep: int) -> list[Backup]:
    """Delete all but the ``keep`` newest backups (rows and files); returns the removed ones."""
    removed = store.list_backups(engine, name, environment)[keep:]
    for old in removed:
        with contextlib.suppress(FileNotFoundError):
            Path(old.path).unlink()
        store.delete_backup(engine, old)
    return removed


def take(
    engine: Engine,
    settings: Settings,
    postgres: ManagedPostgres,
    *,
    claim: Claim,
    database: str,
    actor: str,
    reason: str,
    now: datetime,
) -> Backup:
    """Dump ``database`` into the claim's backup directory and record it; then, unless it
    is the ``final`` backup, prune beyond ``settings.resources.backup_retention``.

    Raises:
        InvalidInput: the directory cannot be created or written (names it and the fix).
        Unavailable: disk full / pg_dump failed (from ``ManagedPostgres.dump``). Older
            backups are intact in every failure.
    """
    directory = backup_dir(settings, claim.environment, claim.name)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InvalidInput(
            f"cannot create the backup directory {directory}: {e.strerror}; make it "
            "writable or set resources.backup_dir (GOLDENPATH_RESOURCES__BACKUP_DIR)",
            details={"path": str(directory)},
        ) from e
    ident = new_backup_id(directory, now)
    path = directory / f"{ident}.dump"
    size = postgres.dump(database, path)
    made = Backup(
        id=ident,
        claim=claim.name,
        environment=claim.environment,
        path=str(path),
        size_bytes=int(size),
        created_at=now,
        created_by=actor,
        reason=reason,
    )
    store.add_backup(engine, made)
    if reason != "final":
        prune(engine, claim.name, claim.environment, settings.resources.backup_retention)
    return made


def find(engine: Engine, claim: Claim, backup_id: str) -> Backup:
    """Backup ``backup_id`` of ``claim``.

    Raises:
        NotFound: listing the available ids.
    """
    found = {b.id: b for b in store.list_backups(engine, claim.name, claim.environment)}
    backup = found.get(backup_id)
    if backup is None:
        raise NotFound(
            f"backup {backup_id!r} of {claim.name} in {claim.environment} does not exist; "
            f"available: {', '.join(found) or 'none'} (`platform db backups {claim.name}`)",
            details={"backup": backup_id, "available": list(found)},
        )
    return backup
