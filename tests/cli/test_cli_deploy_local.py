"""`platform deploy|status|logs|env`: what the CLI decides before any request — local spec
validation (file:line: field), --canary / --since / --ttl parsing, git checks, help texts.

The server URL points at a closed port: a command that wrongly made a request would exit 6
(unavailable) instead of the code asserted here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from goldenpath.cli.commands import _deploy_args, _deploy_local
from goldenpath.cli.main import app

SPEC = """\
apiVersion: goldenpath.dev/v1
kind: Service
metadata:
  name: hello
spec:
  language: python
  run:
    command: [python, app.py]
    readiness: /healthz
  runtime:
    replicas: {replicas}
"""


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


def _repo(root: Path, replicas: str = "1") -> Path:
    root.mkdir(parents=True)
    (root / "platform.yaml").write_text(SPEC.format(replicas=replicas))
    (root / "app.py").write_text("print('hi')\n")
    _git(root, "init", "--quiet", "--initial-branch=main")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    return root


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GOLDENPATH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GOLDENPATH_SERVER__URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GOLDENPATH_SERVER__TOKEN", "gp_unused")
    return CliRunner()


def test_invalid_spec_fails_locally_with_file_line_and_field(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path / "svc", replicas="lots")
    monkeypatch.chdir(repo)
    result = runner.invoke(app, ["deploy", "--env", "dev"])
    assert result.exit_code == 1, result.output
    assert "platform.yaml:11: spec.runtime.replicas:" in result.output
    assert not (tmp_path / "home" / "run" / "server.json").exists()


def test_environment_override_is_validated_for_the_target_environment(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path / "svc")
    text = (repo / "platform.yaml").read_text()
    (repo / "platform.yaml").write_text(
        text + "  environments:\n    production:\n      runtime: {replicas: 0}\n"
    )
    monkeypatch.chdir(repo)
    result = runner.invoke(app, ["deploy", "--env", "production"])
    assert result.exit_code == 1, result.output
    assert "spec.environments.production.runtime.replicas" in result.output


def test_missing_spec_names_the_directory_and_the_fix(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["deploy"])
    assert result.exit_code == 1
    assert "no platform.yaml or score.yaml" in result.output and "--file" in result.output


@pytest.mark.parametrize("value", ["0", "101", "ten", "10%%", "-5", "5.5%"])
def test_bad_canary_is_a_usage_error(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.chdir(_repo(tmp_path / "svc"))
    result = runner.invoke(app, ["deploy", "--canary", value])
    assert result.exit_code == 2, result.output
    assert "--canary" in result.output and "1 to 100" in result.output


@pytest.mark.parametrize(("value", "expected"), [("10%", 10), ("10", 10), (" 50 % ", 50)])
def test_canary_accepts_percent_or_number(value: str, expected: int) -> None:
    assert _deploy_args.parse_canary(value) == expected


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("2d", 172800), ("1h30m", 5400), ("90", 90)],
)
def test_durations(value: str, seconds: float) -> None:
    assert _deploy_args.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "0s", "1x", "h", "-1h"])
def test_bad_durations(value: str) -> None:
    with pytest.raises(typer.BadParameter, match="not a duration"):
        _deploy_args.parse_duration(value)


def test_bad_since_and_ttl_are_usage_errors(runner: CliRunner) -> None:
    logs = runner.invoke(app, ["logs", "my-api", "--since", "yesterday"])
    assert logs.exit_code == 2 and "--since" in logs.output
    env = runner.invoke(app, ["env", "create", "pr-1", "--ttl", "forever"])
    assert env.exit_code == 2 and "--ttl" in env.output


def test_delete_without_terminal_needs_yes(runner: CliRunner) -> None:
    result = runner.invoke(app, ["env", "delete", "pr-1"])
    assert result.exit_code == 2 and "--yes" in result.output


def test_unknown_ref_and_uncommitted_spec_are_refused(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path / "svc")
    monkeypatch.chdir(repo)
    result = runner.invoke(app, ["deploy", "--ref", "no-such-branch"])
    assert result.exit_code == 1 and "'no-such-branch' is not a commit" in result.output
    sub = repo / "sub"
    sub.mkdir()
    (sub / "platform.yaml").write_text(SPEC.format(replicas=1))
    result = runner.invoke(app, ["deploy", "--file", str(sub / "platform.yaml")])
    assert result.exit_code == 1 and "sub/platform.yaml is not committed" in result.output


def test_plan_sends_repo_root_resolved_sha_and_spec_path_and_warns_when_dirty(
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path / "svc")
    plan = _deploy_local.plan_deploy(
        repo / "platform.yaml", environment="dev", ref=None, canary=10, strategy=None
    )
    assert plan.body == {
        "environment": "dev",
        "canary": 10,
        "repo": str(repo.resolve()),
        "ref": _git(repo, "rev-parse", "HEAD"),
        "specPath": "platform.yaml",
    }
    assert plan.service == "hello" and plan.warnings == []
    (repo / "app.py").write_text("print('changed')\n")
    dirty = _deploy_local.plan_deploy(
        repo / "platform.yaml", environment="dev", ref="main", canary=None, strategy="rolling"
    )
    assert dirty.body["strategy"] == "rolling"
    assert len(dirty.warnings) == 1 and "uncommitted changes" in dirty.warnings[0]


def test_outside_git_only_package_specs_are_sent_as_text(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "platform.yaml").write_text(SPEC.format(replicas=1))
    with pytest.raises(Exception, match="not inside a git repository"):
        _deploy_local.plan_deploy(
            folder / "platform.yaml", environment="dev", ref=None, canary=None, strategy=None
        )
    package = "kind: Service\nmetadata: {name: ds}\nspec:\n  build: {package: datasette==0.65.1}\n"
    package += "  run: {command: [datasette, serve, -p, $PORT]}\n"
    (folder / "platform.yaml").write_text(package)
    plan = _deploy_local.plan_deploy(
        folder / "platform.yaml", environment="dev", ref=None, canary=None, strategy=None
    )
    assert plan.body == {"environment": "dev", "spec": package}


def test_service_defaults_to_the_spec_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(_repo(tmp_path / "svc"))
    assert _deploy_local.default_service(None) == "hello"
    assert _deploy_local.default_service("other") == "other"


@pytest.mark.parametrize(
    "command",
    [
        ["deploy"],
        ["deploy", "promote"],
        ["deploy", "abort"],
        ["deploy", "rollback"],
        ["deploy", "history"],
        ["status"],
        ["logs"],
        ["env", "ls"],
        ["env", "create"],
        ["env", "clone"],
        ["env", "delete"],
    ],
)
def test_help_has_examples_and_output_option(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and "--output" in result.output
    assert "platform " in result.output
