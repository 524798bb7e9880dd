"""Portal page ``/search?q=``: entities (the catalog's full text) and docs, grouped.

Entities come from ``CatalogService.query_entities(full_text=q)`` (name, title, description,
tags, owner), grouped by kind. Docs come from the ``search/search_index.json`` MkDocs writes
into every built TechDocs site (``<techdocs_dir>/<namespace>/<kind>/<name>/``): a page or
section matches when every word of the query occurs in its title or text; title matches rank
first. Indexes are read once per file change (mtime) and kept in memory; only sites that
have been built (their Docs tab opened) are searched.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from goldenpath.portal.routes.techdocs import builder_of
from goldenpath.portal.session import ViewerDep, app_singleton, services_of
from goldenpath.portal.web import render

__all__ = ["DocHit", "DocsIndex", "router"]

router = APIRouter(include_in_schema=False)

ENTITY_LIMIT = 50
DOC_LIMIT = 30
_FIELDS = [
    "kind",
    "metadata.name",
    "metadata.namespace",
    "metadata.title",
    "metadata.description",
    "spec.owner",
    "spec.type",
]
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class DocHit:
    """A docs page or section that matches: the entity (namespace/kind/name as in the site's
    directory), the page ``title``, ``location`` in the site (``runbook/#restart``), a
    ``snippet`` of text around the first match and a ``score``."""

    namespace: str
    kind: str
    name: str
    title: str
    location: str
    snippet: str
    score: int

    @property
    def url(self) -> str:
        """The Docs tab opened at this page."""
        base = f"/catalog/{self.namespace}/{self.kind}/{self.name}/docs"
        return f"{base}?page={quote(self.location, safe='/')}" if self.location else base


class DocsIndex:
    """The search indexes of every built site under ``root`` (cached per file mtime)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[int, list[tuple[str, str, str]]]] = {}

    def _entries(self, path: Path) -> list[tuple[str, str, str]]:
        """``(location, title, text)`` of one ``search_index.json`` (lower-cased copies are
        made at match time)."""
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return []
        with self._lock:
            hit = self._cache.get(path)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        try:
            docs = json.loads(path.read_text(encoding="utf-8")).get("docs") or []
        except (OSError, ValueError, AttributeError):
            docs = []
        entries = [
            (
                str(d.get("location") or ""),
                str(d.get("title") or ""),
                _TAGS.sub("", str(d.get("text") or "")),
            )
            for d in docs
            if isinstance(d, dict)
        ]
        with self._lock:
            self._cache[path] = (mtime, entries)
        return entries

    def search(self, q: str, *, limit: int = DOC_LIMIT) -> list[DocHit]:
        """Pages/sections where every word of ``q`` occurs, best first, one per page."""
        words = [w.lower() for w in _WORDS.findall(q)]
        if not words or not self.root.is_dir():
            return []
        best: dict[tuple[str, str, str, str], DocHit] = {}
        for index in sorted(self.root.glob("*/*/*/search/search_index.json")):
            site = index.parent.parent
            namespace, kind, name = site.parent.parent.name, site.parent.name, site.name
            for location, title, text in self._entries(index):
                hit = _match(words, location, title, text)
                if hit is None:
                    continue
                score, snippet = hit
                page = location.split("#", 1)[0]
                key = (namespace, kind, name, page)
                found = best.get(key)
                if found is None or score > found.score:
                    best[key] = DocHit(namespace, kind, name, title, location, snippet, score)
        return sorted(best.values(), key=lambda h: (-h.score, h.name, h.location))[:limit]


def _match(words: list[str], location: str, title: str, text: str) -> tuple[int, str] | None:
    low_title, low_text = title.lower(), text.lower()
    score = 0
    for w in words:
        if w in low_title:
            score += 3
        elif w in low_text:
            score += 1
        else:
            return None
    if not location or location.endswith("/"):
        score += 1  # whole pages before their sections
    at = low_text.find(words[0])
    start = max(0, at - 60)
    snippet = ("…" if start else "") + text[start : start + 200].strip()
    if start + 200 < len(text):
        snippet += "…"
    return score, snippet


def _docs_index(request: Request) -> DocsIndex:
    return app_singleton(
        request, "portal_docs_index", lambda: DocsIndex(builder_of(request).out_root)
    )


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, _viewer: ViewerDep, q: str = "") -> HTMLResponse:
    """Entities and docs matching ``q``, grouped (entities by kind, then docs)."""
    q = q.strip()[:200]
    groups: dict[str, list[dict[str, Any]]] = {}
    total = 0
    docs: list[DocHit] = []
    if q:
        page = services_of(request).catalog.query_entities(
            full_text=q, limit=ENTITY_LIMIT, fields=_FIELDS
        )
        total = page.total_items
        for entity in page.items:
            groups.setdefault(str(entity.get("kind") or "Other"), []).append(entity)
        docs = _docs_index(request).search(q)
    context = {
        "title": f"Search: {q}" if q else "Search",
        "nav": "search",
        "q": q,
        "search_query": q,
        "groups": sorted(groups.items()),
        "entity_total": total,
        "shown": sum(len(v) for v in groups.values()),
        "docs": docs,
        "more_url": f"/catalog?kind=all&q={quote(q)}" if total > ENTITY_LIMIT else None,
    }
    return render(request, "search.html", context)
