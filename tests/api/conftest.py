"""Fixtures for the API tests: an app on a temp data directory, its admin token, a sample catalog.

The app is the real one (``create_app``) on a real SQLite file; requests go through FastAPI's
TestClient, lifespan included. Helpers live in ``apihelpers`` (conftest is not importable).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from apihelpers import SAMPLE_CATALOG, Api, make_settings
from fastapi.testclient import TestClient

from goldenpath.api.app import create_app


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The app on a fresh data directory (first start done: org catalog + admin token)."""
    settings = make_settings(tmp_path / "home")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Api(client, settings)


@pytest.fixture
def catalog_api(api: Api) -> Api:
    """``api`` with the sample catalog (tests/api/data/catalog) registered."""
    api.register(SAMPLE_CATALOG)
    return api
