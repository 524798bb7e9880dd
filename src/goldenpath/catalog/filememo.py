"""Skipping unchanged files on refresh: what each file produced last time, keyed by its stat.

A refresh of an unchanged 100k-entity catalog used to re-read, parse, validate and hash
every file only to find every hash equal. :class:`FileMemo` remembers, per file of one
location, the file's signature ``(inode, size, mtime_ns, ctime_ns)`` taken when it was read
and the ``(index, ref, content hash)`` of each document it yielded. On the next pass a file
whose signature is the same, whose parent Location is the same and whose every entity is
still stored for this location with that hash (and is not an orphan) is not read again:
:meth:`FileMemo.reuse` hands back :class:`ReusedDocument` stand-ins that the writer counts
as unchanged without touching the entity.

Only files that depend on nothing but their own bytes are remembered: any file containing a
``$`` (a ``$text``/``$json``/``$yaml``/``$openapi`` placeholder may read another file, whose
changes the signature would not see), any file with a rejected document, and any file with a
``Location`` entity (its targets must be expanded again: a glob may match new files) is
processed in full on every pass. ``ctime`` cannot be set by tools that restore ``mtime``, and
an atomic replace changes the inode, so a rewritten file never looks unchanged. As git does
for "racily clean" files, a file changed less than :data:`SETTLE_NS` before it was read is not
remembered: timestamps are coarse (a kernel tick, a second on some file systems), so a
same-size edit in the same tick as the read would otherwise keep the old signature.

The memo lives in the serving process (per :class:`~goldenpath.catalog.service.CatalogService`);
a new process starts with an empty one and pays one full pass. It is only ever a shortcut:
the comparison with the stored state decides, so a stale memo costs time, never correctness.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from goldenpath.catalog.model import ProcessedDocument
from goldenpath.catalog.store import derive
from goldenpath.catalog.store.records import Existing

__all__ = [
    "SETTLE_NS",
    "FileMemo",
    "ReusedDocument",
    "Signature",
    "memoizable",
    "settled_signature",
    "signature_of",
]

#: ``(st_ino, st_size, st_mtime_ns, st_ctime_ns)`` of a file
Signature = tuple[int, int, int, int]


@dataclass(slots=True)
class ReusedDocument(ProcessedDocument):
    """A document of an unchanged file, not read again: ``entity`` is ``{}``, ``hash`` is the
    stored content hash (equal to what processing would produce)."""

    hash: str = ""


@dataclass(frozen=True, slots=True)
class _Entry:
    signature: Signature
    parent_ref: str
    #: per document: (index, ref or None for an ignored empty document, content hash)
    docs: tuple[tuple[int, str | None, str], ...]


def signature_of(st: os.stat_result) -> Signature:
    """The signature of a ``stat``/``fstat`` result."""
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


#: a file whose mtime/ctime is this close (ns) to the moment it is read is not remembered
SETTLE_NS = 2_000_000_000


def settled_signature(st: os.stat_result) -> Signature | None:
    """The signature of a file ``stat``-ed just before reading it, or ``None`` when it
    changed too recently for its timestamps to tell a later same-size edit apart."""
    newest = max(st.st_mtime_ns, st.st_ctime_ns)
    return signature_of(st) if time.time_ns() - newest >= SETTLE_NS else None


def memoizable(data: bytes) -> bool:
    """False for content that may read other files (any ``$``: placeholders)."""
    return b"$" not in data


class FileMemo:
    """What the files of one location produced, for skipping the unchanged ones next time."""

    def __init__(self) -> None:
        self._files: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._files)

    def remember(
        self,
        *,
        key: str,
        parent_ref: str,
        signature: Signature,
        docs: list[ProcessedDocument],
    ) -> None:
        """Record a processed file whose documents are all valid non-Location entities (or
        ignored empty documents); anything else is not recorded (processed every time)."""
        out: list[tuple[int, str | None, str]] = []
        for doc in docs:
            if doc.ignored:
                out.append((doc.index, None, ""))
                continue
            entity = doc.entity
            if doc.errors or entity is None or doc.ref is None:
                return
            if str(entity.get("kind", "")).lower() == "location":
                return
            prepared = getattr(doc, "prepared", None)
            if prepared is not None:
                h = prepared.hash
            else:
                try:
                    h = derive.content_hash(entity, doc.relations, [], parent_ref, key)
                except TypeError:  # not JSON-encodable: the writer decides each time
                    return
            out.append((doc.index, doc.ref, h))
        self._files[key] = _Entry(signature, parent_ref, tuple(out))

    def keep(self, key: str, previous: FileMemo) -> None:
        """Carry ``previous``'s entry for ``key`` over (the file was reused unchanged)."""
        self._files[key] = previous._files[key]

    def reuse(
        self,
        *,
        path: Path,
        key: str,
        parent_ref: str,
        existing: Mapping[str, Existing],
        location_id: str,
    ) -> list[ProcessedDocument] | None:
        """Stand-ins for the documents of an unchanged file, or ``None`` to process it.

        Unchanged means: same signature now, same parent Location, and every entity it
        yielded is stored for ``location_id`` with the remembered hash and not orphaned.
        """
        entry = self._files.get(key)
        if entry is None or entry.parent_ref != parent_ref:
            return None
        try:
            if signature_of(os.stat(path)) != entry.signature:
                return None
        except OSError:
            return None
        source = str(path)
        out: list[ProcessedDocument] = []
        for index, ref, h in entry.docs:
            if ref is None:
                out.append(ProcessedDocument(source, index, None, ignored=True))
                continue
            old = existing.get(ref)
            if (
                old is None
                or old.hash != h
                or old.location_id != location_id
                or old.orphaned_at is not None
            ):
                return None
            out.append(ReusedDocument(source, index, {}, ref, hash=h))
        return out
