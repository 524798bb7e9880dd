"""Streams of the deploy routes: a deployment's state transitions and a service's logs.

Both poll the deploy service from a worker thread (no thread is ever left blocked on a quiet
log) and end after ``MAX_STREAM_SECONDS`` so a stopping server never waits long on them;
clients resume — transitions with ``?after=<last id>`` (or ``Last-Event-ID``), logs with
``?since=<last line's time>``.

Deployment events (``text/event-stream``, the scaffolder's style):

- ``event: transition`` ``id: <1-based index>`` ``data: {deploymentId, index, from, to, at,
  actor, reason, state, stepIndex, message}``
- ``event: progress`` ``data: {deploymentId, state, stepIndex, steps, step, message}`` when the
  step or message moves without a state change
- ``event: end`` ``data: <the Deployment>`` — once it is terminal, or paused by a transition
  newer than ``after``; the stream then ends.

Log lines: ``event: log`` ``data: {at, version, replica, stream, text}`` (SSE) or one such
JSON object per line (``application/x-ndjson``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from goldenpath.deploy.records import TERMINAL, iso

if TYPE_CHECKING:
    from goldenpath.api.deps import Services
    from goldenpath.drivers.base import LogLine

__all__ = [
    "MAX_STREAM_SECONDS",
    "deployment_events",
    "line_dict",
    "log_stream",
    "read_logs",
]

#: seconds after which a stream ends (clients resume, see the module docstring)
MAX_STREAM_SECONDS = 30.0
#: seconds between SSE comment lines that keep idle proxies from closing the stream
KEEPALIVE_INTERVAL = 15.0
#: seconds between polls of a deployment / of the log files
DEPLOYMENT_POLL = 0.25
LOG_POLL = 1.0


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return f"{head}data: {body}\n\n"


def _progress(doc: dict[str, Any]) -> dict[str, Any]:
    steps = doc.get("steps") or []
    index = int(doc.get("stepIndex") or 0)
    return {
        "deploymentId": doc["id"],
        "state": doc["state"],
        "stepIndex": index,
        "steps": len(steps),
        "step": steps[index] if 0 <= index < len(steps) else None,
        "message": doc.get("message") or "",
    }


def _ended(doc: dict[str, Any], after: int) -> bool:
    if doc["state"] in TERMINAL:
        return True
    return doc["state"] == "paused" and len(doc.get("transitions") or []) > after


async def deployment_events(
    request: Request, svc: Services, deployment_id: int, after: int | None
) -> AsyncIterator[str]:
    """The SSE body of ``GET /deployments/{id}/eventstream`` (see the module docstring)."""
    seen = after or 0
    last_progress: tuple[Any, ...] | None = None
    started = quiet_since = time.monotonic()
    while time.monotonic() - started < MAX_STREAM_SECONDS:
        if await request.is_disconnected():
            return
        record = await run_in_threadpool(svc.deploy.get_deployment, deployment_id)
        doc = record.to_dict()
        transitions = doc.get("transitions") or []
        for index, transition in enumerate(transitions[seen:], start=seen + 1):
            quiet_since = time.monotonic()
            extra = {"state": doc["state"], "stepIndex": doc["stepIndex"]}
            data = {"deploymentId": doc["id"], "index": index, **transition, **extra}
            yield _sse("transition", {**data, "message": doc.get("message") or ""}, index)
        seen = max(seen, len(transitions))
        progress = _progress(doc)
        key = (progress["state"], progress["stepIndex"], progress["message"])
        if key != last_progress:
            last_progress = key
            quiet_since = time.monotonic()
            yield _sse("progress", progress)
        if _ended(doc, after or 0):
            yield _sse("end", doc)
            return
        if time.monotonic() - quiet_since > KEEPALIVE_INTERVAL:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(DEPLOYMENT_POLL)


def line_dict(line: LogLine) -> dict[str, Any]:
    """``{at, version, replica, stream, text}`` of one log line (``at`` ISO-8601 UTC)."""
    return {
        "at": iso(line.at),
        "version": line.version,
        "replica": line.replica,
        "stream": line.stream,
        "text": line.text,
    }


def read_logs(
    svc: Services, service: str, environment: str, since: datetime | None, limit: int
) -> list[LogLine]:
    """The last ``limit`` lines at or after ``since`` (blocking; call from a worker thread)."""
    lines: Iterable[LogLine] = svc.deploy.logs(service, environment, since=since)
    return list(collections.deque(lines, maxlen=limit))


async def log_stream(
    request: Request,
    svc: Services,
    service: str,
    environment: str,
    *,
    since: datetime | None,
    limit: int,
    sse: bool,
) -> AsyncIterator[str]:
    """Follow the service's logs: the last ``limit`` lines since ``since``, then new ones.

    New lines come from a :class:`~goldenpath.drivers.base.LogFollower` opened before the
    backlog is read (no gap), polled every ``LOG_POLL`` seconds in a worker thread: each poll
    reads only what was appended. A line is sent once: lines older than the newest one sent
    are skipped, and at the same timestamp a ``(version, replica, text)`` already sent is
    skipped.
    """
    follower = await run_in_threadpool(svc.deploy.tail_logs, service, environment)
    try:
        cursor, sent_at_cursor = since, set[tuple[str, int, str]]()
        started = quiet_since = time.monotonic()
        lines = await run_in_threadpool(read_logs, svc, service, environment, cursor, limit)
        while True:
            for line in lines:
                key = (line.version, line.replica, line.text)
                if cursor is not None and (
                    line.at < cursor or (line.at == cursor and key in sent_at_cursor)
                ):
                    continue
                if cursor is None or line.at > cursor:
                    cursor, sent_at_cursor = line.at, set()
                sent_at_cursor.add(key)
                quiet_since = time.monotonic()
                data = line_dict(line)
                yield _sse("log", data) if sse else json.dumps(data, ensure_ascii=False) + "\n"
            if sse and time.monotonic() - quiet_since > KEEPALIVE_INTERVAL:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            if time.monotonic() - started >= MAX_STREAM_SECONDS:
                return
            await asyncio.sleep(LOG_POLL)
            if await request.is_disconnected():
                return
            lines = await run_in_threadpool(follower.poll)
    finally:
        await run_in_threadpool(follower.close)
