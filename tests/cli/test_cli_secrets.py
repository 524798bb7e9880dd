"""`platform secrets` end to end: the real CLI against an auto-started local server — values
from arguments, a file and stdin; list (with --reveal), versions, rotate, delete; and every
output, error and the server's log grepped for the values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cli_helpers import cli_env
from typer.testing import CliRunner

from goldenpath.cli.main import app

ARG_VALUE = "argv-Secret-4471"
FILE_VALUE = "file-Secret-9920\nsecond line"
STDIN_ONE = "stdin-Single-3141"
STDIN_A = "stdin-Line-A-2718"
STDIN_B = "stdin line B with spaces 1618"
ALL_VALUES = [ARG_VALUE, "file-Secret-9920", "second line", STDIN_ONE, STDIN_A, STDIN_B]


def platform(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real `platform` executable (a subprocess), debug logging on the server it starts."""
    return subprocess.run(
        [sys.executable, "-m", "goldenpath.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(home, GOLDENPATH_LOG_LEVEL="debug"),
        check=False,
    )


class InProcess:
    """The same CLI app invoked in this process (no interpreter start-up per command) against
    the server the first subprocess started; returns (exit code, stdout, stderr)."""

    def __init__(self, home: Path) -> None:
        self.env = cli_env(home, GOLDENPATH_LOG_LEVEL="debug")
        self.runner = CliRunner()

    def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        result = self.runner.invoke(app, list(args), input=stdin, env=self.env)
        return result.exit_code, result.stdout, result.stderr


def test_secrets_set_list_rotate_delete_never_print_values(home: Path, tmp_path: Path) -> None:
    printed: list[str] = []

    def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
        assert result.returncode == 0, result.stderr
        printed.extend([result.stdout, result.stderr])
        return result

    def ok_here(*args: str, stdin: str | None = None) -> str:
        code, out, err = run(*args, stdin=stdin)
        assert code == 0, err
        printed.extend([out, err])
        return out

    # the real executable: auto-starts the server; values from argv and from stdin lines
    ok(
        platform(
            home, "secrets", "set", f"API_KEY={ARG_VALUE}", "--service", "shop", "--env", "dev"
        )
    )
    lines = f'# comment\nexport A_KEY={STDIN_A}\n\nB_KEY="{STDIN_B}"\n'
    table = ok(platform(home, "secrets", "set", "--stdin", stdin=lines))
    assert "A_KEY" in table.stdout and "B_KEY" in table.stdout

    run = InProcess(home)
    secret_file = tmp_path / "cert.pem"
    secret_file.write_text(FILE_VALUE + "\n")
    ok_here("secrets", "set", "CERT", "--from-file", str(secret_file), "-s", "shop")
    ok_here("secrets", "set", "TOKEN", "--stdin", "--env", "dev", stdin=STDIN_ONE + "\n")

    rows = {
        (r["name"], r["service"], r["environment"]): r
        for r in json.loads(ok_here("secrets", "list", "-o", "json"))
    }
    assert set(rows) == {
        ("A_KEY", None, None),
        ("B_KEY", None, None),
        ("TOKEN", None, "dev"),
        ("CERT", "shop", None),
        ("API_KEY", "shop", "dev"),
    }
    assert all(r["version"] == 1 and r["updatedBy"] == "user:default/admin" for r in rows.values())
    exact = ok_here("secrets", "list", "--service", "shop", "--env", "dev")
    assert "API_KEY" in exact and "CERT" not in exact

    revealed = platform(home, "secrets", "list", "--reveal", "-o", "json")
    assert revealed.returncode == 0, revealed.stderr
    values = {r["name"]: r["value"] for r in json.loads(revealed.stdout)}
    assert values == {
        "A_KEY": STDIN_A,
        "B_KEY": STDIN_B,
        "TOKEN": STDIN_ONE,
        "CERT": FILE_VALUE,
        "API_KEY": ARG_VALUE,
    }

    rotated = ok_here("secrets", "rotate", "API_KEY", "-s", "shop", "-e", "dev")
    assert "re-encrypted" in rotated and "1 → 2" in rotated
    assert len(json.loads(ok_here("secrets", "rotate", "--all", "-o", "json"))["results"]) == 5
    history = ok_here("secrets", "versions", "API_KEY", "-s", "shop", "-e", "dev", "-o", "json")
    assert [v["version"] for v in json.loads(history)] == [3, 2, 1]

    code, out, err = run("secrets", "set", f"api-key={ARG_VALUE}")
    assert code == 1 and "API_KEY" in err
    printed += [out, err]
    code, _, err = run("secrets", "set", "ONLY_KEY")
    assert code == 2 and "--stdin" in err
    code, _, err = run("secrets", "delete", "NOPE", "--yes")
    assert code == 3 and "secret NOPE does not exist" in err
    # bytes that are not UTF-8 on stdin: a clear error before any request (was a crash)
    raw = subprocess.run(
        [sys.executable, "-m", "goldenpath.cli", "secrets", "set", "--stdin"],
        input=b"BIN_KEY=abc\xff\xfedef\n",
        capture_output=True,
        timeout=120,
        env=cli_env(home),
        check=False,
    )
    assert raw.returncode == 1 and b"not valid UTF-8" in raw.stderr, raw.stderr
    assert b"internal error" not in raw.stderr and b"abc" not in raw.stdout + raw.stderr
    code, _, err = run("secrets", "delete", "TOKEN", "--env", "dev")
    assert code == 2 and "--yes" in err
    ok_here("secrets", "delete", "TOKEN", "--env", "dev", "--yes")
    after = json.loads(ok_here("secrets", "list", "-o", "json"))
    assert "TOKEN" not in {r["name"] for r in after}

    log = (home / "run" / "server.log").read_text(encoding="utf-8", errors="replace")
    assert "Application startup complete" in log
    for value in ALL_VALUES:
        assert value not in log, f"a secret value leaked into the server log: {value[:6]}…"
        assert not any(value in text for text in printed), f"a value was printed: {value[:6]}…"


def test_secrets_help_shows_examples() -> None:
    shown = CliRunner().invoke(app, ["secrets", "set", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "--from-file" in shown.stdout and "--stdin" in shown.stdout
    assert "platform secrets set TLS_KEY --from-file key.pem" in shown.stdout
