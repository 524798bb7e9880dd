"""Run a command and prefix each line it prints with an ISO-8601 UTC timestamp.

Usage (the wrapper :mod:`goldenpath.drivers.local.supervisor` puts around every replica)::

    python -m goldenpath.drivers.local.stamp [--launch-file F] [--count-starts F] \\
        [--exit-file F] [--grace S] [-- CMD ...]

Each output line becomes ``2026-12-04T11:34:13.123456Z <text>`` (stdout and stderr merged,
written to this process's stdout, which supervisord captures and rotates). The format is
what :mod:`goldenpath.drivers.local.logs` parses.

- ``--launch-file F``: a JSON object ``{"argv": [...], "cwd": "...", "env": {...},
  "clean_env": true}`` (mode 0600, written by the supervisor) used instead of ``-- CMD``.
  It keeps environment values (secrets) out of supervisord's config files and out of ``ps``,
  and keeps arguments away from supervisord's ini parser (``%`` expansion, ``;``/``#``
  comments). With ``clean_env`` the child gets only the basic variables of this process
  (``PATH``, ``HOME``, locale, ``TZ``, ``TMPDIR``, user) plus ``env``, never the platform
  server's own settings.
- ``--count-starts F``: appends this wrapper's PID as one line to ``F`` at every start, so
  the lines count the starts (restarts = lines - 1).
- ``--exit-file F``: the exit status is written to ``F`` when the wrapper ends (supervisord
  forgets it for a program that exits before ``startsecs``).
- ``--grace S`` (default 5): when a stop signal (TERM, INT, QUIT) has been forwarded and the
  command still runs ``S`` seconds later, its group and every descendant get SIGKILL; after
  the command exits, processes it left behind get SIGTERM, and SIGKILL ``S`` seconds later.

The command runs in its own process group; SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and
SIGUSR2 sent to this wrapper are forwarded to that whole group exactly once. This process is
a child subreaper (Linux), so orphaned grandchildren are re-parented to it and cleaned up.
Exit status: the command's (``128 + N`` when signal ``N`` killed it; 127 when it cannot be
run, with the reason as a stamped line).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["BASE_ENV", "child_env", "format_stamp", "main"]

BASE_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL")
"""Variables a ``clean_env`` child keeps from this process (plus every ``LC_*``)."""

_FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
_STOPPING = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
_MAX_LINE = 64 * 1024  # bytes; longer lines are split
_PARTIAL_FLUSH = 1.0  # s; a line without newline is written after this much silence
_TICK = 0.25  # s; longest sleep of the main loop
_PR_SET_CHILD_SUBREAPER = 36


def format_stamp(at: datetime) -> str:
    """``at`` as the line prefix, e.g. ``2026-12-04T11:34:13.123456Z`` (always 27 chars)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def child_env(base: Mapping[str, str], extra: Mapping[str, str], *, clean: bool) -> dict[str, str]:
    """The command's environment: ``base`` (filtered to :data:`BASE_ENV`/``LC_*`` when
    ``clean``) overlaid with ``extra``."""
    if clean:
        kept = {k: v for k, v in base.items() if k in BASE_ENV or k.startswith("LC_")}
    else:
        kept = dict(base)
    kept.update(extra)
    return kept


class _Output:
    """Splits raw bytes into lines and writes them stamped to fd 1."""

    def __init__(self, fd: int = 1) -> None:
        self._fd = fd
        self._partial = b""
        self._partial_since = 0.0

    def feed(self, data: bytes) -> None:
        prefix = format_stamp(datetime.now(UTC)).encode() + b" "
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        out: list[bytes] = []
        for line in lines:
            out.extend(prefix + chunk + b"\n" for chunk in _chunks(line))
        while len(self._partial) > _MAX_LINE:
            out.append(prefix + self._partial[:_MAX_LINE] + b"\n")
            self._partial = self._partial[_MAX_LINE:]
        if self._partial and not lines:
            self._partial_since = self._partial_since or time.monotonic()
        else:
            self._partial_since = time.monotonic() if self._partial else 0.0
        self._write(b"".join(out))

    def flush_partial(self, *, force: bool = False) -> None:
        """Write a pending line without newline (at exit, or after a silence)."""
        if not self._partial:
            return
        if force or time.monotonic() - self._partial_since >= _PARTIAL_FLUSH:
            partial, self._partial, self._partial_since = self._partial, b"", 0.0
            prefix = format_stamp(datetime.now(UTC)).encode() + b" "
            self._write(prefix + partial + b"\n")

    def note(self, text: str) -> None:
        """A line of the wrapper's own (why the command could not run)."""
        self.flush_partial(force=True)
        self._write(f"{format_stamp(datetime.now(UTC))} {text}\n".encode())

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except BrokenPipeError:
                return


def _chunks(line: bytes) -> list[bytes]:
    return [line[i : i + _MAX_LINE] for i in range(0, len(line), _MAX_LINE)] or [b""]


def _become_subreaper() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


