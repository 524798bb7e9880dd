"""Which deployment a rollback brings back, and reusing a release: private half of
:mod:`goldenpath.deploy.service`."""

from __future__ import annotations

from sqlalchemy import Engine

from goldenpath.deploy import store
from goldenpath.deploy.records import Deployment
from goldenpath.errors import Conflict, InvalidInput, NotFound

__all__ = ["copy_build", "rollback_source"]


def rollback_source(engine: Engine, current: Deployment, to: int | None) -> Deployment:
    """The deployment a rollback from ``current`` (the stable one) brings back: ``to``, or
    the newest earlier succeeded one with another release.

    Raises:
        NotFound: ``to`` unknown, or no earlier successful deployment.
        InvalidInput: ``to`` is of another service/environment.
        Conflict: ``to`` did not succeed, or is ``current``.
    """
    if to is not None:
        old = store.get_deployment(engine, to)
        if (old.service, old.environment) != (current.service, current.environment):
            raise InvalidInput(
                f"deployment {to} is of {old.service} in {old.environment}, not of "
                f"{current.service} in {current.environment}",
                details={"field": "to"},
            )
        if old.state != "succeeded":
            raise Conflict(f"deployment {to} {old.state}; roll back only to one that succeeded")
        if old.id == current.id:
            raise Conflict(
                f"deployment {to} is what serves {current.service} in {current.environment} now"
            )
        return old
    for old in store.list_deployments(
        engine,
        service=current.service,
        environment=current.environment,
        states=["succeeded"],
        before_id=current.id,
        limit=100,
    ):
        if old.release_id and old.release_id != current.release_id:
            return old
    raise NotFound(
        f"{current.service} has no successful deployment in {current.environment} before "
        f"{current.version} to roll back to"
    )


def copy_build(engine: Engine, d: Deployment, source: Deployment) -> None:
    """Give ``d`` the commit and release of ``source`` (rollback, clone: nothing is built)."""
    if source.sha and source.committed_at and source.commit_author is not None:
        store.set_revision(
            engine,
            d.id,
            sha=source.sha,
            committed_at=source.committed_at,
            commit_author=source.commit_author,
        )
    if source.release_id:
        store.set_release(engine, d.id, source.release_id)
