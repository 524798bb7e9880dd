"""``platform create service``: a new service on a golden path, in one command.

Runs the ``python-service`` or ``node-service`` template (or any ``--template``) as a task,
follows its log, clones the published repository (``git clone``) and prints the repository
URL, the catalog entity ref and the next steps.
"""

from __future__ import annotations

import enum
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from goldenpath.catalog.refs import parse_entity_ref
from goldenpath.cli import context, output
from goldenpath.cli.commands import _tasks
from goldenpath.cli.commands._deploy_view import DEPLOY
from goldenpath.cli.commands.template import SCAFFOLDER, template_ref
from goldenpath.cli.output import OutputFormat, OutputOption
from goldenpath.errors import PlatformError

__all__ = ["LANG_TEMPLATES", "app"]

app = typer.Typer(
    help=(
        "Create new software from the platform's golden paths.\n\n"
        "Examples:\n\n"
        "  platform create service my-api --lang python --owner team-a\n\n"
        "  platform create service my-api --lang typescript --db postgres"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


class Lang(enum.StrEnum):
    """Languages with a built-in golden path."""

    python = "python"
    typescript = "typescript"
    javascript = "javascript"


class Db(enum.StrEnum):
    """Database choices of the built-in golden paths."""

    none = "none"
    postgres = "postgres"


#: --lang → built-in template
LANG_TEMPLATES = {
    Lang.python: "template:default/python-service",
    Lang.typescript: "template:default/node-service",
    Lang.javascript: "template:default/node-service",
}


@app.command("service")
def service(
    name: Annotated[str, typer.Argument(help="Service name: repository and catalog name.")],
    template: Annotated[
        str | None, typer.Option("--template", "-t", help="Template ref (instead of --lang).")
    ] = None,
    lang: Annotated[
        Lang | None, typer.Option("--lang", "-l", help="python (default) or typescript.")
    ] = None,
    owner: Annotated[
        str | None,
        typer.Option("--owner", help="Owning group, e.g. team-a (default: your first group)."),
    ] = None,
    system: Annotated[str | None, typer.Option("--system", help="System it belongs to.")] = None,
    db: Annotated[Db, typer.Option("--db", help="postgres or none.")] = Db.none,
    description: Annotated[
        str | None, typer.Option("--description", help="One line about the service.")
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to clone the new repository (default: ./NAME)."),
    ] = None,
    no_clone: Annotated[
        bool, typer.Option("--no-clone", help="Do not clone the repository.")
    ] = False,
    deploy_to: Annotated[
        str | None,
        typer.Option(
            "--deploy",
            metavar="ENV",
            help="Deploy it to ENV (e.g. dev) as the template's last step, and print its URL.",
        ),
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Create a service from a golden path, register it in the catalog and clone it.

    --lang python uses template:default/python-service, --lang typescript
    template:default/node-service; --template picks any other template. The run's log is
    followed live; afterwards the repository is cloned to --dir (default ./NAME) and the
    repository URL, catalog entity ref and next steps are printed (-o json: {task, repoUrl,
    entityRef, directory, url}). --deploy ENV deploys the new repository in the same run
    (the template's platform:deploy step) and prints the service's URL. Exit 1 when a value
    is invalid or the run (or its deployment) fails.

    Examples:

      platform create service my-api

      platform create service my-api --lang typescript --db postgres --owner team-a

      platform create service my-api --deploy dev

      platform create service billing --template template:default/python-service --dir ./src/billing
    """
    if template and lang:
        raise typer.BadParameter("give either --template or --lang, not both")
    ref = template_ref(template) if template else LANG_TEMPLATES[lang or Lang.python]
    wanted: dict[str, Any] = {
        "name": name,
        "owner": owner,
        "system": system,
        "database": db.value,
        "description": description,
        "language": lang.value if lang and lang is not Lang.python else None,
        "deployTo": deploy_to,
    }
    with context.api_client() as client:
        if owner is None:
            wanted["owner"] = _default_owner(client)
        values = _known_values(client, ref, wanted)
        if deploy_to and "deployTo" not in values:
            raise typer.BadParameter(f"{ref} has no deployTo parameter; deploy it afterwards")
        created = client.post(f"{SCAFFOLDER}/tasks", {"templateRef": ref, "values": values})
        output.stderr().print(f"task {created['id']}: running {ref}", markup=False)
        task = _tasks.follow(client, created["id"])
        url = _service_url(client, name, deploy_to) if deploy_to else None
    if task.get("status") != "completed":
        output.emit(task, fmt, _tasks.task_detail)
        raise typer.Exit(1)
    repo_url, entity_ref = _outputs(task)
    target = None if no_clone or not repo_url else (directory or Path(name))
    if target is not None:
        _clone(repo_url or "", target)
    result = {"task": task["id"], "repoUrl": repo_url, "entityRef": entity_ref}
    result["directory"] = str(target.resolve()) if target is not None else None
    result["url"] = url
    if fmt is not OutputFormat.table:
        output.emit(result, fmt)
        return
    _print_summary(name, result, task)


def _known_values(client: Any, ref: str, wanted: dict[str, Any]) -> dict[str, Any]:
    """The non-empty ``wanted`` values the template declares (others are dropped quietly,
    so one command fits templates with fewer parameters)."""
    parsed = parse_entity_ref(ref)
    schema = client.get(
        f"{SCAFFOLDER}/templates/{parsed.namespace}/template/{parsed.name}/parameter-schema"
    )
    declared: set[str] = set()
    for page in schema.get("steps") or []:
        declared.update(((page.get("schema") or {}).get("properties") or {}).keys())
    return {k: v for k, v in wanted.items() if v is not None and (k == "name" or k in declared)}


def _outputs(task: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(repository URL, catalog entity ref)`` from the task's output links."""
    repo, entity = None, None
    for link in (task.get("output") or {}).get("links") or []:
        if not isinstance(link, dict):
            continue
        if link.get("entityRef") and entity is None:
            entity = str(link["entityRef"])
        elif link.get("url") and repo is None:
            repo = str(link["url"])
    return repo, entity


def _default_owner(client: Any) -> str | None:
    """The caller's first Group (``spec.memberOf`` of their User entity): services belong
    to teams (the default policy wants a Group owner). ``None`` when they have none."""
    try:
        user = parse_entity_ref(client.get("/api/auth/whoami")["user"], default_kind="user")
        entity = client.get(
            f"/api/catalog/entities/by-name/user/{user.namespace}/{user.name}".lower()
        )
    except (PlatformError, KeyError):
        return None
    groups = (entity.get("spec") or {}).get("memberOf") or []
    if not groups:
        return None
    return str(parse_entity_ref(str(groups[0]), default_kind="group")).lower()


def _service_url(client: Any, name: str, environment: str) -> str | None:
    """The deployed service's URL in ``environment`` (``None`` when it has none yet)."""
    try:
        statuses = client.get(
            f"{DEPLOY}/services/{name}/status", params={"environment": environment}
        )
    except PlatformError:
        return None
    for status in statuses:
        if status.get("urls"):
            return str(status["urls"]["http"])
    return None


def _clone(url: str, target: Path) -> None:
    """``git clone url target``.

    Raises:
        PlatformError: git failed (the message says the service exists and how to clone it).
    """
    if target.exists() and any(target.iterdir()):
        raise PlatformError(
            f"the service was created, but {target} is not empty; clone it elsewhere with "
            f"`git clone {url} <dir>`"
        )
    done = subprocess.run(
        ["git", "clone", "--quiet", url, str(target)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:
        raise PlatformError(
            f"the service was created, but `git clone {url} {target}` failed: "
            f"{done.stderr.strip()[-500:]}"
        )


def _print_summary(name: str, result: dict[str, Any], task: dict[str, Any]) -> None:
    console = output.stdout()
    console.print(f"[bold green]✔ {escape(name)} created[/]")
    console.print(f"  repository: {escape(str(result['repoUrl']))}", highlight=False)
    console.print(f"  catalog:    {escape(str(result['entityRef']))}", highlight=False)
    if result["directory"]:
        console.print(f"  cloned to:  {escape(result['directory'])}", highlight=False)
    if result["url"]:
        console.print(f"  serving:    {escape(result['url'])}", highlight=False)
    texts = [t for t in (task.get("output") or {}).get("text") or [] if isinstance(t, dict)]
    if texts:
        for text in texts:
            console.print(f"\n[bold]{escape(str(text.get('title') or ''))}[/]")
            console.print(output.markdown(str(text.get("content") or "")))
    else:
        where = result["directory"] or name
        console.print(f"\n[bold]Next steps[/]\n  cd {escape(where)}\n  git log --oneline")
