"""SecretService on SQLite and PostgreSQL: versions, scopes and their precedence, input checks,
rotation (generated, user, at the source), redaction, and migration 0006."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from goldenpath.errors import InvalidInput, NotFound, Unavailable
from goldenpath.secrets.envelope import SecretIntegrityError
from goldenpath.secrets.model import SecretMeta, check_name
from goldenpath.secrets.service import SecretScope, SecretService
from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine
from goldenpath.store.metadata import metadata

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
API_DEV = SecretScope(service="api", environment="dev")


@pytest.fixture
def svc(engine: Engine, settings: Settings) -> SecretService:
    return SecretService(engine=engine, settings=settings, clock=lambda: T0)


@pytest.fixture
def lite(tmp_path: Path, settings: Settings) -> SecretService:
    """SQLite only: for behaviour above the store (checks, messages, redaction)."""
    eng = make_engine(f"sqlite:///{tmp_path / 'lite.db'}")
    migrate.upgrade(eng)
    return SecretService(engine=eng, settings=settings, clock=lambda: T0)


def test_set_adds_versions_and_get_reads_the_newest(svc: SecretService) -> None:
    first = svc.set("DB_PASSWORD", "one-1", scope=API_DEV, actor="ada")
    second = svc.set("DB_PASSWORD", "two-2", scope=API_DEV, actor="bob")
    assert (first.version, second.version) == (1, 2)
    assert second.updated_at == T0 and second.updated_by == "bob" and second.source == "user"
    assert svc.get("DB_PASSWORD", scope=API_DEV) == "two-2"
    assert [m.version for m in svc.versions("DB_PASSWORD", scope=API_DEV)] == [2, 1]
    assert "two-2" not in repr(second) and "two-2" not in str(second.to_dict())
    with pytest.raises(NotFound, match="secret DB_PASSWORD does not exist in scope global"):
        svc.get("DB_PASSWORD")  # exact scope only: no fallback to a wider one
    with pytest.raises(NotFound, match=r"platform secrets list --service api --env prod"):
        svc.get("DB_PASSWORD", scope=SecretScope("api", "prod"))


def test_unicode_and_large_values_round_trip(svc: SecretService) -> None:
    value = "pässwörd ✓ " + "x" * (64 * 1024 - 20)
    svc.set("BIG", value, actor="ada")
    assert svc.get("BIG") == value
    with pytest.raises(InvalidInput, match="at most 65536 bytes") as caught:
        svc.set("BIG", "y" * (64 * 1024 + 1), actor="ada")
    assert "yyyy" not in caught.value.message


@pytest.mark.parametrize(
    ("name", "hint"),
    [("db-password", "DB_PASSWORD"), ("1TOKEN", "_1TOKEN"), ("", None), ("a b", "A_B")],
)
def test_names_must_be_environment_variable_style(name: str, hint: str | None) -> None:
    with pytest.raises(InvalidInput, match="upper-case letters") as caught:
        check_name(name)
    if hint:
        assert repr(hint) in caught.value.message


def test_bad_scope_nul_and_empty_input_are_refused(lite: SecretService) -> None:
    with pytest.raises(InvalidInput, match="service 'My API' is not a DNS label"):
        lite.set("A", "value", scope=SecretScope(service="My API"), actor="ada")
    with pytest.raises(InvalidInput, match="NUL"):
        lite.set("A", "va\x00lue", actor="ada")
    with pytest.raises(InvalidInput, match="at least one"):
        lite.set_many({}, actor="ada")
    with pytest.raises(InvalidInput, match="source"):
        lite.set("A", "value", actor="ada", source="magic")
    assert lite.list(all_scopes=True) == []


def test_set_many_is_one_transaction(svc: SecretService) -> None:
    metas = svc.set_many({"A": "aaaa", "B": "bbbb"}, scope=API_DEV, actor="ada")
    assert [(m.name, m.version) for m in metas] == [("A", 1), ("B", 1)]
    with pytest.raises(InvalidInput):
        svc.set_many({"A": "new-a", "b": "bad name"}, scope=API_DEV, actor="ada")
    assert svc.get("A", scope=API_DEV) == "aaaa"


def test_resolve_applies_scopes_in_precedence_order(svc: SecretService) -> None:
    svc.set_many({"A": "global", "B": "global", "C": "global", "D": "global"}, actor="ada")
    svc.set_many(
        {"B": "env", "C": "env", "D": "env"}, scope=SecretScope(environment="dev"), actor="ada"
    )
    svc.set_many({"C": "svc", "D": "svc"}, scope=SecretScope(service="api"), actor="ada")
    svc.set("D", "svc+env", scope=API_DEV, actor="ada")
    svc.set("E", "other", scope=SecretScope("web", "dev"), actor="ada")
    assert svc.resolve("api", "dev") == {"A": "global", "B": "env", "C": "svc", "D": "svc+env"}
    assert svc.resolve("api", "prod") == {"A": "global", "B": "global", "C": "svc", "D": "svc"}
    assert svc.resolve("web", "dev") == {
        "A": "global",
        "B": "env",
        "C": "env",
        "D": "env",
        "E": "other",
    }


def test_list_and_delete(svc: SecretService) -> None:
    svc.set("A", "global-a", actor="ada")
    svc.set("A", "global-a2", actor="ada")
    svc.set("B", "api-dev-b", scope=API_DEV, actor="ada")
    svc.set("C", "api-c", scope=SecretScope(service="api"), actor="ada")
    assert [(m.name, m.version) for m in svc.list()] == [("A", 2)]
    assert [m.name for m in svc.list(service="api", environment="dev")] == ["B"]
    every = svc.list(all_scopes=True)
    assert [(m.name, m.scope) for m in every] == [
        ("A", SecretScope()),
        ("C", SecretScope(service="api")),
        ("B", API_DEV),
    ]
    assert [m.name for m in svc.list(service="api", all_scopes=True)] == ["C", "B"]
    svc.delete("A", actor="ada")
    with pytest.raises(NotFound, match="secret A does not exist"):
        svc.delete("A", actor="ada")
    with pytest.raises(NotFound):
        svc.versions("A")
    assert svc.set("A", "again", actor="ada").version == 1


def test_concurrent_sets_each_get_their_own_version(svc: SecretService) -> None:
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for j in range(5):
                svc.set("RACE", f"value-{i}-{j}", scope=API_DEV, actor=f"w{i}")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sorted(m.version for m in svc.versions("RACE", scope=API_DEV)) == list(range(1, 21))


def test_a_row_copied_over_another_fails_to_decrypt(svc: SecretService, engine: Engine) -> None:
    svc.set("A", "value-of-a", scope=API_DEV, actor="ada")
    svc.set("B", "value-of-b", scope=API_DEV, actor="ada")
    svc.set("A", "value-of-a", scope=SecretScope(service="web"), actor="ada")
    table = sa.table(
        "secrets_versions",
        sa.column("name"),
        sa.column("service"),
        sa.column("ciphertext"),
        sa.column("wrapped_key"),
        sa.column("key_id"),
    )
    with engine.begin() as conn:
        src = conn.execute(
            sa.select(table.c.ciphertext, table.c.wrapped_key).where(
                table.c.name == "A", table.c.service == "api"
            )
        ).one()
        for name, service in (("B", "api"), ("A", "web")):
            conn.execute(
                table.update()
                .where(table.c.name == name, table.c.service == service)
                .values(ciphertext=src.ciphertext, wrapped_key=src.wrapped_key)
            )
    with pytest.raises(SecretIntegrityError) as caught:
        svc.get("B", scope=API_DEV)
    assert "value-of" not in caught.value.message
    with pytest.raises(SecretIntegrityError):
        svc.get("A", scope=SecretScope(service="web"))
    assert svc.get("A", scope=API_DEV) == "value-of-a"


def test_rotate_generated_user_and_source_secrets(svc: SecretService) -> None:
    gen = svc.ensure_generated("SESSION_KEY", scope=API_DEV)
    assert svc.ensure_generated("SESSION_KEY", scope=API_DEV) == gen
    old_generated = svc.get("SESSION_KEY", scope=API_DEV)
    svc.set("API_TOKEN", "user-token", scope=API_DEV, actor="ada")
    svc.set_many(
        {"DB_PASSWORD": "pw-1", "DATABASE_URL": "postgresql://u:pw-1@h/db"},
        scope=API_DEV,
        actor="system",
        source="resource:orders-db",
    )
    calls: list[SecretMeta] = []

    def rotator(meta: SecretMeta) -> Mapping[str, str]:
        calls.append(meta)
        return {"DB_PASSWORD": "pw-2", "DATABASE_URL": "postgresql://u:pw-2@h/db"}

    svc.register_rotator("resource:", rotator)
    results = {r.name: r for r in svc.rotate(scope=API_DEV, actor="ada", all=True)}
    assert len(calls) == 1 and calls[0].source == "resource:orders-db"  # once per source
    assert results["API_TOKEN"].outcome == "re-encrypted" and not results["API_TOKEN"].value_changed
    assert "unchanged" in results["API_TOKEN"].message
    assert svc.get("API_TOKEN", scope=API_DEV) == "user-token"
    assert results["SESSION_KEY"].outcome == "new-value"
    assert svc.get("SESSION_KEY", scope=API_DEV) not in (old_generated, "")
    assert results["DB_PASSWORD"].outcome == "new-value"
    assert (results["DATABASE_URL"].previous_version, results["DATABASE_URL"].meta.version) == (
        1,
        2,
    )
    assert svc.get("DATABASE_URL", scope=API_DEV) == "postgresql://u:pw-2@h/db"
    assert svc.versions("DB_PASSWORD", scope=API_DEV)[0].source == "resource:orders-db"
    with pytest.raises(InvalidInput, match="name one secret or pass all"):
        svc.rotate(scope=API_DEV, actor="ada")


def test_rotating_a_source_without_rotator(lite: SecretService) -> None:
    lite.set("DB_PASSWORD", "pw-1", actor="system", source="resource:db")
    with pytest.raises(Unavailable, match="no rotator for it is registered"):
        lite.rotate("DB_PASSWORD", scope=SecretScope(), actor="ada")
    [result] = lite.rotate(scope=None, actor="ada", all=True)
    assert result.outcome == "skipped" and "no rotator" in result.message
    assert lite.get("DB_PASSWORD") == "pw-1"


def test_redact_masks_every_known_value(lite: SecretService) -> None:
    lite.set("SHORT", "abc", actor="ada")
    lite.set("PW", "hunter2", scope=API_DEV, actor="ada")
    lite.set("PW", "hunter22-longer", scope=API_DEV, actor="ada")
    text = "login hunter22-longer then hunter2 (abc)"
    assert lite.redact(text) == "login *** then *** (abc)"
    lite.set("NEW", "re.*gex", actor="ada")  # regex characters are literal
    assert lite.redact("x re.*gex y rexgex") == "x *** y rexgex"
    lite.delete("NEW", actor="ada")
    assert lite.redact("re.*gex") == "re.*gex"


def _secrets_diffs(engine: Engine) -> list[object]:
    def only_ours(name: str | None, type_: str, parent: object) -> bool:
        return type_ != "table" or bool(name and name.startswith("secrets_"))

    def only_our_objects(
        obj: object, name: str | None, type_: str, reflected: bool, other: object
    ) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return str(getattr(table, "name", None) or name or "").startswith("secrets_")

    import goldenpath.secrets.store  # noqa: F401  (declares the table on metadata)

    with engine.connect() as conn:
        opts = {"include_name": only_ours, "include_object": only_our_objects}
        return list(compare_metadata(MigrationContext.configure(conn, opts=opts), metadata))


def test_migration_0006_matches_the_tables_and_round_trips(engine: Engine) -> None:
    assert "secrets_versions" in sa.inspect(engine).get_table_names()
    assert _secrets_diffs(engine) == []
    migrate.downgrade(engine, "0005_deploy")
    names = set(sa.inspect(engine).get_table_names())
    assert "secrets_versions" not in names and "deploy_deployments" in names
    migrate.upgrade(engine)
    assert _secrets_diffs(engine) == []


def test_a_secret_read_on_postgresql_opens_no_transaction(svc: SecretService) -> None:
    """One statement needs no transaction: on PostgreSQL the read's SELECT runs with the
    driver in autocommit (psycopg sends no BEGIN, the pool no ROLLBACK), and the connection
    goes back to the pool transactional, as it was."""
    svc.set("TOKEN", "t-1", scope=API_DEV, actor="ada")
    engine = svc.backend.engine  # type: ignore[attr-defined]
    seen: list[bool] = []

    def before(conn: sa.Connection, *_: object) -> None:
        driver = conn.connection.driver_connection
        seen.append(bool(getattr(driver, "autocommit", False)))

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        assert svc.get("TOKEN", scope=API_DEV) == "t-1"
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
    assert seen == [engine.dialect.name == "postgresql"]
    with engine.connect() as conn:
        assert conn.get_isolation_level() != "AUTOCOMMIT"
    svc.set("TOKEN", "t-2", scope=API_DEV, actor="ada")  # writes still commit
    assert svc.get("TOKEN", scope=API_DEV) == "t-2"
