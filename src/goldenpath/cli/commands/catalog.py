"""``platform catalog``: import, list, show, validate and refresh catalog entities.

Thin edges over the Backstage-compatible API (``/api/catalog/*``), except ``validate``,
which runs the catalog's processing locally without a server.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any

import typer

from goldenpath.catalog.refs import EntityRef, parse_entity_ref
from goldenpath.cli import context, output
from goldenpath.cli.commands import _import, _render
from goldenpath.cli.output import OutputFormat, OutputOption
from goldenpath.errors import InvalidInput, NotFound

__all__ = ["app"]

app = typer.Typer(
    help=(
        "The software catalog (Backstage-compatible entities).\n\n"
        "Examples:\n\n"
        "  platform catalog import ./catalog-info.yaml\n\n"
        "  platform catalog ls --kind component --owner team-a\n\n"
        "  platform catalog get component:default/petstore -o yaml\n\n"
        "  platform catalog validate ./catalog -o json"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command("import")
def import_(
    target: Annotated[str, typer.Argument(help="A catalog file, directory, glob or git URL.")],
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once registered; do not wait.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be imported; change nothing.")
    ] = False,
    location_type: Annotated[
        str | None,
        typer.Option("--type", help="Force the location type: file or url (default: guessed)."),
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Register a location and import its entities.

    A local path is registered as an absolute `file` location (a directory is read
    recursively); a URL or a path ending in .git as a `url` location (cloned with git).
    Unless --no-wait, waits until the entities are processed, then prints what was added,
    updated and rejected. With -o json it prints {"added": [refs], "updated": [refs],
    "invalid": [refs], "errors": [{...}], "location": {...}} — lists of entity refs, not
    counts; "invalid" holds the refs (or file#index) that produced no entity, "errors" every
    processing error of the location. Exit code 4 when the location is already registered.

    Examples:

      platform catalog import ./examples/catalog

      platform catalog import https://github.com/org/repo.git --dry-run -o json
    """
    if location_type not in (None, "file", "url"):
        raise InvalidInput(f"--type {location_type}: expected file or url")
    body = _import.location_for(target, location_type)
    with context.api_client() as client:
        result = _import.import_location(client, body, wait=not no_wait, dry_run=dry_run)
    output.emit(result, fmt, _render.import_summary)


@app.command("ls")
def ls(
    kind: Annotated[str | None, typer.Option("--kind", "-k", help="e.g. component")] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="Owner ref; kind defaults to group.")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Full text over name, title, tags …")
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", "-f", help="Backstage filter, e.g. spec.type=service."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Page size.")] = 50,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="Continue from a previous page.")
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """List entities, one page at a time (ordered by name).

    The table shows ref, type, owner and lifecycle; when more pages exist the next
    `--cursor` is printed on stderr. -o json prints {items, totalItems, pageInfo}.
    When nothing matches an --owner that is not in the catalog, stderr says so and names
    the groups and users that look like it.

    Examples:

      platform catalog ls --kind api

      platform catalog ls --owner team-a -q payments

      platform catalog ls -f spec.lifecycle=production -o json
    """
    params: list[tuple[str, Any]] = [("limit", limit)]
    if cursor:
        params.append(("cursor", cursor))
    else:
        params += _query_params(kind, owner, query, filters or [])
    with context.api_client() as client:
        page = client.get("/api/catalog/entities/by-query", params=params)
        hint = _missing_owner_hint(client, owner) if owner and not page.get("items") else None
    output.emit(page, fmt, _render.entity_page)
    if hint:
        output.stderr().print(hint, markup=False)
    next_cursor = (page.get("pageInfo") or {}).get("nextCursor")
    if fmt is OutputFormat.table and next_cursor:
        output.stderr().print(f"more: platform catalog ls --cursor {next_cursor}", markup=False)


