"""Presenting insights documents for people: durations, percentages, sparklines, level badges.

Pure functions over the API's JSON (``/api/insights/v1``); shared by ``platform metrics``,
``platform scorecard``, ``platform maturity`` and ``platform incident``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["LEVEL_STYLE", "duration", "level_text", "percent", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"
#: Rich style per DORA level (elite best)
LEVEL_STYLE = {"elite": "bold green", "high": "green", "medium": "yellow", "low": "red"}


def duration(seconds: float | None) -> str:
    """``93784`` → ``1d 2h``, ``3720`` → ``1h 2m``, ``42`` → ``42s``; None → ``—``."""
    if seconds is None:
        return "—"
    total = round(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def percent(rate: float | None) -> str:
    """``0.125`` → ``12.5%``; None → ``—``."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


def sparkline(values: Sequence[float | None]) -> str:
    """One block character per value scaled to the largest (``▁``…``█``); None → a space."""
    known = [v for v in values if v is not None]
    top = max(known, default=0.0)
    if top <= 0:
        return "".join(" " if v is None else _BARS[0] for v in values)
    return "".join(
        " " if v is None else _BARS[min(len(_BARS) - 1, int(v / top * (len(_BARS) - 1) + 0.5))]
        for v in values
    )


def level_text(level: Any) -> str:
    """A DORA level as Rich markup (``[green]high[/]``), ``—`` when None."""
    if not level:
        return "—"
    style = LEVEL_STYLE.get(str(level))
    return f"[{style}]{level}[/]" if style else str(level)
