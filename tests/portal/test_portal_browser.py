"""The portal in a real browser: Debian's Chromium driven by Playwright against a real
``platform server`` (API + portal on one port) with the Northwind sample catalog
(examples/catalog), a component with TechDocs, and a local account for Alan Turing (a
member of payments-team) with a password.

One scenario, in the order a developer meets the portal: ``/`` sends a stranger to the
sign-in page; sign in and land on the home page with my team's services; the keyboard reaches
the skip link and the search box; browse the catalog, pick the Component tab and the
payments-team owner facet; open an API entity and its API tab, and a component's Docs tab
(built by mkdocs); search for entities and docs; create a service from the python-service
golden path through the form (owner from the picker, deployed to ``dev``) and watch the task
log until it is done; open the new service and its Deployments tab; after a second commit is
deployed, roll back with the button and see the rollback succeed in the history. No portal
page may fetch anything from the internet (the browser refuses and records such requests).
Screenshots of each page land in ``test-artifacts/portal/`` (``failure.png`` when a step fails).

Skips when ``/usr/bin/chromium`` (apt ``chromium``), Playwright, git, HAProxy or supervisord
is missing. Teardown closes the browser and stops the server and every replica by PID.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browserhelpers import (
    ARTIFACTS,
    CHROMIUM,
    EXTERNAL_REQUESTS,
    PortalServer,
    launch_chromium,
    screenshot,
    start_server,
    stop_server,
)

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's browser with `apt-get install chromium` "
        "(scripts/setup.sh does; `playwright install` cannot download browsers here)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (dev)")
expect = sync_api.expect

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CATALOG = ROOT / "examples" / "catalog"
USER = "alan.turing"  # member of payments-team in examples/catalog/org/users.yaml
SERVICE = "browser-api"
DOCS_COMPONENT = "handbook"
DOCS_FILES = {
    "catalog-info.yaml": f"""\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: {DOCS_COMPONENT}
  description: How the payments team ships.
  annotations:
    backstage.io/techdocs-ref: dir:.
spec:
  type: documentation
  lifecycle: production
  owner: payments-team
""",
    "mkdocs.yml": f"site_name: {DOCS_COMPONENT}\nnav:\n  - Home: index.md\n",
    "docs/index.md": "# Release handbook\n\nReviews, releases and the on-call rota.\n",
}


@dataclass
class LivePortal:
    """The running platform the scenario signs in to."""

    server: PortalServer
    user: str
    password: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    """A real ``platform server`` with the sample catalog, a TechDocs component and a
    member account with a password for ``alan.turing`` (``POST /api/auth/users``, what
    ``platform user add`` calls)."""
    missing = [tool for tool in ("haproxy", "git") if shutil.which(tool) is None]
    if importlib.util.find_spec("supervisor") is None:
        missing.append("supervisord")
    if missing:
        pytest.skip(f"deploying from the portal needs {', '.join(missing)} (not installed)")
    base = tmp_path_factory.mktemp("browser")
    for relative, text in DOCS_FILES.items():
        path = base / DOCS_COMPONENT / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    server = start_server(base / "home")
    try:
        with server.api() as api:
            for target in (SAMPLE_CATALOG, base / DOCS_COMPONENT / "catalog-info.yaml"):
                answer = api.post(
                    "/api/catalog/locations", json={"type": "file", "target": str(target)}
                )
                assert answer.status_code == 201, answer.text
            password = secrets.token_urlsafe(16)
            account = {"user": USER, "role": "member", "password": password}
            added = api.post("/api/auth/users", json=account)
            assert added.status_code == 201, added.text
        yield LivePortal(server=server, user=USER, password=password)
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium context on a fresh profile (closed afterwards); assertions wait up
    to 15 s (a loaded CI machine), as do actions."""
    expect.set_options(timeout=15_000)
    with sync_api.sync_playwright() as playwright:
        context = launch_chromium(playwright, tmp_path_factory.mktemp("chromium") / "profile")
        try:
            yield context
        finally:
            context.close()


def test_developer_signs_in_browses_creates_deploys_and_rolls_back(
    live: LivePortal, browser: Any
) -> None:
    (ARTIFACTS / "failure.png").unlink(missing_ok=True)
    page = browser.new_page()
    try:
        _sign_in(page, live)
        _keyboard_reaches_skip_link_and_search(page)
        _browse_catalog(page)
        _api_and_docs_tabs(page, live)
        _search(page)
        _create_service(page)
        _deployments_and_rollback(page, live)
        from_portal = [
            (f, u) for f, u in EXTERNAL_REQUESTS if f.startswith(live.url) and "/docs/" not in f
        ]
        assert from_portal == [], "portal pages must load nothing from the internet"
    except BaseException:
        with contextlib.suppress(Exception):  # keep the step's own error
            screenshot(page, "failure")
        raise
    finally:
        page.close()


