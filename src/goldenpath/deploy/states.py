"""The deployment state machine as data: one transition table, one check.

Every state change of a deployment goes through :func:`check_transition` (the store applies
it as a compare-and-set on the old state, so two writers never both move one deployment)::

    pending     → building | failed | aborted
    building    → progressing | failed | aborted
    progressing → paused | succeeded | failed | aborted
    paused      → progressing | succeeded | failed | aborted
    succeeded, failed, aborted → nothing (terminal)

States follow Argo Rollouts' phases (Progressing, Paused, Healthy → ``succeeded``,
Degraded → ``failed``, aborted) with ``pending``/``building`` in front for the local build.
"""

from __future__ import annotations

from collections.abc import Mapping

from goldenpath.deploy.records import STATES, TERMINAL
from goldenpath.errors import Conflict, InvalidInput

__all__ = ["ALLOWED", "TERMINAL", "can_transition", "check_transition"]

#: allowed state changes (FROM → set of TO); everything else is a Conflict
ALLOWED: Mapping[str, frozenset[str]] = {
    "pending": frozenset({"building", "failed", "aborted"}),
    "building": frozenset({"progressing", "failed", "aborted"}),
    "progressing": frozenset({"paused", "succeeded", "failed", "aborted"}),
    "paused": frozenset({"progressing", "succeeded", "failed", "aborted"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
    "aborted": frozenset(),
}


def _known(state: str, role: str) -> None:
    if state not in ALLOWED:
        raise InvalidInput(
            f"unknown deployment state {state!r} ({role}); use one of {', '.join(STATES)}",
            details={"field": role, "value": state},
        )


def can_transition(from_state: str, to_state: str) -> bool:
    """True when the table allows ``from_state → to_state`` (unknown states: False)."""
    return to_state in ALLOWED.get(from_state, frozenset())


def check_transition(from_state: str, to_state: str) -> None:
    """Refuse a state change the table does not allow.

    Raises:
        InvalidInput: either state is not a deployment state.
        Conflict: ``from_state → to_state`` is not in :data:`ALLOWED`; the message names both
            states and the ones ``from_state`` may move to (``none: it is terminal``).
    """
    _known(from_state, "from")
    _known(to_state, "to")
    allowed = ALLOWED[from_state]
    if to_state in allowed:
        return
    options = ", ".join(s for s in STATES if s in allowed) or f"none: {from_state} is terminal"
    raise Conflict(
        f"a {from_state} deployment cannot become {to_state}; allowed from {from_state}: {options}",
        details={"from": from_state, "to": to_state, "allowed": sorted(allowed)},
    )
