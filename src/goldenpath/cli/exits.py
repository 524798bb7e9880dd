"""Exit codes of ``platform``, mapped from :mod:`goldenpath.errors` in exactly one place.

=====  ==========================================================================
code   meaning
=====  ==========================================================================
0      success
1      validation failed or the input is invalid (``InvalidInput``, HTTP 400/422)
2      usage error: unknown command or option, bad option value (Click's own code)
3      not found (``NotFound``, HTTP 404)
4      conflict with existing state or running work (``Conflict``, HTTP 409)
5      unauthorized or forbidden (``Unauthorized``/``Forbidden``, HTTP 401/403)
6      unavailable: server unreachable, not started in time, busy (``Unavailable``, 5xx)
10     internal error (any other ``PlatformError`` or an unexpected exception)
=====  ==========================================================================

The same table is in ``docs/cli.md`` and in the epilog of ``platform --help``.
"""

from __future__ import annotations

from goldenpath import errors

__all__ = [
    "CONFLICT",
    "EPILOG",
    "INTERNAL",
    "INVALID",
    "NOT_FOUND",
    "OK",
    "UNAUTHORIZED",
    "UNAVAILABLE",
    "USAGE",
    "exit_code_for",
]

OK = 0
INVALID = 1
USAGE = 2
NOT_FOUND = 3
CONFLICT = 4
UNAUTHORIZED = 5
UNAVAILABLE = 6
INTERNAL = 10

# Most specific first: the first isinstance match wins.
_TABLE: tuple[tuple[type[errors.PlatformError], int], ...] = (
    (errors.InvalidInput, INVALID),
    (errors.NotFound, NOT_FOUND),
    (errors.Conflict, CONFLICT),
    (errors.Unauthorized, UNAUTHORIZED),
    (errors.Forbidden, UNAUTHORIZED),
    (errors.Unavailable, UNAVAILABLE),
)

EPILOG = (
    "Exit codes: 0 ok · 1 validation failed / invalid input · 2 usage · 3 not found · "
    "4 conflict · 5 unauthorized / forbidden · 6 server unavailable · 10 internal error."
)


def exit_code_for(exc: BaseException) -> int:
    """The process exit code for an exception that ended a command.

    Args:
        exc: a :class:`goldenpath.errors.PlatformError` (mapped by class, see the module
            table) or anything else (→ ``INTERNAL``).

    Returns:
        An integer from the module table; never ``OK``.
    """
    for cls, code in _TABLE:
        if isinstance(exc, cls):
            return code
    return INTERNAL
