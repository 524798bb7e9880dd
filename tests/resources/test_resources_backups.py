"""Backups of claimed databases on a real managed PostgreSQL: round trip, retention, the
final backup of a delete, unwritable and full directories (older backups stay intact), and
the managed server killed under a running service."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from goldenpath.errors import Conflict, InvalidInput, NotFound, Unavailable
from goldenpath.resources.model import ClaimRequest
from goldenpath.secrets.service import SecretScope
from goldenpath.workloads.model import ResourceRequest

Unique = Callable[[str], str]


def connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, connect_timeout=5, autocommit=True)


def ticking_clock() -> Callable[[], datetime]:
    now = [datetime(2026, 12, 4, 12, 0, tzinfo=UTC)]

    def clock() -> datetime:
        now[0] += timedelta(seconds=1)
        return now[0]

    return clock


def rows(url: str) -> int:
    with connect(url) as conn:
        found = conn.execute("SELECT count(*) FROM items").fetchone()
    assert found is not None
    return int(found[0])


def test_backup_restore_retention_and_the_final_backup_of_delete(
    make_service: Callable[..., Any], unique: Unique, tmp_path: Path
) -> None:
    svc = make_service(resources={"backup_retention": 2}, clock=ticking_clock())
    name = unique("shop")
    svc.create(ClaimRequest(name=name, type="postgres"), actor="alice")
    url = svc.outputs(name, environment="dev", reveal=True)["url"]
    with connect(url) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY)")
        conn.execute("INSERT INTO items SELECT generate_series(1, 100)")

    first = svc.backup(name, environment="dev", actor="alice")
    assert Path(first.path).parent == tmp_path / "backups" / "dev" / name
    assert Path(first.path).read_bytes()[:5] == b"PGDMP" and first.size_bytes > 0
    with connect(url) as conn:
        conn.execute("DELETE FROM items WHERE id > 10")
    svc.restore(name, first.id, environment="dev", actor="alice")
    assert rows(url) == 100
    with pytest.raises(NotFound, match=f"available: {first.id}"):
        svc.restore(name, "20000101T000000000000Z", environment="dev", actor="alice")

    second = svc.backup(name, environment="dev", actor="alice")
    third = svc.backup(name, environment="dev", actor="alice")
    kept = svc.backups(name, environment="dev")
    assert [b.id for b in kept] == [third.id, second.id]  # newest first, retention 2
    assert not Path(first.path).exists() and Path(second.path).exists()

    final = svc.delete(name, environment="dev", actor="alice")
    assert final is not None and final.reason == "final" and Path(final.path).exists()
    assert svc.backups(name, environment="dev")[0].id == final.id
    with pytest.raises(psycopg.OperationalError):
        connect(url)
    assert [m for m in svc.secrets.list(environment="dev") if m.source == f"resource:{name}"] == []
    with pytest.raises(NotFound):
        svc.get(name, environment="dev")

    # the name can be claimed again, from scratch, and the old backup restores into it
    svc.create(ClaimRequest(name=name, type="postgres"), actor="bob")
    svc.restore(name, final.id, environment="dev", actor="bob")
    assert rows(svc.outputs(name, environment="dev", reveal=True)["url"]) == 100


def test_a_backup_into_an_unwritable_place_fails_clearly_and_keeps_older_ones(
    make_service: Callable[..., Any], unique: Unique, tmp_path: Path
) -> None:
    name = unique("keep")
    good = make_service(backup_dir=tmp_path / "good")
    good.create(ClaimRequest(name=name, type="postgres"), actor="alice")
    older = good.backup(name, environment="dev", actor="alice")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the backup directory should be")
    bad = make_service(backup_dir=blocker / "backups")
    with pytest.raises(InvalidInput, match=str(blocker)) as caught:
        bad.backup(name, environment="dev", actor="alice")
    assert "backup_dir" in caught.value.message
    assert Path(older.path).read_bytes()[:5] == b"PGDMP"
    assert [b.id for b in bad.backups(name, environment="dev")] == [older.id]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root and mount rights; skipped otherwise), unmounted afterwards."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


def test_a_backup_into_a_full_disk_fails_clearly_and_keeps_older_ones(
    make_service: Callable[..., Any], unique: Unique, tiny_disk: Path
) -> None:
    svc = make_service(backup_dir=tiny_disk, clock=ticking_clock())
    name = unique("full")
    svc.create(ClaimRequest(name=name, type="postgres"), actor="alice")
    older = svc.backup(name, environment="dev", actor="alice")
    url = svc.outputs(name, environment="dev", reveal=True)["url"]
    with connect(url) as conn:  # ~3 MB that does not compress
        conn.execute("CREATE TABLE blob AS SELECT gen_random_uuid()::text || "
                     "gen_random_uuid()::text AS v FROM generate_series(1, 40000)")  # fmt: skip
    with pytest.raises(Unavailable, match="no space left"):
        svc.backup(name, environment="dev", actor="alice")
    assert Path(older.path).read_bytes()[:5] == b"PGDMP"
    assert [b.id for b in svc.backups(name, environment="dev")] == [older.id]
    assert sorted(p.name for p in (tiny_disk / "dev" / name).iterdir()) == [f"{older.id}.dump"]


def test_backups_are_for_postgres_and_need_a_ready_claim(
    make_service: Callable[..., Any], unique: Unique
) -> None:
    svc = make_service(environments=lambda env: {"driver": "kubernetes"})
    name = unique("k8s")
    svc.create(ClaimRequest(name=name, type="postgres"), actor="alice")
    with pytest.raises(Conflict, match="it is provisioning"):
        svc.backup(name, environment="dev", actor="alice")


def _postmaster_pid(managed: Any) -> int:
    pid = managed.postgres.status()["pid"]
    assert pid
    return int(pid)


def test_the_managed_server_killed_under_a_service_comes_back(
    make_service: Callable[..., Any], unique: Unique, managed: Any
) -> None:
    svc = make_service()
    service = unique("svc")
    outputs = svc.ensure_for_workload(
        service, "dev", [ResourceRequest(name="db", type="postgres")], owner=None, actor="ci"
    )
    url = outputs["db"]["url"]
    with connect(url) as conn:
        conn.execute("CREATE TABLE items (id int)")
        conn.execute("INSERT INTO items VALUES (1), (2)")
    os.kill(_postmaster_pid(managed), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:  # the service's own reconnect loop: supervisord restarts the server
        with contextlib.suppress(psycopg.OperationalError):
            assert rows(url) == 2
            break
        assert time.monotonic() < deadline, "the managed PostgreSQL did not come back in 30 s"
        time.sleep(0.2)
    again = svc.ensure_for_workload(
        service, "dev", [ResourceRequest(name="db", type="postgres")], owner=None, actor="ci"
    )
    assert again == outputs
    scope = SecretScope(environment="dev")
    assert svc.secrets.get(f"{service.upper().replace('-', '_')}_DB_URL", scope=scope) == url