# --- the steps --------------------------------------------------------------------------------


def _sign_in(page: Any, live: LivePortal) -> None:
    """``/`` of ``platform server`` is the portal: a stranger lands on the sign-in page and,
    once signed in, back on the home page listing their team's services."""
    page.goto(live.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_label("User name").fill(live.user)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()  # a wrong password: back on the form
    screenshot(page, "login")
    page.get_by_label("Password").fill(live.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Alan Turing")
    expect(page.get_by_role("banner")).to_contain_text("Sign out")
    services = page.get_by_role("region", name="My services")
    expect(services.get_by_role("link", name="Payments service")).to_be_visible()
    expect(services.get_by_role("link", name="Checkout service")).to_have_count(0)
    screenshot(page, "home")


def _keyboard_reaches_skip_link_and_search(page: Any) -> None:
    """The first Tab lands on the skip link (which moves focus to main); further Tabs
    reach the header's search box."""
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    search = page.get_by_label("Search the catalog and docs")
    for _ in range(30):
        page.keyboard.press("Tab")
        if search.evaluate("el => el === document.activeElement"):
            break
    else:
        raise AssertionError("30 presses of Tab after the skip link never reached the search box")
    expect(search).to_be_focused()


def _browse_catalog(page: Any) -> None:
    """The catalog lists every kind; the Component tab and the owner facet narrow it."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalog").click()
    expect(page).to_have_url(re.compile(r"/catalog$"))
    kinds = page.get_by_role("navigation", name="Kinds")
    expect(kinds.get_by_role("link", name="Component")).to_have_attribute("aria-current", "page")
    table = page.get_by_role("table")
    expect(table.get_by_role("link", name="Checkout service")).to_be_visible()
    expect(table.get_by_role("link", name="Payments API")).to_have_count(0)
    screenshot(page, "catalog")

    kinds.get_by_role("link", name=re.compile(r"^API\b")).click()
    expect(page).to_have_url(re.compile(r"kind=api"))
    expect(table.get_by_role("link", name="Payments API")).to_be_visible()
    expect(table.get_by_role("link", name="Checkout service")).to_have_count(0)
    kinds.get_by_role("link", name=re.compile(r"^Component\b")).click()
    expect(page).to_have_url(re.compile(r"kind=component"))
    expect(table.get_by_role("link", name="Checkout service")).to_be_visible()

    facets = page.get_by_role("complementary", name="Filters")
    owners = facets.get_by_role("group", name="Owner")
    owners.locator("label", has_text=re.compile(r"^\s*payments-team\b")).click()
    expect(owners.get_by_role("checkbox", name=re.compile(r"^payments-team\b"))).to_be_checked()
    facets.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"owner="))
    expect(table.get_by_role("link", name="Fraud detector")).to_be_visible()
    expect(table.get_by_role("link", name="Payments service")).to_be_visible()
    expect(table.get_by_role("link", name="Checkout service")).to_have_count(0)
    screenshot(page, "catalog-filtered")


def _api_and_docs_tabs(page: Any, live: LivePortal) -> None:
    """An API entity's page and its API tab (the OpenAPI operations, expandable); a
    component's Docs tab showing its TechDocs built by mkdocs."""
    page.goto(live.url + "/catalog?kind=api")
    page.get_by_role("table").get_by_role("link", name="Payments API").click()
    expect(page).to_have_url(re.compile(r"/catalog/default/api/payments-api$", re.IGNORECASE))
    expect(page.get_by_role("heading", level=1)).to_have_text("Payments API")
    screenshot(page, "entity")

    tabs = page.get_by_role("navigation", name="Entity sections")
    tabs.get_by_role("link", name="API", exact=True).click()
    expect(page).to_have_url(re.compile(r"/payments-api/api$"))
    operation = page.locator("details.operation").filter(has_text="Authorise a payment")
    operation.locator("summary").click()
    expect(operation.get_by_role("heading", name=re.compile("Request body"))).to_be_visible()
    screenshot(page, "entity-api")

    page.goto(f"{live.url}/catalog/default/component/{DOCS_COMPONENT}")
    tabs.get_by_role("link", name="Docs", exact=True).click()
    expect(page).to_have_url(re.compile(r"/docs$"))
    docs = page.frame_locator("iframe.techdocs-frame")
    expect(docs.get_by_text("on-call rota")).to_be_visible(timeout=90_000)
    screenshot(page, "entity-docs")


def _search(page: Any) -> None:
    """The header's search box finds the entity and its (now built) docs page."""
    box = page.get_by_label("Search the catalog and docs")
    box.fill("handbook")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=handbook$"))
    entities = page.get_by_role("region", name="Entities")
    expect(entities.get_by_role("link", name=DOCS_COMPONENT)).to_be_visible()
    docs = page.get_by_role("region", name="Docs")
    expect(docs.get_by_role("link").first).to_be_visible()
    screenshot(page, "search")


def _create_service(page: Any) -> None:
    """The python-service form (owner from the picker, deploy to dev) starts a task whose
    page streams its log until it completes, then links to the new entity."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Create").click()
    page.get_by_role("link", name="Python service (FastAPI)", exact=True).click()
    expect(page).to_have_url(re.compile(r"/create/default/python-service$"))
    page.get_by_label(re.compile(r"^Name\b")).fill(SERVICE)
    owner = page.get_by_label(re.compile(r"^Owner\b"))
    team = owner.locator("option", has_text="Payments team").first.get_attribute("value")
    owner.select_option(team)
    page.get_by_label(re.compile(r"^Deploy to\b")).fill("dev")
    screenshot(page, "create-form")
    page.get_by_role("button", name="Create").click()

    expect(page).to_have_url(re.compile(r"/create/tasks/[^/?]+$"))
    log = page.get_by_role("log")
    expect(log).to_contain_text(re.compile(r"\[\w[\w-]*\] "), timeout=30_000)  # lines stream in
    status = page.get_by_role("heading", name=re.compile(r"^Status:"))
    expect(status).to_contain_text(re.compile(r"completed|failed"), timeout=180_000)
    screenshot(page, "task-log")
    expect(status).to_contain_text("completed")
    expect(log).to_contain_text("[deploy]")
    page.get_by_role("link", name="Open in catalog").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SERVICE)


def _deployments_and_rollback(page: Any, live: LivePortal) -> None:
    """The new service's Deployments tab lists the deploy to dev; after a second commit is
    deployed, the Roll back button records a rollback that succeeds in the history."""
    page.get_by_role("navigation", name="Entity sections").get_by_role(
        "link", name="Deployments"
    ).click()
    tab = page.url
    assert tab.lower().endswith(f"/component/{SERVICE}/deployments"), tab
    history = page.get_by_role("region", name="History").get_by_role("table")
    expect(history.locator("tbody tr")).to_have_count(1)
    expect(history.locator("tbody tr").first).to_contain_text("succeeded")
    rollback = page.get_by_role("button", name="Roll back (dev)")

    with live.server.api() as api:
        (first,) = api.get(
            "/api/deploy/v1/deployments", params={"service": SERVICE, "environment": "dev"}
        ).json()
        _push_a_change(first["repo"], live.server.home.parent / "clone")
        again = api.post(
            "/api/deploy/v1/deployments",
            json={"environment": "dev", "repo": first["repo"], "ref": "main"},
        )
        assert again.status_code == 202, again.text
        _wait_succeeded(api, again.json()["id"])

    page.goto(tab)
    expect(history.locator("tbody tr")).to_have_count(2)
    screenshot(page, "deployments-tab")
    rollback.click()
    expect(page).to_have_url(re.compile(r"/deployments"))
    newest = history.locator("tbody tr").first
    expect(history.locator("tbody tr")).to_have_count(3)
    expect(newest).to_contain_text(re.compile(r"rollback\s+of d1"))
    deadline = time.monotonic() + 90
    while "succeeded" not in newest.inner_text():
        assert time.monotonic() < deadline, f"the rollback did not succeed: {newest.inner_text()}"
        page.wait_for_timeout(500)
        page.goto(tab)
    screenshot(page, "deployments-rollback")


def _push_a_change(remote: str, clone: Path) -> None:
    """A developer's next commit on main: clone the service's repository, edit, push."""
    git = ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    subprocess.run([*git, "clone", "-q", remote, str(clone)], check=True, capture_output=True)
    with (clone / "README.md").open("a", encoding="utf-8") as readme:
        readme.write("\nA second release, to roll back from.\n")
    subprocess.run([*git, "-C", str(clone), "commit", "-qam", "v2"], check=True)
    subprocess.run([*git, "-C", str(clone), "push", "-q", "origin", "main"], check=True)


def _wait_succeeded(api: Any, deployment_id: int, *, timeout: float = 120) -> None:
    """Poll the API until deployment ``deployment_id`` succeeded (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        state = api.get(f"/api/deploy/v1/deployments/{deployment_id}").json()["state"]
        if state == "succeeded":
            return
        assert state not in {"failed", "aborted"}, f"deployment {deployment_id} {state}"
        assert time.monotonic() < deadline, f"deployment {deployment_id} still {state}"
        time.sleep(0.3)
