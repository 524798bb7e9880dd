"""``AuthService``: API tokens, authentication, the first-start admin token, the audit log.

Tokens are ``gp_`` + ``secrets.token_urlsafe(32)``; only their SHA-256 hex digest is stored,
so a database dump never reveals a usable token. The secret is returned once, at creation.

Authentication is on every request, so verified tokens are cached in memory by hash for
``TOKEN_CACHE_TTL`` seconds (bounded LRU). Revoking a token in this process drops it from the
cache at once; a revocation made by another replica takes effect within the TTL. Expiry is
checked against the clock on every request. ``last_used_at`` is noted in memory (at most once
a minute per token) and written by :meth:`AuthService.flush_usage`, which the API calls off
the request path every few seconds and at shutdown; listing tokens flushes first.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
import uuid
from collections import OrderedDict
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

__all__ = [
    "ADMIN_USER",
    "TOKEN_CACHE_TTL",
    "AuthService",
    "hash_token",
    "require_admin",
    "require_write",
]

ADMIN_USER = "user:default/admin"
MAX_PAGE = 500
#: seconds a verified token is trusted without reading the database again
TOKEN_CACHE_TTL = 30.0
_TOKEN_CACHE_MAX = 4096
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
        self._lock = threading.Lock()
        # token hash -> (token row, monotonic time it was read); never holds a secret
        self._verified: OrderedDict[str, tuple[TokenRead, float]] = OrderedDict()
        self._last_noted: dict[str, datetime] = {}  # token id -> last use noted
        self._pending: dict[str, datetime] = {}  # token id -> last use not yet written

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
            id=str(uuid.uuid4()),
            name=name.strip(),
            owner=owner,
            role=role,
            created_at=now,
            expires_at=now + expires_in if expires_in else None,
        )
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        store.insert_token(self._engine, info=info, token_hash=hash_token(secret))
        return TokenCreated(token=secret, info=info)

    def authenticate(self, token: str | None) -> Principal:
        """The principal behind a bearer token (reads the database unless recently verified).

        Raises:
            Unauthorized: no token, an unknown token, a revoked or an expired one.
        """
        if not token:
            raise Unauthorized(
                "missing credentials: send 'Authorization: Bearer <token>' "
                "(the admin token is in the admin-token file under the data directory)"
            )
        token_hash = hash_token(token)
        info = self._cached(token_hash)
        if info is None:
            info = store.find_token_by_hash(self._engine, token_hash)
            if info is None:
                raise Unauthorized(
                    "invalid token: it is not known to this server; create one "
                    "with 'platform auth token create'"
                )
            if info.revoked_at is not None:
                raise Unauthorized(f"token {info.id} ({info.name}) was revoked; use another token")
            self._remember(token_hash, info)
        return self._admit(info)

    def authenticate_cached(self, token: str | None) -> Principal | None:
        """Like :meth:`authenticate` from memory only: None when the token is not cached.

        Does no IO, so the API calls it on the event loop and falls back to
        :meth:`authenticate` in a worker thread.

        Raises:
            Unauthorized: the cached token has expired.
        """
        info = self._cached(hash_token(token)) if token else None
        return None if info is None else self._admit(info)

    def _cached(self, token_hash: str) -> TokenRead | None:
        with self._lock:
            hit = self._verified.get(token_hash)
            if hit is None:
                return None
            if time.monotonic() - hit[1] > TOKEN_CACHE_TTL:
                del self._verified[token_hash]
                return None
            self._verified.move_to_end(token_hash)
            return hit[0]

    def _remember(self, token_hash: str, info: TokenRead) -> None:
        with self._lock:
            self._verified[token_hash] = (info, time.monotonic())
            while len(self._verified) > _TOKEN_CACHE_MAX:
                self._verified.popitem(last=False)

    def _admit(self, info: TokenRead) -> Principal:
        """Check expiry against the clock and note the use; no IO."""
        now = self._clock()
        if info.expires_at is not None and info.expires_at <= now:
            raise Unauthorized(f"token {info.id} ({info.name}) expired; create a new one")
        with self._lock:
            last = self._last_noted.get(info.id, info.last_used_at)
            if last is None or now - last >= _TOUCH_EVERY:
                self._last_noted[info.id] = now
                self._pending[info.id] = now
        return Principal(user=info.owner, role=info.role, token_id=info.id, token_name=info.name)

    def flush_usage(self) -> int:
        """Write the noted last-use times of tokens; returns how many rows were written.

        Best effort: a busy database skips a row (logged), as before.
        """
        with self._lock:
            pending, self._pending = self._pending, {}
        for token_id, at in pending.items():
            store.touch_token(self._engine, token_id, at)
        return len(pending)

    def list_tokens(self, *, limit: int = 100, after: str | None = None) -> list[TokenRead]:
        """Tokens (no secrets), ordered by id; ``after`` continues a previous page."""
        self.flush_usage()
        return store.list_tokens(self._engine, limit=_bound(limit), after=after)

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token; revoking twice is harmless.

        Raises:
            NotFound: no token has that id.
        """
        with self._lock:
            for key in [k for k, (info, _) in self._verified.items() if info.id == token_id]:
                del self._verified[key]
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

    def create_token_unchecked(
        self, *, owner: str, role: Role, name: str, expires_in: timedelta | None = None
    ) -> TokenCreated:
        """Like :meth:`create_token` without the catalog lookup (bootstrap, portal sign-ins)."""
        checker, self._user_exists = self._user_exists, None
        try:
            return self.create_token(owner=owner, role=role, name=name, expires_in=expires_in)
        finally:
            self._user_exists = checker

    def record(
        self, *, principal: Principal | None, action: str, target: str, outcome: int
    ) -> None:
        """Append an audit row (``action`` like ``POST /api/catalog/locations``)."""
        store.insert_audit(
            self._engine,
            at=self._clock(),
            actor=principal.user if principal else None,
            token_id=principal.token_id if principal else None,
            action=action,
            target=target,
            outcome=outcome,
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
    raise Forbidden(
        f"{principal.user} holds a viewer token, which can only read (GET); "
        "ask an admin for a member token"
    )


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
