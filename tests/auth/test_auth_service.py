"""AuthService on a real migrated database (SQLite and PostgreSQL, the ``engine`` fixture)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from goldenpath.auth.models import Role
from goldenpath.auth.service import AuthService, hash_token, require_write
from goldenpath.auth.store import auth_tokens
from goldenpath.errors import Forbidden, InvalidInput, NotFound, Unauthorized


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


USERS = {"user:default/admin", "user:default/jane"}


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def auth(engine: Engine, clock: _Clock) -> AuthService:
    return AuthService(engine=engine, clock=clock, user_exists=USERS.__contains__)


def test_token_is_returned_once_and_only_its_hash_is_stored(
    auth: AuthService, engine: Engine
) -> None:
    created = auth.create_token(owner="user:default/jane", role="member", name="ci")
    assert created.token.startswith("gp_") and len(created.token) > 40
    with engine.connect() as conn:
        rows = conn.execute(select(auth_tokens)).mappings().all()
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0].values())
    assert created.token not in stored
    assert created.token[3:] not in stored
    assert rows[0]["token_hash"] == hash_token(created.token)
    assert all("token" not in key or key == "token_hash" for key in created.info.to_json())


def test_authenticate_returns_the_owner_and_role(auth: AuthService) -> None:
    created = auth.create_token(owner="jane", role=Role.VIEWER, name="dash")
    who = auth.authenticate(created.token)
    assert (who.user, who.role, who.token_id) == ("user:default/jane", Role.VIEWER, created.info.id)


@pytest.mark.parametrize("token", [None, "", "gp_unknown", "Bearer x"])
def test_unknown_or_missing_tokens_are_unauthorized(auth: AuthService, token: str | None) -> None:
    with pytest.raises(Unauthorized):
        auth.authenticate(token)


def test_revoked_and_expired_tokens_stop_working(auth: AuthService, clock: _Clock) -> None:
    revoked = auth.create_token(owner="jane", role="member", name="old")
    expiring = auth.create_token(
        owner="jane", role="member", name="short", expires_in=timedelta(hours=1)
    )
    auth.revoke_token(revoked.info.id)
    auth.revoke_token(revoked.info.id)  # idempotent
    with pytest.raises(Unauthorized, match="revoked"):
        auth.authenticate(revoked.token)
    assert auth.authenticate(expiring.token).user == "user:default/jane"
    clock.now += timedelta(hours=2)
    with pytest.raises(Unauthorized, match="expired"):
        auth.authenticate(expiring.token)
    with pytest.raises(NotFound):
        auth.revoke_token("no-such-id")


def test_last_used_is_recorded(auth: AuthService, clock: _Clock) -> None:
    created = auth.create_token(owner="jane", role="member", name="ci")
    assert auth.list_tokens()[0].last_used_at is None
    clock.now += timedelta(minutes=5)
    auth.authenticate(created.token)
    assert auth.list_tokens()[0].last_used_at == clock.now


@pytest.mark.parametrize(
    ("owner", "role", "match"),
    [
        ("user:default/ghost", "member", "no User entity"),
        ("group:default/team-a", "member", "not a user reference"),
        ("jane", "superuser", "admin, member, viewer"),
    ],
)
def test_create_token_refuses_bad_input(
    auth: AuthService, owner: str, role: str, match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        auth.create_token(owner=owner, role=role, name="x")


def test_viewers_can_only_read(auth: AuthService) -> None:
    viewer = auth.authenticate(auth.create_token(owner="jane", role="viewer", name="v").token)
    require_write(viewer, "GET")
    with pytest.raises(Forbidden, match="viewer"):
        require_write(viewer, "POST")


def test_admin_token_file_is_private_and_created_once(auth: AuthService, tmp_path: Path) -> None:
    token_file = tmp_path / "fresh" / "home" / "admin-token"
    assert auth.ensure_admin_token(token_file) is True
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    token = token_file.read_text().strip()
    who = auth.authenticate(token)
    assert (who.user, who.role) == ("user:default/admin", Role.ADMIN)
    assert auth.ensure_admin_token(token_file) is False
    assert token_file.read_text().strip() == token


def test_audit_rows_are_listed_newest_first_with_paging(auth: AuthService, clock: _Clock) -> None:
    who = auth.authenticate(auth.create_token(owner="jane", role="member", name="ci").token)
    for i in range(3):
        clock.now += timedelta(seconds=1)
        auth.record(principal=who, action="POST /x", target=f"/x/{i}", outcome=201)
    auth.record(principal=None, action="DELETE /y", target="/y", outcome=401)
    first = auth.list_audit(limit=2)
    assert [e.target for e in first] == ["/y", "/x/2"]
    assert first[0].actor is None and first[1].actor == "user:default/jane"
    rest = auth.list_audit(limit=10, before=first[-1].id)
    assert [e.target for e in rest] == ["/x/1", "/x/0"]
    mine = auth.list_audit(actor="user:default/jane")
    assert [e.target for e in mine] == ["/x/2", "/x/1", "/x/0"]
