"""Local portal accounts: ``UserService`` (create, set a password, verify a sign-in, disable).

A local account belongs to a catalog User (``user:default/jane``) and holds an argon2id
password hash (argon2-cffi's defaults, RFC 9106), the role the account's sign-ins get
(``admin`` | ``member`` | ``viewer``) and whether it is disabled. The first start creates no
password: ``platform user add admin --password-stdin`` sets the administrator's.

Verifying a sign-in costs one argon2 hash whether or not the account exists (an unknown name
is checked against a dummy hash), and the failure message never says which of name or
password was wrong, so sign-in answers do not reveal which accounts exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine

from goldenpath.auth import _users_table as table
from goldenpath.auth.models import Role, TokenCreated
from goldenpath.auth.service import ADMIN_USER, AuthService, _normalise_user_ref, _parse_role
from goldenpath.errors import Conflict, InvalidInput, NotFound, Unauthorized

__all__ = [
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "SESSION_TOKEN_NAME",
    "User",
    "UserService",
    "create_session_token",
    "default_role",
    "normalise_user_ref",
    "revoke_sessions",
]

#: the name of the API tokens portal sign-ins create
SESSION_TOKEN_NAME = "portal session"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024

Clock = Callable[[], datetime]
UserExists = Callable[[str], bool]

_SIGN_IN_FAILED = "sign-in failed: unknown user or wrong password"


def _now() -> datetime:
    return datetime.now(UTC)


def normalise_user_ref(ref: str) -> str:
    """``jane`` → ``user:default/jane`` (lower-case).

    Raises:
        InvalidInput: ``ref`` names another kind or is empty.
    """
    return _normalise_user_ref(ref)


def default_role(ref: str) -> Role:
    """The role a new account gets when none is given: admin for the built-in
    ``user:default/admin``, member for everyone else."""
    return Role.ADMIN if normalise_user_ref(ref) == ADMIN_USER else Role.MEMBER


@dataclass(frozen=True, slots=True)
class User:
    """A local account without its hash. Times are aware UTC (None: never signed in)."""

    ref: str
    role: Role
    disabled: bool
    has_password: bool
    created_at: datetime
    updated_at: datetime
    first_login_at: datetime | None = None
    last_login_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON shape of ``GET /api/auth/users`` items (camelCase, ISO-8601 times)."""
        return {
            "user": self.ref,
            "role": self.role.value,
            "disabled": self.disabled,
            "hasPassword": self.has_password,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
            "firstLoginAt": _iso(self.first_login_at),
            "lastLoginAt": _iso(self.last_login_at),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _user(row: dict[str, Any]) -> User:
    return User(
        ref=row["ref"],
        role=Role(row["role"]),
        disabled=row["disabled"],
        has_password=row["password_hash"] is not None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        first_login_at=row["first_login_at"],
        last_login_at=row["last_login_at"],
    )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD or len(password) > MAX_PASSWORD:
        raise InvalidInput(
            f"password: must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long "
            f"(got {len(password)}); choose a longer passphrase",
            details={"errors": [{"path": "password", "message": "bad length"}]},
        )


class UserService:
    """Use cases of local accounts over the ``auth_users`` table.

    Args:
        engine: a migrated database (revision ``0009_users`` or later).
        clock: current UTC time (tests inject one).
        user_exists: answers whether a ``user:`` ref is a catalog User; when given, accounts
            can only be created for catalog Users (the API wires it to the catalog).
        hasher: the argon2 ``PasswordHasher`` (default parameters of argon2-cffi).
    """

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock = _now,
        user_exists: UserExists | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._user_exists = user_exists
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    def get(self, ref: str) -> User:
        """The account of ``ref`` (``jane`` or ``user:default/jane``).

        Raises:
            InvalidInput: not a user ref.
            NotFound: no account (the message names ``platform user add``).
        """
        key = normalise_user_ref(ref)
        row = table.get_user(self._engine, key)
        if row is None:
            raise NotFound(
                f"user {key!r} has no portal account; create one with "
                f"`platform user add {key.rpartition('/')[2]}`"
            )
        return _user(row)

    def find(self, ref: str) -> User | None:
        """Like :meth:`get`, None when there is no account."""
        try:
            return self.get(ref)
        except NotFound:
            return None

    def list_users(self) -> list[User]:
        """Every account, ordered by ref."""
        return [_user(row) for row in table.list_users(self._engine)]

    def create(
        self, ref: str, *, role: Role | str | None = None, password: str | None = None
    ) -> User:
        """Create the account of ``ref`` with ``role`` (default: :func:`default_role`) and,
        when given, a password.

        Raises:
            InvalidInput: bad ref, role or password length; ``ref`` is not a catalog User.
            Conflict: the account exists (set its password with :meth:`set_password`).
        """
        key = normalise_user_ref(ref)
        parsed = _parse_role(role) if role is not None else default_role(key)
        if password is not None:
            _check_password(password)
        if self._user_exists is not None and not self._user_exists(key):
            raise InvalidInput(
                f"user: no User entity {key!r} in the catalog; register a catalog file with "
                "that User first (portal accounts belong to catalog users)",
                details={"errors": [{"path": "user", "message": f"unknown user {key}"}]},
            )
        if table.get_user(self._engine, key) is not None:
            raise Conflict(
                f"user {key!r} already has an account; change its password with "
                f"`platform user passwd {key.rpartition('/')[2]}`"
            )
        hashed = self._hasher.hash(password) if password is not None else None
        table.insert_user(
            self._engine, ref=key, role=parsed.value, password_hash=hashed, now=self._clock()
        )
        return self.get(key)

    def set_password(self, ref: str, password: str) -> User:
        """Replace the account's password hash.

        Raises:
            InvalidInput: bad ref or password length.
            NotFound: no account.
        """
        _check_password(password)
        key = normalise_user_ref(ref)
        hashed = self._hasher.hash(password)
        if not table.update_user(self._engine, key, password_hash=hashed, updated_at=self._clock()):
            self.get(key)  # raises NotFound naming the fix
        return self.get(key)

    def set_role(self, ref: str, role: Role | str) -> User:
        """Change the role later sign-ins get (existing sessions keep theirs).

        Raises:
            InvalidInput: bad ref or role. NotFound: no account.
        """
        key = normalise_user_ref(ref)
        parsed = _parse_role(role)
        table.update_user(self._engine, key, role=parsed.value, updated_at=self._clock())
        return self.get(key)

    def set_disabled(self, ref: str, disabled: bool = True) -> User:
        """Disable (or re-enable) an account: a disabled account cannot sign in.

        Raises:
            InvalidInput: bad ref. NotFound: no account.
        """
        key = normalise_user_ref(ref)
        table.update_user(self._engine, key, disabled=disabled, updated_at=self._clock())
        return self.get(key)

    def verify(self, ref: str, password: str) -> User:
        """Check a sign-in and record it (first/last sign-in times); returns the account.

        Raises:
            Unauthorized: unknown user, no password set, wrong password, or a disabled
                account; the message does not say which of name or password was wrong.
        """
        try:
            key = normalise_user_ref(ref)
        except InvalidInput:
            key = ""
        row = table.get_user(self._engine, key) if key else None
        stored = row["password_hash"] if row is not None else None
        if not self._matches(stored, password):
            raise Unauthorized(_SIGN_IN_FAILED)
        assert row is not None and stored is not None
        if row["disabled"]:
            raise Unauthorized(f"user {key!r}: this account is disabled; ask an admin")
        if self._hasher.check_needs_rehash(stored):
            table.update_user(self._engine, key, password_hash=self._hasher.hash(password))
        return self.note_sign_in(key)

    def note_sign_in(self, ref: str) -> User:
        """Record a sign-in now (password or OIDC): ``last_login_at``, and ``first_login_at``
        the first time.

        Raises:
            NotFound: no account.
        """
        key = normalise_user_ref(ref)
        user = self.get(key)
        now = self._clock()
        values: dict[str, Any] = {"last_login_at": now}
        if user.first_login_at is None:
            values["first_login_at"] = now
        table.update_user(self._engine, key, **values)
        return self.get(key)

    def _matches(self, stored: str | None, password: str) -> bool:
        """argon2 verification; an absent hash still costs one verification."""
        if stored is None:
            if self._dummy is None:
                self._dummy = self._hasher.hash("goldenpath-no-such-account")
            stored, password = self._dummy, password + "\0"
            self._verify(stored, password)
            return False
        return self._verify(stored, password)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(stored, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def create_session_token(
    auth: AuthService, *, owner: str, role: Role | str, name: str, max_age: int
) -> TokenCreated:
    """A sign-in's API token: ``auth.create_token_unchecked`` (a signed-in account need not
    be a catalog User, e.g. a first OIDC sign-in) that expires ``max_age`` seconds after its
    creation. The returned ``info`` carries the expiry."""
    return auth.create_token_unchecked(
        owner=owner, role=_parse_role(role), name=name, expires_in=timedelta(seconds=max_age)
    )


def revoke_sessions(auth: AuthService, ref: str) -> int:
    """Revoke every live ``portal session`` token of ``ref`` (e.g. when the account is
    disabled); returns how many were revoked."""
    key = normalise_user_ref(ref)
    revoked, after = 0, None
    while True:
        page = auth.list_tokens(limit=500, after=after)
        for info in page:
            live = info.revoked_at is None
            if live and info.owner == key and info.name == SESSION_TOKEN_NAME:
                auth.revoke_token(info.id)
                revoked += 1
        if len(page) < 500:
            return revoked
        after = page[-1].id
