"""Portal TechDocs: the entity Docs tab and the built site's files.

- ``/catalog/{namespace}/{kind}/{name}/docs`` — the tab. The first view (and any view after
  the docs changed) starts a build (:class:`goldenpath.portal.techdocs_build.TechDocsBuilder`)
  and waits up to :data:`TAB_WAIT` seconds for it; a longer build shows a page that reloads
  itself (a ``<meta http-equiv="refresh">``, no JavaScript needed). ``?page=<path>`` opens a
  page of the site (what docs search results link to).
- ``/catalog/{namespace}/{kind}/{name}/docs/{path}`` — the built site's static files.

The tab shows the site in an ``<iframe>`` inside the portal's layout rather than extracting
each page's main content: the MkDocs site keeps its own navigation, styles, relative links
and images unchanged, and no HTML from a repository is pasted into the portal's pages. The
site's files are served with ``Content-Security-Policy: sandbox`` (same origin, **no
scripts**) and the iframe is sandboxed the same way, so a ``<script>`` in someone's Markdown
never runs with the portal's session; MkDocs' own scripts (search box, instant navigation) are
off as a consequence — the portal's ``/search`` covers docs search.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from goldenpath.errors import NotFound, PlatformError
from goldenpath.portal.routes.entity import load_entity
from goldenpath.portal.session import ViewerDep, app_singleton, services_of
from goldenpath.portal.techdocs_build import TechDocsBuilder
from goldenpath.portal.web import render

__all__ = ["DOCS_CSP", "TAB_WAIT", "builder_of", "router"]

router = APIRouter(include_in_schema=False)

TAB_WAIT = 20.0
#: the built sites' files: same origin (styles, images load with the session), no scripts
DOCS_CSP = (
    "sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox "
    "allow-top-navigation-by-user-activation; script-src 'none'; object-src 'none'; "
    "frame-ancestors 'self'"
)


def builder_of(request: Request) -> TechDocsBuilder:
    """The app's TechDocs builder (created at first use; one per app)."""

    def create() -> TechDocsBuilder:
        settings = services_of(request).settings
        out = settings.portal.techdocs_dir or settings.home / "techdocs"
        return TechDocsBuilder(out_root=Path(out), allowed_roots=settings.catalog.allowed_roots)

    return app_singleton(request, "portal_techdocs", create)


_BASE = "/catalog/{namespace}/{kind}/{name}/docs"


@router.get(_BASE, response_class=HTMLResponse)
def docs_tab(
    request: Request,
    _viewer: ViewerDep,
    namespace: str,
    kind: str,
    name: str,
    page: str = "",
) -> HTMLResponse:
    """The Docs tab: the built site in a sandboxed frame (or why there is none yet)."""
    entity = load_entity(request, namespace, kind, name)
    builder = builder_of(request)
    context: dict[str, Any] = {
        "title": f"Docs · {(entity.get('metadata') or {}).get('name')}",
        "nav": "catalog",
        "entity": entity,
        "tab": "docs",
        "problem": "",
        "status": None,
    }
    try:
        status = builder.ensure(entity, wait=TAB_WAIT)
    except PlatformError as e:
        context["problem"] = e.message
        return render(request, "entity_docs.html", context, status_code=200)
    page = page.lstrip("/")
    if ".." in page.split("/"):
        page = ""
    context["status"] = status
    if status.built_at:
        context["built"] = datetime.fromtimestamp(status.built_at, UTC)
    context["frame_src"] = f"{request.url.path}/{page}"
    return render(request, "entity_docs.html", context)


def _site_file(site: Path, path: str) -> Path:
    """The file of ``site`` at URL path ``path`` (a directory means its index.html).

    Raises:
        NotFound: nothing there, a hidden file, or a path leaving the site.
    """
    parts = [p for p in path.split("/") if p]
    if any(p.startswith(".") for p in parts):
        raise NotFound(f"no docs page at {path}")
    target = site.joinpath(*parts) if parts else site
    try:
        resolved = target.resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotFound(f"no docs page at {path}") from None
    if not resolved.is_relative_to(site.resolve()):
        raise NotFound(f"no docs page at {path}")
    if resolved.is_dir():
        resolved = resolved / "index.html"
        if not resolved.is_file():
            raise NotFound(f"no docs page at {path}")
    return resolved


@router.get(_BASE + "/{path:path}")
def docs_file(
    request: Request, _viewer: ViewerDep, namespace: str, kind: str, name: str, path: str
) -> Response:
    """A file of the entity's built site (HTML, CSS, images …), served under a no-script CSP."""
    site = builder_of(request).site_dir(namespace, kind, name)
    if not site.is_dir():
        raise NotFound(f"the docs of {kind} {name} have not been built; open its Docs tab")
    found = _site_file(site, path)
    headers = {"Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff"}
    return FileResponse(found, headers=headers)
