"""The self-service operation actions (``platform:rotate-database-password``,
``platform:create-preview-environment``, ``platform:run-runbook``) against the real services
of a platform home: rotation on a real managed PostgreSQL (the old password stops working,
the new one connects), dry runs that change nothing, and refusals that name the fix.

Runbooks and previews of a *deployed* service run in tests/portal/test_portal_deployments.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from goldenpath.api.deps import Services
from goldenpath.api.wiring import build_services
from goldenpath.drivers.local.driver import LocalDriver
from goldenpath.errors import InvalidInput, NotFound, Unavailable
from goldenpath.resources.model import ClaimRequest
from goldenpath.scaffolder.actions import default_registry
from goldenpath.scaffolder.actions.base import ActionContext, ActionServices
from goldenpath.scaffolder.actions.platform_ops import parse_ttl, service_name
from goldenpath.secrets.model import SecretScope
from goldenpath.settings import Settings

PG_BIN = Path(os.environ.get("GOLDENPATH_PG_BIN", "/usr/lib/postgresql/15/bin"))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (3600, 3600.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("24h", 86400.0),
        ("2d", 172800.0),
        ("5", 5.0),
    ],
)
def test_parse_ttl(value: Any, seconds: float) -> None:
    assert parse_ttl(value) == seconds


@pytest.mark.parametrize("value", ["", "0", "-1h", "1w", "soon", 0])
def test_parse_ttl_refuses_naming_the_field(value: Any) -> None:
    with pytest.raises(InvalidInput, match="ttl"):
        parse_ttl(value)


@pytest.mark.parametrize(
    ("value", "name"),
    [("component:default/Orders", "orders"), ("default/orders", "orders"), ("orders", "orders")],
)
def test_service_name(value: str, name: str) -> None:
    assert service_name(value) == name


@pytest.mark.parametrize("value", ["", "group:default/team-a", None])
def test_service_name_refuses_what_is_not_a_component(value: Any) -> None:
    with pytest.raises(InvalidInput, match="service"):
        service_name(value)


def test_the_actions_are_registered_with_dry_run_support() -> None:
    registry = default_registry()
    for action_id in (
        "platform:rotate-database-password",
        "platform:create-preview-environment",
        "platform:run-runbook",
    ):
        action = registry.get(action_id)
        assert action.supports_dry_run and "service" in action.input_schema["required"]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Every service of a platform home (as ``platform server`` builds them); the managed
    PostgreSQL it starts is stopped and removed at teardown."""
    if not (PG_BIN / "postgres").exists():
        pytest.skip(f"PostgreSQL 15 binaries not in {PG_BIN}")
    home = tmp_path_factory.mktemp("ops") / "home"
    settings = Settings(home=home, resources={"pg_bin": PG_BIN}, catalog={"refresh_interval": 0})
    services = build_services(settings, lambda: datetime.now(UTC))
    try:
        yield services
    finally:
        driver = LocalDriver(settings)
        driver.shutdown()
        from goldenpath.drivers.local.postgres import ManagedPostgres

        ManagedPostgres(settings, driver.supervisor).destroy()
        services.engine.dispose()


def _context(
    services: Services | None,
    action_input: dict[str, Any],
    tmp_path: Path,
    *,
    dry_run: bool = False,
) -> tuple[ActionContext, list[str]]:
    lines: list[str] = []
    ctx = ActionContext(
        step_id="op",
        input=action_input,
        workspace=tmp_path,
        user={"ref": "user:default/jane"},
        dry_run=dry_run,
        services=ActionServices(deploy=services.deploy if services else None),
        logger=lines.append,
    )
    return ctx, lines


def _run(action_id: str, ctx: ActionContext) -> None:
    default_registry().get(action_id).handler(ctx)


def test_rotation_sets_a_new_password_at_the_source(platform: Services, tmp_path: Path) -> None:
    platform.resources.create(
        ClaimRequest(name="orders-db", type="postgres", environment="dev", service="orders"),
        actor="user:default/admin",
    )
    scope = SecretScope(environment="dev")
    old_url = platform.secrets.get("ORDERS_DB_URL", scope=scope)
    old_password = platform.secrets.get("ORDERS_DB_PASSWORD", scope=scope)
    with psycopg.connect(old_url, connect_timeout=10) as conn:
        assert conn.execute("select 1").fetchone() == (1,)

    dry, dry_log = _context(
        platform, {"service": "component:default/orders"}, tmp_path, dry_run=True
    )
    _run("platform:rotate-database-password", dry)
    assert "would rotate ORDERS_DB_PASSWORD in dev" in "\n".join(dry_log)
    assert platform.secrets.get("ORDERS_DB_PASSWORD", scope=scope) == old_password

    ctx, log = _context(
        platform, {"service": "component:default/orders", "environment": "dev"}, tmp_path
    )
    _run("platform:rotate-database-password", ctx)
    text = "\n".join(log)
    assert "ORDERS_DB_PASSWORD: version 1 → 2 (new-value)" in text
    new_url = platform.secrets.get("ORDERS_DB_URL", scope=scope)
    new_password = platform.secrets.get("ORDERS_DB_PASSWORD", scope=scope)
    assert new_password != old_password and new_password not in text and old_password not in text
    rotated = {item["name"]: item["version"] for item in ctx.outputs["rotated"]}
    assert rotated["ORDERS_DB_PASSWORD"] == rotated["ORDERS_DB_URL"] == 2
    assert ctx.outputs["deploymentIds"] == []  # orders is not deployed: nothing to redeploy
    with psycopg.connect(new_url, connect_timeout=10) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(old_url, connect_timeout=10).close()
    versions = platform.secrets.versions("ORDERS_DB_PASSWORD", scope=scope)
    assert versions[0].updated_by == "user:default/jane"


def test_rotation_of_a_service_without_a_database_names_the_fix(
    platform: Services, tmp_path: Path
) -> None:
    ctx, _ = _context(platform, {"service": "payments", "environment": "dev"}, tmp_path)
    with pytest.raises(NotFound, match="no postgres resource in dev; declare one"):
        _run("platform:rotate-database-password", ctx)


def test_runbook_and_preview_of_a_service_never_deployed(
    platform: Services, tmp_path: Path
) -> None:
    ctx, _ = _context(platform, {"service": "payments", "runbook": "diagnose"}, tmp_path)
    with pytest.raises(NotFound, match="payments was never deployed"):
        _run("platform:run-runbook", ctx)
    ctx, _ = _context(platform, {"service": "payments", "runbook": "restart"}, tmp_path)
    with pytest.raises(NotFound, match="no successful deployment in dev"):
        _run("platform:run-runbook", ctx)
    before = {e.name for e in platform.deploy.list_environments()}
    ctx, _ = _context(platform, {"service": "payments", "ttl": "1h"}, tmp_path)
    with pytest.raises(NotFound, match="payments"):
        _run("platform:create-preview-environment", ctx)
    assert {e.name for e in platform.deploy.list_environments()} == before


def test_without_a_deploy_service_the_actions_say_so(tmp_path: Path) -> None:
    for action_id in (
        "platform:rotate-database-password",
        "platform:create-preview-environment",
        "platform:run-runbook",
    ):
        ctx, _ = _context(None, {"service": "orders"}, tmp_path)
        with pytest.raises(Unavailable, match=action_id):
            _run(action_id, ctx)
