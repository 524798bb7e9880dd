"""Policy decisions as data: actions, violations, decisions, policy files, test reports.

Pure dataclasses and helpers, no IO. A :class:`Decision` is what one check of a deploy,
provision or scaffold request against the Rego bundle produced: the ``deny`` violations
(the request is refused) and the ``warn`` ones (it goes ahead, the caller shows them).
``input_digest`` is the SHA-256 of the input's canonical JSON (keys sorted, no spaces,
UTF-8), so the same input always has the same digest whatever the key order.

Wire shapes (``to_dict``) are camelCase JSON with ISO-8601 UTC times (``…Z``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from goldenpath.errors import Forbidden, InvalidInput

__all__ = [
    "ACTIONS",
    "Action",
    "CaseResult",
    "Decision",
    "PolicyDenied",
    "PolicyFile",
    "Severity",
    "TestReport",
    "Violation",
    "canonical_json",
    "check_action",
    "input_digest",
    "iso",
]

Action = Literal["deploy", "provision", "scaffold"]
Severity = Literal["deny", "warn"]

#: the requests the platform checks, in the order of the main job
ACTIONS: tuple[str, ...] = ("deploy", "provision", "scaffold")


def iso(value: datetime | None) -> str | None:
    """``value`` as ISO-8601 with a ``Z`` suffix for UTC, or None."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def check_action(action: str) -> Action:
    """``action`` when it is one of :data:`ACTIONS` (InvalidInput listing them otherwise)."""
    if action not in ACTIONS:
        raise InvalidInput(
            f"action {action!r} is unknown; use one of {', '.join(ACTIONS)}",
            details={"field": "action", "value": action, "valid": list(ACTIONS)},
        )
    return cast(Action, action)


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON: sorted keys, no whitespace, non-ASCII kept as is.

    Raises:
        InvalidInput: the value is not plain JSON (NaN, sets, objects…).
    """
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as e:
        raise InvalidInput(
            f"the policy input is not plain JSON ({e}); pass dicts, lists, strings, finite "
            "numbers, booleans and null only",
            details={"field": "input"},
        ) from e


#: why a document holding a lone UTF-16 surrogate (``"\\ud800"``) is refused
NOT_UNICODE = (
    "the policy input holds text that is not Unicode (a lone UTF-16 surrogate such as "
    "\\ud800); pass valid text"
)


def input_digest(value: Mapping[str, Any]) -> str:
    """Hex SHA-256 of :func:`canonical_json` of ``value`` (64 characters).

    Raises:
        InvalidInput: as :func:`canonical_json`, or the value holds a lone surrogate.
    """
    try:
        return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
    except UnicodeEncodeError:
        raise InvalidInput(NOT_UNICODE, details={"field": "input"}) from None


@dataclass(frozen=True, slots=True)
class Violation:
    """One finding of a rule: its id (``production-replicas``), what is wrong, how to fix it,
    and whether it refuses the request (``deny``) or only warns (``warn``)."""

    rule: str
    message: str
    fix: str
    severity: Severity

    def to_dict(self) -> dict[str, Any]:
        """``{rule, message, fix, severity}``."""
        return {
            "rule": self.rule,
            "message": self.message,
            "fix": self.fix,
            "severity": self.severity,
        }

    def line(self) -> str:
        """``rule: message — fix: …`` (one line for errors and CLI output)."""
        fix = f" — fix: {self.fix}" if self.fix else ""
        return f"{self.rule}: {self.message}{fix}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one policy check.

    ``id`` is the ``policy_decisions`` row id (None when not recorded); ``allowed`` is True
    when there are no denials; ``subject`` names what was checked (``service hello in
    production``); ``at`` is aware UTC.
    """

    id: int | None
    action: Action
    allowed: bool
    denials: tuple[Violation, ...]
    warnings: tuple[Violation, ...]
    input_digest: str
    actor: str
    at: datetime
    subject: str

    def to_dict(self) -> dict[str, Any]:
        """``{id, action, allowed, denials: [Violation], warnings: [Violation], inputDigest,
        actor, at, subject}``."""
        return {
            "id": self.id,
            "action": self.action,
            "allowed": self.allowed,
            "denials": [v.to_dict() for v in self.denials],
            "warnings": [v.to_dict() for v in self.warnings],
            "inputDigest": self.input_digest,
            "actor": self.actor,
            "at": iso(self.at),
            "subject": self.subject,
        }

    def summary(self) -> str:
        """The denials (then warnings), one ``rule: message — fix: …`` per line."""
        return "\n".join(v.line() for v in (*self.denials, *self.warnings))


class PolicyDenied(Forbidden):
    """A policy refused the request (HTTP 403, problem type ``policy_denied``).

    ``details``: ``{decisionId, action, subject, denials: [Violation], warnings: [Violation]}``.
    Nothing was changed: requests are checked before any work starts.
    """

    title = "Denied by policy"
    code = "policy_denied"

    def __init__(self, decision: Decision) -> None:
        listed = "; ".join(v.line() for v in decision.denials)
        super().__init__(
            f"{decision.action} of {decision.subject} denied by policy: {listed}",
            details={
                "decisionId": decision.id,
                "action": decision.action,
                "subject": decision.subject,
                "denials": [v.to_dict() for v in decision.denials],
                "warnings": [v.to_dict() for v in decision.warnings],
            },
        )
        self.decision = decision


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """One ``.rego`` file of the active bundle.

    ``source`` is ``builtin`` (shipped in the package) or ``custom`` (from the policy
    directory); ``overrides`` is True for a custom file that replaces a built-in one of the
    same name; ``packages`` the Rego packages it declares; ``rules`` the rule ids it can
    yield (the ``"rule": "…"`` literals found in it).
    """

    name: str
    source: Literal["builtin", "custom"]
    path: str
    packages: tuple[str, ...]
    rules: tuple[str, ...]
    overrides: bool = False
    sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        """``{name, source, path, packages, rules, overrides, sha256}``."""
        return {
            "name": self.name,
            "source": self.source,
            "path": self.path,
            "packages": list(self.packages),
            "rules": list(self.rules),
            "overrides": self.overrides,
            "sha256": self.sha256,
        }


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One example input of ``platform policy test`` and what the bundle made of it.

    ``expected``/``actual`` are ``{"deny": [rule…], "warn": [rule…]}`` (sorted, repeated
    rule ids kept once); ``error`` is set when the case itself is malformed.
    """

    file: str
    name: str
    passed: bool
    expected: dict[str, list[str]]
    actual: dict[str, list[str]]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{file, name, passed, expected, actual, error}``."""
        return {
            "file": self.file,
            "name": self.name,
            "passed": self.passed,
            "expected": self.expected,
            "actual": self.actual,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class TestReport:
    """The result of ``platform policy test``: one :class:`CaseResult` per case, and the
    policy files that were tested."""

    __test__ = False  # not a pytest test class

    cases: tuple[CaseResult, ...]
    files: tuple[PolicyFile, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> int:
        """Number of passing cases."""
        return sum(1 for c in self.cases if c.passed)

    @property
    def failed(self) -> int:
        """Number of failing cases."""
        return len(self.cases) - self.passed

    @property
    def ok(self) -> bool:
        """True when there is at least one case and every case passed."""
        return bool(self.cases) and self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        """``{ok, passed, failed, cases: [CaseResult], files: [PolicyFile]}``."""
        return {
            "ok": self.ok,
            "passed": self.passed,
            "failed": self.failed,
            "cases": [c.to_dict() for c in self.cases],
            "files": [f.to_dict() for f in self.files],
        }
