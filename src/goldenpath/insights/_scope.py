"""Argument checks and report scopes for :mod:`goldenpath.insights.service` (private).

A DORA scope is one service, a team (the Components whose ``spec.owner`` is that Group) or
a system (``spec.system``), resolved to service names through catalog queries, or the
organisation (no filter).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from goldenpath.errors import InvalidInput

__all__ = ["MAX_WINDOW_DAYS", "actor_name", "resolve_scope", "service_name", "window_days"]

#: the longest report window (10 years)
MAX_WINDOW_DAYS = 3650
_SERVICE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_REF = re.compile(r"(?:([a-z0-9-]+):)?(?:([a-z0-9._-]+)/)?([a-z0-9._-]+)")
_PAGE = 500


def window_days(value: object) -> int:
    """``value`` when it is an int of 1-3650 days (InvalidInput naming ``window`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WINDOW_DAYS:
        raise InvalidInput(
            f"window of {value!r} days is out of range; use 1-{MAX_WINDOW_DAYS} days (e.g. 90)",
            details={"field": "window"},
        )
    return value


def service_name(service: object) -> str:
    """``service`` lower-cased when it is a DNS label (InvalidInput naming ``service``)."""
    name = service.strip().lower() if isinstance(service, str) else ""
    if not _SERVICE.match(name):
        raise InvalidInput(
            f"service {service!r} is not a DNS label (the Component's metadata.name, e.g. "
            "'checkout')",
            details={"field": "service"},
        )
    return name


def actor_name(actor: object) -> str:
    """``actor`` stripped (≤ 200 characters); InvalidInput when empty."""
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidInput(
            "actor is empty; pass the user or token name", details={"field": "actor"}
        )
    return actor.strip()[:200]


def ref_variants(value: object, kind: str, field: str) -> tuple[str, list[str]]:
    """The full lower-case ref of a Group/System and the ways ``spec.owner``/``spec.system``
    may spell it (``team-a``, ``group:team-a``, ``group:default/team-a``, ``default/team-a``).

    Raises:
        InvalidInput: not a ``[kind:][namespace/]name`` reference of ``kind``.
    """
    text = value.strip().lower() if isinstance(value, str) else ""
    match = _REF.fullmatch(text)
    if not match or (match.group(1) not in (None, kind)):
        raise InvalidInput(
            f"{field} {value!r} is not a {kind} reference; use [{kind}:][<namespace>/]<name>, "
            f"e.g. {kind}:default/payments",
            details={"field": field},
        )
    namespace, name = match.group(2) or "default", match.group(3)
    ref = f"{kind}:{namespace}/{name}"
    variants = [ref, f"{namespace}/{name}"]
    if namespace == "default":
        variants += [name, f"{kind}:{name}"]
    return ref, variants


def resolve_scope(
    catalog: Any, *, service: str | None, team: str | None, system: str | None
) -> tuple[set[str] | None, str]:
    """``(service names or None for all, scope label)`` for at most one of the scopes;
    labels: ``organisation``, ``service:<name>``, ``team:<group ref>``, ``system:<ref>``.

    Raises:
        InvalidInput: more than one scope, or a malformed name/ref.
    """
    given = [(k, v) for k, v in (("service", service), ("team", team), ("system", system)) if v]
    if len(given) > 1:
        raise InvalidInput(
            f"choose one scope, not {' and '.join(k for k, _ in given)}: a service, a team "
            "or a system (none = the organisation)",
            details={"field": given[1][0]},
        )
    if not given:
        return None, "organisation"
    key, value = given[0]
    if key == "service":
        name = service_name(value)
        return {name}, f"service:{name}"
    ref, variants = ref_variants(value, "group" if key == "team" else "system", key)
    field = "spec.owner" if key == "team" else "spec.system"
    return component_names(catalog, {"kind": "component", field: variants}), f"{key}:{ref}"


def component_names(catalog: Any, filters: Mapping[str, Any]) -> set[str]:
    """Lower-case ``metadata.name`` of every entity matching ``filters`` (pages of 500)."""
    names: set[str] = set()
    page = catalog.query_entities(filters=filters, limit=_PAGE, fields=["metadata.name"])
    while True:
        names.update(str(e["metadata"]["name"]).lower() for e in page.items)
        if not page.next_cursor:
            return names
        page = catalog.query_entities(cursor=page.next_cursor, limit=_PAGE)
