"""Running build tools (``uv``, ``npm``, a service's build command) for local builds.

:func:`python_steps` and :func:`node_steps` are the install/build steps of one release.

:class:`CommandRunner` runs one command at a time in its own process group, streams every
output line (stderr merged) to the build's log sink, keeps the last lines for the error
message, and kills the whole group when the build's deadline passes. Build tools get the
platform's environment without its own virtualenv, with Python downloads switched off
(``uv`` only uses interpreters already on the machine) and progress bars silenced.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from goldenpath.drivers.base import BuildRequest, LogSink
from goldenpath.errors import InvalidInput, Unavailable

__all__ = [
    "TAIL_LINES",
    "CommandRunner",
    "build_environment",
    "check_requirement",
    "find_uv",
    "node_steps",
    "python_steps",
    "run_build_command",
]

#: How many of a failed command's last output lines its error quotes.
TAIL_LINES = 20
_EXIT_GRACE = 2.0  # seconds to drain output after the command itself exited
_DROPPED = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX")


def build_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment build tools run with: ``base`` (default ``os.environ``) without the
    platform's own virtualenv variables, plus quiet, non-interactive, no-download settings."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _DROPPED}
    env.update(
        {
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
            "NO_COLOR": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
            "npm_config_progress": "false",
            "npm_config_yes": "false",
        }
    )
    return env


class CommandRunner:
    """Runs the commands of one build against one deadline.

    Args:
        log: the build's sink; gets every output line and one summary line per command
            (``"uv pip install -r requirements.txt (3.2 s)"``).
        deadline: ``time.monotonic()`` value after which the running command is killed.
        timeout: the build's whole time budget in seconds (quoted in the timeout error).
        env: the environment (see :func:`build_environment`).
        what: names the build in errors (``"build of my-api"``).
    """

    def __init__(
        self,
        *,
        log: LogSink,
        deadline: float,
        timeout: float,
        env: Mapping[str, str],
        what: str,
    ) -> None:
        self.log = log
        self.deadline = deadline
        self.timeout = timeout
        self.env = dict(env)
        self.what = what

    def remaining(self) -> float:
        """Seconds left before the deadline (may be negative)."""
        return self.deadline - time.monotonic()

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        display: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        """Run ``argv`` in ``cwd``; returns when it exited 0.

        Raises:
            InvalidInput: it exited non-zero or ran past the deadline (the message quotes
                ``display`` and the last :data:`TAIL_LINES` output lines).
            Unavailable: the executable does not exist.
        """
        shown = display or shlex.join(argv)
        env = {**self.env, **(extra_env or {})}
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError as e:
            raise Unavailable(
                f"{self.what}: {argv[0]} is not installed (needed for `{shown}`)"
            ) from e
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        try:
            timed_out = self._pump(proc, tail)
        finally:
            _kill_group(proc)
        elapsed = time.monotonic() - started
        if timed_out:
            raise self._failure(
                shown,
                tail,
                f"timed out after {self.timeout:g} s (raise runtime.build_timeout if the build "
                "needs longer)",
                exit_code=None,
            )
        if proc.returncode != 0:
            raise self._failure(shown, tail, f"exited with {proc.returncode}", proc.returncode)
        self.log(f"{shown} ({elapsed:.1f} s)")

    def _pump(self, proc: subprocess.Popen[bytes], tail: deque[str]) -> bool:
        """Stream ``proc``'s output to the log until EOF; True when the deadline passed."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        os.set_blocking(fd, False)
        buffer = b""
        exited_at: float | None = None
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                now = time.monotonic()
                if now >= self.deadline:
                    return True
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if exited_at is not None and now - exited_at > _EXIT_GRACE:
                    break  # a leftover child keeps the pipe open; it is killed with the group
                if not selector.select(timeout=min(self.deadline - now, 0.5)):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    self._emit(line, tail)
        if buffer:
            self._emit(buffer, tail)
        proc.stdout.close()
        try:
            proc.wait(timeout=max(self.deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            return True
        return False

    def _emit(self, raw: bytes, tail: deque[str]) -> None:
        text = raw.decode(errors="replace").rstrip("\r")
        text = text.rsplit("\r", 1)[-1]  # a progress line redrawn in place: keep the last
        tail.append(text)
        self.log(text)

    def _failure(
        self, shown: str, tail: deque[str], how: str, exit_code: int | None
    ) -> InvalidInput:
        lines = list(tail)
        quoted = "\n".join(f"  {line}" for line in lines) or "  (no output)"
        return InvalidInput(
            f"{self.what} failed: `{shown}` {how}; last output lines:\n{quoted}",
            details={"command": shown, "exit_code": exit_code, "output_tail": lines},
        )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill whatever is left of ``proc``'s process group and reap ``proc``."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5.0)
    if proc.stdout is not None and not proc.stdout.closed:
        proc.stdout.close()


def check_requirement(value: str, what: str) -> str:
    """``value`` stripped if it can be handed to ``uv pip install``/``npm install`` as a
    package (not empty, not an option), else :class:`InvalidInput`."""
    if not isinstance(value, str) or not value.strip() or value.lstrip().startswith("-"):
        raise InvalidInput(
            f"{what} {value!r} is not a package requirement: give a name such as "
            "'datasette' or 'datasette==0.65.1' (options are not allowed)"
        )
    return value.strip()


def find_uv(explicit: str | None) -> str:
    """The ``uv`` to use: ``explicit``, else the one beside ``sys.executable``, else ``uv``
    on ``PATH``.

    Raises:
        Unavailable: there is none.
    """
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if os.access(beside, os.X_OK) else shutil.which("uv")
    if not found:
        raise Unavailable("uv is not installed: install it (pip install uv) to build Python")
    return found


def python_steps(
    request: BuildRequest, app: Path, venv: Path, runner: CommandRunner, *, uv: str
) -> list[Path]:
    """Make a relocatable venv at ``venv`` with this interpreter and install into it: the
    ``package`` (package builds), else the project in ``app`` (``uv.lock`` → ``uv sync
    --frozen``, ``requirements.txt`` → ``uv pip install -r``, ``pyproject.toml``/``setup.py``
    → ``uv pip install .``); then ``extra_packages``, then ``build_command``. Returns the
    directories for ``PATH`` (``[venv/bin]``).

    Raises:
        InvalidInput: a step failed (see :meth:`CommandRunner.run`).
    """
    if venv.is_symlink() or venv.is_file():
        venv.unlink()  # a committed .venv link or file is never the environment
    elif venv.exists():
        shutil.rmtree(venv)
    runner.run(
        [uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, str(venv)],
        cwd=app,
        display="uv venv",
    )
    python = str(venv / "bin" / "python")
    _note_python_version(app, runner)
    pip = [uv, "pip", "install", "--python", python]
    if request.kind == "package":
        package = check_requirement(request.package or "", "package")
        runner.run([*pip, package], cwd=app, display=f"uv pip install {package}")
    elif (app / "uv.lock").is_file():
        # --python keeps uv on this venv: left to itself it would replace the venv (with a
        # non-relocatable one) whenever .python-version names another local interpreter.
        runner.run(
            [uv, "sync", "--frozen", "--no-dev", "--no-editable", "--python", python],
            cwd=app,
            display="uv sync --frozen",
            extra_env={"UV_PROJECT_ENVIRONMENT": str(venv)},
        )
    elif (app / "requirements.txt").is_file():
        runner.run(
            [*pip, "-r", "requirements.txt"], cwd=app, display="uv pip install -r requirements.txt"
        )
    elif (app / "pyproject.toml").is_file() or (app / "setup.py").is_file():
        runner.run([*pip, "."], cwd=app, display="uv pip install .")
    if request.extra_packages:
        extras = [check_requirement(p, "extra package") for p in request.extra_packages]
        runner.run([*pip, *extras], cwd=app, display=f"uv pip install {' '.join(extras)}")
    bin_dir = venv / "bin"
    if request.build_command:
        run_build_command(request.build_command, app, bin_dir, runner)
    return [bin_dir]


def _note_python_version(app: Path, runner: CommandRunner) -> None:
    """Say so when ``.python-version`` asks for another Python than the one builds use."""
    try:
        wanted = (app / ".python-version").read_text(encoding="utf-8").split()[0]
    except (OSError, IndexError):
        return
    have = ".".join(str(n) for n in sys.version_info[:3])
    if not f"{have}.".startswith(f"{wanted}."):
        runner.log(f".python-version asks for {wanted}; building with Python {have}")


def node_steps(request: BuildRequest, app: Path, runner: CommandRunner, *, npm: str) -> list[Path]:
    """``npm ci`` (``npm install`` without ``package-lock.json``) in ``app``, then
    ``extra_packages`` (``npm install --no-save``), then ``build_command`` or else
    ``npm run build`` when ``package.json`` has a build script. Returns
    ``[app/node_modules/.bin]``.

    Raises:
        InvalidInput: no valid ``package.json``, or a step failed.
    """
    manifest = app / "package.json"
    if not manifest.is_file():
        raise InvalidInput(
            f"build of {request.service}: no package.json in the repository"
            + (f" under {request.subdir!r}" if request.subdir else "")
            + "; add one or set kind to python"
        )
    try:
        scripts = json.loads(manifest.read_text(encoding="utf-8")).get("scripts") or {}
    except (ValueError, AttributeError) as e:
        raise InvalidInput(
            f"build of {request.service}: package.json is not valid JSON: {e}"
        ) from e
    npm = shutil.which(npm) or npm
    if (app / "package-lock.json").is_file():
        runner.run([npm, "ci"], cwd=app, display="npm ci")
    else:
        runner.run([npm, "install"], cwd=app, display="npm install")
    if request.extra_packages:
        extras = [check_requirement(p, "extra package") for p in request.extra_packages]
        runner.run(
            [npm, "install", "--no-save", *extras],
            cwd=app,
            display=f"npm install --no-save {' '.join(extras)}",
        )
    bin_dir = app / "node_modules" / ".bin"
    if request.build_command:
        run_build_command(request.build_command, app, bin_dir, runner)
    elif isinstance(scripts, dict) and "build" in scripts:
        runner.run([npm, "run", "build"], cwd=app, display="npm run build")
    return [bin_dir]


def run_build_command(
    command: Sequence[str], app: Path, bin_dir: Path, runner: CommandRunner
) -> None:
    """Run a service's own ``command`` in ``app`` with ``bin_dir`` first on ``PATH``."""
    path = os.pathsep.join([str(bin_dir), runner.env.get("PATH", os.defpath)])
    executable = shutil.which(command[0], path=path) if os.sep not in command[0] else None
    runner.run(
        [executable or command[0], *command[1:]],
        cwd=app,
        display=shlex.join(command),
        extra_env={"PATH": path},
    )
