"""``CatalogService``: the catalog's use cases, the one object the API and the portal call.

Registration, refresh, reads, search, facets, errors, ancestry and validation, with
Backstage's semantics (see ``docs/architecture.md`` "Catalog service contract"). Writes happen
under the ``catalog-refresh`` lease, so a refresh while another runs is a
:class:`~goldenpath.errors.Conflict` and the store stays consistent across server replicas.

Source: https://backstage.io/docs/features/software-catalog/software-catalog-api
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from goldenpath.catalog import filters as qf
from goldenpath.catalog import ingest, locations, processing
from goldenpath.catalog.filememo import FileMemo
from goldenpath.catalog.model import Entity, ProcessedDocument
from goldenpath.catalog.reads import CatalogReads, EntityPage, clamp_limit, ref_key
from goldenpath.catalog.store import queries, registry, sync
from goldenpath.catalog.store.sync import RefreshReport
from goldenpath.errors import Conflict, InvalidInput, NotFound, PlatformError
from goldenpath.settings import CatalogSettings, Settings
from goldenpath.store import leases

__all__ = ["REFRESH_LEASE", "CatalogService", "EntityPage", "LocationResult", "RefreshReport"]

REFRESH_LEASE = "catalog-refresh"
_LEASE_TTL = 900.0
_CACHE_SIZE = 512
_ANALYZE_AFTER = 1000  # changed entities after which planner statistics are refreshed


@dataclass(slots=True)
class LocationResult:
    """Outcome of ``register_location``: the location, whether it existed, what was processed.

    ``entities`` are the entities the location would produce (dry run) or produced (the
    generated Location entity first); ``report`` is set when something was written.
    """

    location: dict[str, Any]
    entities: list[Entity]
    exists: bool
    report: RefreshReport | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CatalogService(CatalogReads):
    """The catalog's use cases over one store.

    Args:
        engine: a migrated database (``goldenpath.store.migrate.upgrade``).
        settings: the whole :class:`Settings` (its ``catalog`` part and ``home`` are used) or
            just :class:`CatalogSettings` (then pass ``home``).
        home: data directory; git checkouts go to ``<home>/cache/git``.
        clock: returns the current UTC time (tests inject one to age orphans).
        read_engine: PostgreSQL: an engine of bounded autocommit sessions on the same
            database (``goldenpath.store.engine.make_read_engine``) for the reads the API
            answers on its event loop; the caller disposes it. None: ``engine`` serves them.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings | CatalogSettings,
        home: Path | None = None,
        clock: Callable[[], datetime] = _utcnow,
        read_engine: Engine | None = None,
    ) -> None:
        if isinstance(settings, Settings):
            home = home or settings.home
            settings = settings.catalog
        if home is None:
            raise InvalidInput("CatalogService needs the data directory: pass home=")
        self.engine = engine
        self.read_engine = read_engine
        self.settings = settings
        self.clock = clock
        self.cache_dir = home / "cache" / "git"
        self.rules = processing.KindRules.from_kinds(settings.allowed_kinds)
        #: per location id: what its files produced last pass (unchanged files are skipped)
        self._memos: dict[str, FileMemo] = {}
        CatalogReads.__init__(self)

    # -- locations -------------------------------------------------------------------------

    def _normalise(self, type: str, target: str) -> tuple[str, str]:
        type, target = (type or "").strip().lower(), (target or "").strip()
        if not target:
            raise InvalidInput("location target is empty; pass a path, glob or git URL")
        if type == "file":
            path = Path(target).expanduser()
            if not path.is_absolute():
                # A server has no meaningful working directory for its callers.
                raise InvalidInput(
                    f'file location target "{target}" is relative; pass an absolute path '
                    "(the CLI does this for you)"
                )
            target = str(path)
        elif type != "url":
            raise InvalidInput(f'location type "{type}" is not supported; use "file" or "url"')
        return type, target

    def _read(
        self,
        location: dict[str, Any],
        git: locations.GitReader,
        previous: FileMemo | None = None,
        existing: dict[str, sync.Existing] | None = None,
    ) -> tuple[locations.ReadResult, FileMemo]:
        """Read a location; files ``previous`` shows unchanged against ``existing`` are skipped."""
        root_ref = ingest.generated_ref(location["type"], location["target"])
        files = locations.resolve_registered(
            location["type"],
            location["target"],
            roots=self.settings.allowed_roots,
            git=git,
            parent_ref=root_ref,
        )
        process = ingest.Processor(
            rules=self.rules,
            origin=f"{location['type']}:{location['target']}",
            roots=self.settings.allowed_roots if location["type"] == "file" else (),
            max_bytes=self.settings.max_document_bytes,
            max_aliases=self.settings.max_alias_count,
            previous=previous,
            existing=existing,
            location_id=location["id"],
        )
        roots = self.settings.allowed_roots
        return locations.collect(files, process=process, git=git, roots=roots), process.memo

    def register_location(self, *, type: str, target: str, dry_run: bool = False) -> LocationResult:
        """Register a ``file`` (file, directory or glob) or ``url`` (git) location and process it.

        Nothing is written when the target cannot be read. Dry run: nothing is written at all;
        ``exists`` says whether the location is already registered.

        Raises:
            Conflict: the location is already registered (not in a dry run); a refresh holds
                the lease for more than 60 s.
            NotFound: the file/directory/glob matches nothing; the repository has no such path.
            Forbidden: the target is outside ``catalog.allowed_roots``.
            InvalidInput: unknown type, relative file path, git clone failed.
        """
        type, target = self._normalise(type, target)
        with self.engine.connect() as conn:
            found = registry.find_location(conn, type=type, target=target)
        if found is not None and not dry_run:
            raise Conflict(
                f"Location {type}:{target} already exists (id {found['id']}); "
                "refresh it instead of registering it again"
            )
        location = found or {"id": "", "type": type, "target": target}
        if dry_run:
            batch = ingest.build_pass(location, self._read(location, self._git())[0])
            return LocationResult(location, [c.entity for c in batch.candidates], found is not None)
        holder = self._take_lease(wait=60.0)
        try:
            with ingest.quiet_gc():
                location, batch, report = self._register(type, target)
        finally:
            leases.release(self.engine, REFRESH_LEASE, holder)
        return LocationResult(location, [c.entity for c in batch.candidates], False, report)

    def _register(
        self, type: str, target: str
    ) -> tuple[dict[str, Any], sync.LocationPass, RefreshReport]:
        """Read, insert the location and sync its entities in one transaction (lease held)."""
        read, memo = self._read({"id": "", "type": type, "target": target}, self._git())
        report = RefreshReport()
        with self.engine.begin() as conn:
            location = registry.insert_location(conn, type=type, target=target, now=self.clock())
            batch = ingest.build_pass(location, read)
            sync.sync_location(
                conn,
                batch,
                sync.load_existing(conn),
                now=self.clock(),
                orphan_grace=self.settings.orphan_grace,
                report=report,
            )
        self._memos[location["id"]] = memo
        self._after_writes(report)
        self._add_dangling(report, [location["id"]])
        return location, batch, report

    def list_locations(
        self, *, limit: int = qf.MAX_PAGE_SIZE, after: str | None = None
    ) -> list[dict[str, Any]]:
        """Registered locations ``{id, type, target}`` in registration order (bounded page)."""
        with self.engine.connect() as conn:
            return registry.list_locations(conn, limit=clamp_limit(limit), after_id=after)

    def get_location(self, location_id: str) -> dict[str, Any]:
        """One location. Raises NotFound."""
        with self.engine.connect() as conn:
            found = registry.get_location(conn, location_id)
        if found is None:
            raise NotFound(f"location {location_id} does not exist; list them with GET /locations")
        return found

    def delete_location(self, location_id: str) -> None:
        """Unregister a location and delete the entities it provided. Raises NotFound."""
        with self.engine.begin() as conn:
            if not registry.delete_location(conn, location_id):
                raise NotFound(f"location {location_id} does not exist")
        self._memos.pop(location_id, None)

    # -- refresh ---------------------------------------------------------------------------

    def _git(self) -> locations.GitReader:
        return locations.GitReader(self.cache_dir)

    def _take_lease(self, *, wait: float = 0.0) -> str:
        holder = f"refresh-{uuid.uuid4()}"
        deadline = time.monotonic() + wait
        while not leases.acquire(self.engine, REFRESH_LEASE, holder, ttl=_LEASE_TTL):
            if time.monotonic() >= deadline:
                raise Conflict("a catalog refresh is already running; try again when it finishes")
            time.sleep(0.1)
        return holder

    def refresh(
        self, *, location_id: str | None = None, entity_ref: str | None = None
    ) -> RefreshReport:
        """Re-read locations (all, one, or the one that provides ``entity_ref``) and apply changes.

        Raises:
            Conflict: another refresh (or registration) holds the lease.
            NotFound: ``location_id`` or ``entity_ref`` does not exist.
        """
        if entity_ref is not None:
            location_id = self._location_of(entity_ref)
        holder = self._take_lease()
        try:
            with self.engine.connect() as conn:
                if location_id is not None:
                    found = registry.get_location(conn, location_id)
                    if found is None:
                        raise NotFound(f"location {location_id} does not exist")
                    todo = [found]
                else:
                    todo = registry.list_locations(conn, limit=1_000_000)
            return self._refresh_locations(todo, holder)
        finally:
            leases.release(self.engine, REFRESH_LEASE, holder)

    def _refresh_locations(self, todo: list[dict[str, Any]], holder: str) -> RefreshReport:
        report = RefreshReport()
        git = self._git()
        with self.engine.connect() as conn:
            existing = sync.load_existing(conn)
        for location in todo:
            # back only once this pass is committed
            previous = self._memos.pop(location["id"], None)
            memo = None
            with ingest.quiet_gc():
                try:
                    read, memo = self._read(location, git, previous, existing)
                    batch = ingest.build_pass(location, read)
                except PlatformError as e:
                    batch = ingest.failed_pass(location, e)
                with self.engine.begin() as conn:
                    sync.sync_location(
                        conn,
                        batch,
                        existing,
                        now=self.clock(),
                        orphan_grace=self.settings.orphan_grace,
                        report=report,
                    )
                del batch
            if memo is not None:
                self._memos[location["id"]] = memo
            leases.renew(self.engine, REFRESH_LEASE, holder, ttl=_LEASE_TTL)
        self._after_writes(report)
        self._add_dangling(report, None if len(todo) != 1 else [todo[0]["id"]])
        return report

    def _after_writes(self, report: RefreshReport) -> None:
        if len(report.added) + len(report.updated) + len(report.deleted) >= _ANALYZE_AFTER:
            with self.engine.connect() as conn:  # VACUUM runs outside a transaction
                sync.analyze(conn.execution_options(isolation_level="AUTOCOMMIT"))

    def _add_dangling(self, report: RefreshReport, location_ids: list[str] | None) -> None:
        with self.engine.connect() as conn:
            report.dangling = queries.dangling_relations(
                conn, location_id=location_ids[0] if location_ids else None
            )

    def _location_of(self, ref: str) -> str:
        key = ref_key(ref)
        with self.engine.connect() as conn:
            from goldenpath.catalog.store.tables import catalog_entities as t

            found = conn.execute(
                t.select().with_only_columns(t.c.location_id).where(t.c.entity_ref == key)
            ).scalar()
        if found is None:
            raise NotFound(f"entity {key} does not exist")
        return str(found)

    def validate_documents(self, paths: Iterable[Path | str]) -> list[ProcessedDocument]:
        """Process files (directories: every YAML file below) without writing anything.

        Raises:
            NotFound: a path does not exist.
        """
        out: list[ProcessedDocument] = []
        for raw in paths:
            path = Path(raw).expanduser().absolute()
            files = locations.expand_path(path)
            if not files and not path.exists():
                raise NotFound(f"{path} does not exist")
            for f in files:
                out.extend(
                    processing.process_file(
                        f,
                        rules=self.rules,
                        allowed_roots=self.settings.allowed_roots,
                        max_bytes=self.settings.max_document_bytes,
                        max_aliases=self.settings.max_alias_count,
                    )
                )
        return out
