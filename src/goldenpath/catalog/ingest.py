"""From a registered location to a :class:`~goldenpath.catalog.store.sync.LocationPass`.

No database here.

Reads the location's files (:mod:`goldenpath.catalog.locations`), processes them through the
pipeline (:mod:`goldenpath.catalog.processing`) — from :data:`POOL_THRESHOLD` files on in a
pool of two forked workers that also derive each new entity's store rows
(:mod:`goldenpath.catalog.store.derive`) and send them back as orjson bytes — and sorts the
outcome into valid candidates, errors and invalid refs.
Like Backstage, every registered location also yields a ``Location`` entity named
``generated-<sha1 of "type:target">`` that is the parent of what the location emits.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import multiprocessing.pool
import os
import pickle
import signal
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from goldenpath.catalog import filememo, locations, processing
from goldenpath.catalog.filememo import FileMemo, Signature
from goldenpath.catalog.model import Entity, EntityError, ProcessedDocument, Relation
from goldenpath.catalog.placeholders import PlaceholderReader, file_reader
from goldenpath.catalog.store import derive
from goldenpath.catalog.store.sync import Candidate, ErrorRow, Existing, LocationPass
from goldenpath.errors import PlatformError

__all__ = [
    "POOL_THRESHOLD",
    "PreparedDocument",
    "Processor",
    "build_pass",
    "failed_pass",
    "generated_location",
    "generated_ref",
    "quiet_gc",
    "worker_pool",
]

#: from this many files on, processing runs in a pool of forked workers (two on the 2-core
#: box) that also derive each new entity's stored rows (:class:`PreparedDocument`), so the
#: writer only inserts. Below it, processing stays in-process: forking costs more than it saves.
POOL_THRESHOLD = 256
#: files per task sent to a worker (bounds the pickled result size, keeps both workers busy)
_CHUNK_FILES = 128


@dataclass(slots=True)
class PreparedDocument(ProcessedDocument):
    """A processed document whose store rows a worker derived (see :mod:`…store.derive`)."""

    prepared: derive.Prepared | None = None


def generated_location(type: str, target: str) -> Entity:
    """The ``Location`` entity Backstage generates for a registered location."""
    key = f"{type}:{target}"
    name = "generated-" + hashlib.sha1(key.encode()).hexdigest()
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Location",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {
                processing.ANNOTATION_LOCATION: key,
                processing.ANNOTATION_ORIGIN_LOCATION: key,
            },
        },
        "spec": {"type": type, "target": target},
    }


def generated_ref(type: str, target: str) -> str:
    """Lower-cased ref of :func:`generated_location`."""
    return f"location:default/{generated_location(type, target)['metadata']['name']}"


@dataclass(frozen=True, slots=True)
class _Job:
    path: str
    key: str
    parent_ref: str
    origin: str
    allowed: frozenset[str]
    max_bytes: int
    max_aliases: int
    roots: tuple[str, ...]


#: one processed file: its documents and its signature when it may be memoized
_FileResult = tuple[list[ProcessedDocument], Signature | None]


def _process_chunk(jobs: list[_Job]) -> tuple[bytes, list[bytes]]:
    """Worker side: process files, derive the rows of every valid entity, encode compactly.

    Returns orjson bytes of plain lists (not pickled dataclasses: pickling
    ``ProcessedDocument``/``Relation`` objects cost as much as parsing the YAML) and, apart,
    the prepared row blobs in document order (bytes pickle as a copy). Content orjson cannot
    encode (integers beyond 64 bits) falls back to pickle for that chunk (marker ``p``).
    """
    results: list[_FileResult] = []
    reader = _reader(jobs)
    for job in jobs:
        file_docs, signature = _process_job(job, reader)
        results.append(([_prepared(doc, job) for doc in file_docs], signature))
    blobs: list[bytes] = []
    try:
        encoded = [[sig, [_encode(d, blobs) for d in docs]] for docs, sig in results]
        return b"j" + orjson.dumps(encoded), blobs
    except TypeError:
        return b"p" + pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL), []


def _encode(doc: ProcessedDocument, blobs: list[bytes]) -> list[Any]:
    prepared = doc.prepared if isinstance(doc, PreparedDocument) else None
    if prepared is not None:
        blobs += (prepared.search_json, prepared.relations_json)
    return [
        doc.source,
        doc.index,
        doc.entity,
        doc.ref,
        [(r.source, r.type, r.target) for r in doc.relations],
        [(e.path, e.message, e.stage) for e in doc.errors],
        [(e.path, e.message, e.stage) for e in doc.warnings],
        doc.ignored,
        prepared.to_list() if prepared is not None else None,
    ]


def _decode_chunk(part: tuple[bytes, list[bytes]]) -> list[_FileResult]:
    """Parent side of :func:`_process_chunk`."""
    data, blobs = part
    if data[:1] == b"p":
        result: list[_FileResult] = pickle.loads(data[1:])
        return result
    rows = iter(blobs)
    return [
        ([_decode(d, rows) for d in docs], None if sig is None else tuple(sig))
        for sig, docs in orjson.loads(data[1:])
    ]


def _decode(d: list[Any], rows: Iterator[bytes]) -> ProcessedDocument:
    source, index, entity, ref, rels, errs, warns, ignored, prep = d
    args = (
        source,
        index,
        entity,
        ref,
        [Relation(*r) for r in rels],
        [EntityError(*e) for e in errs],
        [EntityError(*e) for e in warns],
        ignored,
    )
    if prep is None:
        return ProcessedDocument(*args)
    return PreparedDocument(*args, derive.Prepared.from_list(prep, next(rows), next(rows)))


def _prepared(doc: ProcessedDocument, job: _Job) -> ProcessedDocument:
    if doc.entity is None or doc.errors or doc.ref is None:
        return doc
    try:
        prep = derive.prepare(
            doc.entity, doc.relations, parent_ref=job.parent_ref, location_key=job.key
        )
    except TypeError:  # not JSON-encodable (an integer beyond 64 bits): the writer decides
        return doc
    return PreparedDocument(
        doc.source,
        doc.index,
        doc.entity,
        doc.ref,
        doc.relations,
        doc.errors,
        doc.warnings,
        doc.ignored,
        prep,
    )


def _reader(jobs: Sequence[_Job]) -> PlaceholderReader:
    """The placeholder reader of a batch (its jobs share their roots): built once, since
    resolving the roots for every file cost ~7 % of processing."""
    return file_reader([Path(r) for r in jobs[0].roots] if jobs else [])


def _process_job(job: _Job, reader: PlaceholderReader) -> _FileResult:
    """Process one file; its signature is taken from the open file, before reading it."""
    path = Path(job.path)
    try:
        with open(path, "rb") as f:
            signature = filememo.settled_signature(os.fstat(f.fileno()))
            data = f.read()
    except OSError as e:
        err = EntityError("", f"cannot read {path}: {e.strerror or e}", "read")
        return [ProcessedDocument(source=str(path), index=0, entity=None, errors=[err])], None
    docs = processing.process_text(
        data,
        source=str(path),
        rules=processing.KindRules(job.allowed),
        base_dir=path.parent,
        location_key=job.key,
        origin_location_key=job.origin,
        reader=reader,
        max_bytes=job.max_bytes,
        max_aliases=job.max_aliases,
    )
    return docs, signature if signature and filememo.memoizable(data) else None


class Processor:
    """Processes batches of files for one location (in a pool when the batch is large).

    Args:
        rules: allowed kinds.
        origin: ``backstage.io/managed-by-origin-location`` for everything processed.
        roots: directories ``$text``/``$json``… placeholders may read (empty: the file's dir).
        previous: the memo of the location's last pass: files it shows unchanged (against
            ``existing``, the stored state, for ``location_id``) are not read again.

    Attributes:
        memo: what this pass learnt, for the next one (:class:`~…filememo.FileMemo`).
    """

    def __init__(
        self,
        *,
        rules: processing.KindRules,
        origin: str,
        roots: Sequence[Path],
        max_bytes: int,
        max_aliases: int,
        previous: FileMemo | None = None,
        existing: Mapping[str, Existing] | None = None,
        location_id: str = "",
    ) -> None:
        self._template = _Job(
            "", "", "", origin, rules.allowed, max_bytes, max_aliases, tuple(str(r) for r in roots)
        )
        self._previous = previous if existing is not None else None
        self._existing: Mapping[str, Existing] = existing or {}
        self._location_id = location_id
        self.memo = FileMemo()

    def __call__(self, files: list[locations.SourceFile]) -> list[list[ProcessedDocument]]:
        """One result list per file, in order (unchanged files from the memo, unread)."""
        out: list[list[ProcessedDocument]] = [[] for _ in files]
        todo: list[int] = []
        previous = self._previous
        for i, f in enumerate(files):
            reused = None
            if previous is not None:
                reused = previous.reuse(
                    path=f.path,
                    key=f.key,
                    parent_ref=f.parent_ref,
                    existing=self._existing,
                    location_id=self._location_id,
                )
            if reused is None or previous is None:
                todo.append(i)
                continue
            out[i] = reused
            self.memo.keep(f.key, previous)
        processed = self._process([files[i] for i in todo])
        for i, (docs, signature) in zip(todo, processed, strict=True):
            out[i] = docs
            if signature is not None:
                f = files[i]
                self.memo.remember(
                    key=f.key, parent_ref=f.parent_ref, signature=signature, docs=docs
                )
        return out

    def _process(self, files: list[locations.SourceFile]) -> list[_FileResult]:
        t = self._template
        jobs = [
            _Job(
                str(f.path),
                f.key,
                f.parent_ref,
                t.origin,
                t.allowed,
                t.max_bytes,
                t.max_aliases,
                t.roots,
            )
            for f in files
        ]
        workers = min(2, os.cpu_count() or 1)
        if len(jobs) < POOL_THRESHOLD or workers < 2:
            reader = _reader(jobs)
            return [_process_job(j, reader) for j in jobs]
        chunks = [jobs[i : i + _CHUNK_FILES] for i in range(0, len(jobs), _CHUNK_FILES)]
        with quiet_gc(), worker_pool(workers) as pool:
            return [d for part in pool.imap(_process_chunk, chunks) for d in _decode_chunk(part)]


#: signals a worker must not see before :func:`_init_worker` has set its own handlers
_STARTUP_BLOCKED = frozenset({signal.SIGTERM, signal.SIGINT})


def _init_worker() -> None:
    """First thing in each forked worker: SIGTERM kills it again and SIGINT is the parent's
    business; the wake-up fd and garbage collection are its own. Then the signals blocked
    across the fork (:func:`worker_pool`) are let in: one sent meanwhile arrives now.

    A fork copies the parent's signal handlers: in the server those are uvicorn's, which
    only note that the server should exit — a worker given SIGTERM by ``Pool.terminate()``
    carried on, and the request that owned the pool waited for it forever (twice in 22
    imports of 3,000 entities through the API; none in 15 since). Resetting the handlers
    here left a window: a pool terminated while a worker was still starting sent SIGTERM to
    the copied handler, which noted it, and the worker then waited for tasks for ever (the
    parent in ``Pool.join``; 1 in 60 pool runs of the regression test under load, ~1 % of
    pools failed at once — ``py-spy dump`` of a hung pair). Hence the block.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)
    gc.enable()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STARTUP_BLOCKED)


