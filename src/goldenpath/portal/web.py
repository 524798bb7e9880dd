"""Rendering: the Jinja2 environment of the portal's templates and ``render``.

Templates autoescape (``.html``). Every page extends ``base.html``, which expects ``viewer``
(the signed-in :class:`goldenpath.portal.session.Viewer` or None), ``title`` and ``nav``
(the active top-level section: home, catalog, create, actions, deployments, insights, search).

Globals and filters every template may use:

- ``entity_url(ref_or_entity, default_kind="component")`` → ``/catalog/<ns>/<kind>/<name>``
  (an entity dict keeps the kind's spelling; a ref string is lower-case);
- ``short_ref(ref)`` → ``checkout`` for ``component:default/checkout``, ``team-a`` for a
  default-namespace group, the full ref otherwise;
- ``csrf_token()`` → the signed-in viewer's CSRF token (or the sign-in form's), for forms;
  ``_macros.html``'s ``csrf_field()`` wraps it;
- filters ``dt`` (``2026-12-04 16:57 UTC``), ``ago`` (``5 min ago``), ``duration``
  (seconds → ``1h 2m``) accepting datetimes or ISO-8601 strings (None → ``—``).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

__all__ = [
    "TEMPLATES",
    "TEMPLATE_DIR",
    "ago",
    "entity_url",
    "format_dt",
    "format_duration",
    "render",
    "short_ref",
]

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATES = Jinja2Templates(directory=str(TEMPLATE_DIR))

#: the CSRF token of the page being rendered (rendering is synchronous, inside ``render``)
_CSRF: ContextVar[str] = ContextVar("goldenpath_portal_csrf", default="")
_DASH = "—"


def _when(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def format_dt(value: Any) -> str:
    """``2026-12-04 16:57 UTC`` for a datetime or ISO-8601 string; ``—`` for None."""
    when = _when(value)
    return when.strftime("%Y-%m-%d %H:%M UTC") if when is not None else _DASH


def format_duration(seconds: Any) -> str:
    """Seconds as ``45s``, ``3m 20s``, ``1h 2m``, ``2d 4h``; ``—`` for None."""
    if seconds is None:
        return _DASH
    total = round(float(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def ago(value: Any, now: datetime | None = None) -> str:
    """``just now``, ``5 min ago``, ``3 h ago``, ``2 days ago``; ``—`` for None."""
    when = _when(value)
    if when is None:
        return _DASH
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return "1 day ago" if days == 1 else f"{days} days ago"


def _split_ref(ref: str, default_kind: str) -> tuple[str, str, str]:
    text = ref.strip()
    kind, _, rest = text.partition(":") if ":" in text else (default_kind, "", text)
    namespace, _, name = rest.rpartition("/") if "/" in rest else ("default", "", rest)
    return kind, namespace or "default", name


def entity_url(ref: Any, default_kind: str = "component") -> str:
    """The portal URL of an entity (a ref string or an entity dict)."""
    if isinstance(ref, Mapping):
        meta = ref.get("metadata") or {}
        kind = str(ref.get("kind") or default_kind)
        namespace = str(meta.get("namespace") or "default")
        name = str(meta.get("name") or "")
    else:
        kind, namespace, name = _split_ref(str(ref), default_kind)
        kind, namespace, name = kind.lower(), namespace.lower(), name.lower()
    return f"/catalog/{namespace}/{kind}/{name}"


def short_ref(ref: Any) -> str:
    """A ref without the default namespace and kind noise (module doc)."""
    if not ref:
        return _DASH
    kind, namespace, name = _split_ref(str(ref), "component")
    if namespace.lower() == "default":
        return name
    return f"{kind}:{namespace}/{name}"


def _csrf_token() -> str:
    return _CSRF.get()


TEMPLATES.env.globals.update(entity_url=entity_url, short_ref=short_ref, csrf_token=_csrf_token)
TEMPLATES.env.filters.update(
    dt=format_dt, ago=ago, duration=format_duration, entity_url=entity_url, short_ref=short_ref
)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` with ``context`` (plus ``request``, and ``viewer`` when the route
    stored one on ``request.state.viewer``) into an HTML response."""
    ctx: dict[str, Any] = {"viewer": getattr(request.state, "viewer", None), "nav": None}
    ctx.update(context or {})
    viewer = ctx.get("viewer")
    csrf = str(ctx.get("csrf_token") or getattr(viewer, "csrf_token", "") or "")
    reset = _CSRF.set(csrf)
    try:
        return TEMPLATES.TemplateResponse(request, template, ctx, status_code=status_code)
    finally:
        _CSRF.reset(reset)
