"""Ownership permissions: who may act on a service (deploy, promote, set secrets, claim...).

The rule is the portal's and the API's alike (issue 7: "members of the owning Group act on a
service; others read"):

- an ``admin`` acts on everything;
- a ``member`` acts on what is owned by one of the groups they are a member of
  (``memberOf``), or by themselves; something with no owner at all (a service the catalog does
  not know, with no team in its spec) is open to every member;
- a ``viewer`` only reads.

Group membership comes from the catalog: the User entity's ``spec.memberOf`` and every Group
whose ``spec.members`` lists the user (both stitched into the User's ``memberOf``
relations). This module reads the catalog through a small Protocol, so it does not import
the catalog package.

Source: https://backstage.io/docs/features/software-catalog/descriptor-format#kind-user
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from goldenpath.auth.models import Principal, Role
from goldenpath.errors import InvalidInput, NotFound

__all__ = [
    "EntityReader",
    "component_owner",
    "groups_of",
    "may_act",
    "normalise_owner_ref",
    "who_may_act",
]


class EntityReader(Protocol):
    """What this module reads: ``CatalogService.get_entity_by_ref``."""

    def get_entity_by_ref(self, ref: str) -> Mapping[str, Any]:
        """The entity (with ``relations``), or ``NotFound``."""
        ...


def normalise_owner_ref(owner: str, *, namespace: str = "default") -> str:
    """An owner as a full lower-case entity ref: ``team-a`` → ``group:default/team-a``,
    ``user:jane`` → ``user:default/jane`` (Backstage's ``spec.owner`` defaults: kind Group,
    the entity's namespace).

    Raises:
        InvalidInput: an empty owner.
    """
    text = owner.strip()
    if not text:
        raise InvalidInput("owner: empty; expected [<kind>:][<namespace>/]<name>")
    kind, _, rest = text.partition(":") if ":" in text else ("group", "", text)
    ns, _, name = rest.rpartition("/") if "/" in rest else (namespace, "", rest)
    return f"{kind.lower()}:{(ns or namespace).lower()}/{name.lower()}"


def may_act(principal: Principal, owner_ref: str | None, groups: Iterable[str]) -> bool:
    """Whether ``principal`` may change something owned by ``owner_ref`` (module rules).

    ``owner_ref`` is normalised (``team-a`` is ``group:default/team-a``); ``groups`` are the
    principal's group refs (:func:`groups_of`). None = nothing owns it.
    """
    if principal.role is Role.ADMIN:
        return True
    if principal.role is not Role.MEMBER:
        return False
    if not owner_ref:
        return True
    owner = normalise_owner_ref(owner_ref)
    if owner == principal.user.lower():
        return True
    return owner in {g.lower() for g in groups}


def who_may_act(owner_ref: str | None) -> str:
    """A sentence for a refusal: who may act on something owned by ``owner_ref``."""
    if not owner_ref:
        return "members and admins"
    owner = normalise_owner_ref(owner_ref)
    if owner.startswith("user:"):
        return f"{owner} and admins"
    return f"members of {owner} and admins"


def groups_of(reader: EntityReader, user_ref: str) -> tuple[str, ...]:
    """The group refs (lower-case, sorted) ``user_ref`` is a member of, from the catalog;
    empty when the catalog has no such User."""
    try:
        entity = reader.get_entity_by_ref(user_ref)
    except (NotFound, InvalidInput):
        return ()
    namespace = str((entity.get("metadata") or {}).get("namespace") or "default")
    found: set[str] = set()
    for relation in entity.get("relations") or ():
        if relation.get("type") == "memberOf" and relation.get("targetRef"):
            found.add(str(relation["targetRef"]).lower())
    for group in (entity.get("spec") or {}).get("memberOf") or ():
        if isinstance(group, str) and group.strip():
            found.add(normalise_owner_ref(group, namespace=namespace))
    return tuple(sorted(found))


def component_owner(reader: EntityReader, name: str, *, namespace: str = "default") -> str | None:
    """``spec.owner`` of the Component ``name`` as a full ref, or None when the catalog has
    no such Component (or it names no owner)."""
    try:
        entity = reader.get_entity_by_ref(f"component:{namespace}/{name}")
    except (NotFound, InvalidInput):
        return None
    owner = (entity.get("spec") or {}).get("owner")
    if not isinstance(owner, str) or not owner.strip():
        return None
    ns = str((entity.get("metadata") or {}).get("namespace") or namespace)
    return normalise_owner_ref(owner, namespace=ns)
