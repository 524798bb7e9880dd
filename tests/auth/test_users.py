"""Local accounts (argon2 passwords), ownership permissions and portal session tokens, on a
real migrated database (SQLite and PostgreSQL: the ``engine`` fixture) and a real catalog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from argon2 import PasswordHasher
from sqlalchemy import Engine, select

from goldenpath.auth._users_table import auth_users
from goldenpath.auth.models import Principal, Role
from goldenpath.auth.permissions import component_owner, groups_of, may_act, normalise_owner_ref
from goldenpath.auth.service import AuthService
from goldenpath.auth.users import (
    SESSION_TOKEN_NAME,
    UserService,
    create_session_token,
    revoke_sessions,
)
from goldenpath.errors import Conflict, InvalidInput, NotFound, Unauthorized
from goldenpath.store.metadata import metadata

CATALOG_USERS = {"user:default/admin", "user:default/jane", "user:default/bob"}
#: real argon2id with small parameters, so the suite stays fast; the default is tested once
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
FAILED = "sign-in failed: unknown user or wrong password"


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def users(engine: Engine, clock: _Clock) -> UserService:
    return UserService(
        engine=engine, clock=clock, user_exists=CATALOG_USERS.__contains__, hasher=CHEAP
    )


def test_the_password_is_stored_as_an_argon2id_hash_and_sign_ins_are_recorded(
    engine: Engine, clock: _Clock
) -> None:
    users = UserService(engine=engine, clock=clock)  # argon2-cffi's default parameters
    made = users.create("Jane", password="correct-horse")
    assert (made.ref, made.role, made.has_password) == ("user:default/jane", Role.MEMBER, True)
    assert made.first_login_at is None and made.last_login_at is None
    with engine.connect() as conn:
        stored = conn.execute(select(auth_users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "correct-horse" not in stored
    first = users.verify("jane", "correct-horse")
    assert first.first_login_at == first.last_login_at == clock.now
    clock.now += timedelta(hours=2)
    again = users.verify("user:default/jane", "correct-horse")
    assert again.first_login_at == first.first_login_at and again.last_login_at == clock.now


def test_failed_sign_ins_do_not_say_whether_the_user_exists(users: UserService) -> None:
    users.create("jane", password="correct-horse")
    users.create("bob")  # no password yet: single sign-on only
    for user, password in [
        ("jane", "wrong-horse"),
        ("nobody", "correct-horse"),
        ("bob", ""),
        ("group:default/team-a", "correct-horse"),
    ]:
        with pytest.raises(Unauthorized) as caught:
            users.verify(user, password)
        assert caught.value.message == FAILED
    users.set_disabled("jane")
    with pytest.raises(Unauthorized, match="disabled"):
        users.verify("jane", "correct-horse")
    with pytest.raises(Unauthorized, match=r"^sign-in failed"):
        users.verify("jane", "wrong-horse")  # disabled is only told to the password holder
    users.set_disabled("jane", False)
    assert users.verify("jane", "correct-horse").ref == "user:default/jane"


def test_account_rules_name_the_fix(users: UserService) -> None:
    assert users.create("admin").role is Role.ADMIN  # the built-in admin defaults to admin
    assert users.create("bob", role="viewer").role is Role.VIEWER
    cases = [
        (lambda: users.create("ghost"), InvalidInput, "no User entity 'user:default/ghost'"),
        (lambda: users.create("jane", password="short"), InvalidInput, "8 to 1024 characters"),
        (lambda: users.create("jane", role="root"), InvalidInput, "use one of admin"),
        (lambda: users.create("component:x"), InvalidInput, "not a user reference"),
        (lambda: users.create("bob"), Conflict, "platform user passwd bob"),
        (lambda: users.set_password("jane", "long-enough"), NotFound, "platform user add jane"),
    ]
    for call, error, text in cases:
        with pytest.raises(error, match=text):
            call()
    assert [u.ref for u in users.list_users()] == ["user:default/admin", "user:default/bob"]


def test_a_new_password_replaces_the_old_one(users: UserService, clock: _Clock) -> None:
    users.create("jane", password="first-password")
    clock.now += timedelta(minutes=5)
    changed = users.set_password("jane", "second-password")
    assert changed.updated_at == clock.now
    with pytest.raises(Unauthorized):
        users.verify("jane", "first-password")
    assert users.verify("jane", "second-password").has_password


def test_a_hash_with_old_parameters_is_upgraded_at_sign_in(engine: Engine) -> None:
    UserService(engine=engine, hasher=CHEAP).create("jane", password="correct-horse")
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    UserService(engine=engine, hasher=stronger).verify("jane", "correct-horse")
    with engine.connect() as conn:
        stored = conn.execute(select(auth_users.c.password_hash)).scalar_one()
    assert "$m=2048,t=2,p=1$" in stored
    assert UserService(engine=engine, hasher=stronger).verify("jane", "correct-horse")


def test_migration_0009_matches_the_users_table(engine: Engine) -> None:
    def ours(name: str | None, type_: str, parent: object) -> bool:
        return type_ != "table" or name == "auth_users"

    def our_objects(obj: object, name: str | None, type_: str, *_: object) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return str(getattr(table, "name", None) or name or "") == "auth_users"

    with engine.connect() as conn:
        opts = {"include_name": ours, "include_object": our_objects}
        assert list(compare_metadata(MigrationContext.configure(conn, opts=opts), metadata)) == []


def test_session_tokens_expire_and_are_revoked_per_user(engine: Engine, clock: _Clock) -> None:
    auth = AuthService(engine=engine, clock=clock)
    made = create_session_token(
        auth, owner="jane", role="member", name=SESSION_TOKEN_NAME, max_age=600
    )
    assert made.info.expires_at == clock.now + timedelta(seconds=600)
    bob = create_session_token(
        auth, owner="bob", role="member", name=SESSION_TOKEN_NAME, max_age=600
    )
    ci = auth.create_token_unchecked(owner="user:default/jane", role=Role.MEMBER, name="ci")
    assert auth.authenticate(made.token).user == "user:default/jane"
    assert revoke_sessions(auth, "jane") == 1
    with pytest.raises(Unauthorized, match="revoked"):
        auth.authenticate(made.token)
    assert auth.authenticate(ci.token).token_name == "ci"  # other tokens of jane stay
    assert auth.authenticate(bob.token).user == "user:default/bob"
    clock.now += timedelta(seconds=601)
    with pytest.raises(Unauthorized, match="expired"):
        auth.authenticate(bob.token)


# --- permissions ------------------------------------------------------------------------------


def _who(user: str, role: Role) -> Principal:
    return Principal(user=user, role=role, token_id="t", token_name="n")


@pytest.mark.parametrize(
    ("role", "owner", "groups", "allowed"),
    [
        (Role.ADMIN, "group:default/team-a", (), True),
        (Role.MEMBER, "team-a", ("group:default/team-a",), True),
        (Role.MEMBER, "group:default/TEAM-A", ("group:default/team-a",), True),
        (Role.MEMBER, "team-a", ("group:default/team-b",), False),
        (Role.MEMBER, "user:jane", (), True),  # the owner themselves
        (Role.MEMBER, "user:default/bob", ("group:default/team-a",), False),
        (Role.MEMBER, None, (), True),  # unowned: open to members
        (Role.VIEWER, "team-a", ("group:default/team-a",), False),
        (Role.VIEWER, None, (), False),
    ],
)
def test_who_may_act_on_what(
    role: Role, owner: str | None, groups: tuple[str, ...], allowed: bool
) -> None:
    assert may_act(_who("user:default/jane", role), owner, groups) is allowed


def test_owner_refs_default_to_groups_in_the_entitys_namespace() -> None:
    assert normalise_owner_ref("team-a") == "group:default/team-a"
    assert normalise_owner_ref("Team-A", namespace="Shop") == "group:shop/team-a"
    assert normalise_owner_ref("user:jane") == "user:default/jane"
    assert normalise_owner_ref("group:ops/SRE") == "group:ops/sre"
    with pytest.raises(InvalidInput):
        normalise_owner_ref(" ")


ORG = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
spec: {type: team, children: []}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: sre, namespace: ops}
spec: {type: team, children: [], members: [user:default/jane]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: jane}
spec: {memberOf: [team-a]}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: checkout, namespace: shop}
spec: {type: service, lifecycle: production, owner: payments}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: ledger}
spec: {type: library, lifecycle: production, owner: user:jane}
"""


def test_groups_and_owners_come_from_the_catalog(catalog: Any, tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(ORG, encoding="utf-8")
    catalog.register_location(type="file", target=str(path))
    # spec.memberOf of the User and spec.members of a Group both count
    assert groups_of(catalog, "user:default/jane") == ("group:default/team-a", "group:ops/sre")
    assert groups_of(catalog, "user:default/bob") == ()
    assert groups_of(catalog, "user:default/ghost") == ()
    assert component_owner(catalog, "checkout", namespace="shop") == "group:shop/payments"
    assert component_owner(catalog, "ledger") == "user:default/jane"
    assert component_owner(catalog, "nothing") is None
