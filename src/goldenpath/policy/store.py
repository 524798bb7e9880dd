"""Recorded policy decisions in the database (the one policy module speaking SQL).

Table ``policy_decisions`` (Alembic revision ``0007_policy``, SQLite and PostgreSQL): one
row per recorded check — action, allowed, the deny and warn violations (``[{rule, message,
fix}]``), the input's SHA-256 digest (never the input itself: it may name private things),
who asked, what was checked and when. Rows are only ever inserted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Engine

from goldenpath.errors import InvalidInput
from goldenpath.policy.model import Action, Decision, Violation, check_action
from goldenpath.store.metadata import metadata

__all__ = ["decisions", "list_decisions", "record_decision"]

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_MAX_LIMIT = 1000

decisions = sa.Table(
    "policy_decisions",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("allowed", sa.Boolean, nullable=False),
    sa.Column("denials", sa.JSON, nullable=False),
    sa.Column("warnings", sa.JSON, nullable=False),
    sa.Column("input_digest", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(500), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_policy_decisions_action", "action", "id"),
    sa.Index("ix_policy_decisions_allowed", "allowed", "id"),
)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _violations(items: Sequence[Violation]) -> list[dict[str, str]]:
    return [{"rule": v.rule, "message": v.message, "fix": v.fix} for v in items]


def _restore(items: Any, severity: str) -> tuple[Violation, ...]:
    return tuple(
        Violation(
            rule=str(item.get("rule", "")),
            message=str(item.get("message", "")),
            fix=str(item.get("fix", "")),
            severity=cast(Any, severity),
        )
        for item in items or ()
    )


def _to_decision(row: Any) -> Decision:
    return Decision(
        id=int(row.id),
        action=cast(Action, row.action),
        allowed=bool(row.allowed),
        denials=_restore(row.denials, "deny"),
        warnings=_restore(row.warnings, "warn"),
        input_digest=row.input_digest,
        actor=row.actor,
        at=_utc(row.at),
        subject=row.subject,
    )


def record_decision(engine: Engine, decision: Decision) -> Decision:
    """Insert ``decision`` and return it with its row ``id`` (actor and subject are cut to
    their column sizes)."""
    with engine.begin() as conn:
        key = conn.execute(
            decisions.insert().values(
                action=decision.action,
                allowed=decision.allowed,
                denials=_violations(decision.denials),
                warnings=_violations(decision.warnings),
                input_digest=decision.input_digest,
                actor=decision.actor[:200],
                subject=decision.subject[:500],
                at=_utc(decision.at),
            )
        ).inserted_primary_key
    assert key is not None
    return Decision(
        id=int(key[0]),
        action=decision.action,
        allowed=decision.allowed,
        denials=decision.denials,
        warnings=decision.warnings,
        input_digest=decision.input_digest,
        actor=decision.actor[:200],
        at=_utc(decision.at),
        subject=decision.subject[:500],
    )


def list_decisions(
    engine: Engine,
    *,
    action: str | None = None,
    allowed: bool | None = None,
    limit: int = 100,
    before: int | None = None,
) -> list[Decision]:
    """Recorded decisions, newest first; ``before`` = ids below it (the next page).

    Raises:
        InvalidInput: unknown action, ``limit`` outside 1-1000.
    """
    if not 1 <= limit <= _MAX_LIMIT:
        raise InvalidInput(f"limit {limit} is out of range; use 1-{_MAX_LIMIT}")
    query = sa.select(decisions).order_by(decisions.c.id.desc()).limit(limit)
    if action is not None:
        query = query.where(decisions.c.action == check_action(action))
    if allowed is not None:
        query = query.where(decisions.c.allowed.is_(allowed))
    if before is not None:
        query = query.where(decisions.c.id < before)
    with engine.connect() as conn:
        return [_to_decision(row) for row in conn.execute(query)]
