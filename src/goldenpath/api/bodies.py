"""Request bodies, checked before any route runs: their size, and that JSON decodes to text.

**Size.** Every body a route takes is read into memory, so one without a bound could
exhaust it. :class:`RequestBodyGuard` refuses a body larger than
``settings.server.max_body_bytes`` with a 413 problem: at once when ``Content-Length`` says
so, else when the bytes read pass the limit (while buffering JSON here, or from the route's
own read of other bodies, as an ``HTTPException`` the problem handlers map).

**Unicode.** JSON may spell a lone UTF-16 surrogate (``"\\ud800"``), and Python's decoder
accepts it; such a string cannot be encoded as UTF-8 again, so it failed deep inside a
request — a secret value at encryption, a policy input at its digest, a resource claim when
its response was written (after the claim was stored). Such a body is refused with a 400
problem naming the field, before anything runs, so nothing changes. Only JSON bodies
(``*/json``, ``*/*+json``) of POST, PUT and PATCH are buffered here; the scan is a byte
search unless the body holds a ``\\u`` escape or a UTF-8 lead byte of the surrogate range
(0xED).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from goldenpath.api.problems import status_problem

__all__ = ["RequestBodyGuard", "lone_surrogate_path"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            # what FastAPI parses as JSON: any ``*/json`` or ``*/*+json``
            subtype = value.split(b";", 1)[0].strip().lower().rpartition(b"/")[2]
            return subtype == b"json" or subtype.endswith(b"+json")
    return False


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def lone_surrogate_path(body: bytes) -> str | None:
    """The path (``body.values.KEY``) of the first key or string in the JSON ``body`` that
    holds a lone surrogate, or None (also for a body that is not JSON: the route reports
    that)."""
    if b"\\u" not in body and b"\xed" not in body:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    stack: list[tuple[str, Any]] = [("body", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _unencodable(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if _unencodable(key):
                    return f"{path}.{key.encode('utf-8', 'backslashreplace').decode()}"
                stack.append((f"{path}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}", item) for i, item in enumerate(value))
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large_detail(limit: int) -> str:
    return (
        f"the request body is larger than {limit:,} bytes, the most this server reads "
        "(settings server.max_body_bytes); send less per request"
    )


class RequestBodyGuard:
    """ASGI middleware: a body over ``max_bytes`` gets a 413 problem, a JSON body holding a
    lone surrogate a 400 problem (``errors: [{path, message}]``); neither reaches a route."""

    def __init__(
        self, app: Callable[[Scope, Receive, Send], Awaitable[None]], *, max_bytes: int
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _METHODS:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        if not _is_json(scope):
            await self.app(scope, self._limited(receive), send)
            return
        messages: list[Message] = []
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        path = lone_surrogate_path(b"".join(chunks))
        if path is not None:
            reason = (
                "the text holds a lone UTF-16 surrogate (e.g. \\ud800), which is not Unicode "
                "text; fix the client's encoding"
            )
            response = status_problem(
                400,
                f"{path}: {reason}",
                instance=scope.get("path", ""),
                extra={"errors": [{"path": path, "message": reason}]},
            )
            await response(scope, receive, send)
            return
        pending = iter(messages)

        async def replay() -> Message:
            return next(pending, None) or await receive()

        await self.app(scope, replay, send)

    def _limited(self, receive: Receive) -> Receive:
        """``receive`` that raises a 413 ``HTTPException`` once more than ``max_bytes``
        arrived (the route reads the body; the problem handlers answer)."""
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_bytes:
                    raise HTTPException(413, _too_large_detail(self.max_bytes))
            return message

        return counted

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = status_problem(
            413, _too_large_detail(self.max_bytes), instance=scope.get("path", "")
        )
        await response(scope, receive, send)
