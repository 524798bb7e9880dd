"""Entity pages: Overview (incl. processing errors), Relations (Graphviz SVG + list), API tab.

The API tab is tested on real definitions from /work/shared/fixtures/real (an OpenAPI 3.1
document referenced with ``$text``, Backstage's own AsyncAPI streetlights example); those
tests are skipped with a reason when the shared fixtures are missing.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from portalhelpers import Portal, login

from goldenpath.portal import apidocs

REAL = Path("/work/shared/fixtures/real")
OPENAPI = REAL / "openapi" / "tyriis__locking-service__openapi.yaml"
STREETLIGHTS = REAL / "backstage-catalog" / "backstage-demo" / "apis" / "streetlights-api.yaml"
needs_real = pytest.mark.skipif(
    not OPENAPI.is_file() or not STREETLIGHTS.is_file(),
    reason="the shared real-world fixtures (../shared/fixtures/real) are not present",
)

TRICKY = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: tricky
  title: '<b>"Tricky"</b> \\ title'
  description: A component whose title needs escaping.
  tags: [edge]
  labels: {tier: gold}
  links:
    - {url: "javascript:alert(1)", title: Evil link}
    - {url: "https://example.com/runbook", title: Runbook}
spec:
  type: service
  lifecycle: experimental
  owner: team-a
  dependsOn: [component:checkout, component:ghost]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: broken-api
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: "openapi: [3.0.0"
"""

FLAKY = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: flaky
spec:
  type: service
  lifecycle: production
  owner: team-a
"""


@pytest.fixture(scope="module")
def client(portal: Portal, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("entities")
    (root / "tricky.yaml").write_text(TRICKY, encoding="utf-8")
    portal.register(root / "tricky.yaml")
    if OPENAPI.is_file() and STREETLIGHTS.is_file():
        shutil.copy(OPENAPI, root / "openapi.yaml")
        (root / "locking.yaml").write_text(
            "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: locking-service\n"
            "spec:\n  type: openapi\n  lifecycle: production\n  owner: team-a\n"
            "  definition:\n    $text: ./openapi.yaml\n",
            encoding="utf-8",
        )
        portal.register(root / "locking.yaml")
        shutil.copy(STREETLIGHTS, root / "streetlights.yaml")
        portal.register(root / "streetlights.yaml")
    c = portal.new_client()
    login(c, "jane")
    yield c


def test_overview_shows_the_entity(client: TestClient) -> None:
    page = client.get("/catalog/default/component/checkout")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Checkout</h1>" in text
    assert "Takes the money and hands it to payments." in text
    assert 'href="/catalog/default/group/team-a"' in text
    assert "production" in text and "python" in text
    assert "backstage.io/managed-by-location" in text  # annotations table
    # tabs: a component has relations, deployments, … but no API tab
    tabs = re.findall(r'<li><a href="/catalog/default/Component/checkout([^"]*)"', text)
    assert tabs[:2] == ["", "/relations"] and "/deployments" in tabs and "/api" not in tabs
    assert re.search(
        r'href="/catalog/default/Component/checkout" aria-current="page">Overview', text
    )


def test_lookup_ignores_case_and_unknown_is_404(client: TestClient) -> None:
    assert client.get("/catalog/DEFAULT/Component/CheckOut").status_code == 200
    missing = client.get("/catalog/default/component/nope")
    assert missing.status_code == 404
    assert "There is no component named nope" in missing.text


def test_overview_escapes_text_and_drops_script_links(client: TestClient) -> None:
    text = client.get("/catalog/default/component/tricky").text
    assert "<b>" not in text.split("<main", 1)[1]
    assert "&lt;b&gt;&#34;Tricky&#34;&lt;/b&gt;" in text or "&lt;b&gt;&quot;Tricky" in text
    assert 'href="javascript:' not in text
    assert "not a web link: javascript:alert(1)" in text
    assert 'href="https://example.com/runbook"' in text
    assert "tier" in text and "gold" in text


def test_processing_errors_show_on_the_overview(
    portal: Portal, client: TestClient, tmp_path: Path
) -> None:
    path = tmp_path / "flaky.yaml"
    path.write_text(FLAKY, encoding="utf-8")
    portal.register(path)
    assert "Processing errors" not in client.get("/catalog/default/component/flaky").text
    path.write_text(FLAKY.replace("owner: team-a", "owner: [not, a, string]"), encoding="utf-8")
    portal.services.catalog.refresh(entity_ref="component:default/flaky")
    page = client.get("/catalog/default/component/flaky")
    assert page.status_code == 200
    assert "Processing errors" in page.text
    assert re.search(r"role=\"alert\"><strong>error</strong>.*owner", page.text)


def test_relations_graph_and_list(client: TestClient) -> None:
    page = client.get("/catalog/default/component/tricky/relations")
    assert page.status_code == 200
    text = page.text
    svg = text[text.index("<svg") : text.index("</svg>")]
    # nodes link to entity pages; the title is escaped text, never markup
    assert 'href="/catalog/default/component/checkout"' in svg
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert "dependsOn" in svg and "ownedBy" in svg
    # the list for screen readers says the same, and marks the dangling target
    listing = text[text.index("Relations as a list") :]
    assert re.search(
        r"<em>dependsOn</em>\s*<a href=\"/catalog/default/component/checkout\">Checkout</a>",
        listing,
    )
    assert "ghost <small>(not in the catalog)</small>" in listing


def test_relations_depth_two_reaches_further(client: TestClient) -> None:
    one = client.get("/catalog/default/component/tricky/relations").text
    two = client.get("/catalog/default/component/tricky/relations", params={"depth": 2}).text
    # checkout's own neighbours (payments, the orders-db resource) appear only at depth 2
    assert "orders-db" not in one
    assert "orders-db" in two and 'aria-current="true">2' in two
    assert client.get("/catalog/default/component/tricky/relations?depth=3").status_code == 400


def test_api_tab_only_for_apis(client: TestClient) -> None:
    assert client.get("/catalog/default/component/checkout/api").status_code == 404
    page = client.get("/catalog/default/api/checkout-api/api")
    assert page.status_code == 200 and "openapi 3.0.0" in page.text


def test_broken_definition_is_shown_not_a_500(client: TestClient) -> None:
    page = client.get("/catalog/default/api/broken-api/api")
    assert page.status_code == 200
    assert "Problems with this definition" in page.text
    assert "YAML error in spec.definition" in page.text


@needs_real
def test_real_openapi_operations_parameters_schemas(client: TestClient) -> None:
    page = client.get("/catalog/default/api/locking-service/api")
    assert page.status_code == 200
    text = html.unescape(page.text)
    doc = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    for path, item in doc["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "delete", "patch"):
                summary = rf'method-{method}">{method.upper()}</span> <span[^>]*>'
                assert re.search(summary + re.escape(path) + "</span>", text), (method, path)
    for name in doc.get("components", {}).get("schemas", {}):
        assert f"<code>{name}</code>" in text
    assert "<h4>Parameters</h4>" in text and "<h4>Responses</h4>" in text


@needs_real
def test_real_asyncapi_channels_and_messages(client: TestClient) -> None:
    page = client.get("/catalog/default/api/streetlights/api")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "asyncapi 2.0.0" in text
    assert "smartylighting/streetlights/1/0/event/{streetlightId}/lighting/measured" in text
    assert "receiveLightMeasurement" in text and "subscribe" in text
    assert "<code>lumens</code>" in text  # a payload property behind two $refs
    assert "Light intensity measured in lumens." in text


ASYNCAPI3 = """\
asyncapi: 3.0.0
info: {title: Orders, version: '1.0'}
channels:
  orderCreated:
    address: orders/{id}/created
    parameters: {id: {description: the order}}
    messages:
      created: {$ref: '#/components/messages/OrderCreated'}
