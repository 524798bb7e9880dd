"""Template entities: checks with precise reasons, parameter validation and defaults, loading."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from scaffoldhelpers import build_tree, template_entity

from goldenpath.errors import InvalidInput
from goldenpath.scaffolder.templates import (
    TemplateSpec,
    load_template_file,
    load_templates,
    template_source_dir,
)

STEP = {"id": "log", "action": "debug:log", "input": {"message": "hi"}}

PAGES: list[dict[str, Any]] = [
    {
        "title": "Service",
        "required": ["name", "owner"],
        "properties": {
            "name": {
                "type": "string",
                "pattern": "^[a-z][a-z0-9-]*$",
                "ui:autofocus": True,
                "ui:help": "lower-case letters, digits and dashes",
            },
            "owner": {"type": "string", "ui:field": "OwnerPicker"},
            "port": {"type": "integer", "default": 8080, "minimum": 1024},
            "lang": {"type": "string", "enum": ["python", "typescript"], "default": "python"},
        },
    },
    {
        "title": "Database",
        "properties": {
            "db": {"type": "string", "enum": ["none", "postgres"], "default": "none"},
            "options": {
                "type": "object",
                "properties": {"replicas": {"type": "integer", "default": 1}},
            },
            "apiToken": {"type": "string", "ui:field": "Secret", "minLength": 8},
        },
        "dependencies": {
            "db": {
                "oneOf": [
                    {"properties": {"db": {"const": "none"}}},
                    {
                        "properties": {
                            "db": {"const": "postgres"},
                            "size": {
                                "type": "string",
                                "enum": ["small", "large"],
                                "default": "small",
                            },
                        },
                        "required": ["size"],
                    },
                ]
            }
        },
        "allOf": [
            {
                "if": {"properties": {"lang": {"const": "typescript"}}},
                "then": {"properties": {"framework": {"type": "string", "default": "fastify"}}},
            }
        ],
    },
]


def spec(**kwargs: Any) -> TemplateSpec:
    return TemplateSpec.from_entity(template_entity([STEP], parameters=PAGES, **kwargs))


def errors_of(values: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(InvalidInput) as info:
        spec().validate_values(values)
    return info.value.details["errors"]


def test_defaults_are_applied_across_pages_nested_and_dependent() -> None:
    values = spec().validate_values({"name": "my-api", "owner": "team-a", "db": "postgres"})
    assert values == {
        "name": "my-api",
        "owner": "team-a",
        "port": 8080,
        "lang": "python",
        "db": "postgres",
        "options": {"replicas": 1},
        "size": "small",
    }


def test_if_then_defaults_follow_the_condition() -> None:
    values = spec().validate_values({"name": "web", "owner": "a", "lang": "typescript"})
    assert values["framework"] == "fastify"
    assert "framework" not in spec().validate_values({"name": "web", "owner": "a"})


def test_values_are_not_mutated() -> None:
    given = {"name": "my-api", "owner": "team-a"}
    spec().validate_values(given)
    assert given == {"name": "my-api", "owner": "team-a"}


@pytest.mark.parametrize(
    ("values", "path", "message"),
    [
        ({"owner": "a"}, "/name", "'name' is a required property"),
        ({"name": "My Api", "owner": "a"}, "/name", "does not match '^[a-z][a-z0-9-]*$'"),
        ({"name": "x", "owner": "a", "lang": "go"}, "/lang", "'go' is not one of"),
        ({"name": "x", "owner": "a", "port": 80}, "/port", "80 is less than the minimum of 1024"),
        ({"name": "x", "owner": "a", "port": "80"}, "/port", "'80' is not of type 'integer'"),
        ({"name": "x", "owner": "a", "db": "postgres", "size": "xl"}, "/size", "'xl' is not one"),
    ],
)
def test_invalid_values_name_the_json_pointer_and_the_schema_message(
    values: dict[str, Any], path: str, message: str
) -> None:
    errors = errors_of(values)
    assert any(e["path"] == path and message in e["message"] for e in errors), errors


def test_every_failure_is_reported_at_once() -> None:
    errors = errors_of({"name": "Bad Name", "port": 1})
    assert {e["path"] for e in errors} >= {"/name", "/owner", "/port"}


def test_secret_parameter_values_are_masked_in_validation_errors() -> None:
    errors = errors_of({"name": "x", "owner": "a", "apiToken": "hunter2"})
    assert errors[0]["path"] == "/apiToken"
    assert "hunter2" not in str(errors) and "***" in errors[0]["message"]


def test_ui_keys_are_kept_for_the_form_but_not_validated() -> None:
    body = spec().parameter_schema()
    assert body["title"] == "Demo"
    assert [s["title"] for s in body["steps"]] == ["Service", "Database"]
    assert body["steps"][0]["schema"]["properties"]["name"]["ui:autofocus"] is True
    # "ui:help" is not a JSON Schema keyword: validating must not trip over it
    assert spec().validate_values({"name": "ok", "owner": "a"})["name"] == "ok"


def test_a_single_parameter_object_is_one_page() -> None:
    page = {"properties": {"name": {"type": "string"}}}
    template = TemplateSpec.from_entity(template_entity([STEP], parameters=page))
    assert template.parameters == [page]
    assert template.parameter_schema()["steps"][0]["title"] == (
        "Please enter the following information"
    )


def test_no_parameters_accepts_any_values() -> None:
    template = TemplateSpec.from_entity(template_entity([STEP]))
    assert template.parameters == [] and template.validate_values({"x": 1}) == {"x": 1}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e["spec"].pop("steps"), "spec.steps is missing"),
        (lambda e: e["spec"].update(steps={"a": 1}), "spec.steps must be a list"),
        (lambda e: e["spec"].update(steps=[{"id": "x"}]), r"spec.steps\[0\].action is missing"),
        (lambda e: e["spec"].update(steps=["debug:log"]), r"spec.steps\[0\] must be an object"),
        (lambda e: e["spec"].update(parameters="name"), "spec.parameters must be an object"),
        (lambda e: e["spec"].update(parameters=[1]), r"spec.parameters\[0\] must be an object"),
        (
            lambda e: e["spec"].update(parameters=[{"properties": {"n": {"type": "text"}}}]),
            r"spec.parameters\[0\] is not a valid JSON Schema "
            r".*properties/n/type.*'text' is not one of",
        ),
        (lambda e: e["spec"].update(output=[1]), "spec.output must be an object"),
        (lambda e: e.update(kind="Component"), "kind must be Template"),
        (lambda e: e.update(apiVersion="backstage.io/v1beta2"), "apiVersion .* is not supported"),
    ],
)
def test_invalid_template_entities_are_refused_naming_the_field(change: Any, field: str) -> None:
    entity = template_entity([STEP], parameters={"properties": {}})
    change(entity)
    with pytest.raises(InvalidInput, match=field):
        TemplateSpec.from_entity(entity)


def test_load_template_file_resolves_placeholders_relative_to_the_file(tmp_path: Path) -> None:
    build_tree(
        tmp_path,
        {
            "params.yaml": "properties:\n  name: {type: string, default: svc}\n",
            "description.md": "A service.\n",
            "template.yaml": "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\n"
            "metadata:\n  name: svc\n  namespace: platform\n"
            "  description: {$text: ./description.md}\n"
            "spec:\n  type: service\n  parameters:\n    - $yaml: ./params.yaml\n"
            "  steps:\n    - {id: log, action: debug:log}\n",
        },
    )
    template = load_template_file(tmp_path / "template.yaml")
    assert template.ref == "template:platform/svc"
    assert template.base_dir == tmp_path.resolve()
    assert template.entity["metadata"]["description"] == "A service.\n"
    assert template.validate_values({}) == {"name": "svc"}


def test_a_placeholder_outside_the_template_directory_is_refused(tmp_path: Path) -> None:
    build_tree(
        tmp_path,
        {
            "secret.txt": "top secret",
            "t/template.yaml": "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\n"
            "metadata: {name: x, description: {$text: ../secret.txt}}\n"
            "spec: {type: s, steps: [{action: debug:log}]}\n",
        },
    )
    with pytest.raises(InvalidInput, match="outside the allowed directories") as info:
        load_template_file(tmp_path / "t" / "template.yaml")
    assert "top secret" not in info.value.message


def test_load_reports_yaml_errors_with_line_and_picks_templates_by_name(tmp_path: Path) -> None:
    build_tree(tmp_path, {"bad.yaml": "kind: Template\nspec: [\n"})
    with pytest.raises(InvalidInput, match="line"):
        load_template_file(tmp_path / "bad.yaml")
    doc = "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata: {name: %s}\n"
    doc += "spec: {type: s, steps: [{action: debug:log}]}\n"
    build_tree(tmp_path, {"two.yaml": doc % "a" + "---\nkind: Group\n---\n" + doc % "b"})
    assert [t.name for t in load_templates(tmp_path / "two.yaml")] == ["a", "b"]
    with pytest.raises(InvalidInput, match=r"found 2 .*a, b"):
        load_template_file(tmp_path / "two.yaml")
    assert load_template_file(tmp_path / "two.yaml", name="b").name == "b"


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _located(target: str) -> dict[str, Any]:
    entity = template_entity([STEP])
    entity["metadata"]["annotations"] = {"backstage.io/managed-by-location": target}
    return entity


def test_source_dir_of_a_plain_directory_is_versioned_by_content(tmp_path: Path) -> None:
    build_tree(tmp_path / "t", {"template.yaml": "x", "skeleton/a.txt": "1"})
    directory, version = template_source_dir(
        _located(f"file:{tmp_path}/t/template.yaml"), cache_dir=tmp_path / "cache"
    )
    assert directory == tmp_path / "t" and version.startswith("sha256:")
    (tmp_path / "t/skeleton/a.txt").write_text("2")
    _, changed = template_source_dir(
        _located(f"file:{tmp_path}/t/template.yaml"), cache_dir=tmp_path / "cache"
    )
    assert changed != version


def test_source_dir_of_a_git_url_is_a_checkout_at_the_commit(tmp_path: Path) -> None:
    repo = build_tree(tmp_path / "repo", {"templates/svc/template.yaml": "x", "README": "r"})
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "init")
    sha = _git(repo, "rev-parse", "HEAD")
    target = f"url:file://{repo}/blob/main/templates/svc/template.yaml"
    directory, version = template_source_dir(_located(target), cache_dir=tmp_path / "cache")
    assert version == sha
    assert (directory / "template.yaml").read_text() == "x"
    assert directory.is_relative_to(tmp_path / "cache")
    # a file location inside a git work tree is versioned by its commit
    local = f"file:{repo}/templates/svc/template.yaml"
    assert template_source_dir(_located(local), cache_dir=tmp_path / "c2")[1] == sha


def test_source_dir_needs_a_location_annotation(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="managed-by-location"):
        template_source_dir(template_entity([STEP]), cache_dir=tmp_path)
    with pytest.raises(InvalidInput, match="git clone"):
        template_source_dir(
            _located(f"url:file://{tmp_path}/nope/blob/main/t.yaml"), cache_dir=tmp_path
        )
