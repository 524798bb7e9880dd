"""Entity pages and facets (mixed into :class:`~goldenpath.catalog.reads.CatalogReads`).

Filtered and full-text pages with cursors, and facets. ``totalItems`` and facet counts are
cached per process, keyed by the catalog's write counter (``catalog_state.version``), so any
write anywhere invalidates them.

The ``try_*`` variants answer only when the work is known to be small and bounded whatever
the catalog's size (an API can then serve them on its event loop) and return ``None``
otherwise; the caller then uses the plain method, from a worker thread.

Source: https://backstage.io/docs/features/software-catalog/software-catalog-api
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import QueuePool

from goldenpath.catalog import filters as qf
from goldenpath.catalog.store import compiled, pages, queries, stitch
from goldenpath.errors import InvalidInput

__all__ = [
    "FAST_LIMIT",
    "FAST_RELATIONS",
    "EntityPage",
    "PageReads",
    "clamp_limit",
    "projected",
]

_CACHE_SIZE = 512
#: ``try_*`` reads answer pages of at most this many items …
FAST_LIMIT = 100
#: … and entities (or pages) with at most this many relation rows; else they return None
FAST_RELATIONS = 2000

#: a parsed query: filters, full text, order, and the cursor position (None: first page)
_Query = tuple[qf.FilterSet, str | None, qf.Order | None, qf.Cursor | None]


@dataclass(slots=True)
class EntityPage:
    """A page of ``query_entities``: Backstage's ``{items, totalItems, pageInfo}``.

    ``items``: entity dicts from ``query_entities``, JSON documents (bytes) from
    ``query_entities_json``.
    """

    items: list[Any]
    total_items: int
    next_cursor: str | None = None
    prev_cursor: str | None = None
    page_info: dict[str, str] = field(default_factory=dict)


class PageReads:
    """Page and facet use cases over ``self.engine``, with the per-version cache."""

    engine: Engine
    #: PostgreSQL: where ``try_*`` reads run (``store.engine.make_read_engine``); None: ``engine``
    read_engine: Engine | None = None
    #: ``try_*`` budgets (class defaults :data:`FAST_LIMIT`, :data:`FAST_RELATIONS`)
    fast_limit: int = FAST_LIMIT
    fast_relations: int = FAST_RELATIONS

    def __init__(self) -> None:
        # counts and facets keyed by the catalog's write counter: any write invalidates them
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        # the sizes of the plans' scopes (all entities, one kind): few, needed by every filter
        # of their kind, so kept apart from the LRU above, at the current version only
        self._scopes: dict[tuple[int, qf.FilterSet], int] = {}
        self._cache_lock = threading.Lock()

    def _scope(
        self, conn: Connection, version: int, scope_filter: qf.FilterSet, *, fast: bool
    ) -> int | None:
        """How many entities a walk reads through (one kind's, or all): cached per catalog
        version; ``fast``: None when not cached (counting scans an index)."""
        with self._cache_lock:
            found = self._scopes.get((version, scope_filter))
        if found is not None or fast:
            return found
        counted = queries.count_matching(conn, scope_filter, None)
        with self._cache_lock:
            if any(v != version for v, _ in self._scopes):
                self._scopes = {k: n for k, n in self._scopes.items() if k[0] == version}
            self._scopes[(version, scope_filter)] = counted
        return counted

    def _cached(self, version: int, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """``compute()``, memoised per catalog ``version`` (read once per request)."""
        value = self._peek(version, key)
        if value is not None:
            return value
        value = compute()
        self._remember(version, key, value)
        return value

    @contextmanager
    def _connect(self, *, fast: bool) -> Iterator[Connection]:
        """A connection; ``fast``: from ``read_engine`` when there is one (its sessions are
        bounded), else an idle pooled one (never wait for the pool); either way its lock
        waits and statements are bounded (``compiled.bounded_waits``).

        Raises:
            compiled.Contended: ``fast`` and no connection to be had at once, or a bound
                was hit.
        """
        engine = self.read_engine if fast and self.read_engine is not None else self.engine
        pool = engine.pool
        shared = fast and engine is self.engine  # worker threads may hold all of its pool
        if shared and isinstance(pool, QueuePool) and pool.checkedin() == 0:
            raise compiled.Contended("no idle database connection")
        try:
            connection = engine.connect()
        except sa_exc.TimeoutError as e:  # the read engine's pool is full (it never waits)
            raise compiled.Contended("no database connection free") from e
        with connection as conn:
            if fast:
                with compiled.bounded_waits(conn):
                    yield conn
            else:
                yield conn
            compiled.end_read(conn)  # keeps the connection's prepared statements

    def _peek(self, version: int, key: tuple[Any, ...]) -> Any:
        """The cached value of ``key`` at ``version``, or None."""
        full = (version, *key)
        with self._cache_lock:
            if full in self._cache:
                self._cache.move_to_end(full)
            return self._cache.get(full)

    def _remember(self, version: int, key: tuple[Any, ...], value: Any) -> None:
        with self._cache_lock:
            self._cache[(version, *key)] = value
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)

    def query_entities(
        self,
        *,
        filters: Any = None,
        full_text: str | None = None,
        order: Any = None,
        limit: int = 20,
        cursor: str | None = None,
        fields: Sequence[str] | str | None = None,
    ) -> EntityPage:
        """One page of entities matching Backstage filters and full text, with a next cursor.

        ``cursor`` (from a previous page) carries the query; other query arguments are then
        ignored, as in Backstage. ``limit`` is clamped to 1…500.

        Raises:
            InvalidInput: malformed filter, order or cursor.
        """
        page = self.query_entities_json(
            filters=filters,
            full_text=full_text,
            order=order,
            limit=limit,
            cursor=cursor,
            fields=fields,
        )
        docs: list[Any] = page.items
        page.items = [orjson.loads(doc) for doc in docs]
        return page

    def query_entities_json(
        self,
        *,
        filters: Any = None,
        full_text: str | None = None,
        order: Any = None,
        limit: int = 20,
        cursor: str | None = None,
        fields: Sequence[str] | str | None = None,
    ) -> EntityPage:
        """Like :meth:`query_entities`, with ``items`` as JSON documents (bytes) to send as is.

        Raises:
            InvalidInput: malformed filter, order or cursor.
        """
        query = _parse_query(filters, full_text, order, cursor)
        page = self._query_json(query, clamp_limit(limit), fields, fast=False)
        assert page is not None
        return page

    def try_query_entities_json(
        self,
        *,
        filters: Any = None,
        full_text: str | None = None,
        order: Any = None,
        limit: int = 20,
        cursor: str | None = None,
        fields: Sequence[str] | str | None = None,
    ) -> EntityPage | None:
        """:meth:`query_entities_json` when the page is known to be cheap, else None.

        Cheap: no full text, no order, at most ``fast_limit`` items, the counts the plan
        needs are cached (or the filter matches at most ``pages.SMALL_SET_MAX`` entities),
        the plan reads a bounded number of rows, the page has at most ``fast_relations``
        relation rows, and (PostgreSQL) no lock is held against it for more than 100 ms.
        Raises like :meth:`query_entities_json`.
        """
        query = _parse_query(filters, full_text, order, cursor)
        if query[1] or query[2] is not None or clamp_limit(limit) > self.fast_limit:
            return None
        return self._query_json(query, clamp_limit(limit), fields, fast=True)

    def _query_json(
        self, query: _Query, limit: int, fields: Sequence[str] | str | None, *, fast: bool
    ) -> EntityPage | None:
        flt, text, ordering, _after = query
        try:
            with self._connect(fast=fast) as conn:
                version = queries.version(conn)
                page = self._page(conn, version, query, limit, fast=fast)
                if page is None:
                    return None
                budget = self.fast_relations if fast else None
                docs = stitch.stitch_json(conn, page.rows, max_relations=budget)
        except (stitch.TooManyRelations, compiled.Contended):
            return None
        next_cursor = None
        if page.last is not None:
            next_cursor = qf.encode_cursor(qf.Cursor(flt, text, ordering, *page.last))
        items: list[Any] = [projected(d, fields) for d in docs]
        info = {"nextCursor": next_cursor} if next_cursor else {}
        return EntityPage(items, page.total_items, next_cursor, None, info)

    def _page(
        self, conn: Connection, version: int, query: _Query, limit: int, *, fast: bool
    ) -> pages.Page | None:
        """The page's rows (None: ``fast`` and the page is not known to be cheap)."""
        flt, text, ordering, after = query
        scope_filter = pages.scope_filter(flt)
        if after is None and ordering is None and flt and not text:
            page = self._first_page_of_small_set(conn, version, flt, limit)
            if page is not None:
                if not fast and page.last is not None:
                    # the next page's plan (walk or set) needs the scope's size
                    self._scope(conn, version, scope_filter, fast=False)
                return page
        scope = self._scope(conn, version, scope_filter, fast=fast)
        if fast:
            total = self._peek(version, ("count", flt, text))
            if total is None or not pages.bounded(flt, text, ordering, limit, total, scope):
                return None  # the worker thread counts what is missing, once per version
        else:
            total = self._count(conn, version, flt, text)
        return queries.query_page(
            conn,
            filters=flt,
            full_text=text,
            order=ordering,
            limit=limit,
            after=after,
            total=total,
            scope=scope,
        )

    def _first_page_of_small_set(
        self, conn: Connection, version: int, flt: qf.FilterSet, limit: int
    ) -> pages.Page | None:
        """A first page without counting first, when the filter's count is not cached yet and
        it matches few entities (their sorted refs are the count); None otherwise."""
        if self._peek(version, ("count", flt, None)) is not None:
            return None
        page = pages.first_page_of_small_set(conn, flt, limit)
        if page is not None:
            self._remember(version, ("count", flt, None), page.total_items)
        return page

    def _count(self, conn: Connection, version: int, flt: qf.FilterSet, text: str | None) -> int:
        """``count_matching``, cached until the catalog's next write."""
        count: int = self._cached(
            version, ("count", flt, text), partial(queries.count_matching, conn, flt, text)
        )
        return count

    def facets(
        self, *, facets: Iterable[str], filters: Any = None
    ) -> dict[str, list[dict[str, Any]]]:
        """``{facet: [{"value", "count"}]}`` over the entities matching ``filters``.

        Values keep their original case (Backstage); at most 500 values per facet, most
        frequent first; at most 50 facets per call.

        Raises:
            InvalidInput: more than 50 facets, or malformed filters.
        """
        out = self._facets(facets, filters, cached_only=False)
        assert out is not None
        return out

    def try_facets(
        self, *, facets: Iterable[str], filters: Any = None
    ) -> dict[str, list[dict[str, Any]]] | None:
        """:meth:`facets` when every facet asked for is cached, else None. Raises like it."""
        return self._facets(facets, filters, cached_only=True)

    def _facets(
        self, facets: Iterable[str], filters: Any, *, cached_only: bool
    ) -> dict[str, list[dict[str, Any]]] | None:
        names = list(dict.fromkeys(facets))
        if len(names) > 50:
            raise InvalidInput("at most 50 facets per request")
        flt = qf.parse_filters(filters)
        out: dict[str, list[dict[str, Any]]] = {}
        try:
            with self._connect(fast=cached_only) as conn:
                version = queries.version(conn)
                for name in names:
                    key = ("facet", name.lower(), flt)
                    counts = self._peek(version, key)
                    if counts is None and cached_only:
                        return None
                    if counts is None:
                        compute = partial(queries.facet_counts, conn, name, flt)
                        counts = self._cached(version, key, compute)
                    out[name] = [dict(c) for c in counts[: qf.MAX_PAGE_SIZE]]
        except compiled.Contended:
            return None
        return out


def _parse_query(filters: Any, full_text: str | None, order: Any, cursor: str | None) -> _Query:
    """The query a request asks for; a ``cursor`` carries its own (other arguments ignored).

    Raises:
        InvalidInput: malformed filter, order or cursor.
    """
    if cursor:
        c = qf.decode_cursor(cursor)
        return c.filters, c.full_text, c.order, c
    return qf.parse_filters(filters), full_text, qf.parse_order(order), None


def projected(doc: bytes, fields: Sequence[str] | str | None) -> bytes:
    """``doc`` unchanged, or re-serialised keeping only ``fields`` (Backstage's projection)."""
    return orjson.dumps(qf.project(orjson.loads(doc), fields)) if fields else doc


def clamp_limit(limit: int) -> int:
    """``limit`` bounded to 1…:data:`~goldenpath.catalog.filters.MAX_PAGE_SIZE`."""
    return max(1, min(int(limit), qf.MAX_PAGE_SIZE))
