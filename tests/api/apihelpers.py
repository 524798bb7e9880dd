"""Helpers for the API tests: a TestClient wrapper with tokens, settings, sample catalogs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from goldenpath.settings import Settings

DATA = Path(__file__).resolve().parent / "data"
SAMPLE_CATALOG = DATA / "catalog"
BROKEN_CATALOG = DATA / "broken"
PROBLEM = "application/problem+json"


class Api:
    """A TestClient plus the tokens a test needs."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.admin_token = settings.admin_token_file.read_text(encoding="utf-8").strip()

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers(token), **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.client.post(path, headers=self.headers(token), **kwargs)

    def delete(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.client.delete(path, headers=self.headers(token), **kwargs)

    def register(self, target: Path) -> dict[str, Any]:
        response = self.post("/api/catalog/locations", json={"type": "file", "target": str(target)})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def token_for(self, owner: str, role: str) -> str:
        response = self.post(
            "/api/auth/tokens", json={"owner": owner, "role": role, "name": f"{role}-token"}
        )
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token


def make_settings(home: Path, **overrides: Any) -> Settings:
    """Settings on ``home`` with the refresh loop and built-in templates off (tests opt in)."""
    catalog = {"refresh_interval": 0, **overrides.pop("catalog", {})}
    scaffolder = {"builtin_templates": False, **overrides.pop("scaffolder", {})}
    return Settings(home=home, catalog=catalog, scaffolder=scaffolder, **overrides)
