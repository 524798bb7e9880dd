"""Prometheus metrics of the API and the ASGI middleware that records them and the audit log.

Per-app ``CollectorRegistry`` (never the global one, so several apps — tests — coexist):

- ``goldenpath_http_requests_total{method,route,status}`` — counter,
- ``goldenpath_http_request_duration_seconds{method,route,status}`` — histogram (seconds),
- ``goldenpath_catalog_entities{kind}`` — gauge, read from the catalog at scrape time.

``route`` is the route template (``/api/catalog/entities/by-uid/{uid}``), never the raw
path, so label cardinality stays bounded; unmatched paths are ``<unmatched>``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ApiMetrics", "AuditHook", "RequestObserver"]

_log = logging.getLogger(__name__)
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: (principal or None, action, target, outcome status) -> None; runs in a worker thread.
AuditHook = Callable[[Any, str, str, int], None]


class _EntityCounts(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """The metric's name and help without touching the database (used at registration)."""
        yield self._family()

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "goldenpath_catalog_entities", "Entities in the catalog by kind", labels=["kind"]
        )

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = self._family()
        try:
            counts = self._counts()
        except Exception:  # a scrape must not fail because the catalog is busy
            _log.warning("catalog entity counts unavailable for /metrics", exc_info=True)
            counts = {}
        for kind, count in sorted(counts.items()):
            family.add_metric([kind], float(count))
        yield family


class ApiMetrics:
    """The per-app registry and its instruments.

    Args:
        entity_counts: returns ``{kind: count}``; called on every scrape.
    """

    def __init__(self, entity_counts: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "goldenpath_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "goldenpath_http_request_duration_seconds",
            "HTTP request latency in seconds by route template and status",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_EntityCounts(entity_counts))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)


class RequestObserver:
    """Pure ASGI middleware: times every HTTP request and audits the mutating ones.

    Mutating = POST/PUT/PATCH/DELETE except the route templates in ``read_only``.

    Sits inside Starlette's ``ServerErrorMiddleware``, so an unhandled exception is counted
    as status 500 (and re-raised for the 500 problem handler).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ApiMetrics,
        audit: AuditHook,
        read_only: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.audit = audit
        self.read_only = read_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            await self._finish(scope, status, time.perf_counter() - started)

    async def _finish(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"]
        route = getattr(scope.get("route"), "path", None) or "<unmatched>"
        self.metrics.observe(method, route, status, seconds)
        if method not in MUTATING or route in self.read_only:
            return
        who = (scope.get("state") or {}).get("principal")
        try:
            await run_in_threadpool(self.audit, who, f"{method} {route}", scope["path"], status)
        except Exception:
            _log.exception("could not write the audit row for %s %s", method, scope["path"])
