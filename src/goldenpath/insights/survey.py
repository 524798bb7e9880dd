"""Developer satisfaction: the in-portal NPS survey, its answers and results (pure).

The question is the Net Promoter Score one ("How likely are you to recommend the platform to
a colleague?", 0-10) plus free text. NPS as Bain & Company defines it
(https://www.netpromotersystem.com/about/measuring-your-net-promoter-score/): promoters score
9-10, passives 7-8, detractors 0-6; ``NPS = %promoters - %detractors`` (-100 … 100).

Comments are kept as plain text: control characters (except newline and tab) are dropped,
at most :data:`COMMENT_MAX` characters, and anything shaped like a credential (platform
tokens ``gp_…``, GitHub/GitLab/Slack/AWS keys, JWTs, private-key blocks, ``password=…``)
is replaced by ``***`` before it is stored — and the caller may pass a redactor for the
platform's stored secret values as well.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from goldenpath.errors import InvalidInput
from goldenpath.insights.incidents import iso

__all__ = [
    "COMMENT_MAX",
    "SurveyAnswer",
    "check_score",
    "clean_comment",
    "nps",
    "survey_report",
    "week_start",
]

COMMENT_MAX = 2000
MASK = "***"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CREDENTIALS = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|\bgp_[A-Za-z0-9_-]{16,}"
    r"|\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}"
    r"|\bglpat-[A-Za-z0-9_-]{20,}"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
    r"|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|(?i:\b(?:password|passwd|pwd|secret|token|api[_-]?key)\s*[:=]\s*)\S+",
    re.DOTALL,
)


@dataclass(frozen=True)
class SurveyAnswer:
    """One stored answer: ``user`` the entity ref of who answered, ``score`` 0-10,
    ``comment`` cleaned plain text (may be empty), ``created_at`` aware UTC."""

    id: int
    user: str
    score: int
    comment: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """``{id, user, score, comment, createdAt}``."""
        return {
            "id": self.id,
            "user": self.user,
            "score": self.score,
            "comment": self.comment,
            "createdAt": iso(self.created_at),
        }


def check_score(score: object) -> int:
    """``score`` when it is an integer 0-10 (a digit string is accepted, a bool is not).

    Raises:
        InvalidInput: naming the field ``score``.
    """
    value = score
    if isinstance(score, str) and score.strip().isdigit():
        value = int(score.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise InvalidInput(
            f"score {score!r} is not an integer from 0 (not at all likely) to 10 (extremely "
            "likely)",
            details={"field": "score"},
        )
    return value


def clean_comment(comment: object, *, redact: Callable[[str], str] | None = None) -> str:
    """``comment`` as stored: plain text, credentials masked (module docstring), stripped.

    Raises:
        InvalidInput: not a string, or longer than :data:`COMMENT_MAX` characters.
    """
    if comment is None:
        return ""
    if not isinstance(comment, str):
        raise InvalidInput("comment must be text", details={"field": "comment"})
    text = _CONTROL.sub("", comment.replace("\r\n", "\n")).strip()
    if len(text) > COMMENT_MAX:
        raise InvalidInput(
            f"comment has {len(text)} characters; keep it to at most {COMMENT_MAX}",
            details={"field": "comment"},
        )
    text = _CREDENTIALS.sub(_mask, text)
    return redact(text) if redact is not None else text


def _mask(match: re.Match[str]) -> str:
    found = match.group(0)
    key = re.match(r"(?i)(password|passwd|pwd|secret|token|api[_-]?key)\s*[:=]\s*", found)
    return f"{key.group(0)}{MASK}" if key else MASK


def nps(scores: Iterable[int]) -> dict[str, Any]:
    """``{responses, promoters, passives, detractors, nps}``; ``nps`` rounded to 0.1, None
    when there are no responses."""
    counts = [0, 0, 0]
    for score in scores:
        counts[0 if score >= 9 else 1 if score >= 7 else 2] += 1
    total = sum(counts)
    value = None if total == 0 else round(100.0 * (counts[0] - counts[2]) / total, 1)
    return {
        "responses": total,
        "promoters": counts[0],
        "passives": counts[1],
        "detractors": counts[2],
        "nps": value,
    }


def week_start(at: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week holding ``at``."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def survey_report(
    answers: Sequence[SurveyAnswer], *, start: datetime, end: datetime, comments: int = 50
) -> dict[str, Any]:
    """NPS over ``[start, end)`` with a weekly trend and the latest comments.

    Returns ``{window: {start, end, days}, responses, promoters, passives, detractors, nps,
    weekly: [{weekStart, responses, nps}] (every ISO week of the window, oldest first),
    comments: [{score, comment, createdAt}] (newest first, non-empty only, at most
    ``comments``)}``. Comments are shown without who wrote them.
    """
    inside = [a for a in answers if start <= a.created_at < end]
    by_week: dict[datetime, list[int]] = {}
    week = week_start(start)
    while week < end:
        by_week[week] = []
        week += timedelta(days=7)
    for answer in inside:
        by_week.setdefault(week_start(answer.created_at), []).append(answer.score)
    weekly = [
        {"weekStart": iso(week), "responses": len(scores), "nps": nps(scores)["nps"]}
        for week, scores in sorted(by_week.items())
    ]
    latest = sorted(
        (a for a in inside if a.comment), key=lambda a: (a.created_at, a.id), reverse=True
    )
    return {
        "window": {
            "start": iso(start),
            "end": iso(end),
            "days": round((end - start).total_seconds() / 86400, 3),
        },
        **nps(a.score for a in inside),
        "weekly": weekly,
        "comments": [
            {"score": a.score, "comment": a.comment, "createdAt": iso(a.created_at)}
            for a in latest[:comments]
        ],
    }
