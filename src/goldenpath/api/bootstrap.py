"""First start of a data directory: the built-in organisation catalog and the admin token.

Users and Groups are catalog entities and a token belongs to a user, so the first start
writes ``<home>/catalog/platform-org.yaml`` (Group ``platform-admins`` and User ``admin``,
a member of it), registers it as a ``file`` location, and only then creates the admin token
(``user:default/admin``, role admin) in ``settings.admin_token_file`` (mode 0600). A failed
registration leaves no token behind, so the next start tries again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from goldenpath.auth.service import AuthService
from goldenpath.errors import Conflict, Forbidden
from goldenpath.settings import Settings

__all__ = ["ORG_CATALOG", "first_start"]

_log = logging.getLogger(__name__)

ORG_CATALOG = """\
# Written by goldenpath at first start: the platform's own organisation.
# Edit freely; the refresh loop picks up changes. Tokens belong to these Users.
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: platform-admins
  title: Platform administrators
  description: Administrators of this goldenpath installation.
spec:
  type: team
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: admin
  description: The built-in administrator; owner of the admin token.
spec:
  profile:
    displayName: Platform admin
  memberOf: [platform-admins]
"""


def org_catalog_path(settings: Settings) -> Path:
    """``<home>/catalog/platform-org.yaml``."""
    return settings.home / "catalog" / "platform-org.yaml"


def first_start(*, settings: Settings, auth: AuthService, catalog: Any) -> bool:
    """Run the first-start steps when no token exists yet; True when they ran.

    A ``catalog.allowed_roots`` that excludes ``<home>/catalog`` only skips the registration
    (with a warning naming the fix); the admin token is still created.

    Raises:
        PlatformError: the organisation catalog could not be registered (nothing created).
    """
    if auth.list_tokens(limit=1):
        return False
    path = org_catalog_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ORG_CATALOG, encoding="utf-8")
    try:
        catalog.register_location(type="file", target=str(path))
    except Conflict:
        _log.info("organisation catalog %s already registered", path)
    except Forbidden:
        _log.warning(
            "organisation catalog %s is outside catalog.allowed_roots and was not registered; "
            "add %s to catalog.allowed_roots so the admin user exists in the catalog",
            path,
            path.parent,
        )
    auth.ensure_admin_token(settings.admin_token_file)
    _log.info("first start: admin token written to %s (mode 0600)", settings.admin_token_file)
    return True
