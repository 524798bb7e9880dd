"""``platform auth``: who am I, and API tokens (create, list, revoke)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from goldenpath.cli import context, output
from goldenpath.cli.commands import _render
from goldenpath.cli.output import OutputFormat, OutputOption

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Identity and API tokens. Tokens belong to catalog Users and carry a role: admin, "
        "member (read and write) or viewer (read-only).\n\n"
        "Examples:\n\n"
        "  platform auth whoami\n\n"
        "  platform auth token create user:default/jane --role member --name ci\n\n"
        "  platform auth token ls -o json"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
token_app = typer.Typer(
    help="Create, list and revoke API tokens (admin only).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(token_app, name="token")


@app.command("whoami")
def whoami(fmt: OutputOption = OutputFormat.table) -> None:
    """Show the user, role and token the CLI authenticates with. Example: platform auth whoami"""
    with context.api_client() as client:
        me = client.get("/api/auth/whoami")
    output.emit(me, fmt, lambda data: _render.key_values(list(data.items())))


@token_app.command("create")
def create(
    user: Annotated[str, typer.Argument(help="The owning User, e.g. user:default/jane or jane.")],
    role: Annotated[
        str, typer.Option("--role", help="admin, member or viewer.", case_sensitive=False)
    ] = "member",
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. ci.")] = "cli",
    expires_in_days: Annotated[
        float | None,
        typer.Option("--expires-in-days", min=0.001, help="Expire after this many days."),
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Create a token for a User entity; the secret is printed once and never again.

    Exit code 1 when the user does not exist in the catalog or the role is unknown.
    Example: platform auth token create user:default/jane --role viewer --name dashboards
    """
    body: dict[str, Any] = {"owner": user, "role": role.lower(), "name": name}
    if expires_in_days is not None:
        body["expiresInDays"] = expires_in_days
    with context.api_client() as client:
        created = client.post("/api/auth/tokens", body)
    if fmt is not OutputFormat.table:
        output.emit(created, fmt)
        return
    info = {k: v for k, v in created.items() if k != "token"}
    output.stdout().print(_render.key_values(list(info.items())))
    output.stderr().print("token (shown once; store it now):", markup=False)
    typer.echo(created.get("token"))


@token_app.command("ls")
def ls(
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Page size.")] = 100,
    after: Annotated[
        str | None, typer.Option("--after", help="Continue after this token id.")
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """List tokens (no secrets), ordered by id. Example: platform auth token ls -o yaml"""
    params: dict[str, Any] = {"limit": limit}
    if after:
        params["after"] = after
    with context.api_client() as client:
        page = client.get("/api/auth/tokens", params=params)
    output.emit(page, fmt, _token_table)
    if fmt is OutputFormat.table and isinstance(page, dict) and page.get("nextCursor"):
        output.stderr().print(f"more: platform auth token ls --after {page['nextCursor']}")


@token_app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token id shown by `token ls`.")],
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Revoke a token at once. Exit code 3 when no such token exists.

    Example: platform auth token revoke 7c0e…
    """
    with context.api_client() as client:
        client.delete(f"/api/auth/tokens/{token_id}")
    output.emit({"revoked": token_id}, fmt, lambda data: f"revoked {data['revoked']}")


def _token_table(page: Any) -> Any:
    items = page.get("items", []) if isinstance(page, dict) else list(page or [])
    rows = [
        (
            t.get("id"),
            t.get("name"),
            t.get("owner"),
            t.get("role"),
            t.get("createdAt"),
            t.get("lastUsedAt"),
            "revoked" if t.get("revokedAt") else "active",
        )
        for t in items
    ]
    return output.make_table(["ID", "NAME", "OWNER", "ROLE", "CREATED", "LAST USED", "STATE"], rows)
