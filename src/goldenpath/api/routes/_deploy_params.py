"""Parameter parsing shared by the deploy and environment routes: durations and ``since``.

Durations are ``<number><unit>`` groups, units ``s`` (seconds), ``m`` (minutes), ``h``
(hours), ``d`` (days), ``w`` (weeks): ``30s``, ``5m``, ``1h``, ``1h30m``, ``2d``; a bare number
is seconds. ``since`` is a duration (that long ago) or an ISO-8601 time (``2026-01-02T03:04Z``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from goldenpath.deploy.service import MAX_TTL_SECONDS
from goldenpath.errors import InvalidInput

__all__ = ["parse_duration", "parse_since"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_GROUP = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


def _invalid(field: str, value: object, expected: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: {value!r} is not {expected}",
        details={"errors": [{"path": field, "message": f"expected {expected}"}]},
    )


def parse_duration(value: float | int | str, *, field: str) -> float:
    """Seconds in ``value`` (a number of seconds or a duration such as ``24h``), > 0.

    Raises:
        InvalidInput: naming ``field`` and the expected form, for anything else.
    """
    expected = "a duration such as 30s, 5m, 1h or 2d (or a number of seconds)"
    if isinstance(value, bool):
        raise _invalid(field, value, expected)
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower().replace(" ", "")
        if _NUMBER.match(text):
            seconds = float(text)
        elif _WHOLE.match(text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _GROUP.findall(text))
        else:
            raise _invalid(field, value, expected)
    # the environments' TTL bound (3650 days) serves look-backs too: longer durations
    # overflowed the dates computed from them
    if not 0 < seconds <= MAX_TTL_SECONDS:
        raise _invalid(field, value, f"a positive duration up to {MAX_TTL_SECONDS / 86400:.0f}d")
    return seconds


def parse_since(value: str | None, *, now: datetime) -> datetime | None:
    """The aware UTC time ``value`` names: ``now`` minus a duration, or an ISO-8601 time
    (naive times are UTC); None for None or empty.

    Raises:
        InvalidInput: naming ``since`` and both accepted forms.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return now - timedelta(seconds=parse_duration(text, field="since"))
    except InvalidInput:
        pass
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _invalid(
            "since", value, "a duration such as 30s, 5m, 1h or 2d, or an ISO-8601 time"
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
