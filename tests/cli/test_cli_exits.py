"""Exit codes: one table, the same code whether an error is raised locally or comes over HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from goldenpath import errors
from goldenpath.cli import exits
from goldenpath.cli.client import error_from_response
from goldenpath.cli.main import app


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.InvalidInput("x"), 1),
        (errors.NotFound("x"), 3),
        (errors.Conflict("x"), 4),
        (errors.Unauthorized("x"), 5),
        (errors.Forbidden("x"), 5),
        (errors.Unavailable("x"), 6),
        (errors.PlatformError("x"), 10),
        (RuntimeError("x"), 10),
    ],
)
def test_each_error_class_has_its_documented_exit_code(error: BaseException, code: int) -> None:
    assert exits.exit_code_for(error) == code


@pytest.mark.parametrize(
    ("status", "cls", "code"),
    [
        (400, errors.InvalidInput, 1),
        (422, errors.InvalidInput, 1),
        (401, errors.Unauthorized, 5),
        (403, errors.Forbidden, 5),
        (404, errors.NotFound, 3),
        (409, errors.Conflict, 4),
        (503, errors.Unavailable, 6),
        (500, errors.PlatformError, 10),
    ],
)
def test_problem_json_status_becomes_error_class_and_exit_code(
    status: int, cls: type[errors.PlatformError], code: int
) -> None:
    problem = {
        "type": "about:blank",
        "title": "T",
        "status": status,
        "detail": "spec.owner: must be an entity ref",
        "errors": [{"path": "spec.owner", "message": "bad"}],
    }
    response = httpx.Response(
        status,
        json=problem,
        headers={"content-type": "application/problem+json"},
        request=httpx.Request("GET", "http://127.0.0.1:1/api/x"),
    )
    error = error_from_response(response)
    assert type(error) is cls
    assert error.message == "spec.owner: must be an entity ref"
    assert error.details["errors"] == [{"path": "spec.owner", "message": "bad"}]
    assert exits.exit_code_for(error) == code


def test_non_json_error_body_keeps_status_and_text() -> None:
    response = httpx.Response(
        502, text="Bad Gateway", request=httpx.Request("GET", "http://127.0.0.1:1/x")
    )
    error = error_from_response(response)
    assert isinstance(error, errors.Unavailable)
    assert "502" in error.message and "Bad Gateway" in error.message


def test_usage_error_exits_2_and_version_exits_0() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["catalog", "no-such-command"]).exit_code == 2
    assert runner.invoke(app, ["catalog", "ls", "--output", "xml"]).exit_code == 2
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert "goldenpath" in result.output


def test_help_documents_exit_codes_and_examples() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "Exit codes" in result.output and "4 conflict" in result.output
    for command in (["catalog", "import"], ["catalog", "validate"], ["server", "stop"]):
        help_text = CliRunner().invoke(app, [*command, "--help"], terminal_width=200).output
        assert "Example" in help_text, command
        assert "--output" in help_text, command


def _offline_env(tmp_path: Path) -> dict[str, str]:
    """A CLI environment whose server is never reached (nothing listens on port 9)."""
    return {
        "GOLDENPATH_HOME": str(tmp_path / "home"),
        "GOLDENPATH_SERVER__URL": "http://127.0.0.1:9",
        "GOLDENPATH_SERVER__TOKEN": "gp_unused",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["render", "--file", "x" * 5000], "(5000 characters): File name too long"),
        (["task", "show", "a\nb"], "a character a URL cannot carry"),
        (["user", "disable", "bob\udcff"], "not valid UTF-8 text"),
    ],
)
def test_bad_text_or_paths_are_invalid_input_not_internal_errors(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Found by running every command with odd values (1,408 invocations): these were
    'internal error' (exit 10). No server is reached: each fails before its request."""
    env = _offline_env(tmp_path)
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 1, result.stderr
    assert message in " ".join(result.stderr.split()) and "internal error" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"x": NaN}', "NaN is not a JSON value"),
        ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ],
)
@pytest.mark.parametrize(
    "command", [["policy", "check", "--action", "deploy"], ["metrics", "import"]]
)
def test_json_files_the_api_could_not_take_are_invalid_input(
    tmp_path: Path, content: str, message: str, command: list[str]
) -> None:
    """Also from the fuzzing: these were 'internal error' (a RecursionError; NaN failed
    when the request was encoded). One reader, ``context.read_json_file``."""
    file = tmp_path / "input.json"
    file.write_text(content, encoding="utf-8")
    env = _offline_env(tmp_path)
    result = CliRunner().invoke(app, [*command[:2], str(file), *command[2:]], env=env)
    assert result.exit_code == 1, result.stderr
    assert message in result.stderr and "internal error" not in result.stderr
