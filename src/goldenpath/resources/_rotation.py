"""Rotation of a claim's credentials at their source (private to the service).

Registered with :meth:`SecretService.register_rotator` for the source prefix ``resource:``:
``platform secrets rotate ORDERS_DB_PASSWORD`` (or ``--all``) sets a new password on the
role (``ALTER ROLE … PASSWORD``) or the redis instance (``requirepass``) first, and only
then are the new secret versions stored — the old password stops working at once.
"""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Mapping
from typing import TYPE_CHECKING

from goldenpath.errors import InvalidInput
from goldenpath.resources import _checks, store
from goldenpath.resources.model import output_secret_names
from goldenpath.secrets.service import SecretScope

if TYPE_CHECKING:
    from goldenpath.resources.service import ResourceService
    from goldenpath.secrets.service import SecretMeta

__all__ = ["SOURCE", "rotate"]

SOURCE = "resource:"


def rotate(svc: ResourceService, meta: SecretMeta) -> Mapping[str, str]:
    """Set a new password for the claim ``meta.source`` names, at its source.

    Returns every output of the claim (password and URL new, the others unchanged) so a
    ``rotate --all`` rotates each claim once.

    Raises:
        InvalidInput: the secret has no environment or the claim no local credentials.
        NotFound / Conflict: the claim is missing or not ready.
    """
    name = meta.source[len(SOURCE) :]
    environment = meta.scope.environment
    if environment is None:
        raise InvalidInput(f"secret {meta.name}: a resource output must have an environment")
    claim = _checks.ready_claim(svc.engine, name, environment, "rotate the credentials of")
    resource = store.resource_of(svc.engine, claim.id)
    scope = SecretScope(environment=environment)
    names = output_secret_names(claim.name)
    current = {
        secret: svc.secrets.get(secret, scope=scope)
        for secret in names.values()
        if secret in claim.outputs_ref
    }
    old = current[names["password"]]
    new = pysecrets.token_urlsafe(24)
    if "role" in resource:
        svc.postgres.set_password(str(resource["role"]), new)
    elif "instance" in resource:
        svc.redis.set_password(str(resource["instance"]), new)
    else:
        raise InvalidInput(f"resource {name!r} has no local credentials to rotate")
    return {secret: value.replace(old, new) for secret, value in current.items()}