@contextmanager
def worker_pool(workers: int) -> Iterator[multiprocessing.pool.Pool]:
    """A pool of ``workers`` forked processes (:func:`_init_worker`), shut down cleanly.

    On success the workers are told to finish (``close``) and joined: ``Pool.__exit__``
    would ``terminate()`` them, whose clean-up drains the task queue and can swallow the
    sentinels that tell idle workers to exit, leaving them to the signal. On an error they
    are terminated. Either way no worker outlives the block.

    SIGTERM and SIGINT are blocked in this thread while the pool forks its workers (and in
    the pool's own threads, which inherit the mask, should they fork replacements): a worker
    starts with them blocked and takes them only once :func:`_init_worker` has set its
    handlers. Signals to this process reach its other threads meanwhile (Python runs the
    handlers in the main thread).
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STARTUP_BLOCKED)
    try:
        pool = _pool_context().Pool(workers, initializer=_init_worker)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    try:
        yield pool
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


@contextmanager
def quiet_gc() -> Iterator[None]:
    """No cyclic garbage collection while results stream in; parent objects frozen for forks.

    Decoding builds millions of containers, each allocation burst triggering a collection
    that walks every object the process holds (most of the decode time otherwise). Freezing
    before the fork keeps workers' collections off the inherited heap, which also spares the
    copy-on-write page copies that made forked workers slower than the parent. Decoding
    builds no reference cycles, so nothing accumulates while collection is off; workers
    switch it back on (parsing errors carry tracebacks, which are cycles). Callers may wrap a
    whole pass (read, build, sync) in it too: at 100k entities the collector otherwise
    spends ~5 s re-scanning the pass's entity dicts. Nesting is safe.
    """
    enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def _pool_context() -> multiprocessing.context.BaseContext:
    """``fork`` on POSIX (Python 3.11's default; workers only run the pure pipeline, and unlike
    ``forkserver``/``spawn`` it does not re-import the caller's ``__main__``), else ``spawn``."""
    return multiprocessing.get_context("fork" if os.name == "posix" else "spawn")


def _errors_of(doc: ProcessedDocument) -> list[ErrorRow]:
    return [
        ErrorRow(doc.source, doc.index, doc.ref, e.stage, e.path, e.message) for e in doc.errors
    ]


def status_items(errors: list[ErrorRow]) -> list[dict[str, Any]]:
    """Backstage's ``status.items`` entries for processing errors of one entity."""
    return [
        {
            "type": "backstage.io/catalog-processing",
            "level": "error",
            "message": f"{e.path}: {e.message}" if e.path else e.message,
            "error": {"name": "InputError", "message": e.message},
        }
        for e in errors
    ]


def build_pass(location: dict[str, Any], read: locations.ReadResult) -> LocationPass:
    """Sort a location's read result into candidates (first of a ref wins), errors, invalid refs."""
    root = generated_location(location["type"], location["target"])
    root_ref = generated_ref(location["type"], location["target"])
    candidates = {
        root_ref: Candidate(
            root_ref,
            root,
            [],
            f"{location['type']}:{location['target']}",
            None,
            source=location["target"],
        )
    }
    errors: list[ErrorRow] = []
    invalid: list[str] = []
    for emitted in read.documents:
        doc = emitted.doc
        if doc.ignored:
            continue
        if doc.errors or doc.entity is None or doc.ref is None:
            errors.extend(_errors_of(doc))
            if doc.ref:
                invalid.append(doc.ref)
            continue
        if doc.ref in candidates:
            first = candidates[doc.ref]
            errors.append(
                ErrorRow(
                    doc.source,
                    doc.index,
                    doc.ref,
                    "conflict",
                    "",
                    f"Entity {doc.ref} is defined twice in this location; the "
                    f"first one ({first.source} document {first.doc_index}) is "
                    "kept. Remove the duplicate.",
                )
            )
            continue
        candidates[doc.ref] = Candidate(
            doc.ref,
            doc.entity,
            doc.relations,
            emitted.file.key,
            emitted.file.parent_ref,
            source=doc.source,
            doc_index=doc.index,
            prepared=doc.prepared if isinstance(doc, PreparedDocument) else None,
            hash=doc.hash if isinstance(doc, filememo.ReusedDocument) else None,
        )
    for failure in read.errors:
        errors.append(
            ErrorRow(
                failure.source,
                failure.doc_index,
                failure.entity_ref,
                "read",
                "spec.target",
                failure.message,
            )
        )
    for row in errors:
        if row.entity_ref in candidates and row.stage == "read":
            candidates[row.entity_ref].status_items.extend(status_items([row]))
    return LocationPass(
        location["id"],
        list(candidates.values()),
        errors,
        [r for r in invalid if r not in candidates],
        set(invalid),
        set(read.failed_parents),
        complete=True,
    )


def failed_pass(location: dict[str, Any], error: PlatformError) -> LocationPass:
    """The pass of a location whose own target could not be read: nothing is orphaned."""
    root_ref = generated_ref(location["type"], location["target"])
    err = ErrorRow(location["target"], None, root_ref, "read", "spec.target", error.message)
    root = Candidate(
        root_ref,
        generated_location(location["type"], location["target"]),
        [],
        f"{location['type']}:{location['target']}",
        None,
        status_items([err]),
        source=location["target"],
    )
    return LocationPass(location["id"], [root], [err], [], set(), set(), complete=False)
