"""``platform ci render``: the service's CI/CD pipeline, written into its repository.

A thin edge over ``POST /api/deploy/v1/pipelines``: the local ``platform.yaml`` /
``score.yaml`` goes to the server as text; the files that come back (GitHub Actions calling
the platform's reusable workflows, or a ``.gitlab-ci.yml``) are written beside it.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from goldenpath.cli import context, output
from goldenpath.cli.commands import _deploy_local
from goldenpath.cli.commands._deploy_view import DEPLOY
from goldenpath.cli.commands.render import SpecFileOption
from goldenpath.cli.output import OutputFormat, OutputOption

__all__ = ["app"]

app = typer.Typer(
    help="CI/CD pipelines of the golden path.\n\nExamples:\n\n  platform ci render\n\n"
    "  platform ci render --system gitlab --dry-run",
    no_args_is_help=True,
)


class System(enum.StrEnum):
    """CI systems the platform renders pipelines for."""

    github = "github"
    gitlab = "gitlab"


@app.command("render")
def render(
    file: SpecFileOption = None,
    system: Annotated[System, typer.Option("--system", help="github or gitlab.")] = System.github,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Repository root to write into (default: the file's folder)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the files instead of writing them.")
    ] = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Write the service's pipeline (seed 003: build, test, security scan, deploy to staging,
    canary to production): .github/workflows/platform.yml calling the platform's reusable
    workflows, or .gitlab-ci.yml with --system gitlab. Existing files are overwritten (they
    are generated; commit the result). -o json: {system, files: {path: text}}.

    Examples:

      platform ci render

      platform ci render -f services/api/score.yaml --system gitlab --dir .
    """
    spec = _deploy_local.find_spec(file)
    body = {"spec": spec.read_text(encoding="utf-8"), "specPath": spec.name, "system": system}
    with context.api_client() as client:
        result = client.post(f"{DEPLOY}/pipelines", body)
    files: dict[str, str] = result.get("files") or {}
    root = (directory or spec.parent).resolve()
    if dry_run:
        if fmt is OutputFormat.table:
            for path, text in files.items():
                typer.echo(f"# {path}\n{text}")
        else:
            output.emit(result, fmt)
        return
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if fmt is OutputFormat.table:
        for path in files:
            output.stdout().print(f"wrote {root / path}", markup=False, highlight=False)
    else:
        output.emit({**result, "directory": str(root)}, fmt)