class _Runner:
    """Runs one command to completion: output, signal forwarding, clean-up."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: str | None, grace: float):
        self.argv, self.env, self.cwd, self.grace = list(argv), env, cwd, grace
        self.out = _Output()
        self.child: subprocess.Popen[bytes] | None = None
        self.pending: list[int] = []
        self.status: int | None = None
        self.kill_at: float | None = None  # monotonic time of the SIGKILL after a stop request

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.child is None or self.status is not None:
            self.pending.append(signum)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.child.pid, signum)
        if signum in _STOPPING and self.kill_at is None:
            self.kill_at = time.monotonic() + self.grace

    def run(self) -> int:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for signum in _FORWARDED:
            signal.signal(signum, self._on_signal)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        if self.cwd and not os.path.isdir(self.cwd):
            self.out.note(f"[goldenpath] working directory {self.cwd} does not exist")
            return 127
        try:
            self.child = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                process_group=0,
            )
        except OSError as exc:
            where = f" in {self.cwd}" if self.cwd else ""
            self.out.note(f"[goldenpath] cannot run {self.argv[0]!r}{where}: {exc.strerror}")
            return 127
        if self.pending:  # a stop request arrived while the command was being started
            for pending in self.pending:
                self._on_signal(pending, None)
        assert self.child.stdout is not None
        pipe = self.child.stdout.fileno()
        os.set_blocking(pipe, False)
        self._loop(pipe, wake_r)
        return self.status if self.status is not None else 1

    def _loop(self, pipe: int, wake_r: int) -> None:
        open_pipe: int | None = pipe
        deadline: float | None = None
        while True:
            fds = [wake_r] + ([open_pipe] if open_pipe is not None else [])
            readable, _, _ = select.select(fds, [], [], _TICK)
            if wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
            if open_pipe is not None and open_pipe in readable:
                open_pipe = self._drain(open_pipe)
            self.out.flush_partial()
            self._reap()
            if self.status is None:
                if self.kill_at is not None and time.monotonic() >= self.kill_at:
                    self._kill_group()
                continue
            if deadline is None:  # the command exited: clean up what it left behind
                deadline = time.monotonic() + self.grace
                self._signal_descendants(signal.SIGTERM)
            elif time.monotonic() >= deadline:
                self._signal_descendants(signal.SIGKILL)
            if not self._has_children() and (open_pipe is None or self._drain(open_pipe) is None):
                break
            if not self._has_children() and time.monotonic() >= deadline:
                break  # output pipe held by a process outside our tree: stop reading it
        self.out.flush_partial(force=True)

    def _drain(self, pipe: int) -> int | None:
        """Read what is there; ``None`` once the pipe reached EOF."""
        while True:
            try:
                data = os.read(pipe, 65536)
            except BlockingIOError:
                return pipe
            if not data:
                return None
            self.out.feed(data)

    def _reap(self) -> None:
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.child is not None and pid == self.child.pid:
                code = os.waitstatus_to_exitcode(wait_status)
                self.status = 128 - code if code < 0 else code
                self.child.returncode = code

    @staticmethod
    def _has_children() -> bool:
        """True while any child (the command, or an orphan re-parented to us) exists."""
        try:
            os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return True

    def _kill_group(self) -> None:
        if self.child is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.child.pid, signal.SIGKILL)
        self._signal_descendants(signal.SIGKILL)

    def _signal_descendants(self, signum: int) -> None:
        for pid in _descendants(os.getpid()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)


def _descendants(root: int) -> list[int]:
    """PIDs below ``root`` (from ``/proc``; empty where there is none)."""
    parents: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            if fields and fields[0] != b"Z":
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m goldenpath.drivers.local.stamp",
        description="Run CMD, prefixing every output line with an ISO-8601 UTC timestamp.",
    )
    parser.add_argument("--launch-file", type=Path, help="JSON {argv, cwd, env, clean_env}")
    parser.add_argument("--count-starts", type=Path, help="append the PID here per start")
    parser.add_argument("--exit-file", type=Path, help="write the exit status here at exit")
    parser.add_argument("--grace", type=float, default=5.0, help="s before leftovers get KILL")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARG ...]")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command and args.launch_file is None:
        parser.error("give a command after -- or a --launch-file")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (see the module docstring)."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    command: list[str] = list(args.command)
    cwd: str | None = None
    env = dict(os.environ)
    if args.launch_file is not None:
        launch: dict[str, Any] = json.loads(args.launch_file.read_text(encoding="utf-8"))
        command = command or [str(a) for a in launch["argv"]]
        cwd = launch.get("cwd") or None
        env = child_env(
            os.environ, launch.get("env") or {}, clean=bool(launch.get("clean_env", True))
        )
    if args.count_starts is not None:
        fd = os.open(args.count_starts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
        finally:
            os.close(fd)
    _become_subreaper()
    status = _Runner(command, env, cwd, args.grace).run()
    if args.exit_file is not None:
        with contextlib.suppress(OSError):
            tmp = args.exit_file.with_name(f".{args.exit_file.name}.tmp")
            tmp.write_text(f"{status}\n", encoding="utf-8")
            os.replace(tmp, args.exit_file)
    return status


if __name__ == "__main__":
    sys.exit(main())
