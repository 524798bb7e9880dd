"""The deploy side of resources (goldenpath.deploy.provisioning) on the real managed cluster:
a workload's ``database:`` becomes a private ``<service>-db`` claim whose outputs reach its
processes as ``DATABASE_URL``/``PG*`` (and ``${resources.db.*}`` placeholders), never another
service's; a rotation redeploys exactly the consumers; deleting an environment deletes its
resources after a final backup.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from goldenpath.deploy.provisioning import Provisioner
from goldenpath.deploy.records import Target
from goldenpath.secrets.model import SecretScope
from goldenpath.workloads import parse_workload

SPEC = """\
kind: Service
metadata: {{name: {name}}}
spec:
  build: {{package: demo}}
  run:
    command: [demo]
    env: {{DB_HOST: "${{resources.db.host}}", GREETING: hello}}
  database: {{type: postgres, size: small}}
"""


def _workload(name: str) -> Any:
    return parse_workload(SPEC.format(name=name), source=f"{name}/platform.yaml")


def test_outputs_reach_only_the_consumer_and_teardown_deletes_with_a_final_backup(
    make_service: Callable[..., Any], unique: Callable[[str], str]
) -> None:
    resources = make_service()
    secrets = resources.secrets
    env = unique("pr")
    provisioner = Provisioner(resources=resources, secrets=secrets)
    shop, other = unique("shop"), unique("blog")
    secrets.set("API_KEY", "k-123", scope=SecretScope(service=shop, environment=env), actor="t")

    shop_env = provisioner.process_env(1, _workload(shop), env, actor="ann")
    assert shop_env["GREETING"] == "hello" and shop_env["API_KEY"] == "k-123"
    assert shop_env["DB_HOST"] == shop_env["PGHOST"] == "127.0.0.1"
    with psycopg.connect(shop_env["DATABASE_URL"], connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone() is not None
    other_env = provisioner.process_env(2, _workload(other), env, actor="ann")
    assert other_env["DATABASE_URL"] != shop_env["DATABASE_URL"]
    assert "API_KEY" not in other_env
    assert not {k for k in other_env if k.startswith(shop.upper().replace("-", "_"))}

    # a rotation of shop's database password redeploys shop only
    rotated = secrets.rotate(all=True, scope=SecretScope(environment=env), actor="t")
    targets = [
        Target(s, env, stable_id=i, active_id=None, weights={}, updated_at=datetime.now(UTC))
        for i, s in ((1, shop), (2, other), (3, unique("idle")))
    ]
    hit = provisioner.rotated_targets(rotated, targets)
    assert set(hit) == {(shop, env), (other, env)}  # each consumer of its own database
    only_shop = [r for r in rotated if shop.replace("-", "_").upper() in r.name]
    assert set(provisioner.rotated_targets(only_shop, targets)) == {(shop, env)}

    deleted = provisioner.teardown_environment(env, actor="t")
    assert sorted(deleted) == sorted([f"{shop}-db", f"{other}-db"])
    assert resources.list(environment=env) == []
    assert resources.backups(f"{shop}-db", environment=env)  # the final backup is kept
