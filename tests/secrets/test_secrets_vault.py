"""The Vault backend without a Vault server (none can be installed here): path mapping,
configuration errors, and a real unreachable address. A live KV v2 round trip is not tested."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from goldenpath.errors import InvalidInput, Unavailable
from goldenpath.secrets.service import SecretScope, SecretService
from goldenpath.secrets.vault import VaultSecretStore, _parse_time, parse_path, secret_path
from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine


def vault_settings(home: Path, url: str | None) -> Settings:
    return Settings(home=home, secrets={"backend": "vault", "vault_url": url, "vault_token": "t"})


@pytest.mark.parametrize(
    ("name", "scope", "path"),
    [
        ("A", SecretScope(), "goldenpath/_all/_all/A"),
        ("DB_URL", SecretScope(service="api"), "goldenpath/api/_all/DB_URL"),
        ("B", SecretScope(environment="dev"), "goldenpath/_all/dev/B"),
        ("C", SecretScope("api", "dev"), "goldenpath/api/dev/C"),
    ],
)
def test_paths_map_both_ways(name: str, scope: SecretScope, path: str) -> None:
    assert secret_path(name, scope) == path
    assert parse_path(path) == (name, scope)


def test_vault_times_and_foreign_paths() -> None:
    assert _parse_time("2026-03-22T02:24:06.945319214Z") == datetime(
        2026, 3, 22, 2, 24, 6, 945319, tzinfo=UTC
    )
    with pytest.raises(InvalidInput, match="not a goldenpath secret path"):
        parse_path("other/thing")


def test_vault_without_url_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="GOLDENPATH_SECRETS__VAULT_URL"):
        VaultSecretStore(settings=vault_settings(tmp_path, None))


def test_an_unreachable_vault_refuses_to_start(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    migrate.upgrade(engine)
    with pytest.raises(Unavailable, match=f"Vault at {url} is unreachable"):
        SecretService(engine=engine, settings=vault_settings(tmp_path, url))
    assert not (tmp_path / "keys").exists()  # no local key file for the vault backend
