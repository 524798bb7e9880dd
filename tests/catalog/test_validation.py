"""Bad catalog documents are rejected at the right stage, with the field path and a helpful message.

Each case goes through the real pipeline (``process_text``); the expectations follow Backstage's
verdicts (checked against its own code in ``test_oracle_verdicts.py``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from goldenpath.catalog.model import ProcessedDocument
from goldenpath.catalog.processing import KindRules, process_text
from goldenpath.catalog.validation.policies import is_valid_url

RULES = KindRules.from_kinds(
    ["Component", "API", "Resource", "System", "Domain", "Group", "User", "Location", "Template"]
)
COMPONENT: dict[str, Any] = {
    "apiVersion": "backstage.io/v1alpha1",
    "kind": "Component",
    "metadata": {"name": "petstore"},
    "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"},
}


def make_entity(*, drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    """A valid Component with dotted-path changes (``metadata__name="x"``) and dropped paths."""
    entity = copy.deepcopy(COMPONENT)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = entity
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    for path in drop:
        *parents, leaf = path.split("__")
        target = entity
        for part in parents:
            target = target[part]
        del target[leaf]
    return entity


def process(entity: Any, rules: KindRules = RULES) -> ProcessedDocument:
    text = entity if isinstance(entity, str) else json.dumps(entity)
    docs = process_text(
        text,
        source="/repo/catalog-info.yaml",
        rules=rules,
        base_dir=None,
        location_key="file:/repo/catalog-info.yaml",
        origin_location_key=None,
    )
    assert len(docs) == 1
    return docs[0]


def test_the_baseline_entity_is_valid() -> None:
    doc = process(make_entity())
    assert doc.valid and doc.entity is not None and not doc.errors


BAD = [
    # (case, entity, stage, path, message fragment)
    (
        "no apiVersion",
        make_entity(drop=("apiVersion",)),
        "envelope",
        "apiVersion",
        "<root> must have required property 'apiVersion'",
    ),
    ("no kind", make_entity(drop=("kind",)), "envelope", "kind", "required property 'kind'"),
    (
        "no metadata",
        make_entity(drop=("metadata",)),
        "envelope",
        "metadata",
        "required property 'metadata'",
    ),
    (
        "no name",
        make_entity(drop=("metadata__name",)),
        "envelope",
        "metadata.name",
        "set metadata.name",
    ),
    (
        "name not a string",
        make_entity(metadata__name=12),
        "envelope",
        "metadata.name",
        "must be a string",
    ),
    (
        "empty name",
        make_entity(metadata__name=""),
        "envelope",
        "metadata.name",
        "must not be empty",
    ),
    (
        "kind not a string",
        make_entity(kind=["Component"]),
        "envelope",
        "kind",
        "must be a string, not an array",
    ),
    (
        "metadata a list",
        make_entity(metadata=["x"]),
        "envelope",
        "metadata",
        "metadata must be an object",
    ),
    (
        "annotations a list",
        make_entity(metadata__annotations=["a"]),
        "envelope",
        "metadata.annotations",
        "metadata.annotations must be a valid object",
    ),
    ("unknown kind", make_entity(kind="Scorecard"), "rules", "kind", "is not of an allowed kind"),
    (
        "name with spaces",
        make_entity(metadata__name="My Service"),
        "policy",
        "metadata.name",
        "expected a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 "
        'characters in total but found "My Service"',
    ),
    (
        "name too long",
        make_entity(metadata__name="a" * 64),
        "policy",
        "metadata.name",
        "at most 63",
    ),
    (
        "name ends with dash",
        make_entity(metadata__name="svc-"),
        "policy",
        "metadata.name",
        "is not valid",
    ),
    (
        "namespace upper case",
        make_entity(metadata__namespace="Team"),
        "policy",
        "metadata.namespace",
        "sequences of [a-z0-9] separated by [-]",
    ),
    (
        "bad apiVersion",
        make_entity(apiVersion="backstage.io/v1 alpha"),
        "policy",
        "apiVersion",
        "a valid prefix and/or suffix",
    ),
    ("bad kind format", make_entity(kind="Com-ponent"), "rules", "kind", "not of an allowed kind"),
    (
        "tag upper case",
        make_entity(metadata__tags=["Java"]),
        "policy",
        "metadata.tags.0",
        'sequences of [a-z0-9+#] separated by [-], at most 63 characters in total but found "Java"',
    ),
    (
        "tag with dot",
        make_entity(metadata__tags=["ok", "c.d"]),
        "policy",
        "metadata.tags.1",
        "is not valid",
    ),
    (
        "tags not a list",
        make_entity(metadata__tags="java"),
        "policy",
        "metadata.tags",
        "must be an array",
    ),
    (
        "empty tag",
        make_entity(metadata__tags=[""]),
        "policy",
        "metadata.tags.0",
        "must not be empty",
    ),
    (
        "label key with space",
        make_entity(metadata__labels={"a b": "x"}),
        "policy",
        "metadata.labels.a b",
        "a valid prefix and/or suffix",
    ),
    (
        "label value with space",
        make_entity(metadata__labels={"tier": "x y"}),
        "policy",
        "metadata.labels.tier",
        'but found "x y"',
    ),
    (
        "label value a number",
        make_entity(metadata__labels={"tier": 1}),
        "policy",
        "metadata.labels.tier",
        "must be a string, not a number",
    ),
    (
        "labels null",
        make_entity(metadata__labels=None),
        "policy",
        "metadata.labels",
        "must be an object",
    ),
    (
        "annotation key two slashes",
        make_entity(metadata__annotations={"a/b/c": "x"}),
        "policy",
        "metadata.annotations.a/b/c",
        "a valid prefix and/or suffix",
    ),
    (
        "annotation value a bool",
        make_entity(metadata__annotations={"a": True}),
        "policy",
        "metadata.annotations.a",
        "must be a string, not a boolean; quote the value",
    ),
    (
        "description a number",
        make_entity(metadata__description=5),
        "policy",
        "metadata.description",
        "must be a string",
    ),
    (
        "title empty",
        make_entity(metadata__title=""),
        "policy",
        "metadata.title",
        "must not be empty",
    ),
    (
        "link without url",
        make_entity(metadata__links=[{"title": "x"}]),
        "policy",
        "metadata.links.0.url",
        "must have required property 'url'",
    ),
    (
        "link url relative",
        make_entity(metadata__links=[{"url": "/docs"}]),
        "policy",
        "metadata.links.0.url",
        "a string that is a valid url",
    ),
    (
        "link title blank",
        make_entity(metadata__links=[{"url": "https://x", "title": " "}]),
        "policy",
        "metadata.links.0.title",
        "a non empty string",
    ),
    (
        "foreign root field",
        {**make_entity(), "owner": "x"},
        "policy",
        "owner",
        "<root> must NOT have additional properties",
    ),
    ("status at root", {**make_entity(), "status": {}}, "policy", "status", "Unknown field status"),
    ("spec a list", make_entity(spec=[]), "policy", "spec", "spec must be an object"),
    (
        "missing lifecycle",
        make_entity(drop=("spec__lifecycle",)),
        "kind",
        "spec.lifecycle",
        "spec must have required property 'lifecycle'",
    ),
    (
        "system a list",
        make_entity(spec__system=["a"]),
        "kind",
        "spec.system",
        "must be string, not array",
    ),
    (
        "providesApis a string",
        make_entity(spec__providesApis="api-a"),
        "kind",
        "spec.providesApis",
        "must be array",
    ),
    ("empty owner", make_entity(spec__owner=""), "kind", "spec.owner", "fewer than 1 characters"),
    ("no spec", make_entity(drop=("spec",)), "kind", "spec", "required property 'spec'"),
    (
        "kind in lower case",
        make_entity(kind="component"),
        "kind",
        "kind",
        "No processor recognized the entity component:default/petstore as valid",
    ),
    (
        "unknown apiVersion",
        make_entity(apiVersion="backstage.io/v2"),
        "kind",
        "kind",
        "Component needs apiVersion backstage.io/v1alpha1 or backstage.io/v1beta1",
    ),
    (
        "dependsOn without kind",
        make_entity(spec__dependsOn=["sage-packs"]),
        "relation",
        "spec.dependsOn.0",
        'Entity reference "sage-packs" had missing or empty kind',
    ),
    (
        "reference in wrong form",
        make_entity(spec__subcomponentOf="component:"),
        "relation",
        "spec.subcomponentOf",
        "was not on the form [<kind>:][<namespace>/]<name>",
    ),
    (
        "remote placeholder",
        make_entity(spec__definition={"$text": "https://example.com/api.yaml"}),
        "placeholder",
        "spec.definition",
        "cannot read remote placeholder target",
    ),
    (
        "placeholder not a string",
        make_entity(spec__x={"$json": 5}),
        "placeholder",
        "spec.x",
        "expected a string value parameter",
    ),
]


@pytest.mark.parametrize(
    ("entity", "stage", "path", "fragment"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_documents_are_rejected_with_path_and_message(
    entity: dict[str, Any], stage: str, path: str, fragment: str
) -> None:
    doc = process(entity)
    assert not doc.valid and doc.entity is None
    matching = [e for e in doc.errors if e.path == path]
    assert matching, f"no error at {path}: {doc.errors}"
    assert matching[0].stage == stage
    assert fragment in matching[0].message


TEMPLATE: dict[str, Any] = {
    "apiVersion": "scaffolder.backstage.io/v1beta3",
    "kind": "Template",
    "metadata": {"name": "python-service"},
    "spec": {
        "type": "service",
        "owner": "team-a",
        "parameters": [{"title": "Name", "properties": {"name": {"type": "string"}}}],
        "steps": [
            {"id": "fetch", "action": "fetch:template", "input": {"url": "./skeleton"}, "if": True}
        ],
        "output": {"links": [{"title": "Repo", "url": "https://x"}], "repo": "x"},
    },
}


def test_a_v1beta3_template_is_valid_and_v1beta2_is_not_recognized() -> None:
    assert process(TEMPLATE).valid
    old = process({**TEMPLATE, "apiVersion": "scaffolder.backstage.io/v1beta2"})
    assert [e.stage for e in old.errors] == ["kind"]
    assert (
        "No processor recognized the entity template:default/python-service"
        in old.errors[0].message
    )
    assert "scaffolder.backstage.io/v1beta3" in old.errors[0].message


@pytest.mark.parametrize(
    ("spec_change", "path", "fragment"),
    [
        ({"steps": [{"id": "x"}]}, "spec.steps.0.action", "required property 'action'"),
        ({"steps": "fetch"}, "spec.steps", "must be array"),
        ({"parameters": "x"}, "spec.parameters", "an object or an array of objects"),
        (
            {"output": {"links": [{"url": ""}]}},
            "spec.output.links.0.url",
            "fewer than 1 characters",
        ),
        ({"output": {"repo": 5}}, "spec.output.repo", "must be string"),
        ({"steps": [{"action": "a", "if": 1}]}, "spec.steps.0.if", "string or boolean"),
    ],
)
def test_template_spec_errors_name_the_field(
    spec_change: dict[str, Any], path: str, fragment: str
) -> None:
    doc = process({**TEMPLATE, "spec": {**TEMPLATE["spec"], **spec_change}})
    assert [(e.path, e.stage) for e in doc.errors] == [(path, "kind")]
    assert fragment in doc.errors[0].message


@pytest.mark.parametrize(
    ("entity", "valid"),
    [
        (
            {
                "kind": "API",
                "spec": {"type": "openapi", "lifecycle": "x", "owner": "y", "definition": "d"},
            },
            True,
        ),
        ({"kind": "API", "spec": {"type": "openapi", "lifecycle": "x", "owner": "y"}}, False),
        (
            {
                "kind": "Resource",
                "spec": {"type": "db", "owner": "y", "dependsOn": ["component:a"]},
            },
            True,
        ),
        ({"kind": "System", "spec": {"owner": "y", "domain": "d"}}, True),
        ({"kind": "Domain", "spec": {"owner": "y", "subdomainOf": "d"}}, True),
        ({"kind": "Group", "spec": {"type": "team", "children": []}}, True),
        ({"kind": "Group", "spec": {"type": "team"}}, False),
        (
            {"kind": "Group", "spec": {"type": "team", "children": [], "profile": {"email": ""}}},
            False,
        ),
        ({"kind": "User", "spec": {"memberOf": ["team-a"], "profile": {"displayName": "J"}}}, True),
        ({"kind": "User", "spec": {}}, False),
        ({"kind": "Location", "spec": {"type": "url", "targets": ["https://x/a.yaml"]}}, True),
        ({"kind": "Location", "spec": {"type": "github-org", "target": "x"}}, False),
        ({"kind": "Location", "spec": {"type": "file", "targets": ["./a/"]}}, False),
        ({"kind": "Location", "spec": {"presence": "sometimes"}}, False),
    ],
)
def test_every_builtin_kind_checks_its_spec(entity: dict[str, Any], valid: bool) -> None:
    doc = process({"apiVersion": "backstage.io/v1beta1", "metadata": {"name": "x"}, **entity})
    assert doc.valid is valid, doc.errors
    if not valid:
        assert {e.stage for e in doc.errors} == {"kind"}
        assert all(e.path.startswith("spec") for e in doc.errors)


def test_accepted_oddities_match_backstage() -> None:
    # seen with the oracle: all of these are accepted by Backstage
    assert process(make_entity(metadata__name="a..b")).valid
    assert process(make_entity(metadata__annotations=None)).valid
    assert process(make_entity(metadata__labels={"tier": ""})).valid
    assert process(make_entity(metadata__tags=["lang:java", "c++", "c#"])).valid
    assert process(make_entity(metadata__links=[{"url": "mailto:a@b.c", "foo": 1}])).valid
    assert process(make_entity(spec__foo={"$unknown": "x"})).valid
    assert process(make_entity(spec__foo={"$text": "x", "$json": "y"})).valid


def test_every_problem_of_a_stage_is_reported_at_once() -> None:
    doc = process(
        make_entity(metadata__name="Bad Name", metadata__tags=["UP"], metadata__labels={"a": "b c"})
    )
    assert {e.path for e in doc.errors} == {"metadata.name", "metadata.tags.0", "metadata.labels.a"}


def test_wildcard_rules_accept_custom_kinds_with_envelope_checks_only() -> None:
    custom = {
        "apiVersion": "example.com/v1",
        "kind": "Scorecard",
        "metadata": {"name": "s"},
        "spec": {},
    }
    assert not process(custom).valid
    assert process(custom, KindRules.from_kinds(["*"])).valid
    assert process(custom, KindRules.from_kinds(["Component", "scorecard"])).valid
    bad = {**custom, "metadata": {"name": "bad name"}}
    assert not process(bad, KindRules.from_kinds(["*"])).valid


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("https://example.com/x", True),
        ("http:foo", True),
        ("mailto:a@b.c", True),
        ("slack://channel", True),
        ("/docs", False),
        ("not-a-url", False),
        ("https://", False),
        ("https://a b", False),
        (5, False),
    ],
)
def test_link_urls_follow_whatwg_url_parsing(url: Any, valid: bool) -> None:
    assert is_valid_url(url) is valid
