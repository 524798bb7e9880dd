"""``platform template upgrade [PATH]``: merge a template's new version into a generated repo.

Runs locally (no server): the work is git on the user's own repository, done by
:func:`goldenpath.scaffolder.upgrade.upgrade_project`. ``cli/commands/template.py``
attaches :func:`upgrade` as ``app.command("upgrade")(upgrade)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from goldenpath.cli import output
from goldenpath.cli.output import OutputFormat, OutputOption

__all__ = ["upgrade"]


def upgrade(
    path: Annotated[
        Path,
        typer.Argument(help="The generated project (holds .goldenpath/answers.yaml)."),
    ] = Path("."),
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the diff the upgrade would apply; change nothing."),
    ] = False,
    branch: Annotated[
        str | None,
        typer.Option(
            "--branch",
            help="Branch to create (default: goldenpath/upgrade-SHA of the new template commit).",
        ),
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Bring a generated repository to its template's current version (three-way merge).

    Reads .goldenpath/answers.yaml, renders the template at the recorded version and at its
    current version with the recorded answers, and merges the difference into your code with
    git. The result is committed on a new branch and checked out; your branch is not moved.
    Where your edits collide with the template's, the files keep standard conflict markers
    (listed below): resolve them and commit. Refuses to run on uncommitted changes.

    Examples:

      platform template upgrade

      platform template upgrade ./my-api --dry-run

      platform template upgrade --branch upgrade-template -o json
    """
    from goldenpath.scaffolder.upgrade import upgrade_project  # git work loads only here

    result = upgrade_project(path, dry_run=dry_run, branch=branch)
    data = result.to_dict()
    if fmt is not OutputFormat.table:
        output.emit(data, fmt)
        return
    _print(data, dry_run=dry_run)


def _print(data: dict[str, Any], *, dry_run: bool) -> None:
    err = output.stderr()
    old, new = data["old_version"][:12], data["new_version"][:12]
    if data["up_to_date"]:
        err.print(f"{data['template']} is up to date (template version {new}).", markup=False)
        return
    if dry_run:
        typer.echo(data["diff"], nl=not data["diff"].endswith("\n"))
        err.print(
            f"dry run: {data['template']} {old} → {new} would change "
            f"{len(data['changed'])} file(s); nothing was written.",
            markup=False,
        )
    else:
        where = "checked out" if data["checked_out"] else "created (not checked out)"
        output.stdout().print(
            output.make_table(
                ["status", "path"], [(c["status"], c["path"]) for c in data["changed"]]
            )
        )
        err.print(
            f"{data['template']} {old} → {new}: branch {data['branch']} {where}, "
            f"commit {data['commit'][:12]}.",
            markup=False,
        )
    for conflict in data["conflicts"]:
        err.print(f"CONFLICT ({conflict['kind']}): {conflict['path']}", markup=False)
    if data["conflicts"]:
        err.print(
            "Resolve the conflict markers (or modify/delete conflicts), then commit.", markup=False
        )
