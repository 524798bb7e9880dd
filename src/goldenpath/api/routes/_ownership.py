"""Ownership checks of the API's write routes: members act only on what their groups own.

Rules (:mod:`goldenpath.auth.permissions`): admins act on everything; a member deploys,
promotes, aborts, rolls back, sets secrets of and claims resources for a service only when
its owner is one of their groups (catalog ``memberOf``) or themselves; viewers never get
here (``require_write`` refused them). A service's owner is its catalog Component's
``spec.owner``; a service the catalog does not know falls back to ``metadata.team`` of its
spec (the spec being deployed, else its latest deployment); with neither it is unowned and
open to every member. Refusals are 403 problems naming the owner and who may act.
"""

from __future__ import annotations

from goldenpath.api.deps import Services
from goldenpath.auth.models import Principal, Role
from goldenpath.auth.permissions import (
    component_owner,
    groups_of,
    may_act,
    normalise_owner_ref,
    who_may_act,
)
from goldenpath.deploy.service import DeployRequest
from goldenpath.errors import Forbidden

__all__ = [
    "require_claim_owner",
    "require_deploy_owner",
    "require_owner",
    "require_owner_ref",
    "service_owner",
]


def _team_ref(team: object) -> str | None:
    if not isinstance(team, str) or not team.strip():
        return None
    return normalise_owner_ref(team)


def service_owner(svc: Services, service: str, *, team: str | None = None) -> str | None:
    """The owner ref of ``service``: the Component's ``spec.owner``, else ``team`` (the
    spec's ``metadata.team``), else the team in its latest deployment's spec; None when
    unowned."""
    owner = component_owner(svc.catalog, service)
    if owner is not None:
        return owner
    if team:
        return _team_ref(team)
    latest = svc.deploy.history(service=service, limit=1)
    return _team_ref(latest[0].workload.get("team")) if latest else None


def require_owner_ref(svc: Services, who: Principal, owner: str | None, *, action: str) -> None:
    """Refuse ``who`` unless they may act on something owned by ``owner``.

    ``action`` completes the message: ``"deploy checkout"``.

    Raises:
        Forbidden: a member outside the owning group (names the owner and who may act).
    """
    if who.role is Role.ADMIN:
        return
    if may_act(who, owner, groups_of(svc.catalog, who.user)):
        return
    raise Forbidden(
        f"{who.user} may not {action}: it is owned by {owner}, and only {who_may_act(owner)} "
        f"may change it; ask a member of {owner} or an admin, or join the group in the catalog",
        details={"owner": owner},
    )


def require_owner(svc: Services, who: Principal, service: str, *, action: str) -> None:
    """:func:`require_owner_ref` for the owner of ``service`` (:func:`service_owner`)."""
    if who.role is Role.ADMIN:
        return
    require_owner_ref(svc, who, service_owner(svc, service), action=f"{action} {service}")


def require_deploy_owner(svc: Services, who: Principal, request: DeployRequest) -> None:
    """Ownership of a new deployment: the service is named by the spec being deployed, so a
    member's request reads the spec first (admins skip this).

    Raises:
        Forbidden: as :func:`require_owner_ref`.
        InvalidInput / NotFound / Unavailable: the spec cannot be read (as a deploy would).
    """
    if who.role is Role.ADMIN:
        return
    workload = svc.deploy.read_spec(request)
    owner = service_owner(svc, workload.name, team=workload.team)
    require_owner_ref(svc, who, owner, action=f"deploy {workload.name}")


def require_claim_owner(
    svc: Services, who: Principal, name: str, *, environment: str, owner: str | None = None
) -> None:
    """Ownership of a resource claim: ``owner`` (a new claim's) or the existing claim's
    ``owner``; unowned claims are open to members.

    Raises:
        Forbidden: as :func:`require_owner_ref`.
    """
    if who.role is Role.ADMIN:
        return
    if owner is None:
        found = [c for c in svc.resources.list(environment=environment) if c.name == name]
        owner = found[0].owner if found else None
    require_owner_ref(svc, who, owner, action=f"change the {name} claim in {environment}")
