"""The HTTP client every ``platform`` command goes through.

:func:`connect` picks the server: ``settings.server.url`` when configured, otherwise the
local server of ``GOLDENPATH_HOME``, started in the background (or reused) by
:mod:`goldenpath.cli.localserver`. The token comes from ``settings.server.token``
(``GOLDENPATH_SERVER__TOKEN``) or the admin token file the server wrote at first start.

Error responses (RFC 9457 ``application/problem+json``) become :mod:`goldenpath.errors`
exceptions by status, so :mod:`goldenpath.cli.exits` maps them to exit codes in one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx

from goldenpath import errors
from goldenpath.cli import localserver
from goldenpath.settings import Settings

__all__ = ["PlatformClient", "ServerSentEvent", "connect", "error_from_response", "read_token"]

_TIMEOUT = httpx.Timeout(120.0, connect=5.0)  # seconds; imports of big trees take a while

_BY_STATUS: dict[int, type[errors.PlatformError]] = {
    400: errors.InvalidInput,
    422: errors.InvalidInput,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    502: errors.Unavailable,
    503: errors.Unavailable,
    504: errors.Unavailable,
}


class PlatformClient:
    """A small synchronous client of the goldenpath REST API.

    Args:
        base_url: the server's root URL, e.g. ``http://127.0.0.1:8042``.
        token: API token sent as ``Authorization: Bearer``; None sends no header.
        timeout: httpx timeout (default 5 s to connect, 120 s to read).

    Every method returns the decoded JSON body (None for an empty body) and raises a
    :class:`goldenpath.errors.PlatformError` subclass for an error status or when the
    server cannot be reached (:class:`~goldenpath.errors.Unavailable`).
    """

    def __init__(
        self, base_url: str, token: str | None, *, timeout: httpx.Timeout = _TIMEOUT
    ) -> None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            verify=localserver.tls_verify(self.base_url),
        )

    def get(self, path: str, params: Any = None) -> Any:
        """``GET path`` with query ``params`` (a dict or a list of pairs for repeated keys)."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, params: Any = None) -> Any:
        """``POST path`` with a JSON body."""
        return self.request("POST", path, body=body, params=params)

    def delete(self, path: str) -> Any:
        """``DELETE path``."""
        return self.request("DELETE", path)

    def request(self, method: str, path: str, *, body: Any = None, params: Any = None) -> Any:
        """Send one request and decode the answer; see the class docstring for errors."""
        try:
            response = self._http.request(method, path, json=body, params=params)
        except httpx.InvalidURL:
            raise errors.InvalidInput(
                f"{method} {path!r}: an argument holds a character a URL cannot carry (a line "
                "break or another control character); remove it"
            ) from None
        except UnicodeEncodeError:
            # undecodable bytes in an argument, a file or stdin (Python keeps them as lone
            # surrogates); the value itself may be a secret, so it is not shown
            raise errors.InvalidInput(
                f"{method} {path}: the request holds text that is not valid UTF-8 (an "
                "argument, a file or stdin with bytes that do not decode); fix its encoding"
            ) from None
        except httpx.TimeoutException as e:
            raise errors.Unavailable(
                f"{method} {self.base_url}{path}: the server did not answer in time ({e}); "
                "check `platform server status` and try again"
            ) from e
        except httpx.HTTPError as e:
            raise errors.Unavailable(
                f"{method} {self.base_url}{path}: cannot reach the server ({e}); start it with "
                "`platform server start` or fix GOLDENPATH_SERVER__URL"
            ) from e
        if response.status_code >= 400:
            raise error_from_response(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as e:
            raise errors.PlatformError(
                f"{method} {self.base_url}{path}: the server answered with non-JSON content"
            ) from e

    def stream_events(self, path: str, params: Any = None) -> Iterator[ServerSentEvent]:
        """``GET path`` as a ``text/event-stream``; yields each event until the server ends it.

        Raises:
            PlatformError: an error status (mapped like :meth:`request`).
            Unavailable: the server cannot be reached or the stream broke off.
        """
        headers = {"Accept": "text/event-stream"}
        timeout = httpx.Timeout(None, connect=5.0)  # a quiet task may log nothing for a while
        try:
            with self._http.stream(
                "GET", path, params=params, headers=headers, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                yield from _parse_sse(response.iter_lines())
        except httpx.HTTPError as e:
            raise errors.Unavailable(
                f"GET {self.base_url}{path}: the event stream broke off ({e}); "
                "run the command again to resume"
            ) from e

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ServerSentEvent:
    """One server-sent event: ``event`` type, ``id`` (or None) and ``data`` (decoded JSON when
    it parses, else the text)."""

    __slots__ = ("data", "event", "id")

    def __init__(self, event: str, id: str | None, data: Any) -> None:
        self.event = event
        self.id = id
        self.data = data

    def __repr__(self) -> str:
        return f"ServerSentEvent({self.event!r}, id={self.id!r})"


def _parse_sse(lines: Iterator[str]) -> Iterator[ServerSentEvent]:
    """The event-stream format (WHATWG HTML "Server-sent events" §9.2.6), minus ``retry``."""
    event, event_id = "message", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    value: Any = json.loads(text)
                except ValueError:
                    value = text
                yield ServerSentEvent(event, event_id, value)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value_text = line.partition(":")
        value_text = value_text[1:] if value_text.startswith(" ") else value_text
        if field == "event":
            event = value_text
        elif field == "data":
            data.append(value_text)
        elif field == "id":
            event_id = value_text


def error_from_response(response: httpx.Response) -> errors.PlatformError:
    """Translate an error response (problem+json or not) into a goldenpath error.

    The problem's ``detail`` (else ``title``) becomes the message; its other members
    (``errors``, ``instance``, …) are kept in ``details``. Unknown statuses → PlatformError.
    """
    cls = _BY_STATUS.get(response.status_code, errors.PlatformError)
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        text = response.text.strip()[:300]
        return cls(f"HTTP {response.status_code} from {response.request.url}: {text}")
    message = str(problem.get("detail") or problem.get("title") or f"HTTP {response.status_code}")
    details = {k: v for k, v in problem.items() if k not in {"detail", "title", "type"}}
    return cls(message, details=details)


def read_token(settings: Settings) -> str | None:
    """``settings.server.token``, else the admin token file's content, else None."""
    if settings.server.token:
        return settings.server.token
    try:
        return settings.admin_token_file.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def connect(settings: Settings) -> PlatformClient:
    """A client for the configured server, auto-starting the local one when none is set.

    Raises:
        Unavailable: the local server could not be started.
        Unauthorized: no token is configured and no admin token file exists.
    """
    url = settings.server.url or localserver.ensure_running(settings)
    token = read_token(settings)
    if token is None:
        raise errors.Unauthorized(
            f"no API token: set GOLDENPATH_SERVER__TOKEN, or let the local server write "
            f"{settings.admin_token_file} (it does so at first start)"
        )
    return PlatformClient(url, token)
