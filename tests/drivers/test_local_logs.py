"""Reading and following timestamped, rotated replica logs (plain files, no processes)."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from goldenpath.drivers.local.logs import (
    LogTail,
    follow,
    parse_line,
    read_lines,
    read_many,
    rotated_paths,
)
from goldenpath.drivers.local.stamp import format_stamp

T0 = datetime(2026, 12, 4, 11, 0, 0, tzinfo=UTC)


def stamped(seconds: float, text: str) -> str:
    return f"{format_stamp(T0 + timedelta(seconds=seconds))} {text}\n"


def write(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(lines))
    return path


def test_parse_line_round_trips_the_stamp_format() -> None:
    at = datetime(2026, 12, 4, 11, 34, 13, 123456, tzinfo=UTC)
    assert parse_line(f"{format_stamp(at)} hello world") == (at, "hello world")
    assert parse_line(f"{format_stamp(at)} ") == (at, "")
    assert parse_line("no stamp here") == (None, "no stamp here")
    assert parse_line("2026-13-99T99:00:00.000000Z bad date") == (
        None,
        "2026-13-99T99:00:00.000000Z bad date",
    )


def test_rotated_files_read_oldest_first_with_split_line_joined(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(tmp_path / "app.log.2", stamped(1, "one"), stamped(2, "two"))
    # supervisord rotated in the middle of a line: its end is in the next file
    write(tmp_path / "app.log.1", stamped(3, "three"), stamped(4, "fo")[:-1])
    write(log, "ur\n", "unstamped continuation\n", stamped(5, "five"))
    write(tmp_path / "app.log.bak", stamped(0, "not part of the log"))
    files = rotated_paths(log)
    assert [p.name for p in files] == ["app.log.2", "app.log.1", "app.log"]
    lines = list(read_lines(list(reversed(files))))  # order given does not matter
    assert [text for _, text in lines] == [
        "one",
        "two",
        "three",
        "four",
        "unstamped continuation",
        "five",
    ]
    assert lines[4][0] == T0 + timedelta(seconds=4)  # takes the previous line's time


def test_since_filters_lines_and_skips_old_files(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    old = write(tmp_path / "app.log.1", stamped(1, "old"))
    write(log, stamped(10, "new"), stamped(20, "newer"))
    os.utime(old, (T0.timestamp() + 1, T0.timestamp() + 1))
    os.utime(log, (T0.timestamp() + 20, T0.timestamp() + 20))
    since = T0 + timedelta(seconds=10)
    assert [t for _, t in read_lines(rotated_paths(log), since)] == ["new", "newer"]
    naive = since.replace(tzinfo=None)  # naive counts as UTC
    assert [t for _, t in read_lines(rotated_paths(log), naive)] == ["new", "newer"]
    assert list(read_lines([tmp_path / "missing.log"])) == []


def test_read_many_merges_logs_in_time_order(tmp_path: Path) -> None:
    a = write(tmp_path / "v1--r0.log", stamped(1, "a1"), stamped(3, "a3"))
    b = write(tmp_path / "v1--r1.log", stamped(2, "b2"), stamped(4, "b4"))
    write(tmp_path / "v1--r1.log.1", stamped(0, "b0"))
    merged = [(p.name, t) for p, _, t in read_many([a, b])]
    assert merged == [
        ("v1--r1.log", "b0"),
        ("v1--r0.log", "a1"),
        ("v1--r1.log", "b2"),
        ("v1--r0.log", "a3"),
        ("v1--r1.log", "b4"),
    ]
    assert [t for _, _, t in read_many([a, b], since=T0 + timedelta(seconds=3))] == ["a3", "b4"]


def test_follow_yields_existing_then_new_lines_across_rotation(tmp_path: Path) -> None:
    log = write(tmp_path / "app.log", stamped(1, "before"))
    later = tmp_path / "later.log"  # does not exist yet

    def writer() -> None:
        time.sleep(0.1)
        write(log, stamped(2, "first"), stamped(3, "sec")[:-1])
        time.sleep(0.1)
        write(log, "ond\n")
        os.replace(log, tmp_path / "app.log.1")  # rotation, as supervisord does it
        write(log, stamped(4, "after rotation"))
        write(later, stamped(5, "late file"))
        time.sleep(0.1)
        log.write_text(stamped(6, "cut"))

    thread = threading.Thread(target=writer)
    thread.start()
    got = []
    lines = follow([log, later], poll_interval=0.02, idle_timeout=2)
    for path, _at, text in lines:
        got.append((path.name, text))
        if text == "cut":
            break
    lines.close()
    thread.join()
    assert got == [
        ("app.log", "before"),
        ("app.log", "first"),
        ("app.log", "second"),
        ("app.log", "after rotation"),
        ("later.log", "late file"),
        ("app.log", "cut"),
    ]


def test_follow_applies_since_and_stops_when_idle(tmp_path: Path) -> None:
    log = write(tmp_path / "app.log", stamped(1, "old"), stamped(5, "recent"))
    started = time.monotonic()
    got = [t for _, _, t in follow([log], since=T0 + timedelta(seconds=2), idle_timeout=0.3)]
    assert got == ["recent"]
    assert 0.3 <= time.monotonic() - started < 2


@pytest.mark.parametrize("partial", [True, False])
def test_follow_completes_a_line_cut_at_the_start(tmp_path: Path, partial: bool) -> None:
    line = stamped(1, "whole line")
    log = write(tmp_path / "app.log", line[:20] if partial else line)
    if partial:  # the rest arrives once follow() has read the first part
        timer = threading.Timer(0.2, lambda: write(log, line[20:]))
        timer.start()
    got = [t for _, _, t in follow([log], poll_interval=0.02, idle_timeout=0.5)]
    assert got == ["whole line"]


def test_log_tail_polls_only_new_bytes_and_picks_up_logs_that_appear(tmp_path: Path) -> None:
    old = write(tmp_path / "v1.r0.log", *(stamped(i, f"old {i}") for i in range(1000)))
    logs = [old]
    tail = LogTail(lambda: list(logs))
    try:
        assert tail.poll() == []  # positioned at the end: the backlog is not repeated
        write(old, stamped(2000, "fresh"), "half a li")
        assert [(p.name, text) for p, _, text in tail.poll()] == [("v1.r0.log", "fresh")]
        # a version started later is read from its first line; the cut line completes
        new = write(tmp_path / "v2.r0.log", stamped(2001, "v2 starts"))
        logs.append(new)
        write(old, "ne\n")
        got = [(p.name, text) for p, _, text in tail.poll()]
        assert got == [("v1.r0.log", "half a line"), ("v2.r0.log", "v2 starts")]
        started = time.monotonic()
        assert tail.poll() == [] and time.monotonic() - started < 0.5  # quiet: never blocks
        assert [text for _, _, text in tail.backlog(T0 + timedelta(seconds=998))] == [
            "old 998",
            "old 999",
            "fresh",
            "half a line",
            "v2 starts",
        ]  # log by log, up to where the tail stands
    finally:
        tail.close()
