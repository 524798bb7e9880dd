"""Who owns something, as facts a policy can check: does the owner exist, and of what kind.

Policy guardrails (issue 5: "the owner must be a Group in the catalog") need the catalog's
answer for a ``spec.owner`` / ``metadata.team`` value; deploy and scaffolder ask it here.
"""

from __future__ import annotations

from typing import Any, Protocol

from goldenpath.catalog.refs import parse_entity_ref
from goldenpath.errors import InvalidInput, NotFound

__all__ = ["EntityReader", "owner_facts"]


class EntityReader(Protocol):
    """What :func:`owner_facts` reads: :meth:`CatalogService.get_entity_by_ref`."""

    def get_entity_by_ref(self, ref: str) -> dict[str, Any]:
        """The entity, or ``NotFound``."""
        ...


def owner_facts(catalog: EntityReader, owner: str | None) -> dict[str, Any]:
    """``{"ref", "exists", "kind"}`` for ``owner`` (``team-a`` → ``group:default/team-a``).

    ``ref`` is the full lowercase ref (``None`` when no owner is given or it does not parse);
    ``exists`` whether the catalog has that entity; ``kind`` its kind as the catalog spells
    it (``Group``, ``User``) or ``None``. Never raises for an unknown owner.
    """
    if not owner:
        return {"ref": None, "exists": False, "kind": None}
    try:
        ref = str(parse_entity_ref(owner, default_kind="group")).lower()
    except InvalidInput:
        return {"ref": owner, "exists": False, "kind": None}
    try:
        entity = catalog.get_entity_by_ref(ref)
    except NotFound:
        return {"ref": ref, "exists": False, "kind": None}
    return {"ref": ref, "exists": True, "kind": entity.get("kind")}