@app.command("get")
def get(
    ref: Annotated[str, typer.Argument(help="kind:namespace/name, kind:name or a bare name.")],
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Show one entity with its relations and status. Exit code 3 when it does not exist.

    Without a kind the name is looked up across kinds and must be unambiguous.

    Examples:

      platform catalog get component:default/petstore

      platform catalog get petstore -o yaml
    """
    with context.api_client() as client:
        entity = _fetch_entity(client, ref)
    output.emit(entity, fmt, _render.entity_detail)


@app.command("validate")
def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="Catalog files or directories (read recursively).")
    ],
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Validate catalog files locally (no server) exactly as an import would.

    Prints file, document index (0-based), field path and reason for each problem and exits
    with 1 when any document is invalid. -o json prints one JSON object per document and line:
    {"file", "index", "ref", "valid", "errors": [{"path", "message"}]}.

    Examples:

      platform catalog validate catalog-info.yaml

      platform catalog validate ./catalog -o json
    """
    from goldenpath.cli.commands import _validate  # the catalog pipeline loads only here

    verdicts = _validate.validate_paths(context.settings(), paths)
    if fmt is OutputFormat.json:
        for verdict in verdicts:
            output.emit_json_line(verdict)
    elif fmt is OutputFormat.yaml:
        output.emit(verdicts, fmt)
    else:
        _render.print_validation(verdicts)
    if any(not v["valid"] for v in verdicts):
        raise typer.Exit(1)


@app.command("refresh")
def refresh(
    ref: Annotated[
        str | None, typer.Argument(help="Refresh one entity (default: every location).")
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Re-read locations now instead of waiting for the refresh loop.

    Exit code 4 while another refresh runs.

    Examples:

      platform catalog refresh

      platform catalog refresh component:default/petstore
    """
    body = {"entityRef": str(parse_entity_ref(ref))} if ref else {}
    with context.api_client() as client:
        report = client.post("/api/catalog/refresh", body)
    output.emit(report or {"refreshed": True}, fmt, _render.refresh_report)


@app.command("errors")
def errors_(
    location: Annotated[
        str | None, typer.Option("--location", help="Only this location id.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 100,
    cursor: Annotated[str | None, typer.Option("--cursor")] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """List processing errors: documents that were rejected, with file, field and reason.

    Examples:

      platform catalog errors

      platform catalog errors -o json
    """
    params: dict[str, Any] = {"limit": limit}
    if location:
        params["locationId"] = location
    if cursor:
        params["cursor"] = cursor
    with context.api_client() as client:
        page = client.get("/api/catalog/errors", params=params)
    output.emit(page, fmt, _render.error_page)


@app.command("locations")
def locations(fmt: OutputOption = OutputFormat.table) -> None:
    """List registered locations (id, type, target).

    Example:

      platform catalog locations -o json
    """
    with context.api_client() as client:
        items = client.get("/api/catalog/locations")
    output.emit(items, fmt, _render.location_list)


def _query_params(
    kind: str | None, owner: str | None, query: str | None, filters: list[str]
) -> list[tuple[str, Any]]:
    parts = [f"kind={kind}"] if kind else []
    if owner:
        parts.append(f"relations.ownedBy={parse_entity_ref(owner, default_kind='group')}")
    params: list[tuple[str, Any]] = [("orderField", "metadata.name,asc")]
    extra = filters or [""]
    for extra_filter in extra:
        combined = ",".join(p for p in [*parts, extra_filter] if p)
        if combined:
            params.append(("filter", combined))
    if query:
        params.append(("fullTextFilterTerm", query))
    return params


def _by_name_path(ref: EntityRef) -> str:
    """The API path of one entity (Backstage's ``/entities/by-name/{kind}/{namespace}/{name}``)."""
    return f"/api/catalog/entities/by-name/{ref.kind}/{ref.namespace}/{ref.name}"


def _missing_owner_hint(client: Any, owner: str) -> str | None:
    """Why ``--owner`` matched nothing when the owner itself is not in the catalog, with the
    groups and users whose names look like it; None when it exists (it owns nothing)."""
    ref = parse_entity_ref(owner, default_kind="group")
    try:
        client.get(_by_name_path(ref))
        return None
    except NotFound:
        pass
    names = _similar_owners(client, ref.name)
    if names:
        return f"no owner {ref} in the catalog; did you mean {', '.join(names)}?"
    return f"no owner {ref} in the catalog; list the groups with `platform catalog ls --kind group`"


def _fetch_entity(client: Any, ref: str) -> dict[str, Any]:
    if ":" in ref:
        result: dict[str, Any] = client.get(_by_name_path(parse_entity_ref(ref)))
        return result
    namespace, _, name = ref.rpartition("/")
    conditions = f"metadata.name={name}" + (f",metadata.namespace={namespace}" if namespace else "")
    page = client.get("/api/catalog/entities/by-query", params={"filter": conditions, "limit": 20})
    items = page.get("items") or []
    if not items:
        raise NotFound(f"no entity named {ref!r}; list them with `platform catalog ls -q {name}`")
    if len(items) > 1:
        refs = ", ".join(_render.ref_of(item) for item in items)
        raise InvalidInput(
            f"{ref!r} is ambiguous ({refs}); give the kind, e.g. {_render.ref_of(items[0])}"
        )
    found: dict[str, Any] = items[0]
    return found


#: candidates a full-text query may bring for the owner hint, and how alike a name must be
_OWNER_CANDIDATES = 50
_OWNER_LIKENESS = 0.6


def _similar_owners(client: Any, name: str) -> list[str]:
    """Refs of up to five groups and users whose names look like ``name``, most alike first.

    Candidates come from full text (the name's words, then its first four characters as a
    prefix, which catches a typo further on: ``storefrnt-team`` → ``storefront-team``) and
    are ranked by :func:`difflib.get_close_matches` (likeness at least 0.6).
    """
    refs_by_name: dict[str, set[str]] = {}
    for term in dict.fromkeys((name, name[:4])):
        page = client.get(
            "/api/catalog/entities/by-query",
            params=[
                ("filter", "kind=group"),
                ("filter", "kind=user"),
                ("fullTextFilterTerm", term),
                ("fields", "kind,metadata.namespace,metadata.name"),
                ("limit", _OWNER_CANDIDATES),
            ],
        )
        for item in page.get("items") or []:
            found = str((item.get("metadata") or {}).get("name", "")).lower()
            refs_by_name.setdefault(found, set()).add(_render.ref_of(item))
    close = difflib.get_close_matches(name.lower(), list(refs_by_name), 5, _OWNER_LIKENESS)
    return [ref for found in close for ref in sorted(refs_by_name[found])][:5]
