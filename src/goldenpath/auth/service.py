"""``AuthService``: API tokens, authentication, the first-start admin token, the audit log.

Tokens are ``gp_`` + ``secrets.token_urlsafe(32)``; only their SHA-256 hex digest is stored,
so a database dump never reveals a usable token. The secret is returned once, at creation.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from goldenpath.auth import store
from goldenpath.auth.models import (
    TOKEN_PREFIX,
    AuditEntry,
    Principal,
    Role,
    TokenCreated,
    TokenRead,
)
from goldenpath.errors import Forbidden, InvalidInput, NotFound, Unauthorized

__all__ = ["ADMIN_USER", "AuthService", "hash_token", "require_admin", "require_write"]

ADMIN_USER = "user:default/admin"
MAX_PAGE = 500
_TOUCH_EVERY = timedelta(seconds=60)

Clock = Callable[[], datetime]
UserExists = Callable[[str], bool]


def hash_token(token: str) -> str:
    """SHA-256 hex digest of ``token`` (the only form a token is stored in)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class AuthService:
    """Use cases of the auth domain.

    Args:
        engine: a migrated database (revision ``0002_auth`` or later).
        clock: returns the current UTC time; injected so tests can move time.
        user_exists: answers whether a ``user:`` entity ref exists in the catalog; used to
            refuse tokens for unknown users (the API wires it to ``CatalogService``).
    """

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock = _now,
        user_exists: UserExists | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._user_exists = user_exists

    def create_token(
        self,
        *,
        owner: str,
        role: Role | str,
        name: str,
        expires_in: timedelta | None = None,
    ) -> TokenCreated:
        """Create a token for the User ``owner`` (an entity ref like ``user:default/jane``).

        Raises:
            InvalidInput: bad role, empty name, or ``owner`` is not a ``user:`` ref of an
                existing User entity.
        """
        role = _parse_role(role)
        owner = _normalise_user_ref(owner)
        if not name.strip():
            raise InvalidInput("token name: must not be empty; give the token a name like 'ci'")
        if self._user_exists is not None and not self._user_exists(owner):
            raise InvalidInput(
                f"owner: no User entity {owner!r} in the catalog; register a catalog file "
                "with that User first (tokens belong to catalog users)",
                details={"errors": [{"path": "owner", "message": f"unknown user {owner}"}]},
            )
        now = self._clock()
        info = TokenRead(
            id=str(uuid.uuid4()), name=name.strip(), owner=owner, role=role, created_at=now,
            expires_at=now + expires_in if expires_in else None,
        )
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        store.insert_token(self._engine, info=info, token_hash=hash_token(secret))
        return TokenCreated(token=secret, info=info)

    def authenticate(self, token: str | None) -> Principal:
        """The principal behind a bearer token.

        Raises:
            Unauthorized: no token, an unknown token, a revoked or an expired one.
        """
        if not token:
            raise Unauthorized(
                "missing credentials: send 'Authorization: Bearer <token>' "
                "(the admin token is in the admin-token file under the data directory)"
            )
        info = store.find_token_by_hash(self._engine, hash_token(token))
        now = self._clock()
        if info is None:
            raise Unauthorized("invalid token: it is not known to this server; create one with "
                               "'platform auth token create'")
        if info.revoked_at is not None:
            raise Unauthorized(f"token {info.id} ({info.name}) was revoked; use another token")
        if info.expires_at is not None and info.expires_at <= now:
            raise Unauthorized(f"token {info.id} ({info.name}) expired; create a new one")
        if info.last_used_at is None or now - info.last_used_at >= _TOUCH_EVERY:
            store.touch_token(self._engine, info.id, now)
        return Principal(user=info.owner, role=info.role, token_id=info.id, token_name=info.name)

    def list_tokens(self, *, limit: int = 100, after: str | None = None) -> list[TokenRead]:
        """Tokens (no secrets), ordered by id; ``after`` continues a previous page."""
        return store.list_tokens(self._engine, limit=_bound(limit), after=after)

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token; revoking twice is harmless.

        Raises:
            NotFound: no token has that id.
        """
        if not store.revoke_token(self._engine, token_id, self._clock()):
            raise NotFound(
                f"token {token_id!r}: no such token; list them with GET /api/auth/tokens"
            )

    def ensure_admin_token(self, token_file: Path) -> bool:
        """At first start (no token exists) create the admin token and write it to ``token_file``.

        The file is created with mode 0600 (its parent directories 0700); the token is never
        logged. Returns True when a token was created.
        """
        if store.count_tokens(self._engine) > 0:
            return False
        created = self.create_token_unchecked(owner=ADMIN_USER, role=Role.ADMIN, name="admin")
        _write_secret(token_file, created.token + "\n")
        return True

    def create_token_unchecked(self, *, owner: str, role: Role, name: str) -> TokenCreated:
        """Like :meth:`create_token` without the catalog lookup (bootstrap only)."""
        checker, self._user_exists = self._user_exists, None
        try:
            return self.create_token(owner=owner, role=role, name=name)
        finally:
            self._user_exists = checker

    def record(
        self, *, principal: Principal | None, action: str, target: str, outcome: int
    ) -> None:
        """Append an audit row (``action`` like ``POST /api/catalog/locations``)."""
        store.insert_audit(
            self._engine, at=self._clock(),
            actor=principal.user if principal else None,
            token_id=principal.token_id if principal else None,
            action=action, target=target, outcome=outcome,
        )

    def list_audit(
        self, *, limit: int = 100, before: int | None = None, actor: str | None = None
    ) -> Sequence[AuditEntry]:
        """Newest audit rows first; ``before`` (an id) continues a previous page."""
        return store.list_audit(self._engine, limit=_bound(limit), before=before, actor=actor)


def require_write(principal: Principal, method: str) -> None:
    """Raise Forbidden when a viewer attempts anything but a read.

    Raises:
        Forbidden: ``principal`` is a viewer and ``method`` is not GET/HEAD/OPTIONS.
    """
    if method.upper() in ("GET", "HEAD", "OPTIONS") or principal.can_write():
        return
    raise Forbidden(f"{principal.user} holds a viewer token, which can only read (GET); "
                    "ask an admin for a member token")


def require_admin(principal: Principal) -> None:
    """Raise Forbidden unless ``principal`` holds an admin token."""
    if principal.role is not Role.ADMIN:
        raise Forbidden(f"{principal.user}: this needs an admin token (yours is {principal.role})")


def _parse_role(role: Role | str) -> Role:
    try:
        return Role(str(role).lower())
    except ValueError:
        raise InvalidInput(
            f"role: {role!r} is not a role; use one of admin, member, viewer",
            details={"errors": [{"path": "role", "message": "expected admin|member|viewer"}]},
        ) from None


def _normalise_user_ref(ref: str) -> str:
    """``jane`` → ``user:default/jane``; refuses refs of other kinds."""
    text = ref.strip()
    kind, _, rest = text.rpartition(":") if ":" in text else ("user", "", text)
    namespace, _, name = rest.rpartition("/") if "/" in rest else ("default", "", rest)
    if kind.lower() != "user" or not name or not namespace:
        raise InvalidInput(
            f"owner: {ref!r} is not a user reference; expected [user:][<namespace>/]<name>",
            details={"errors": [{"path": "owner", "message": "expected a user entity ref"}]},
        )
    return f"user:{namespace.lower()}/{name.lower()}"


def _bound(limit: int) -> int:
    if limit < 1 or limit > MAX_PAGE:
        raise InvalidInput(f"limit: must be between 1 and {MAX_PAGE}, got {limit}")
    return limit


def _write_secret(path: Path, text: str) -> None:
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
        os.chmod(path.parent, 0o700)  # mkdir's mode is filtered by the umask
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
