"""Helpers for the portal's page tests: one app per test module, users with passwords, sign-in.

``portal`` (module-scoped fixture; tests/portal/conftest.py re-exports it) is the real
``goldenpath.portal.app.create_app`` on a temp home with the sample catalog
(tests/api/data/catalog: Group team-a owning checkout, payments, ...; User jane in team-a)
plus tests/portal/data/people.yaml (Group team-b with User bob; User vic), and local accounts:

========  =======  ==================  =========================
user      role     password            groups
========  =======  ==================  =========================
admin     admin    ``ADMIN_PASSWORD``  group:default/platform-admins
jane      member   ``PASSWORD``        group:default/team-a
bob       member   ``PASSWORD``        group:default/team-b
vic       viewer   ``PASSWORD``        group:default/team-a
========  =======  ==================  =========================

``login(client, "jane")`` signs a TestClient in through the real form (CSRF included); the
session cookie then sits in the client's cookie jar. ``portal.new_client()`` gives another
client on the same running app (its own cookies), so tests can hold several sessions.
Outside tests/portal, import with ``sys.path`` pointing here or copy the fixture call:
``with open_portal(tmp_path_factory.mktemp("portal")) as portal: ...``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from goldenpath.auth.users import UserService
from goldenpath.portal.app import create_app
from goldenpath.portal.session import SESSION_COOKIE
from goldenpath.settings import Settings

HERE = Path(__file__).resolve().parent
SAMPLE_CATALOG = HERE.parent / "api" / "data" / "catalog"
PEOPLE_CATALOG = HERE / "data" / "people.yaml"
PASSWORD = "correct-horse-battery"
ADMIN_PASSWORD = "admin-staple-42"
USERS: dict[str, tuple[str, str]] = {
    "admin": ("admin", ADMIN_PASSWORD),
    "jane": ("member", PASSWORD),
    "bob": ("member", PASSWORD),
    "vic": ("viewer", PASSWORD),
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_settings(home: Path, **overrides: Any) -> Settings:
    """Settings on ``home`` with the refresh loop and built-in templates off (tests opt in)."""
    catalog = {"refresh_interval": 0, **overrides.pop("catalog", {})}
    scaffolder = {"builtin_templates": False, **overrides.pop("scaffolder", {})}
    return Settings(home=home, catalog=catalog, scaffolder=scaffolder, **overrides)


@dataclass
class Portal:
    """The running app: a TestClient (``client``), its settings and the admin API token."""

    client: TestClient
    settings: Settings
    admin_token: str
    extra_clients: list[TestClient] = field(default_factory=list)

    @property
    def services(self) -> Any:
        """``app.state.services`` (``goldenpath.api.deps.Services``)."""
        return self.client.app.state.services  # type: ignore[attr-defined]

    def api_headers(self, token: str | None = None) -> dict[str, str]:
        """``Authorization`` header for API calls (admin token by default)."""
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    def new_client(self) -> TestClient:
        """Another client on the same running app, with its own cookie jar."""
        client = TestClient(self.client.app, raise_server_exceptions=False)
        self.extra_clients.append(client)
        return client

    def register(self, target: Path) -> None:
        """Register a catalog file through the API (as admin)."""
        answer = self.client.post(
            "/api/catalog/locations",
            json={"type": "file", "target": str(target)},
            headers=self.api_headers(),
        )
        assert answer.status_code == 201, answer.text


@contextmanager
def open_portal(
    home: Path,
    *,
    catalogs: tuple[Path, ...] = (SAMPLE_CATALOG, PEOPLE_CATALOG),
    users: dict[str, tuple[str, str]] | None = None,
    app_kwargs: dict[str, Any] | None = None,
    **overrides: Any,
) -> Iterator[Portal]:
    """The portal app on ``home`` (lifespan running) with ``catalogs`` registered and local
    accounts ``users`` (name → (role, password); default ``USERS``)."""
    settings = make_settings(home, **overrides)
    app = create_app(settings, **(app_kwargs or {}))
    with TestClient(app, raise_server_exceptions=False) as client:
        token = settings.admin_token_file.read_text(encoding="utf-8").strip()
        portal = Portal(client=client, settings=settings, admin_token=token)
        for target in catalogs:
            portal.register(target)
        accounts = UserService(engine=portal.services.engine)
        for name, (role, password) in (USERS if users is None else users).items():
            accounts.create(name, role=role, password=password)
        try:
            yield portal
        finally:
            for extra in portal.extra_clients:
                extra.close()


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """One portal app per test module (see the module doc for its catalog and users)."""
    with open_portal(tmp_path_factory.mktemp("portal") / "home") as running:
        yield running


def csrf_of(html: str) -> str:
    """The ``csrf_token`` value of the first form on a page."""
    found = _CSRF.search(html)
    assert found is not None, "no csrf_token field on the page"
    return found.group(1)


def login(
    client: TestClient, user: str = "jane", password: str | None = None, next: str = "/"
) -> Any:
    """Sign ``client`` in through ``/login`` (password default: the user's in ``USERS``);
    returns the 303 response (asserted). The session cookie stays in the client; a client
    already signed in is signed out first."""
    if client.cookies.get(SESSION_COOKIE):
        logout(client)
    page = client.get("/login", params={"next": next})
    assert page.status_code == 200, page.text
    secret = password if password is not None else USERS[user][1]
    answer = client.post(
        "/login",
        data={"user": user, "password": secret, "csrf_token": csrf_of(page.text), "next": next},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return answer


def logout(client: TestClient) -> None:
    """Sign ``client`` out (revokes the session's token)."""
    client.get("/logout", follow_redirects=False)


def post_form(client: TestClient, path: str, data: dict[str, Any], *, page: str) -> Any:
    """POST ``data`` to ``path`` with the CSRF token taken from the page at ``page`` (the
    client must be signed in); redirects are not followed."""
    html = client.get(page).text
    return client.post(path, data={**data, "csrf_token": csrf_of(html)}, follow_redirects=False)


def task_page_when_done(client: TestClient, url: str, *, timeout: float = 30) -> str:
    """The task page at ``url`` once it no longer refreshes itself (the task ended); fails
    the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        html = client.get(url).text
        if 'http-equiv="refresh"' not in html:
            return html
        assert time.monotonic() < deadline, f"task {url} did not finish within {timeout:g} s"
        time.sleep(0.1)
