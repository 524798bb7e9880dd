"""``CatalogService``: the catalog's use cases, the one object the API and the portal call.

Registration, refresh, reads, search, facets, errors, ancestry and validation, with
Backstage's semantics (see ``docs/architecture.md`` "Catalog service contract"). Writes happen
under the ``catalog-refresh`` lease, so a refresh while another runs is a
:class:`~goldenpath.errors.Conflict` and the store stays consistent across server replicas.

Source: https://backstage.io/docs/features/software-catalog/software-catalog-api
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from goldenpath.catalog import filters as qf
from goldenpath.catalog import ingest, locations, processing, refs
from goldenpath.catalog.model import Entity, ProcessedDocument
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


@dataclass(slots=True)
class EntityPage:
    """A page of ``query_entities``: Backstage's ``{items, totalItems, pageInfo}``."""

    items: list[Entity]
    total_items: int
    next_cursor: str | None = None
    prev_cursor: str | None = None
    page_info: dict[str, str] = field(default_factory=dict)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CatalogService:
    """The catalog's use cases over one store.

    Args:
        engine: a migrated database (``goldenpath.store.migrate.upgrade``).
        settings: the whole :class:`Settings` (its ``catalog`` part and ``home`` are used) or
            just :class:`CatalogSettings` (then pass ``home``).
        home: data directory; git checkouts go to ``<home>/cache/git``.
        clock: returns the current UTC time (tests inject one to age orphans).
    """

    def __init__(self, *, engine: Engine, settings: Settings | CatalogSettings,
                 home: Path | None = None, clock: Callable[[], datetime] = _utcnow) -> None:
        if isinstance(settings, Settings):
            home = home or settings.home
            settings = settings.catalog
        if home is None:
            raise InvalidInput("CatalogService needs the data directory: pass home=")
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.cache_dir = home / "cache" / "git"
        self.rules = processing.KindRules.from_kinds(settings.allowed_kinds)
        # counts and facets keyed by the catalog's write counter: any write invalidates them
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._cache_lock = threading.Lock()

    def _cached(self, conn: Connection, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        full = (queries.version(conn), *key)
        with self._cache_lock:
            if full in self._cache:
                self._cache.move_to_end(full)
                return self._cache[full]
        value = compute()
        with self._cache_lock:
            self._cache[full] = value
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return value

    # -- locations -------------------------------------------------------------------------

    def _normalise(self, type: str, target: str) -> tuple[str, str]:
        type, target = (type or "").strip().lower(), (target or "").strip()
        if not target:
            raise InvalidInput("location target is empty; pass a path, glob or git URL")
        if type == "file":
            target = str(Path(target).expanduser().absolute())
        elif type != "url":
            raise InvalidInput(f'location type "{type}" is not supported; use "file" or "url"')
        return type, target

    def _read(self, location: dict[str, Any], git: locations.GitReader) -> locations.ReadResult:
        root_ref = ingest.generated_ref(location["type"], location["target"])
        files = locations.resolve_registered(location["type"], location["target"],
                                             roots=self.settings.allowed_roots, git=git,
                                             parent_ref=root_ref)
        process = ingest.Processor(
            rules=self.rules, origin=f"{location['type']}:{location['target']}",
            roots=self.settings.allowed_roots if location["type"] == "file" else (),
            max_bytes=self.settings.max_document_bytes,
            max_aliases=self.settings.max_alias_count)
        return locations.collect(files, process=process, git=git, roots=self.settings.allowed_roots)

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
            raise Conflict(f"Location {type}:{target} already exists (id {found['id']}); "
                           "refresh it instead of registering it again")
        location = found or {"id": "", "type": type, "target": target}
        if dry_run:
            batch = ingest.build_pass(location, self._read(location, self._git()))
            return LocationResult(location, [c.entity for c in batch.candidates], found is not None)
        holder = self._take_lease(wait=60.0)
        try:
            read = self._read(location, self._git())
            report = RefreshReport()
            with self.engine.begin() as conn:
                location = registry.insert_location(conn, type=type, target=target, now=self.clock())
                batch = ingest.build_pass(location, read)
                sync.sync_location(conn, batch, sync.load_existing(conn), now=self.clock(),
                                   orphan_grace=self.settings.orphan_grace, report=report)
            self._after_writes(report)
            self._add_dangling(report, [location["id"]])
        finally:
            leases.release(self.engine, REFRESH_LEASE, holder)
        return LocationResult(location, [c.entity for c in batch.candidates], False, report)

    def list_locations(self, *, limit: int = qf.MAX_PAGE_SIZE, after: str | None = None
                       ) -> list[dict[str, Any]]:
        """Registered locations ``{id, type, target}`` in registration order (bounded page)."""
        with self.engine.connect() as conn:
            return registry.list_locations(conn, limit=_clamp(limit), after_id=after)

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

    def refresh(self, *, location_id: str | None = None, entity_ref: str | None = None
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
            try:
                batch = ingest.build_pass(location, self._read(location, git))
            except PlatformError as e:
                batch = ingest.failed_pass(location, e)
            with self.engine.begin() as conn:
                sync.sync_location(conn, batch, existing, now=self.clock(),
                                   orphan_grace=self.settings.orphan_grace, report=report)
            leases.renew(self.engine, REFRESH_LEASE, holder, ttl=_LEASE_TTL)
        self._after_writes(report)
        self._add_dangling(report, None if len(todo) != 1 else [todo[0]["id"]])
        return report

    def _after_writes(self, report: RefreshReport) -> None:
        if len(report.added) + len(report.updated) + len(report.deleted) >= _ANALYZE_AFTER:
            with self.engine.begin() as conn:
                sync.analyze(conn)

    def _add_dangling(self, report: RefreshReport, location_ids: list[str] | None) -> None:
        with self.engine.connect() as conn:
            report.dangling = queries.dangling_relations(
                conn, location_id=location_ids[0] if location_ids else None)

    def _location_of(self, ref: str) -> str:
        key = _ref_key(ref)
        with self.engine.connect() as conn:
            from goldenpath.catalog.store.tables import catalog_entities as t

            found = conn.execute(t.select().with_only_columns(t.c.location_id)
                                 .where(t.c.entity_ref == key)).scalar()
        if found is None:
            raise NotFound(f"entity {key} does not exist")
        return str(found)

    # -- reads -----------------------------------------------------------------------------

    def get_entity_by_ref(self, ref: str | Mapping[str, Any]) -> Entity:
        """The entity (with ``relations`` and ``status``); ``ref`` is case-insensitive.

        Raises:
            InvalidInput: ``ref`` is not ``kind:[namespace/]name``.
            NotFound: no such entity.
        """
        key = _ref_key(ref)
        with self.engine.connect() as conn:
            found = queries.entity_by_ref(conn, key)
        if found is None:
            raise NotFound(f"entity {key} does not exist")
        return found

    def get_entity_by_uid(self, uid: str) -> Entity:
        """The entity whose ``metadata.uid`` is ``uid``. Raises NotFound."""
        with self.engine.connect() as conn:
            found = queries.entity_by_uid(conn, uid)
        if found is None:
            raise NotFound(f"no entity has uid {uid}")
        return found

    def get_entities_by_refs(self, entity_refs: Sequence[str], *,
                             fields: Sequence[str] | str | None = None) -> list[Entity | None]:
        """Entities in the order of ``entity_refs``; ``None`` where a ref does not exist.

        Raises:
            InvalidInput: more than 500 refs, or a malformed ref.
        """
        if len(entity_refs) > qf.MAX_PAGE_SIZE:
            raise InvalidInput(f"at most {qf.MAX_PAGE_SIZE} entityRefs per request")
        keys = [_ref_key(r) for r in entity_refs]
        with self.engine.connect() as conn:
            found = queries.entities_by_refs(conn, list(dict.fromkeys(keys)))
        return [qf.project(found[k], fields) if k in found else None for k in keys]

    def query_entities(self, *, filters: Any = None, full_text: str | None = None,
                       order: Any = None, limit: int = 20, cursor: str | None = None,
                       fields: Sequence[str] | str | None = None) -> EntityPage:
        """One page of entities matching Backstage filters and full text, with a next cursor.

        ``cursor`` (from a previous page) carries the query; other query arguments are then
        ignored, as in Backstage. ``limit`` is clamped to 1…500.

        Raises:
            InvalidInput: malformed filter, order or cursor.
        """
        if cursor:
            c = qf.decode_cursor(cursor)
            flt, text, ordering, after = c.filters, c.full_text, c.order, c
        else:
            flt, text, ordering, after = qf.parse_filters(filters), full_text, qf.parse_order(order), None
        with self.engine.connect() as conn:
            total = self._cached(conn, ("count", flt, text),
                                 lambda: queries.count_matching(conn, flt, text))
            page = queries.query_page(conn, filters=flt, full_text=text, order=ordering,
                                      limit=_clamp(limit), after=after, total=total)
        next_cursor = None
        if page.last is not None:
            next_cursor = qf.encode_cursor(qf.Cursor(flt, text, ordering, *page.last))
        items = [qf.project(e, fields) for e in page.items]
        info = {"nextCursor": next_cursor} if next_cursor else {}
        return EntityPage(items, page.total_items, next_cursor, None, info)

    def facets(self, *, facets: Iterable[str], filters: Any = None) -> dict[str, list[dict[str, Any]]]:
        """``{facet: [{"value", "count"}]}`` over the entities matching ``filters``.

        Values keep their original case (Backstage); at most 500 values per facet, most
        frequent first; at most 50 facets per call.

        Raises:
            InvalidInput: more than 50 facets, or malformed filters.
        """
        names = list(dict.fromkeys(facets))
        if len(names) > 50:
            raise InvalidInput("at most 50 facets per request")
        flt = qf.parse_filters(filters)
        out: dict[str, list[dict[str, Any]]] = {}
        with self.engine.connect() as conn:
            for name in names:
                counts = self._cached(conn, ("facet", name.lower(), flt),
                                      lambda n=name: queries.facet_counts(conn, n, flt))
                out[name] = [dict(c) for c in counts[: qf.MAX_PAGE_SIZE]]
        return out

    def delete_entity_by_uid(self, uid: str) -> None:
        """Delete one entity (it comes back at the next refresh if its location still has it).

        Raises:
            NotFound: no entity has that uid.
        """
        from goldenpath.catalog.store.tables import catalog_entities as t

        with self.engine.begin() as conn:
            if not conn.execute(t.delete().where(t.c.entity_id == uid)).rowcount:
                raise NotFound(f"no entity has uid {uid}")
            sync.bump_version(conn)

    def ancestry(self, ref: str | Mapping[str, Any]) -> dict[str, Any]:
        """Backstage's ancestry: ``{rootEntityRef, items: [{entity, parentEntityRefs}]}``.

        Follows the Location entities that emitted the entity up to the generated Location of
        its registered location. Raises NotFound.
        """
        key = _ref_key(ref)
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        current: str | None = key
        with self.engine.connect() as conn:
            while current and current not in seen:
                seen.add(current)
                entity = queries.entity_by_ref(conn, current)
                if entity is None:
                    if not items:
                        raise NotFound(f"entity {key} does not exist")
                    break
                parent = queries.parent_ref_of(conn, current)
                items.append({"entity": entity, "parentEntityRefs": [parent] if parent else []})
                current = parent
        return {"rootEntityRef": key, "items": items}

    def list_errors(self, *, location_id: str | None = None, limit: int = qf.MAX_PAGE_SIZE,
                    after: int | None = None) -> list[dict[str, Any]]:
        """Processing errors ``{id, location_id, source, index, entityRef, stage, path, message}``."""
        with self.engine.connect() as conn:
            return queries.list_errors(conn, location_id=location_id, after_id=after,
                                       limit=_clamp(limit))

    def list_dangling_relations(self, *, limit: int = qf.MAX_PAGE_SIZE) -> list[dict[str, str]]:
        """Relations ``{source, type, target}`` whose target entity does not exist."""
        with self.engine.connect() as conn:
            return queries.dangling_relations(conn, limit=_clamp(limit))

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
                out.extend(processing.process_file(
                    f, rules=self.rules, allowed_roots=self.settings.allowed_roots,
                    max_bytes=self.settings.max_document_bytes,
                    max_aliases=self.settings.max_alias_count))
        return out


def _clamp(limit: int) -> int:
    return max(1, min(int(limit), qf.MAX_PAGE_SIZE))


def _ref_key(ref: str | Mapping[str, Any]) -> str:
    return refs.parse_entity_ref(ref).key()
