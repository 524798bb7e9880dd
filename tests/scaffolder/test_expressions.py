"""Behaviour of the public rendering API (step values, skeleton files, step conditions).

What Backstage itself answers is checked case by case in ``test_expressions_oracle.py``;
this file covers our API's own promises: keyword options, error types and locations,
``if:`` semantics, integrations for ``parseRepoUrl``, and text that is not a template.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from goldenpath.errors import InvalidInput
from goldenpath.scaffolder import TemplateError, evaluate_condition, render_string, render_value

CONTEXT = {
    "parameters": {"name": "my-svc", "port": 8080, "tags": ["a", "b"], "flag": False},
    "steps": {"publish": {"output": {"remoteUrl": "http://localhost:7007/git/acme/my-svc.git"}}},
    "user": {"entity": {"metadata": {"name": "jane"}}, "ref": "user:default/jane"},
}


def test_a_step_input_keeps_types_and_renders_every_string_leaf() -> None:
    step_input = {
        "name": "${{ parameters.name | upper }}",
        "port": "${{ parameters.port }}",
        "tags": "${{ parameters.tags }}",
        "url": "${{ steps['publish'].output.remoteUrl }}",
        "owner": "user:${{ user.entity.metadata.name }}",
        "nested": [{"deep": "${{ parameters.flag }}"}, 3, None],
        "missing": "${{ parameters.nope }}",
    }
    assert render_value(step_input, CONTEXT) == {
        "name": "MY-SVC",
        "port": 8080,
        "tags": ["a", "b"],
        "url": "http://localhost:7007/git/acme/my-svc.git",
        "owner": "user:jane",
        "nested": [{"deep": False}, 3, None],
    }


def test_an_undefined_list_item_becomes_null_and_the_input_is_not_mutated() -> None:
    step_input = ["${{ parameters.nope }}", "${{ parameters.name }}"]
    assert render_value(step_input, CONTEXT) == [None, "my-svc"]
    assert step_input == ["${{ parameters.nope }}", "${{ parameters.name }}"]


def test_a_failing_step_string_is_kept_and_its_error_reported_with_the_step() -> None:
    errors: list[TemplateError] = []
    value = {"a": "${{ parameters.name | nosuchfilter }}", "b": "${{ parameters.name }}"}
    rendered = render_value(value, CONTEXT, location="step publish", errors=errors)
    assert rendered == {"a": "${{ parameters.name | nosuchfilter }}", "b": "my-svc"}
    [error] = errors
    assert error.location == "step publish"
    assert "nosuchfilter" in error.message and error.message.startswith("step publish")


def test_file_mode_uses_values_and_raises_with_the_file_and_line() -> None:
    template = "name: ${{ values.name }}\nport: ${{ values.port }}\nbad: ${{ values.name | }}\n"
    with pytest.raises(TemplateError) as caught:
        render_string(template, {"name": "svc"}, location="skeleton/catalog-info.yaml")
    error = caught.value
    assert isinstance(error, InvalidInput) and error.status == 400
    assert error.location == "skeleton/catalog-info.yaml" and error.line == 3
    assert "skeleton/catalog-info.yaml (line 3)" in error.message
    assert error.details["location"] == "skeleton/catalog-info.yaml"
    ok = render_string(
        "name: ${{ values.name }}\nport: ${{ values.port }}\n", {"name": "svc", "port": 80}
    )
    assert ok == "name: svc\nport: 80\n"


def test_file_mode_options_cookiecutter_and_whitespace_control() -> None:
    assert render_string("{{ cookiecutter.name }}", {"name": "x"}, cookiecutter_compat=True) == "x"
    assert render_string("{{ cookiecutter.name }}", {"name": "x"}) == "{{ cookiecutter.name }}"
    template = "{% for e in values.envs %}\n  - ${{ e }}\n{% endfor %}\n"
    plain = render_string(template, {"envs": ["dev", "prod"]})
    trimmed = render_string(template, {"envs": ["dev", "prod"]}, trim_blocks=True)
    assert plain == "\n  - dev\n\n  - prod\n\n"
    assert trimmed == "  - dev\n  - prod\n"


def test_crlf_files_keep_their_line_endings() -> None:
    assert render_string("a: ${{ values.a }}\r\nb\r\n", {"a": 1}) == "a: 1\r\nb\r\n"


def test_step_mode_string_rendering_sees_the_whole_context() -> None:
    assert (
        render_string("${{ parameters.name }}@${{ always() }}", CONTEXT, mode="step")
        == "my-svc@true"
    )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (False, False),
        (True, True),
        (None, True),
        ("${{ parameters.flag }}", False),
        ("${{ not parameters.flag }}", True),
        ("${{ parameters.tags }}", True),
        ("${{ parameters.empty }}", False),
        ("${{ parameters.nope }}", False),
        ("${{ parameters.port > 1024 }}", True),
        ("${{ parameters.name === 'my-svc' and parameters.port == '8080' }}", True),
        ("false", True),  # a non-empty string is truthy, as in Backstage
        ("", False),
        ("${{ always() }}", True),
        ("${{ failure() }}", False),
        ("${{ parameters.name | nosuchfilter }}", True),  # failed render: string kept, truthy
    ],
)
def test_evaluate_condition_follows_the_task_runner(condition: object, expected: bool) -> None:
    context = {**CONTEXT, "parameters": {**CONTEXT["parameters"], "empty": []}}
    assert evaluate_condition(condition, context) is expected


def test_parse_repo_url_knows_github_and_the_local_git_host() -> None:
    assert render_value(
        "${{ parameters.r | parseRepoUrl }}",
        {"parameters": {"r": "localhost:7007?owner=acme&repo=svc"}},
    ) == {
        "host": "localhost:7007",
        "owner": "acme",
        "repo": "svc",
    }
    assert (
        render_value(
            "${{ parameters.r | projectSlug }}", {"parameters": {"r": "github.com?owner=o&repo=r"}}
        )
        == "o/r"
    )


def test_parse_repo_url_uses_the_given_integrations_only() -> None:
    context = {"parameters": {"r": "git.corp.example?owner=o&repo=r"}}
    errors: list[TemplateError] = []
    assert (
        render_value("${{ parameters.r | projectSlug }}", context, errors=errors)
        == "${{ parameters.r | projectSlug }}"
    )
    assert "No matching integration configuration for host git.corp.example" in errors[0].problem
    hosts = {"git.corp.example": "gitlab"}
    assert render_value("${{ parameters.r | projectSlug }}", context, integrations=hosts) == "o/r"
    with pytest.raises(TemplateError, match=r"github\.com"):
        render_string(
            "${{ values.r | parseRepoUrl }}", {"r": "github.com?owner=o&repo=r"}, integrations=hosts
        )


def test_js_object_literals_and_entity_ref_defaults() -> None:
    template = (
        "${{ parameters.owner | parseEntityRef({ defaultKind: 'group', defaultNamespace: 'ops' })"
        " | pick('namespace') }}"
    )
    assert render_value(template, {"parameters": {"owner": "team-a"}}) == "ops"
    assert render_value("${{ { a: 1, 'b-c': [null, true] } }}", {}) == {"a": 1, "b-c": [None, True]}


_PLAIN_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200).filter(
    lambda s: not any(marker in s for marker in ("{{", "{%", "{#"))
)


@given(_PLAIN_TEXT)
def test_text_without_template_markers_is_returned_as_is(text: str) -> None:
    assert render_value(text, {}) == text
    assert render_string(text, {}) == text
    assert render_string(f"{text}${{{{ values.x }}}}{text}", {"x": 1}) == f"{text}1{text}"
