"""Start-up steps: the organisation catalog and admin token (first start), built-in templates.

Users and Groups are catalog entities and a token belongs to a user, so the first start
writes ``<home>/catalog/platform-org.yaml`` (Group ``platform-admins`` and User ``admin``,
a member of it), registers it as a ``file`` location, and only then creates the admin token
(``user:default/admin``, role admin) in ``settings.admin_token_file`` (mode 0600). A failed
registration leaves no token behind, so the next start tries again.

Every start also publishes the golden-path templates packaged with goldenpath
(``goldenpath.scaffolder.builtin``) into the platform's git host and registers each as a
``url`` location; when the packaged files changed since the last start (a new commit in the
git host) the locations are refreshed. ``<home>/scaffolder/builtin-templates.json`` remembers
the digest of the packaged files, so an unchanged start costs one directory hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from goldenpath.auth.service import AuthService
from goldenpath.errors import Conflict, Forbidden, PlatformError
from goldenpath.settings import Settings

__all__ = ["ORG_CATALOG", "first_start", "publish_builtin_templates"]

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


def builtin_state_path(settings: Settings) -> Path:
    """``<home>/scaffolder/builtin-templates.json``: digest and targets of the last publish."""
    return settings.home / "scaffolder" / "builtin-templates.json"


def _digest(root: Path) -> str:
    """sha256 over the relative paths and contents of every file below ``root``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _registered_targets(catalog: Any) -> dict[str, str]:
    """``{target: location id}`` of every registered ``url`` location."""
    found: dict[str, str] = {}
    after = None
    while True:
        page = catalog.list_locations(limit=500, after=after)
        found.update({loc["target"]: loc["id"] for loc in page if loc["type"] == "url"})
        if len(page) < 500:
            return found
        after = page[-1]["id"]


def publish_builtin_templates(*, settings: Settings, catalog: Any, githost: Any) -> list[str]:
    """Publish the packaged templates and register (or refresh) their ``url`` locations.

    Returns the location targets. Never fails the start: a problem is logged with its fix and
    the platform runs without (or with the previous version of) the built-in templates.
    """
    if not settings.scaffolder.builtin_templates:
        return []
    try:
        from goldenpath.scaffolder import builtin
    except ImportError:
        _log.warning("goldenpath.scaffolder.builtin is missing; no built-in templates")
        return []
    state_path = builtin_state_path(settings)
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    digest = _digest(builtin.builtin_dir())
    registered = _registered_targets(catalog)
    targets = [str(t) for t in state.get("targets") or []]
    if state.get("digest") == digest and targets and all(t in registered for t in targets):
        return targets
    try:
        targets = list(builtin.publish_builtin_templates(githost))
    except PlatformError as e:
        _log.warning("could not publish the built-in templates: %s", e.message)
        return []
    for target in targets:
        _register_or_refresh(catalog, target, registered.get(target))
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps({"digest": digest, "targets": targets}), encoding="utf-8")
    _log.info("built-in templates published: %s", ", ".join(targets))
    return targets


def _register_or_refresh(catalog: Any, target: str, location_id: str | None) -> None:
    try:
        if location_id is None:
            catalog.register_location(type="url", target=target)
        else:
            catalog.refresh(location_id=location_id)
    except Conflict:
        _log.info(
            "built-in template location %s is busy or registered; the refresh loop "
            "picks up the new version",
            target,
        )
    except PlatformError as e:
        _log.warning("could not register built-in template location %s: %s", target, e.message)