operations:
  onOrderCreated:
    action: receive
    channel: {$ref: '#/channels/orderCreated'}
    messages: [{$ref: '#/channels/orderCreated/messages/created'}]
components:
  messages:
    OrderCreated:
      name: OrderCreated
      payload: {$ref: '#/components/schemas/Order'}
  schemas:
    Order:
      type: object
      required: [id]
      properties:
        id: {type: string}
        parent: {$ref: '#/components/schemas/Order'}
        lines: {type: array, items: {$ref: '#/components/schemas/Line'}}
    Line: {type: object, properties: {sku: {type: string}}}
"""

SWAGGER2 = """\
swagger: '2.0'
info: {title: Pets, version: '1'}
host: api.example.com
basePath: /v1
paths:
  /pets/{id}:
    parameters: [{name: id, in: path, required: true, type: string}]
    put:
      parameters: [{name: body, in: body, schema: {$ref: '#/definitions/Pet'}}]
      responses: {'200': {description: ok, schema: {$ref: '#/definitions/Pet'}}}
definitions:
  Pet: {type: object, properties: {name: {type: string}}}
"""


def test_asyncapi3_operations_join_their_channels_and_cycles_stop() -> None:
    view = apidocs.parse_definition(ASYNCAPI3)
    (channel,) = view.channels
    assert channel.address == "orders/{id}/created" and channel.parameters[0].name == "id"
    (op,) = channel.operations
    assert (op.action, op.operation_id) == ("receive", "onOrderCreated")
    payload = op.messages[0].payload
    assert payload is not None and payload.ref == "Order"
    kids = {c.name: c for c in payload.children}
    assert kids["id"].required and kids["id"].type == "string"
    assert kids["parent"].note == "recursive reference" and not kids["parent"].children
    assert kids["lines"].type == "array of Line"
    assert kids["lines"].children[0].children[0].name == "sku"


def test_swagger2_body_and_response_schemas() -> None:
    view = apidocs.parse_definition(SWAGGER2)
    assert view.format == "swagger" and view.servers == ["api.example.com/v1"]
    (op,) = view.operations
    assert (op.method, op.path) == ("PUT", "/pets/{id}")
    assert [p.name for p in op.parameters] == ["id"]  # the body is not a parameter
    assert op.request_body[0].schema is not None and op.request_body[0].schema.ref == "Pet"
    assert op.responses[0].content[0].schema is not None


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ("a: &a [*a]", "nests too deeply"),
        ("just text", "not a YAML/JSON mapping"),
        ("", "empty"),
        (
            {
                "openapi": "3.0.0",
                "paths": {"/x": {"get": {"responses": {"200": {"$ref": "#/no"}}}}},
            },
            "$ref #/no points at nothing",
        ),
        ("graphql: true", "no openapi, swagger or asyncapi field"),
    ],
)
def test_bad_definitions_become_errors_not_exceptions(definition: object, message: str) -> None:
    view = apidocs.parse_definition(definition)
    assert any(message in e for e in view.errors), view.errors
