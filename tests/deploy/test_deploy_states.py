"""The deployment transition table: every (from, to) pair, terminal states, unknown states."""

from __future__ import annotations

import pytest

from goldenpath.deploy.records import STATES, TERMINAL
from goldenpath.deploy.states import ALLOWED, can_transition, check_transition
from goldenpath.errors import Conflict, InvalidInput

#: the table of deploy_contract.md "States", written out independently of ALLOWED
EXPECTED = {
    ("pending", "building"),
    ("pending", "failed"),
    ("pending", "aborted"),
    ("building", "progressing"),
    ("building", "failed"),
    ("building", "aborted"),
    ("progressing", "paused"),
    ("progressing", "succeeded"),
    ("progressing", "failed"),
    ("progressing", "aborted"),
    ("paused", "progressing"),
    ("paused", "succeeded"),
    ("paused", "failed"),
    ("paused", "aborted"),
}


@pytest.mark.parametrize("current", STATES)
@pytest.mark.parametrize("target", STATES)
def test_every_pair_follows_the_table(current: str, target: str) -> None:
    if (current, target) in EXPECTED:
        check_transition(current, target)
        assert can_transition(current, target)
        return
    assert not can_transition(current, target)
    with pytest.raises(Conflict) as caught:
        check_transition(current, target)
    message = caught.value.message
    assert f"a {current} deployment cannot become {target}" in message
    allowed = sorted(t for f, t in EXPECTED if f == current)
    assert caught.value.details["allowed"] == allowed
    for state in allowed:
        assert state in message


def test_terminal_states_have_no_exit_and_say_so() -> None:
    assert {s for s, targets in ALLOWED.items() if not targets} == TERMINAL
    assert {"succeeded", "failed", "aborted"} == TERMINAL
    assert set(ALLOWED) == set(STATES)
    with pytest.raises(Conflict, match="none: succeeded is terminal"):
        check_transition("succeeded", "progressing")


@pytest.mark.parametrize(("current", "target"), [("running", "failed"), ("pending", "done")])
def test_unknown_states_are_invalid_input_listing_the_real_ones(current: str, target: str) -> None:
    with pytest.raises(InvalidInput, match=r"unknown deployment state .*pending, building"):
        check_transition(current, target)
    assert not can_transition(current, target)
