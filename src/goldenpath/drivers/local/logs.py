"""Reading and following replica logs: timestamped lines in rotated files.

Every line of a replica log starts with the UTC timestamp the stamp wrapper
(:mod:`goldenpath.drivers.local.stamp`) put there: ``2026-12-04T11:34:13.123456Z <text>``.
supervisord rotates ``<log>`` to ``<log>.1``, ``<log>.1`` to ``<log>.2`` … (higher number =
older), and may cut a line in two at a rotation; the files of one log are therefore read as
one stream, oldest first, so such a line comes out whole. A line without a timestamp (written
by something else) gets the timestamp of the line before it.

- :func:`read_lines` — one log's lines (given its files) in time order, from ``since`` on.
- :func:`read_many` — several logs merged in time order, each line tagged with its log.
- :func:`follow` — like :func:`read_many`, then keeps yielding lines as they are written;
  survives rotation; stops when the consumer stops iterating (or after ``idle_timeout``).
- :class:`LogTail` — the same following as a non-blocking ``poll()`` (what a server's log
  stream calls between its own sleeps).
"""

from __future__ import annotations

import contextlib
import heapq
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

__all__ = ["LogTail", "follow", "parse_line", "read_lines", "read_many", "rotated_paths"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STAMP_LEN = 27  # len("2026-12-04T11:34:13.123456Z")
_CHUNK = 1 << 16


def rotated_paths(log_file: Path) -> list[Path]:
    """``log_file`` and its rotated siblings that exist, oldest first:
    ``[<log>.N, …, <log>.1, <log>]``."""
    siblings = []
    if log_file.parent.is_dir():
        prefix = log_file.name + "."
        for entry in log_file.parent.iterdir():
            suffix = entry.name[len(prefix) :] if entry.name.startswith(prefix) else ""
            if suffix.isdigit():
                siblings.append((int(suffix), entry))
    ordered = [path for _, path in sorted(siblings, reverse=True)]
    return ordered + ([log_file] if log_file.exists() else [])


def parse_line(line: str) -> tuple[datetime | None, str]:
    """Split a stamped line into ``(aware UTC datetime, text)``; ``(None, line)`` when it
    does not start with a stamp."""
    if len(line) > _STAMP_LEN and line[_STAMP_LEN] == " " and line[_STAMP_LEN - 1] == "Z":
        try:
            at = datetime.strptime(line[: _STAMP_LEN - 1], "%Y-%m-%dT%H:%M:%S.%f")
        except ValueError:
            return None, line
        return at.replace(tzinfo=UTC), line[_STAMP_LEN + 1 :]
    return None, line


def _rotation_index(path: Path) -> int:
    suffix = path.suffix[1:]
    return int(suffix) if suffix.isdigit() else 0


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def read_lines(
    paths: Sequence[Path], since: datetime | None = None
) -> Iterator[tuple[datetime, str]]:
    """Lines of one log as ``(at, text)`` in time order, ``at >= since`` when given.

    ``paths``: the log and its rotated files in any order (``<log>``, ``<log>.1``, …; see
    :func:`rotated_paths`); missing files are skipped. A naive ``since`` counts as UTC. Files
    last written before ``since`` are not read at all.
    """
    since = _utc(since)
    ordered = sorted(paths, key=_rotation_index, reverse=True)
    readable = []
    for path in ordered:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        if since is None or mtime >= since.timestamp() - 1:
            readable.append(path)
    last = _EPOCH
    for raw in _stream_lines(readable):
        at, text = parse_line(raw)
        if at is None:
            at = last
        last = at
        if since is None or at >= since:
            yield at, text


def _stream_lines(paths: Iterable[Path]) -> Iterator[str]:
    """The files' bytes as one stream, split into lines (a final partial line included)."""
    partial = b""
    for path in paths:
        try:
            handle = path.open("rb")
        except OSError:
            continue
        with handle:
            while chunk := handle.read(_CHUNK):
                *lines, partial = (partial + chunk).split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", "replace")
    if partial:
        yield partial.decode("utf-8", "replace")


def read_many(
    logs: Sequence[Path], *, since: datetime | None = None
) -> Iterator[tuple[Path, datetime, str]]:
    """Lines of several logs merged in time order as ``(log, at, text)``.

    ``logs``: base log files (their rotated files are found with :func:`rotated_paths`).
    """

    def tagged(log: Path) -> Iterator[tuple[datetime, int, Path, str]]:
        index = order[log]
        for at, text in read_lines(rotated_paths(log), since):
            yield at, index, log, text

    order = {log: i for i, log in enumerate(logs)}
    for at, _, log, text in heapq.merge(*(tagged(log) for log in order)):
        yield log, at, text


@dataclass
class _Tail:
    """Read position in one log: the open base file and what is left of a partial line."""

    log: Path
    handle: BinaryIO | None = None
    inode: int = 0
    partial: bytes = b""
    last: datetime = field(default=_EPOCH)

    def open_at_end(self) -> None:
        """Start at the current end of the base file (when it exists)."""
        with contextlib.suppress(OSError):
            self.handle = self.log.open("rb")
            self.inode = os.fstat(self.handle.fileno()).st_ino
            self.handle.seek(0, os.SEEK_END)

    def poll(self) -> list[tuple[datetime, str]]:
        """New complete lines since the last poll; switches files on rotation/truncation."""
        data = self._read()
        try:
            stat = self.log.stat()
        except OSError:
            stat = None
        if self.handle is None or stat is None or stat.st_ino != self.inode:
            # rotated (or not there yet): the old file is complete, continue in the new one
            if self.handle is not None:
                data += self._read()
                self.handle.close()
                self.handle = None
            if stat is not None:
                with contextlib.suppress(OSError):
                    self.handle = self.log.open("rb")
                    self.inode = os.fstat(self.handle.fileno()).st_ino
                    data += self._read()
        elif stat.st_size < self.handle.tell():  # truncated in place
            self.handle.seek(0)
            data += self._read()
        *lines, self.partial = (self.partial + data).split(b"\n")
        out = []
        for raw in lines:
            at, text = parse_line(raw.decode("utf-8", "replace"))
            self.last = at or self.last
            out.append((self.last, text))
        return out

    def _read(self) -> bytes:
        if self.handle is None:
            return b""
        chunks = []
        while chunk := self.handle.read(_CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class LogTail:
    """A non-blocking follower of several logs: :meth:`poll` returns what was written since
    the previous call, as ``(log, at, text)`` in time order.

    ``logs_of`` returns the base log files to follow and is called again at every poll: a log
    already there at construction is followed from its current end, one that appears later
    (a version started meanwhile) from its first line. Each poll reads only the bytes
    appended since the last one (a byte offset per open file), so following a large log
    costs nothing while it is quiet. Rotation and truncation are handled as in :func:`follow`.
    """

    def __init__(self, logs_of: Callable[[], Sequence[Path]]) -> None:
        self._logs_of = logs_of
        self._tails: dict[Path, _Tail] = {}
        for log in dict.fromkeys(logs_of()):
            tail = _Tail(log)
            tail.open_at_end()
            self._tails[log] = tail

    def backlog(self, since: datetime | None) -> Iterator[tuple[Path, datetime, str]]:
        """Lines written before the tails were positioned (log by log), from ``since`` on."""
        for tail in list(self._tails.values()):
            for at, text in _read_until(tail, since):
                yield tail.log, at, text

    def poll(self) -> list[tuple[Path, datetime, str]]:
        """New complete lines of every log since the last poll (may be empty; never blocks
        beyond reading those bytes)."""
        for log in self._logs_of():
            self._tails.setdefault(log, _Tail(log))  # new: read from its first line
        fresh: list[tuple[datetime, int, Path, str]] = []
        for index, tail in enumerate(self._tails.values()):
            fresh.extend((at, index, tail.log, text) for at, text in tail.poll())
        fresh.sort(key=lambda item: (item[0], item[1]))
        return [(log, at, text) for at, _, log, text in fresh]

    def close(self) -> None:
        """Close every open file."""
        for tail in self._tails.values():
            tail.close()


def follow(
    logs: Sequence[Path],
    *,
    since: datetime | None = None,
    poll_interval: float = 0.25,
    idle_timeout: float | None = None,
) -> Iterator[tuple[Path, datetime, str]]:
    """Like :func:`read_many`, then yield new lines of ``logs`` as they are written.

    Every ``poll_interval`` seconds each base log is read from where the last read ended
    (:class:`LogTail`); when supervisord rotated it (a new inode at the path), the rest of the
    old file is read before the new one, so no line is lost (unless a log rotates twice
    between two polls). New lines from one poll are yielded in time order. The generator runs
    until the consumer stops iterating (``close()``/garbage collection), or, with
    ``idle_timeout`` (seconds), once that long passed without a new line. Logs that do not
    exist yet are picked up when they appear.
    """
    fixed = list(dict.fromkeys(logs))
    tail = LogTail(lambda: fixed)
    try:
        # Lines already written (read after the tails were positioned: no gap, and a line
        # written in between is yielded once, by the tail).
        yield from tail.backlog(since)
        quiet_since = time.monotonic()
        while True:
            fresh = tail.poll()
            if fresh:
                yield from fresh
                quiet_since = time.monotonic()
                continue
            if idle_timeout is not None and time.monotonic() - quiet_since >= idle_timeout:
                return
            time.sleep(poll_interval)
    finally:
        tail.close()


def _read_until(tail: _Tail, since: datetime | None) -> Iterator[tuple[datetime, str]]:
    """The log's lines before ``tail``'s position: its rotated files, then the base file
    read through ``tail``'s own handle (a rotation meanwhile changes nothing); a partial
    last line is left in ``tail.partial`` for the tail to complete."""
    since = _utc(since)
    older = []
    for path in rotated_paths(tail.log):
        with contextlib.suppress(OSError):
            stat = path.stat()
            if path == tail.log or stat.st_ino == tail.inode:
                continue
            if since is None or stat.st_mtime >= since.timestamp() - 1:
                older.append(path)
    partial = b""
    for data in _chunks_of(older, tail):
        *lines, partial = (partial + data).split(b"\n")
        for raw in lines:
            at, text = parse_line(raw.decode("utf-8", "replace"))
            tail.last = at or tail.last
            if since is None or tail.last >= since:
                yield tail.last, text
    tail.partial = partial


def _chunks_of(paths: Sequence[Path], tail: _Tail) -> Iterator[bytes]:
    for path in paths:
        with contextlib.suppress(OSError), path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk
    if tail.handle is not None:
        end, offset = tail.handle.tell(), 0
        while offset < end:
            chunk = os.pread(tail.handle.fileno(), min(_CHUNK, end - offset), offset)
            if not chunk:
                break
            offset += len(chunk)
            yield chunk
