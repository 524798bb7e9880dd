"""CLI start-up: a command loads only its own module, and every command stays reachable.

The root group imports a command's module when the command is looked up
(``goldenpath.cli.main.COMMANDS``); these tests check that in a fresh interpreter, and that
``--help``, typo suggestions and every listed command still work.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from goldenpath.cli.localserver import tls_verify
from goldenpath.cli.main import COMMANDS, app

COMMAND_MODULES = {f"goldenpath.cli.commands.{module}" for module, _ in COMMANDS.values()}


def _modules_loaded_by(*args: str) -> set[str]:
    """The ``goldenpath.cli.commands.*`` modules a fresh interpreter has imported after
    running ``platform ARGS`` (in-process, so ``sys.modules`` can be read)."""
    script = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from goldenpath.cli.main import app\n"
        f"result = CliRunner().invoke(app, {list(args)!r})\n"
        "assert result.exit_code == 0, result.output\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.startswith('goldenpath.cli.commands.'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_command_imports_its_own_module_and_not_the_others() -> None:
    assert _modules_loaded_by("--version") & COMMAND_MODULES == set()
    loaded = _modules_loaded_by("db", "--help")
    assert "goldenpath.cli.commands.db" in loaded
    assert loaded & COMMAND_MODULES == {"goldenpath.cli.commands.db"}
    # and with no server involved, the server-side packages stay out of the process
    script = (
        "import sys\nfrom typer.testing import CliRunner\nfrom goldenpath.cli.main import app\n"
        "CliRunner().invoke(app, ['db', '--help'])\n"
        "print(sorted(m for m in ('fastapi', 'sqlalchemy', 'regopy', 'uvicorn') "
        "if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_help_lists_every_command_with_its_summary() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in COMMANDS:
        assert f" {name} " in result.output, name
    assert "Databases (PostgreSQL) for your services" in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_listed_command_answers_help(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"platform {name}" in result.output


def test_a_typo_is_a_usage_error_with_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["dbb", "ls"])
    assert result.exit_code == 2
    assert "No such command 'dbb'" in result.output and "Did you mean 'db'?" in result.output


def test_a_plain_http_client_loads_no_ca_and_an_https_one_verifies() -> None:
    local = tls_verify("http://127.0.0.1:8042")
    assert isinstance(local, ssl.SSLContext)
    assert local.cert_store_stats()["x509_ca"] == 0  # nothing trusted, nothing loaded
    assert local.verify_mode == ssl.CERT_REQUIRED and local.check_hostname
    assert tls_verify("https://platform.example.com") is True
    assert tls_verify("HTTPS://platform.example.com") is True
