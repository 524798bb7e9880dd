"""Option parsing for ``platform deploy|status|logs|env``: canary weights and durations.

Bad values are usage errors (exit 2) with a message that shows the expected form, raised
before any request is made.
"""

from __future__ import annotations

import re

import typer

__all__ = ["parse_canary", "parse_duration", "parse_since"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_GROUP = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_ISO_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_canary(value: str | None) -> int | None:
    """``--canary 10%`` (or ``10``) → 10: the first canary weight in percent, 1-100.

    Raises:
        typer.BadParameter: anything else (exit code 2), naming the expected form.
    """
    if value is None:
        return None
    text = value.strip().removesuffix("%").strip()
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise typer.BadParameter(
            f"{value!r} is not a canary weight; give a percentage from 1 to 100, e.g. "
            "--canary 10% (or --canary 10)"
        )
    return int(text)


def parse_duration(value: str | None) -> float | None:
    """``30s``, ``5m``, ``1h``, ``1h30m``, ``2d``, ``1w`` or a number of seconds → seconds > 0.

    Raises:
        typer.BadParameter: anything else (exit code 2).
    """
    if value is None:
        return None
    text = value.strip().lower().replace(" ", "")
    if _NUMBER.match(text):
        seconds = float(text)
    elif _WHOLE.match(text):
        seconds = sum(float(n) * _UNITS[u] for n, u in _GROUP.findall(text))
    else:
        seconds = 0.0
    if not seconds > 0:
        raise typer.BadParameter(
            f"{value!r} is not a duration; write e.g. 30s, 5m, 1h or 2d (a positive amount)"
        )
    return seconds


def parse_since(value: str | None) -> str | None:
    """``--since``: a duration (``1h``: that long ago) or an ISO-8601 time, passed on as is.

    Raises:
        typer.BadParameter: neither form (exit code 2).
    """
    if value is None:
        return None
    if _ISO_TIME.match(value.strip()):
        return value.strip()
    try:
        parse_duration(value)
    except typer.BadParameter:
        raise typer.BadParameter(
            f"{value!r} is neither a duration (30s, 5m, 1h, 2d) nor an ISO-8601 time "
            "(2026-01-02T03:04:05Z)"
        ) from None
    return value.strip()
