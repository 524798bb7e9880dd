"""``platform policy``: the guardrails — list files, test a policy directory, show decisions,
check an input document.

Thin edges over ``/api/policy/v1``. ``test DIR`` reads the directory's ``*.rego`` and
``*_test.yaml`` files here and uploads them, so it works against a remote server too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from goldenpath.cli import context, output
from goldenpath.cli.output import OutputFormat, OutputOption
from goldenpath.errors import InvalidInput

__all__ = ["app"]

V1 = "/api/policy/v1"
_ACTIONS = ("deploy", "provision", "scaffold")

app = typer.Typer(
    help=(
        "Policy guardrails (Rego) checked on every deploy, provision and scaffold.\n\n"
        "Examples:\n\n"
        "  platform policy ls\n\n"
        "  platform policy test ./policies\n\n"
        "  platform policy decisions --denied\n\n"
        "  platform policy check input.json --action deploy"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _files_table(listing: dict[str, Any]) -> Any:
    rows = [
        (
            f["name"],
            f["source"] + (" (overrides built-in)" if f["overrides"] else ""),
            ", ".join(f["packages"]),
            ", ".join(f["rules"]),
        )
        for f in listing["items"]
    ]
    return output.make_table(
        ["FILE", "SOURCE", "PACKAGE", "RULES"], rows, title=f"policies ({listing['directory']})"
    )


@app.command("ls")
def ls(fmt: OutputOption = OutputFormat.table) -> None:
    """List the active policy files (built-in and custom) and the rules they yield. A file
    that did not load is reported on stderr. -o json prints {directory, enabled, loadError,
    items: [{name, source, path, packages, rules, overrides, sha256}]}.

    Example:

      platform policy ls -o json
    """
    with context.api_client() as client:
        listing = client.get(f"{V1}/policies")
    output.emit(listing, fmt, _files_table)
    if listing.get("loadError"):
        output.stderr().print(f"[red]not loaded:[/red] {listing['loadError']}", markup=True)
    if not listing.get("enabled", True):
        output.stderr().print("policy checks are disabled on this server (policy.enabled)")


def _read_directory(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        raise InvalidInput(f"{directory}: not a directory; pass the policy directory to test")
    files: dict[str, str] = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.name.endswith((".rego", "_test.yaml", "_test.yml")):
            try:
                files[path.name] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise InvalidInput(f"{path}: cannot read the policy file: {e}") from e
    return files


def _report_table(report: dict[str, Any]) -> Any:
    rows = []
    for case in report["cases"]:
        detail = case.get("error") or ""
        if not case["passed"] and not detail:
            detail = (
                f"expected deny={case['expected']['deny']} warn={case['expected']['warn']}, "
                f"got deny={case['actual']['deny']} warn={case['actual']['warn']}"
            )
        rows.append(("PASS" if case["passed"] else "FAIL", case["file"], case["name"], detail))
    title = f"{report['passed']} passed, {report['failed']} failed"
    return output.make_table(["RESULT", "FILE", "CASE", "DETAIL"], rows, title=title)


@app.command("test")
def test(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Policy directory (*.rego, *_test.yaml); default: the server's."),
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Run the example cases (*_test.yaml) against the built-in bundle plus DIR's files
    (same name = override) and report pass/fail per case. Exit 1 when a case fails or a
    file does not compile (the error names file:line:col).

    Example:

      platform policy test ./policies
    """
    body: dict[str, Any] = {}
    if directory is not None:
        body["files"] = _read_directory(directory)
    with context.api_client() as client:
        report = client.post(f"{V1}/test", body)
    output.emit(report, fmt, _report_table)
    if not report["ok"]:
        raise typer.Exit(1)


def _decisions_table(found: list[dict[str, Any]]) -> Any:
    rows = [
        (
            d["id"],
            d["at"],
            d["action"],
            "allowed" if d["allowed"] else "DENIED",
            d["subject"],
            d["actor"],
            ", ".join(v["rule"] for v in d["denials"]),
            ", ".join(v["rule"] for v in d["warnings"]),
        )
        for d in found
    ]
    return output.make_table(
        ["ID", "AT", "ACTION", "DECISION", "SUBJECT", "ACTOR", "DENIED", "WARNED"], rows
    )


def _action(value: str | None) -> str | None:
    if value is not None and value not in _ACTIONS:
        raise typer.BadParameter(f"use one of {', '.join(_ACTIONS)}", param_hint="'--action'")
    return value


@app.command("decisions")
def decisions(
    action: Annotated[
        str | None, typer.Option("--action", "-a", help="deploy, provision or scaffold.")
    ] = None,
    denied: Annotated[bool, typer.Option("--denied", help="Only denied requests.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 50,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Recorded decisions, newest first: who asked for what, allowed or denied, which rules.

    Example:

      platform policy decisions --action deploy --denied
    """
    params: dict[str, Any] = {"limit": limit}
    if _action(action):
        params["action"] = action
    if denied:
        params["allowed"] = "false"
    with context.api_client() as client:
        found = client.get(f"{V1}/decisions", params=params)
    output.emit(found, fmt, _decisions_table)


def _decision_view(decision: dict[str, Any]) -> Any:
    rows = [
        (v["severity"], v["rule"], v["message"], v["fix"])
        for v in (*decision["denials"], *decision["warnings"])
    ]
    verdict = "allowed" if decision["allowed"] else "DENIED"
    return output.make_table(
        ["SEVERITY", "RULE", "MESSAGE", "FIX"], rows, title=f"{decision['action']}: {verdict}"
    )


@app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="JSON input document (see docs/policy.md).")],
    action: Annotated[str, typer.Option("--action", "-a", help="deploy, provision or scaffold.")],
    record: Annotated[bool, typer.Option("--record", help="Record the decision.")] = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Check an input document against the active policies (a dry run unless --record).
    Exit 1 when it is denied (or the file is not a JSON object).

    Example:

      platform policy check input.json --action deploy
    """
    _action(action)
    document = context.read_json_file(file)
    if not isinstance(document, dict):
        raise InvalidInput(f"{file}: the input must be a JSON object, see docs/policy.md")
    body = {"action": action, "input": document, "subject": file.name, "record": record}
    with context.api_client() as client:
        decision = client.post(f"{V1}/evaluate", body)
    output.emit(decision, fmt, _decision_view)
    if not decision["allowed"]:
        raise typer.Exit(1)
