"""The platform's error hierarchy, typed by what the caller should do next.

Every domain error derives from :class:`PlatformError`. Edges map them once: the API to
RFC 9457 problem+json (``goldenpath.api.problems``), the CLI to exit codes
(``goldenpath.cli.exits``). Foreign errors are translated at the boundary with
``raise … from e``. Messages name the file, the field and the fix; they never contain
secret values.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PlatformError",
    "Unauthorized",
    "Unavailable",
]


class PlatformError(Exception):
    """Base of every goldenpath error.

    Attributes:
        message: one human sentence (or a few) naming what is wrong and how to fix it.
        details: JSON-serialisable extras shown to API clients (e.g. ``{"errors": [...]}``).
    """

    title = "Platform error"
    status = 500
    code = "platform_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class InvalidInput(PlatformError):
    """The request or file is malformed; fix the input and try again (HTTP 400)."""

    title = "Invalid input"
    status = 400
    code = "invalid_input"


class Unauthorized(PlatformError):
    """No valid credentials were presented (HTTP 401)."""

    title = "Unauthorized"
    status = 401
    code = "unauthorized"


class Forbidden(PlatformError):
    """The caller is known but not allowed to do this (HTTP 403)."""

    title = "Forbidden"
    status = 403
    code = "forbidden"


class NotFound(PlatformError):
    """The named thing does not exist (HTTP 404)."""

    title = "Not found"
    status = 404
    code = "not_found"


class Conflict(PlatformError):
    """The request collides with existing state or work in progress (HTTP 409)."""

    title = "Conflict"
    status = 409
    code = "conflict"


class Unavailable(PlatformError):
    """A dependency is down or busy; the same request may succeed later (HTTP 503)."""

    title = "Unavailable"
    status = 503
    code = "unavailable"
