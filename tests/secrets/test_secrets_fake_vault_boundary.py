"""The Vault backend through hvac against a FAKE: a tiny in-process HTTP server speaking the
subset of Vault's KV v2 API the backend uses (data read/write, metadata list/read/delete,
token lookup). It checks the backend's requests and response handling at the HTTP boundary;
it is not Vault — no server can be installed on this machine (see docs/secrets.md)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from goldenpath.errors import InvalidInput, NotFound, Unauthorized
from goldenpath.secrets.service import SecretScope, SecretService
from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine

TOKEN = "fake-root-token"
MOUNT = "kv"


class _FakeKv:
    def __init__(self) -> None:
        self.versions: dict[str, list[dict[str, Any]]] = {}
        self.lock = threading.Lock()

    def write(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            items = self.versions.setdefault(path, [])
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
            meta = {"created_time": stamp, "version": len(items) + 1, "deletion_time": ""}
            items.append({"data": data, "metadata": {**meta, "destroyed": False}})
            return meta

    def read(self, path: str, version: int | None) -> dict[str, Any] | None:
        items = self.versions.get(path) or []
        if not items:
            return None
        if version is None:
            return items[-1]
        return items[version - 1] if 0 < version <= len(items) else None

    def keys(self, prefix: str) -> list[str]:
        found = set()
        for path in self.versions:
            if path.startswith(prefix):
                rest = path[len(prefix) :]
                head, sep, _ = rest.partition("/")
                found.add(head + sep)
        return sorted(found)


def _handler(kv: _FakeKv) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any = None) -> None:
            raw = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _route(self) -> tuple[str, str, dict[str, list[str]]] | None:
            if self.headers.get("X-Vault-Token") != TOKEN:
                self._send(403, {"errors": ["permission denied"]})
                return None
            url = urlsplit(self.path)
            if url.path == "/v1/auth/token/lookup-self":
                self._send(200, {"data": {"id": "x"}})
                return None
            kind, _, path = url.path.removeprefix(f"/v1/{MOUNT}/").partition("/")
            return kind, path, parse_qs(url.query)

        def do_GET(self) -> None:
            route = self._route()
            if route is None:
                return
            kind, path, query = route
            if kind == "data":
                version = int(query["version"][0]) if "version" in query else None
                found = kv.read(path, version)
                if found is None:
                    return self._send(404, {"errors": []})
                return self._send(200, {"data": found})
            if kind == "metadata" and query.get("list") == ["true"]:
                return self._list(path)
            items = kv.versions.get(path)
            if not items:
                return self._send(404, {"errors": []})
            versions = {str(i + 1): v["metadata"] for i, v in enumerate(items)}
            return self._send(200, {"data": {"versions": versions, "current_version": len(items)}})

        def _list(self, path: str) -> None:
            keys = kv.keys(path if path.endswith("/") or not path else path + "/")
            return (
                self._send(200, {"data": {"keys": keys}})
                if keys
                else self._send(404, {"errors": []})
            )

        def do_LIST(self) -> None:
            route = self._route()
            if route is not None:
                self._list(route[1])

        def do_POST(self) -> None:
            route = self._route()
            if route is None:
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            self._send(200, {"data": kv.write(route[1], body["data"])})

        do_PUT = do_POST

        def do_DELETE(self) -> None:
            route = self._route()
            if route is not None:
                with kv.lock:
                    kv.versions.pop(route[1], None)
                self._send(204)

    return Handler


@pytest.fixture
def fake_vault() -> Iterator[tuple[str, _FakeKv]]:
    kv = _FakeKv()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(kv))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", kv
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _service(tmp_path: Path, url: str, token: str = TOKEN) -> SecretService:
    settings = Settings(
        home=tmp_path / "home",
        secrets={"backend": "vault", "vault_url": url, "vault_token": token, "vault_mount": MOUNT},
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    migrate.upgrade(engine)
    return SecretService(engine=engine, settings=settings)


def test_fake_vault_boundary_round_trip(tmp_path: Path, fake_vault: tuple[str, _FakeKv]) -> None:
    url, kv = fake_vault
    svc = _service(tmp_path, url)
    api_dev = SecretScope("api", "dev")
    first = svc.set("DB_PASSWORD", "vault-pw-1", scope=api_dev, actor="ada")
    assert (first.version, first.key_id, first.source) == (1, "vault", "user")
    svc.set("DB_PASSWORD", "vault-pw-2", scope=api_dev, actor="bob")
    svc.set_many({"A": "global-a", "B": "global-b"}, actor="ada")
    svc.set("B", "env-b", scope=SecretScope(environment="dev"), actor="ada")
    assert "goldenpath/api/dev/DB_PASSWORD" in kv.versions
    assert svc.get("DB_PASSWORD", scope=api_dev) == "vault-pw-2"
    assert [m.version for m in svc.versions("DB_PASSWORD", scope=api_dev)] == [2, 1]
    assert svc.versions("DB_PASSWORD", scope=api_dev)[0].updated_by == "bob"
    assert svc.resolve("api", "dev") == {"A": "global-a", "B": "env-b", "DB_PASSWORD": "vault-pw-2"}
    names = [(m.name, m.scope) for m in svc.list(all_scopes=True)]
    assert names == [
        ("A", SecretScope()),
        ("B", SecretScope()),
        ("B", SecretScope(environment="dev")),
        ("DB_PASSWORD", api_dev),
    ]
    assert svc.redact("x vault-pw-1 vault-pw-2 global-a") == "x *** *** ***"
    [rotated] = svc.rotate("A", scope=SecretScope(), actor="ada")
    assert rotated.outcome == "re-encrypted" and rotated.meta.version == 2
    with pytest.raises(InvalidInput, match="vault operator rotate"):
        svc.rotate_master_key(actor="ada")
    svc.delete("DB_PASSWORD", scope=api_dev, actor="ada")
    with pytest.raises(NotFound, match="secret DB_PASSWORD does not exist"):
        svc.get("DB_PASSWORD", scope=api_dev)
    assert not (tmp_path / "home" / "keys").exists()


def test_fake_vault_boundary_rejected_token(
    tmp_path: Path, fake_vault: tuple[str, _FakeKv]
) -> None:
    with pytest.raises(Unauthorized, match="rejected the token"):
        _service(tmp_path, fake_vault[0], token="wrong")
