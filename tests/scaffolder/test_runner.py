"""The task runner: step order, ``if``, ``each``, outputs, failures, dry runs, cancel, answers."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from scaffoldhelpers import core_registry, run, template_entity

from goldenpath.errors import InvalidInput, NotFound
from goldenpath.scaffolder.actions.base import Action, ActionContext, ActionRegistry
from goldenpath.scaffolder.answers import ANSWERS_PATH
from goldenpath.scaffolder.runner import StepEvent, check_template, run_template
from goldenpath.scaffolder.templates import TemplateSpec


def _echo(ctx: ActionContext) -> None:
    for key, value in ctx.input.items():
        ctx.output(key, value)


def _explode(ctx: ActionContext) -> None:
    raise InvalidInput(f"cannot reach {ctx.input.get('host')}")


def _crash(ctx: ActionContext) -> None:
    raise RuntimeError("disk on fire")


def _publish(ctx: ActionContext) -> None:
    # what a publish step sees: the answers file is already in the repository
    answers = ctx.workspace / (ctx.input.get("sourcePath") or ".") / ANSWERS_PATH
    ctx.output("answers", answers.read_text() if answers.exists() else None)


def registry() -> ActionRegistry:
    reg = core_registry()
    reg.register(Action("test:echo", "echo input", _echo, supports_dry_run=True))
    reg.register(
        Action(
            "test:typed",
            "typed input",
            _echo,
            input_schema={
                "type": "object",
                "required": ["port"],
                "properties": {"port": {"type": "integer"}},
            },
            supports_dry_run=True,
        )
    )
    reg.register(Action("test:explode", "fails", _explode, supports_dry_run=True))
    reg.register(Action("test:crash", "crashes", _crash, supports_dry_run=True))
    reg.register(Action("publish:test", "publishes", _publish, supports_dry_run=False))
    reg.register(Action("publish:dry", "publishes (dry)", _publish, supports_dry_run=True))
    return reg


PARAMS = {
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z-]+$"},
        "port": {"type": "integer", "default": 8080},
        "db": {"type": "string", "default": "none"},
        "password": {"type": "string", "ui:widget": "password"},
    },
}


def go(tmp_path: Path, steps: list[dict[str, Any]], values: dict[str, Any], **kw: Any) -> Any:
    entity = template_entity(steps, parameters=PARAMS, output=kw.pop("output", None))
    return run(tmp_path, entity, values, registry=registry(), **kw)


def test_steps_run_in_order_and_see_earlier_outputs_with_types_kept(tmp_path: Path) -> None:
    done = go(
        tmp_path,
        [
            {"id": "one", "action": "test:echo", "input": {"port": "${{ parameters.port }}"}},
            {
                "id": "two",
                "name": "Second",
                "action": "test:echo",
                "input": {"next": "${{ steps.one.output.port + 1 }}", "who": "${{ user.ref }}"},
            },
        ],
        {"name": "svc"},
        user={"ref": "user:default/jane"},
    )
    result = done.result
    assert result.status == "completed" and result.error is None
    assert result.steps[0]["output"] == {"port": 8080}
    assert result.steps[1]["output"] == {"next": 8081, "who": "user:default/jane"}
    assert [s["name"] for s in result.steps] == ["test:echo", "Second"]
    kinds = [(e.type, e.step_id, e.status) for e in done.events]
    assert kinds == [
        ("step-start", "one", None),
        ("step-end", "one", "completed"),
        ("step-start", "two", None),
        ("step-end", "two", "completed"),
        ("completion", None, "completed"),
    ]
    assert result.files == []  # not a dry run


def test_if_skips_a_step_and_its_output_is_undefined(tmp_path: Path) -> None:
    steps = [
        {
            "id": "db",
            "if": "${{ parameters.db === 'postgres' }}",
            "action": "test:echo",
            "input": {"url": "postgres://"},
        },
        {"id": "never", "if": False, "action": "test:echo"},
        {"id": "after", "action": "test:echo", "input": {"url": "[${{ steps.db.output.url }}]"}},
    ]
    skipped = go(tmp_path / "a", steps, {"name": "svc"}).result
    assert [s["status"] for s in skipped.steps] == ["skipped", "skipped", "completed"]
    assert skipped.steps[2]["output"] == {"url": "[]"}
    taken = go(tmp_path / "b", steps, {"name": "svc", "db": "postgres"}).result
    assert [s["status"] for s in taken.steps] == ["completed", "skipped", "completed"]
    assert taken.steps[2]["output"] == {"url": "[postgres://]"}


def test_each_runs_once_per_item_and_collects_outputs(tmp_path: Path) -> None:
    steps = [
        {
            "id": "list",
            "each": ["a", "b"],
            "action": "test:echo",
            "input": {"item": "${{ each.value }}-${{ each.key }}"},
        },
        {
            "id": "map",
            "each": {"x": 1, "y": 2},
            "action": "test:echo",
            "input": {"k": "${{ each.key }}", "v": "${{ each.value }}"},
        },
        {"id": "bad", "each": "${{ parameters.port }}", "action": "test:echo"},
    ]
    result = go(tmp_path, steps, {"name": "svc"}).result
    assert result.steps[0]["output"] == {"item": ["a-0", "b-1"]}
    assert result.steps[1]["output"] == {"k": ["x", "y"], "v": [1, 2]}
    assert result.status == "failed"
    assert "each must render to a list or an object" in (result.error or "")


def test_a_failing_step_stops_the_run_and_is_named(tmp_path: Path) -> None:
    done = go(
        tmp_path,
        [
            {
                "id": "fetch",
                "action": "fetch:plain:file",
                "input": {"url": "./a", "targetPath": "a"},
            },
            {"id": "boom", "action": "test:explode", "input": {"host": "db.local"}},
            {"id": "later", "action": "test:echo"},
        ],
        {"name": "svc"},
        skeleton={"a": "A"},
        output={"links": [{"url": "x"}]},
    )
    result = done.result
    assert result.status == "failed"
    assert result.error == 'step "boom" (test:explode) failed: cannot reach db.local'
    assert [s["status"] for s in result.steps] == ["completed", "failed", "skipped"]
    assert "Skipping step later because a previous step failed" in done.log
    assert result.output == {}
    assert (result.workspace / "a").read_text() == "A"  # earlier steps' work stays
    assert done.events[-1].type == "completion" and done.events[-1].status == "failed"
    crashed = go(tmp_path / "c", [{"id": "x", "action": "test:crash"}], {"name": "svc"}).result
    assert crashed.error == 'step "x" (test:crash) failed: RuntimeError: disk on fire'


def test_unknown_actions_fail_before_any_step_runs(tmp_path: Path) -> None:
    steps = [
        {"id": "fetch", "action": "fetch:plain:file", "input": {"url": "./a", "targetPath": "a"}},
        {"id": "pub", "action": "publish:bitbucket"},
    ]
    with pytest.raises(NotFound) as info:
        go(tmp_path, steps, {"name": "svc"}, skeleton={"a": "A"})
    assert 'action "publish:bitbucket" is not registered' in info.value.message
    assert "fetch:template" in info.value.message and "debug:log" in info.value.message
    assert not (tmp_path / "workspace").exists()


def test_invalid_values_fail_before_any_step_runs(tmp_path: Path) -> None:
    steps = [
        {"id": "fetch", "action": "fetch:plain:file", "input": {"url": "./a", "targetPath": "a"}}
    ]
    with pytest.raises(InvalidInput) as info:
        go(tmp_path, steps, {"name": "Not Valid", "port": "x"}, skeleton={"a": "A"})
    paths = {e["path"] for e in info.value.details["errors"]}
    assert paths == {"/name", "/port"}
    assert not (tmp_path / "workspace").exists()


def test_check_template_refuses_duplicate_ids_and_numbers_unnamed_steps() -> None:
    spec = TemplateSpec.from_entity(
        template_entity([{"action": "test:echo"}, {"id": "step-1", "action": "test:echo"}])
    )
    with pytest.raises(InvalidInput, match='step id "step-1" is used twice'):
        check_template(spec, registry())


def test_rendered_input_is_validated_against_the_action_schema(tmp_path: Path) -> None:
    result = go(
        tmp_path,
        [{"id": "t", "action": "test:typed", "input": {"port": "${{ parameters.name }}"}}],
        {"name": "svc"},
    ).result
    assert result.status == "failed"
    assert result.error == (
        "step \"t\": invalid input passed to action test:typed: input.port: 'svc' is not of "
        "type 'integer'"
    )


def test_output_is_rendered_at_the_end(tmp_path: Path) -> None:
    result = go(
        tmp_path,
        [
            {
                "id": "pub",
                "action": "test:echo",
                "input": {"remoteUrl": "https://git/${{ parameters.name }}"},
            }
        ],
        {"name": "svc"},
        output={
            "links": [{"title": "Repository", "url": "${{ steps.pub.output.remoteUrl }}"}],
            "text": [{"title": "Port", "content": "${{ parameters.port }}"}],
        },
    ).result
    assert result.output == {
        "links": [{"title": "Repository", "url": "https://git/svc"}],
        "text": [{"title": "Port", "content": 8080}],
    }


def test_dry_run_returns_the_files_and_skips_actions_without_dry_run(tmp_path: Path) -> None:
    done = go(
        tmp_path,
        [
            {
                "id": "fetch",
                "action": "fetch:template",
                "input": {"url": "./skeleton", "values": {"n": "${{ parameters.name }}"}},
            },
            {"id": "pub", "action": "publish:test"},
        ],
        {"name": "svc"},
        skeleton={
            "skeleton/README.md": "# ${{ values.n }}\n",
            "skeleton/bin/run": "#!/bin/sh\n",
            "skeleton/logo.png": b"\x89PNG\0\1",
        },
        dry_run=True,
    )
    result = done.result
    assert result.status == "completed"
    assert result.steps[1]["status"] == "skipped"
    assert "Skipping because publish:test does not support dry-run" in done.log
    files = {f["path"]: f for f in result.files}
    assert set(files) == {"README.md", "bin/run", "logo.png"}
    assert base64.b64decode(files["README.md"]["base64Content"]) == b"# svc\n"
    assert base64.b64decode(files["logo.png"]["base64Content"]) == b"\x89PNG\0\1"
    assert files["README.md"]["executable"] is False


def test_dry_run_reports_executable_files(tmp_path: Path) -> None:
    skeleton = tmp_path / "template" / "skeleton"
    skeleton.mkdir(parents=True)
    (skeleton / "run.sh").write_text("#!/bin/sh\n")
    (skeleton / "run.sh").chmod(0o755)
    done = go(
        tmp_path,
        [{"id": "f", "action": "fetch:plain", "input": {"url": "./skeleton"}}],
        {"name": "svc"},
        dry_run=True,
    )
    assert done.result.files[0]["path"] == "run.sh" and done.result.files[0]["executable"] is True


def test_cancel_is_honoured_between_steps(tmp_path: Path) -> None:
    cancel = threading.Event()
    events: list[StepEvent] = []

    def on_event(event: StepEvent) -> None:
        events.append(event)
        if event.type == "step-end" and event.step_id == "one":
            cancel.set()

    spec = TemplateSpec.from_entity(
        template_entity(
            [{"id": "one", "action": "test:echo"}, {"id": "two", "action": "test:echo"}]
        )
    )
    result = run_template(
        spec, {}, registry=registry(), workspace=tmp_path / "ws", on_event=on_event, cancel=cancel
    )
    assert result.status == "failed"
    assert result.error == 'the run was cancelled before step "two" (test:echo)'
    assert [s["status"] for s in result.steps] == ["completed", "failed"]


ANSWERS = {
    "template": "template:default/demo",
    "version": "abc123",
    "source": "file:/t/template.yaml",
}


def test_answers_are_written_before_the_first_publish_step_without_secrets(tmp_path: Path) -> None:
    done = go(
        tmp_path,
        [
            {
                "id": "fetch",
                "action": "fetch:plain",
                "input": {"url": "./skeleton", "targetPath": "repo"},
            },
            {"id": "publish", "action": "publish:dry", "input": {"sourcePath": "repo"}},
        ],
        {"name": "svc", "password": "hunter2-pass", "db": "tok-123"},
        skeleton={"skeleton/a.txt": "a"},
        secrets={"token": "tok-123"},
        answers=ANSWERS,
    )
    text = done.result.steps[1]["output"]["answers"]
    assert text is not None, "the answers file must exist when publish runs"
    answers = yaml.safe_load(text)
    assert answers["template"] == "template:default/demo" and answers["version"] == "abc123"
    assert answers["values"] == {
        "name": "svc",
        "port": 8080,
    }  # password + secret-valued db left out
    assert not (tmp_path / "workspace" / ANSWERS_PATH).exists()  # it went to sourcePath


def test_answers_are_written_at_the_end_when_nothing_publishes(tmp_path: Path) -> None:
    done = go(
        tmp_path,
        [{"id": "e", "action": "test:echo"}],
        {"name": "svc"},
        answers=ANSWERS,
        dry_run=True,
    )
    paths = [f["path"] for f in done.result.files]
    assert paths == [ANSWERS_PATH]
    assert "values:\n  name: svc\n" in (tmp_path / "workspace" / ANSWERS_PATH).read_text()


def test_secrets_are_masked_in_events_and_errors(tmp_path: Path) -> None:
    done = go(
        tmp_path,
        [
            {
                "id": "log",
                "action": "debug:log",
                "input": {"message": "token=${{ secrets.token }} pw=${{ parameters.password }}"},
            },
            {
                "id": "boom",
                "action": "test:explode",
                "input": {"host": "${{ secrets.token }}.example"},
            },
        ],
        {"name": "svc", "password": "pa55word"},
        secrets={"token": "tok-SECRET"},
    )
    assert "token=*** pw=***" in done.log
    assert "tok-SECRET" not in done.log and "pa55word" not in done.log
    assert done.result.error is not None and "tok-SECRET" not in done.result.error


def test_status_checks_let_clean_up_steps_run_after_a_failure(tmp_path: Path) -> None:
    done = go(
        tmp_path,
        [
            {"id": "boom", "action": "test:explode", "input": {"host": "h"}},
            {"id": "plain", "action": "test:echo"},
            {"id": "cleanup", "if": "${{ failure() }}", "action": "test:echo", "input": {"a": 1}},
            {"id": "always", "if": "${{ always() }}", "action": "test:echo", "input": {"b": 2}},
            {"id": "ok-only", "if": "${{ not failure() }}", "action": "test:echo"},
            {"id": "second", "if": "${{ always() }}", "action": "test:crash"},
        ],
        {"name": "svc"},
    )
    result = done.result
    assert [s["status"] for s in result.steps] == [
        "failed",
        "skipped",
        "completed",
        "completed",
        "skipped",
        "failed",
    ]
    assert result.steps[2]["output"] == {"a": 1}
    assert result.status == "failed"
    assert result.error == 'step "boom" (test:explode) failed: cannot reach h'  # the first one
    happy = go(
        tmp_path / "ok",
        [{"id": "c", "if": "${{ failure() }}", "action": "test:echo"}],
        {"name": "x"},
    )
    assert happy.result.steps[0]["status"] == "skipped"


def test_each_with_if_decides_per_item(tmp_path: Path) -> None:
    done = go(
        tmp_path,
        [
            {
                "id": "some",
                "each": ["keep", "drop", "keep2"],
                "if": "${{ each.value !== 'drop' }}",
                "action": "test:echo",
                "input": {"v": "${{ each.value }}"},
            }
        ],
        {"name": "svc"},
    )
    assert done.result.steps[0]["output"] == {"v": ["keep", "keep2"]}
    assert 'Skipping step each: {"key": "1", "value": "drop"}' in done.log


def test_every_iteration_is_validated_before_the_first_runs(tmp_path: Path) -> None:
    done = go(
        tmp_path,
        [
            {
                "id": "t",
                "each": [1, "two"],
                "action": "test:typed",
                "input": {"port": "${{ each.value }}"},
            }
        ],
        {"name": "svc"},
    )
    assert "invalid input passed to action test:typed[1]" in (done.result.error or "")
    assert "Running step each" not in done.log


def test_output_items_with_a_false_if_are_dropped(tmp_path: Path) -> None:
    result = go(
        tmp_path,
        [{"id": "e", "action": "test:echo"}],
        {"name": "svc"},
        output={
            "links": [
                {"title": "DB", "url": "postgres://", "if": "${{ parameters.db === 'postgres' }}"},
                {"title": "Repo", "url": "https://git", "if": "${{ parameters.name }}"},
                {"title": "Docs", "url": "https://docs"},
            ]
        },
    ).result
    assert result.output == {
        "links": [{"title": "Repo", "url": "https://git"}, {"title": "Docs", "url": "https://docs"}]
    }


def test_dry_run_gives_skipped_steps_example_outputs(tmp_path: Path) -> None:
    reg = registry()
    reg.register(
        Action(
            "publish:example",
            "publishes",
            _publish,
            output_schema={
                "type": "object",
                "properties": {
                    "remoteUrl": {"type": "string"},
                    "commitHash": {"type": "string", "examples": ["abc123"]},
                },
            },
        )
    )
    entity = template_entity(
        [
            {"id": "pub", "action": "publish:example"},
            {
                "id": "after",
                "action": "test:echo",
                "input": {"url": "${{ steps.pub.output.remoteUrl }}"},
            },
        ],
        output={"text": [{"title": "commit", "content": "${{ steps.pub.output.commitHash }}"}]},
    )
    done = run(tmp_path, entity, {}, registry=reg, dry_run=True)
    assert done.result.steps[0]["output"] == {"remoteUrl": "<example>", "commitHash": "abc123"}
    assert done.result.steps[1]["output"] == {"url": "<example>"}
    assert done.result.output == {"text": [{"title": "commit", "content": "abc123"}]}
    assert "Running publish:example in dry-run mode with inputs" in done.log


def test_the_task_id_is_in_the_context(tmp_path: Path) -> None:
    spec = TemplateSpec.from_entity(
        template_entity(
            [{"id": "e", "action": "test:echo", "input": {"id": "${{ context.task.id }}"}}]
        )
    )
    result = run_template(spec, {}, registry=registry(), workspace=tmp_path / "task-42")
    assert result.steps[0]["output"] == {"id": "task-42"}


def test_values_derived_from_secrets_through_each_are_masked(tmp_path: Path) -> None:
    done = go(
        tmp_path,
        [
            {
                "id": "log",
                "each": "${{ [secrets.token, 'plain'] }}",
                "action": "debug:log",
                "input": {"message": "item ${{ each.value | upper }}"},
            }
        ],
        {"name": "svc"},
        secrets={"token": "tok-abcdef"},
    )
    assert done.result.status == "completed", done.result.error
    assert "TOK-ABCDEF" not in done.log and "tok-abcdef" not in done.log
    assert "item PLAIN" in done.log
