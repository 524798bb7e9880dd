"""TechDocs in the portal: real ``mkdocs build`` with techdocs-core, serving, rebuilds, search.

The example repository is tests/portal/data/techdocs (copied per module so a test can edit
it): ``handbook`` (its own mkdocs.yml, ``dir:.``), ``plain-docs`` (no mkdocs.yml: one is
generated), ``remote-docs`` (a ``url:`` ref, not built here); ``broken-docs`` (added here)
names a plugin that is not installed.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from portalhelpers import Portal, login

DATA = Path(__file__).resolve().parent / "data" / "techdocs"
BROKEN = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: broken-docs
  annotations:
    backstage.io/techdocs-ref: dir:.
spec:
  type: service
  lifecycle: production
  owner: team-a
"""
FRAME = re.compile(r'<iframe class="techdocs-frame" src="([^"]+)"')


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("techdocs-repo") / "repo"
    shutil.copytree(DATA, root)
    # a repository that asks for web fonts itself: the build must still turn them off
    config = root / "mkdocs.yml"
    config.write_text(
        config.read_text(encoding="utf-8") + "theme:\n  name: material\n  font:\n    text: Lato\n",
        encoding="utf-8",
    )
    broken = root / "broken"
    (broken / "docs").mkdir(parents=True)
    (broken / "docs" / "index.md").write_text("# Broken\n", encoding="utf-8")
    (broken / "mkdocs.yml").write_text(
        "site_name: Broken\nplugins:\n  - no-such-plugin-here\n", encoding="utf-8"
    )
    (broken / "catalog-info.yaml").write_text(BROKEN, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def client(portal: Portal, repo: Path) -> Iterator[TestClient]:
    portal.register(repo / "catalog-info.yaml")
    portal.register(repo / "broken" / "catalog-info.yaml")
    c = portal.new_client()
    login(c, "vic")
    # start the builds side by side (the remote-docs tab creates the app's builder cheaply)
    assert c.get("/catalog/default/component/remote-docs/docs").status_code == 200
    builder = c.app.state.portal_techdocs  # type: ignore[attr-defined]
    for name in ("handbook", "plain-docs", "broken-docs"):
        builder.ensure(portal.services.catalog.get_entity_by_ref(f"component:{name}"))
    yield c


def docs_tab(client: TestClient, name: str, **params: str) -> str:
    """The Docs tab once its build has finished (bounded wait)."""
    deadline = time.monotonic() + 120
    while True:
        page = client.get(f"/catalog/default/component/{name}/docs", params=params)
        assert page.status_code == 200, page.text
        if "are being built" not in page.text or time.monotonic() > deadline:
            return page.text
        time.sleep(0.5)


def test_docs_tab_shows_the_built_site_in_a_sandboxed_frame(client: TestClient) -> None:
    text = docs_tab(client, "handbook")
    found = FRAME.search(text)
    assert found, text
    assert found.group(1) == "/catalog/default/component/handbook/docs/"
    assert 'sandbox="allow-same-origin' in text and "allow-scripts" not in text
    assert re.search(
        r'href="/catalog/default/Component/handbook/docs" aria-current="page">Docs', text
    )
    site = client.get(found.group(1))
    assert site.status_code == 200
    assert "kettle-descaling procedure" in site.text
    csp = site.headers["content-security-policy"]
    assert csp.startswith("sandbox ") and "allow-scripts" not in csp and "script-src 'none'" in csp
    # techdocs-core ran: it writes Backstage's metadata file
    meta = client.get("/catalog/default/component/handbook/docs/techdocs_metadata.json")
    assert meta.status_code == 200 and "The Handbook" in meta.text


def test_site_files_and_their_limits(client: TestClient) -> None:
    docs_tab(client, "handbook")
    runbook = client.get("/catalog/default/component/handbook/docs/runbook/")
    assert runbook.status_code == 200 and "flux capacitor" in runbook.text
    assert "script-src 'none'" in runbook.headers["content-security-policy"]
    assert client.get("/catalog/default/component/handbook/docs/no/such/page").status_code == 404
    hidden = client.get("/catalog/default/component/handbook/docs/.goldenpath-techdocs.json")
    assert hidden.status_code == 404
    escape = client.get("/catalog/default/component/handbook/docs/%2e%2e/%2e%2e/%2e%2e/etc/passwd")
    assert escape.status_code == 404
    assert client.get("/catalog/default/component/checkout/docs/").status_code == 404


def test_a_missing_mkdocs_yml_is_generated(client: TestClient) -> None:
    text = docs_tab(client, "plain-docs")
    src = FRAME.search(text)
    assert src, text
    site = client.get(src.group(1))
    assert "zeppelins" in site.text
    assert "plain-docs" in client.get(src.group(1) + "techdocs_metadata.json").text


@pytest.mark.parametrize("name", ["handbook", "plain-docs"])
def test_built_pages_load_no_web_fonts(client: TestClient, name: str) -> None:
    """mkdocs-material links Google Fonts unless ``theme.font: false``: every build sets it,
    for a generated mkdocs.yml and over a repository's own ``font:`` (handbook asks for Lato)."""
    docs_tab(client, name)
    builder = client.app.state.portal_techdocs  # type: ignore[attr-defined]
    site = builder.site_dir("default", "component", name)
    pages = sorted(site.rglob("*.html"))
    assert pages, f"no HTML built under {site}"
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for host in ("fonts.googleapis.com", "fonts.gstatic.com"):
            assert host not in text, f"{page.relative_to(site)} loads {host}"
    served = client.get(f"/catalog/default/component/{name}/docs/").text
    assert "fonts.googleapis.com" not in served and "<html" in served.lower()


def test_url_refs_and_missing_annotation_say_why(client: TestClient) -> None:
    remote = client.get("/catalog/default/component/remote-docs/docs")
    assert remote.status_code == 200
    assert "not supported here" in remote.text and "<iframe" not in remote.text
    plain = client.get("/catalog/default/component/checkout/docs")
    assert "has no backstage.io/techdocs-ref annotation" in plain.text
    overview = client.get("/catalog/default/component/checkout").text
    assert "/checkout/docs" not in overview  # no Docs tab without the annotation


def test_a_failed_build_shows_mkdocs_output(client: TestClient) -> None:
    text = docs_tab(client, "broken-docs")
    assert "Building the docs failed" in text
    assert "no-such-plugin-here" in text  # from MkDocs' own output


def test_rebuilt_only_when_the_docs_change(client: TestClient, repo: Path) -> None:
    docs_tab(client, "handbook")
    builder = client.app.state.portal_techdocs  # type: ignore[attr-defined]
    entity = {
        "kind": "Component",
        "metadata": {"name": "handbook", "namespace": "default", "annotations": {}},
    }
    before = builder.status(entity).built_at
    docs_tab(client, "handbook")
    assert builder.status(entity).built_at == before  # unchanged tree: no rebuild
    index = repo / "docs" / "index.md"
    index.write_text(index.read_text(encoding="utf-8") + "\nNow with narwhals.\n", encoding="utf-8")
    docs_tab(client, "handbook")
    deadline = time.monotonic() + 120
    while builder.status(entity).state == "building" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert builder.status(entity).built_at != before
    assert "narwhals" in client.get("/catalog/default/component/handbook/docs/").text


def test_search_finds_docs_pages(client: TestClient) -> None:
    docs_tab(client, "handbook")
    page = client.get("/search", params={"q": "flux capacitor"})
    assert page.status_code == 200
    assert 'href="/catalog/default/component/handbook/docs?page=runbook/' in page.text
    assert "restart the flux capacitor" in page.text
    # the Docs tab opens that page in its frame
    tab = docs_tab(client, "handbook", page="runbook/")
    assert 'src="/catalog/default/component/handbook/docs/runbook/"' in tab
    assert "No docs page matches" in client.get("/search", params={"q": "xylophone"}).text
