"""Rich tables for the ``table`` output of the catalog and auth commands."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Group
from rich.table import Table

from goldenpath.cli import output

__all__ = [
    "entity_detail",
    "entity_page",
    "error_page",
    "import_summary",
    "key_values",
    "location_list",
    "print_validation",
    "ref_of",
    "refresh_report",
]


_MAX_ROWS = 50  # rows per list in an import summary table


def ref_of(entity: dict[str, Any]) -> str:
    """``kind:namespace/name`` of an entity, kind lower-cased, name as written."""
    metadata = entity.get("metadata") or {}
    kind = str(entity.get("kind", "?")).lower()
    return f"{kind}:{metadata.get('namespace') or 'default'}/{metadata.get('name', '?')}"


def entity_page(page: dict[str, Any]) -> Table:
    """REF / TYPE / OWNER / LIFECYCLE / DESCRIPTION rows of a by-query page."""
    rows = []
    for item in page.get("items") or []:
        spec = item.get("spec") or {}
        description = str((item.get("metadata") or {}).get("description") or "")
        rows.append(
            (
                ref_of(item),
                spec.get("type"),
                spec.get("owner"),
                spec.get("lifecycle"),
                description[:60] + ("…" if len(description) > 60 else ""),
            )
        )
    total = page.get("totalItems")
    title = f"{len(rows)} of {total} entities" if total is not None else None
    return output.make_table(
        ["REF", "TYPE", "OWNER", "LIFECYCLE", "DESCRIPTION"], rows, title=title
    )


def entity_detail(entity: dict[str, Any]) -> Group:
    """Key fields of one entity, then its relations."""
    metadata = entity.get("metadata") or {}
    spec = entity.get("spec") or {}
    fields = [
        ("ref", ref_of(entity)),
        ("title", metadata.get("title")),
        ("description", metadata.get("description")),
        ("uid", metadata.get("uid")),
        ("tags", ", ".join(metadata.get("tags") or [])),
    ]
    fields += [(f"spec.{k}", v) for k, v in spec.items() if isinstance(v, str | int | float)]
    annotations = metadata.get("annotations") or {}
    fields += [(f"annotation {k}", v) for k, v in sorted(annotations.items())]
    relations = [(r.get("type"), r.get("targetRef")) for r in entity.get("relations") or []]
    problems = [
        (item.get("level"), item.get("message"))
        for item in (entity.get("status") or {}).get("items") or []
    ]
    parts: list[Any] = [key_values([(k, v) for k, v in fields if v not in (None, "")])]
    if relations:
        parts.append(output.make_table(["RELATION", "TARGET"], sorted(relations, key=str)))
    if problems:
        parts.append(output.make_table(["LEVEL", "STATUS"], problems))
    return Group(*parts)


def key_values(pairs: list[tuple[str, Any]]) -> Table:
    """A two-column table without headers."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in pairs:
        table.add_row(key, "" if value is None else str(value))
    return table


def import_summary(result: dict[str, Any]) -> Group:
    """Counts and refs of an import: added, updated, rejected, and each error."""
    location = result.get("location") or {}
    lines = [
        ("location", f"{location.get('type')}:{location.get('target')} (id {location.get('id')})"),
        ("added", len(result.get("added") or [])),
        ("updated", len(result.get("updated") or [])),
        ("rejected", len(result.get("invalid") or [])),
    ]
    if result.get("exists"):
        lines.append(("note", "this location is already registered"))
    parts: list[Any] = [key_values(lines)]
    changed = [("added", ref) for ref in result.get("added") or []]
    changed += [("updated", ref) for ref in result.get("updated") or []]
    if changed:
        parts.append(output.make_table(["CHANGE", "ENTITY"], changed[:_MAX_ROWS]))
    errors = result.get("errors") or []
    if errors:
        parts.append(_errors_table(errors[:_MAX_ROWS]))
    if len(changed) > _MAX_ROWS or len(errors) > _MAX_ROWS:
        parts.append(f"(first {_MAX_ROWS} rows of each list; -o json prints everything)")
    return Group(*parts)


def error_page(page: Any) -> Table:
    """Processing errors (``GET /api/catalog/errors``) as a table."""
    items = page.get("items", []) if isinstance(page, dict) else list(page or [])
    return _errors_table(items)


def _errors_table(items: list[dict[str, Any]]) -> Table:
    rows = [
        (
            item.get("source") or item.get("file"),
            item.get("docIndex", item.get("index")),
            item.get("entityRef") or item.get("ref"),
            item.get("path"),
            item.get("message"),
        )
        for item in items
    ]
    return output.make_table(["SOURCE", "DOC", "ENTITY", "FIELD", "REASON"], rows, title="errors")


def location_list(items: Any) -> Table:
    """``GET /api/catalog/locations`` (``[{data: {id, type, target}}]``) as a table."""
    rows = []
    for item in items or []:
        data = item.get("data", item) if isinstance(item, dict) else {}
        rows.append((data.get("id"), data.get("type"), data.get("target")))
    return output.make_table(["ID", "TYPE", "TARGET"], rows)


def refresh_report(report: dict[str, Any]) -> Group:
    """Counts per outcome of a refresh, then its errors."""
    pairs = [
        (key, len(value) if isinstance(value, list) else value)
        for key, value in report.items()
        if key != "errors"
    ]
    parts: list[Any] = [key_values(pairs)]
    if report.get("errors"):
        parts.append(_errors_table(report["errors"]))
    return Group(*parts)


def print_validation(verdicts: list[dict[str, Any]]) -> None:
    """One line per problem (``file [document N] field: reason``), then a summary line."""
    for verdict in verdicts:
        for problem in verdict["errors"]:
            where = problem["path"] or "(document)"
            typer.echo(
                f"{verdict['file']} [document {verdict['index']}] {where}: {problem['message']}"
            )
    invalid = sum(1 for v in verdicts if not v["valid"])
    status = "all valid" if invalid == 0 else f"{invalid} invalid"
    typer.echo(f"{len(verdicts)} documents checked, {status}")
