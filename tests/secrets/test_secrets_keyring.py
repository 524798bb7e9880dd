"""The master keyring: the 0600 key file, keys from the environment, a missing or wrong master
key refusing to start (naming the key id), master-key rotation and old-key removal."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from goldenpath.errors import InvalidInput
from goldenpath.secrets.envelope import SecretIntegrityError
from goldenpath.secrets.keyring import MasterKeyMissing, load_keyring
from goldenpath.secrets.service import SecretScope, SecretService
from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine


def b64key(byte: int = 7) -> str:
    return base64.b64encode(bytes([byte]) * 32).decode()


@pytest.fixture
def sqlite(tmp_path: Path) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    migrate.upgrade(eng)
    return eng


def with_key(settings: Settings, key: str | None) -> Settings:
    return settings.model_copy(
        update={"secrets": settings.secrets.model_copy(update={"master_key": key})}
    )


def test_first_start_creates_a_private_key_file(settings: Settings, sqlite: Engine) -> None:
    SecretService(engine=sqlite, settings=settings).set("TOKEN", "abcdef", actor="ada")
    path = settings.home / "keys" / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    doc = json.loads(path.read_text())
    assert doc["current"] == "k1" and len(base64.b64decode(doc["keys"]["k1"])) == 32
    with sqlite.connect() as conn:  # the key never reaches the database
        dump = b"".join(
            bytes(v)
            for row in conn.execute(sa.text("SELECT * FROM secrets_versions"))
            for v in row
            if isinstance(v, (bytes, memoryview))
        )
    assert base64.b64decode(doc["keys"]["k1"]) not in dump and b"abcdef" not in dump
    # a second service on the same home reads the same file
    assert SecretService(engine=sqlite, settings=settings).get("TOKEN") == "abcdef"


def test_a_key_file_readable_by_others_is_refused(settings: Settings, sqlite: Engine) -> None:
    SecretService(engine=sqlite, settings=settings)
    path = settings.home / "keys" / "master.key"
    os.chmod(path, 0o644)
    with pytest.raises(InvalidInput, match=r"chmod 600 .*master.key"):
        SecretService(engine=sqlite, settings=settings)


def test_a_missing_key_file_with_stored_secrets_refuses_to_start(
    settings: Settings, sqlite: Engine
) -> None:
    SecretService(engine=sqlite, settings=settings).set("TOKEN", "abcdef", actor="ada")
    path = settings.home / "keys" / "master.key"
    path.unlink()
    with pytest.raises(MasterKeyMissing) as caught:
        SecretService(engine=sqlite, settings=settings)
    message = caught.value.message
    assert "master key 'k1' is missing" in message
    assert "GOLDENPATH_SECRETS__MASTER_KEY" in message and str(path) in message
    assert not path.exists()  # no new key was minted over the stored rows


def test_the_environment_key_is_used_and_a_wrong_one_names_the_key_id(
    settings: Settings, sqlite: Engine
) -> None:
    env = with_key(settings, f"prod1:{b64key(1)}")
    svc = SecretService(engine=sqlite, settings=env)
    meta = svc.set("TOKEN", "abcdef", scope=SecretScope(service="api"), actor="ada")
    assert meta.key_id == "prod1"
    assert not (settings.home / "keys" / "master.key").exists()
    with pytest.raises(
        MasterKeyMissing, match="master key 'prod1' is missing: set GOLDENPATH_SECRETS__MASTER_KEY"
    ):
        SecretService(engine=sqlite, settings=with_key(settings, f"prod2:{b64key(2)}"))
    with pytest.raises(SecretIntegrityError, match="master key 'prod1'"):
        SecretService(engine=sqlite, settings=with_key(settings, f"prod1:{b64key(3)}"))
    bare = with_key(settings, b64key(4))
    assert load_keyring(bare, create=False).current == "env"  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="32 bytes"):
        load_keyring(with_key(settings, "k:" + base64.b64encode(b"short").decode()), create=False)
    with pytest.raises(InvalidInput, match="not valid base64"):
        load_keyring(with_key(settings, "k:!!!"), create=False)


def test_master_key_rotation_rewraps_and_the_old_key_can_go(
    settings: Settings, sqlite: Engine
) -> None:
    svc = SecretService(engine=sqlite, settings=settings)
    for i in range(3):
        svc.set(f"S{i}", f"value-{i}", scope=SecretScope(environment="dev"), actor="ada")
    svc.set("S0", "value-0b", scope=SecretScope(environment="dev"), actor="ada")
    old = json.loads((settings.home / "keys" / "master.key").read_text())
    assert svc.rotate_master_key(actor="ada") == 4
    doc = json.loads((settings.home / "keys" / "master.key").read_text())
    assert doc["current"] == "k2" and set(doc["keys"]) == {"k2"}  # k1 no longer used: removed
    assert doc["keys"]["k2"] != old["keys"]["k1"]
    assert {m.key_id for m in svc.list(environment="dev")} == {"k2"}
    # a fresh process with only the new key reads every version
    fresh = SecretService(engine=sqlite, settings=settings)
    assert fresh.resolve("api", "dev") == {"S0": "value-0b", "S1": "value-1", "S2": "value-2"}
    assert [m.version for m in fresh.versions("S0", scope=SecretScope(environment="dev"))] == [2, 1]
    assert fresh.redact("value-0 value-0b") == "*** ***"
    # new writes use the new key; the old key alone no longer opens anything
    assert fresh.set("S3", "v3", actor="ada").key_id == "k2"
    old_only = with_key(settings, f"k1:{old['keys']['k1']}")
    with pytest.raises(MasterKeyMissing, match="master key 'k2' is missing"):
        SecretService(engine=sqlite, settings=old_only)


def test_an_environment_keyring_rotates_by_putting_the_new_key_first(
    settings: Settings, sqlite: Engine
) -> None:
    SecretService(engine=sqlite, settings=with_key(settings, f"a:{b64key(1)}")).set(
        "TOKEN", "abcdef", actor="ada"
    )
    both = SecretService(engine=sqlite, settings=with_key(settings, f"b:{b64key(2)},a:{b64key(1)}"))
    with pytest.raises(InvalidInput, match="put the new key first"):
        SecretService(
            engine=sqlite, settings=with_key(settings, f"a:{b64key(1)}")
        ).rotate_master_key(actor="ada")
    assert both.rotate_master_key(actor="ada") == 1
    only_new = SecretService(engine=sqlite, settings=with_key(settings, f"b:{b64key(2)}"))
    assert only_new.get("TOKEN") == "abcdef"
