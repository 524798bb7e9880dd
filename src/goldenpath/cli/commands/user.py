"""``platform user``: local portal accounts (add, set a password, list, disable, enable).

Passwords are read from stdin (``--password-stdin``, the first line) or prompted for without
echo, never taken as an argument (shell history), and never printed.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any
from urllib.parse import quote

import typer

from goldenpath import errors
from goldenpath.cli import context, output
from goldenpath.cli.commands import _render
from goldenpath.cli.output import OutputFormat, OutputOption

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Local portal accounts: a catalog User with a password signs in to the portal.\n\n"
        "Examples:\n\n"
        "  printf '%s\\n' \"$PASSWORD\" | platform user add admin --password-stdin\n\n"
        "  platform user add jane --role member\n\n"
        "  platform user passwd jane\n\n"
        "  platform user ls"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

_PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin (no echo)."
    ),
]
_Name = Annotated[str, typer.Argument(help="The User: jane or user:default/jane.")]


def _path(name: str) -> str:
    return "/api/auth/users/" + quote(name.strip(), safe=":/")


def _read_password(from_stdin: bool, *, required: bool) -> str | None:
    """The password from stdin's first line, a hidden prompt (a terminal), or None."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise typer.BadParameter("stdin held no password", param_hint="'--password-stdin'")
        return line
    if sys.stdin.isatty():
        value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return value
    if required:
        raise typer.BadParameter(
            "no terminal to prompt on: pipe the password in with --password-stdin",
            param_hint="'--password-stdin'",
        )
    return None


def _show(user: Any, fmt: OutputFormat, note: str | None = None) -> None:
    output.emit(user, fmt, lambda data: _render.key_values(list(data.items())))
    if note and fmt is OutputFormat.table:
        output.stderr().print(note, markup=False)


@app.command("add")
def add(
    name: _Name,
    password_stdin: _PasswordStdin = False,
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            help="admin, member or viewer (default: member; admin for the built-in admin).",
            case_sensitive=False,
        ),
    ] = None,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Create the portal account of a catalog User; with a password when one is given (a
    terminal prompts for it). An existing account gets the new password instead.

    Exit code 1 when the User is not in the catalog or the password is shorter than 8.
    Example: printf '%s\\n' "$PASSWORD" | platform user add admin --password-stdin
    """
    password = _read_password(password_stdin, required=False)
    body: dict[str, Any] = {"user": name}
    if role:
        body["role"] = role.lower()
    if password is not None:
        body["password"] = password
    with context.api_client() as client:
        try:
            made = client.post("/api/auth/users", body)
            note = None if password is not None else _NO_PASSWORD
        except errors.Conflict:
            if password is None:
                raise
            made = client.request("PUT", _path(name) + "/password", body={"password": password})
            note = "the account existed: its password was changed"
    _show(made, fmt, note)


_NO_PASSWORD = (
    "no password set: the account signs in with single sign-on only, until "
    "`platform user passwd` sets one"
)


@app.command("passwd")
def passwd(
    name: _Name,
    password_stdin: _PasswordStdin = False,
    fmt: OutputOption = OutputFormat.table,
) -> None:
    """Set a user's password (admins: anyone's; others: their own).

    Exit code 3 when the user has no account (`platform user add` first).
    Example: platform user passwd jane
    """
    password = _read_password(password_stdin, required=True)
    with context.api_client() as client:
        done = client.request("PUT", _path(name) + "/password", body={"password": password})
    _show(done, fmt, "password changed")


@app.command("ls")
def ls(fmt: OutputOption = OutputFormat.table) -> None:
    """List portal accounts (admin). Example: platform user ls -o json"""
    with context.api_client() as client:
        page = client.get("/api/auth/users")
    output.emit(page, fmt, _table)


@app.command("disable")
def disable(name: _Name, fmt: OutputOption = OutputFormat.table) -> None:
    """Disable an account and end its portal sessions (admin). Example: platform user
    disable bob"""
    with context.api_client() as client:
        done = client.post(_path(name) + "/disable")
    _show(done, fmt)


@app.command("enable")
def enable(name: _Name, fmt: OutputOption = OutputFormat.table) -> None:
    """Re-enable a disabled account (admin). Example: platform user enable bob"""
    with context.api_client() as client:
        done = client.post(_path(name) + "/enable")
    _show(done, fmt)


def _table(page: Any) -> Any:
    items = page.get("items", []) if isinstance(page, dict) else list(page or [])
    rows = [
        (
            u.get("user"),
            u.get("role"),
            "disabled" if u.get("disabled") else "active",
            "yes" if u.get("hasPassword") else "no",
            u.get("firstLoginAt") or "-",
            u.get("lastLoginAt") or "-",
        )
        for u in items
    ]
    return output.make_table(
        ["USER", "ROLE", "STATE", "PASSWORD", "FIRST SIGN-IN", "LAST SIGN-IN"], rows
    )
