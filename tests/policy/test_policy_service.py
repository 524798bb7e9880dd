"""PolicyService behaviour a platform team notices: custom files add and override rules, a
malformed file is rejected with its position while the previous bundle stays active, denials
are enforced with rule and fix, decisions are recorded with a stable digest (SQLite and
PostgreSQL), and migration 0007 matches the table."""

from __future__ import annotations

import os
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from goldenpath.errors import Forbidden, InvalidInput
from goldenpath.policy import service as policy_service
from goldenpath.policy.model import input_digest
from goldenpath.policy.service import PolicyDenied, PolicyService
from goldenpath.settings import PolicySettings, Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine
from goldenpath.store.metadata import metadata

T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)

COST_CAP = """\
package goldenpath.costs

import rego.v1

warn contains v if {
    input.action == "deploy"
    is_number(input.service.replicas)
    input.service.replicas > 4
    v := {
        "rule": "cost-replicas",
        "message": sprintf("%d replicas cost money", [input.service.replicas]),
        "fix": "use 4 or fewer",
    }
}
"""

RELAXED_WORKLOAD = """\
package goldenpath.workload

import rego.v1

# the team's override: one replica is enough, nothing else is checked
deny contains v if {
    input.service.replicas < 1
    v := {"rule": "some-replicas", "message": "no replicas", "fix": "run at least one"}
}
"""


def good_deploy(**service: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "action": "deploy",
        "environment": {"name": "production", "production": True},
        "service": {
            "name": "hello",
            "tier": "standard",
            "replicas": 2,
            "cpu": "500m",
            "memory": "256Mi",
            "images": ["python:3.12"],
            "slo": None,
            "network_policy": True,
            "resources": [],
        },
        "owner": {"ref": "group:default/team-a", "exists": True, "kind": "Group"},
        "actor": "user:default/ann",
    }
    doc["service"].update(service)
    return doc


def make_policy(tmp_path: Path, engine: Engine | None = None, **policy: Any) -> PolicyService:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    settings = Settings(home=home, policy=PolicySettings(**policy))
    engine = engine or make_engine(f"sqlite:///{home / 'unused.db'}")
    return PolicyService(engine=engine, settings=settings, clock=lambda: T0)


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def denied(policy: PolicyService, doc: dict[str, Any]) -> list[str]:
    return [
        v.rule for v in policy.check("deploy", doc, actor="a", subject="s", record=False).denials
    ]


def test_custom_files_add_rules_and_a_same_named_file_overrides_a_builtin(tmp_path: Path) -> None:
    policies = tmp_path / "home" / "policies"  # the default directory: <home>/policies
    write(policies, "costs.rego", COST_CAP)
    write(policies, "workload.rego", RELAXED_WORKLOAD)
    write(policies, "README.md", "not a policy")
    policy = make_policy(tmp_path)
    files = {f.name: f for f in policy.policies()}
    assert set(files) == {"costs.rego", "ownership.rego", "resources.rego", "workload.rego"}
    assert (files["workload.rego"].source, files["workload.rego"].overrides) == ("custom", True)
    assert (files["costs.rego"].source, files["costs.rego"].overrides) == ("custom", False)
    assert files["workload.rego"].rules == ("some-replicas",)
    # the built-in replica rule is gone, the override's rule and the added warning work
    doc = good_deploy(replicas=1, cpu=None)
    assert denied(policy, doc) == []
    assert denied(policy, good_deploy(replicas=0)) == ["some-replicas"]
    many = policy.check("deploy", good_deploy(replicas=6), actor="a", subject="s", record=False)
    assert many.allowed and [w.rule for w in many.warnings] == ["cost-replicas"]
    assert many.warnings[0].message == "6 replicas cost money"


def test_rule_outputs_become_rule_message_and_fix(tmp_path: Path) -> None:
    """Strings ``rule-id: message — fix: how`` (fix optional), objects, and anything else as
    the message of rule ``policy``."""
    write(
        tmp_path / "home" / "policies",
        "shapes.rego",
        """
        package goldenpath.shapes

        import rego.v1

        deny contains "cost-cap: 6 replicas — fix: use 4 — fix: or ask" if input.x == 1
        deny contains "cost-note: no fix given" if input.x == 1
        deny contains "Not An Id: free text" if input.x == 1
        deny contains "plain text without a rule" if input.x == 1
        deny contains {"rule": "obj-rule", "message": "as an object", "fix": "f"} if input.x == 1
        """,
    )
    policy = make_policy(tmp_path)
    decision = policy.check("deploy", {"x": 1}, actor="a", subject="s", record=False)
    found = {(v.rule, v.message, v.fix) for v in decision.denials}
    assert {
        ("cost-cap", "6 replicas", "use 4 — fix: or ask"),
        ("cost-note", "no fix given", ""),
        ("policy", "Not An Id: free text", ""),
        ("policy", "plain text without a rule", ""),
        ("obj-rule", "as an object", "f"),
    } <= found


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        (
            "package goldenpath.broken\n\nimport rego.v1\n\n"
            "deny contains v if {\n    input.x ==\n}\n",
            "broken.rego:6:13",
            "Invalid boolean operator",
        ),
        (
            "package goldenpath.broken\n\ndeny[msg] {\n    msg := input.x\n}\n",
            "broken.rego:3:1",
            "Rego v1",
        ),
        ("deny contains v if { v := 1 }\n", "broken.rego:1:1", "no `package` declaration"),
    ],
)
def test_a_malformed_file_is_rejected_with_its_position_and_the_old_bundle_stays(
    tmp_path: Path, text: str, position: str, message: str
) -> None:
    policies = tmp_path / "policies"
    write(policies, "costs.rego", COST_CAP)
    policy = make_policy(tmp_path, directory=policies)
    before = [f.name for f in policy.policies()]
    write(policies, "broken.rego", text)
    with pytest.raises(InvalidInput) as caught:
        policy.reload()
    assert caught.value.message.startswith(position), caught.value.message
    assert message in caught.value.message
    assert caught.value.details["file"] == "broken.rego"
    assert policy.load_error == caught.value.message
    assert [f.name for f in policy.policies()] == before
    assert denied(policy, good_deploy(replicas=1)) == ["production-replicas"]
    many = policy.check("deploy", good_deploy(replicas=6), actor="a", subject="s", record=False)
    assert [w.rule for w in many.warnings] == ["cost-replicas"]
    (policies / "broken.rego").unlink()
    policy.reload()
    assert policy.load_error is None


def test_a_bundle_that_cannot_evaluate_is_rejected_at_load(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policy = make_policy(tmp_path, directory=policies)
    write(
        policies,
        "loop.rego",
        "package goldenpath.loop\n\nimport rego.v1\n\na if b\n\nb if a\n\ndeny contains 1 if a\n",
    )
    with pytest.raises(InvalidInput, match="fails to evaluate a deploy request: Recursion"):
        policy.reload()
    assert "loop.rego" not in {f.name for f in policy.policies()}
    assert policy.check("deploy", good_deploy(), actor="a", subject="s", record=False).allowed


def test_changed_files_are_picked_up_without_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(policy_service, "RESCAN_INTERVAL", 0.0)
    policies = tmp_path / "policies"
    policy = make_policy(tmp_path, directory=policies)
    many = good_deploy(replicas=6)
    assert policy.check("deploy", many, actor="a", subject="s", record=False).warnings == ()
    path = write(policies, "costs.rego", COST_CAP)
    checked = policy.check("deploy", many, actor="a", subject="s", record=False)
    assert [w.rule for w in checked.warnings] == ["cost-replicas"]
    # a broken edit is refused; the last good bundle keeps deciding
    path.write_text(COST_CAP.replace("if {", "if {{", 1), encoding="utf-8")
    os.utime(path, ns=(1, 1))
    checked = policy.check("deploy", many, actor="a", subject="s", record=False)
    assert [w.rule for w in checked.warnings] == ["cost-replicas"]
    assert policy.load_error is not None and policy.load_error.startswith("costs.rego:")


def test_a_broken_directory_at_start_leaves_the_builtin_bundle_active(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    write(policies, "workload.rego", "package goldenpath.workload\n\ndeny contains v if {\n")
    policy = make_policy(tmp_path, directory=policies)
    assert policy.load_error is not None and policy.load_error.startswith("workload.rego:")
    assert all(f.source == "builtin" for f in policy.policies())
    assert denied(policy, good_deploy(replicas=1)) == ["production-replicas"]


def test_a_policy_failing_at_evaluation_fails_closed(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    write(
        policies,
        "buggy.rego",
        """\
        package goldenpath.buggy

        import rego.v1

        limit := 1 if input.action == "deploy"
        limit := 2 if input.service.name == "hello"

        deny contains v if {
            input.service.replicas > limit
            v := {"rule": "buggy", "message": "x", "fix": "y"}
        }
        """,
    )
    policy = make_policy(tmp_path, directory=policies)
    decision = policy.check("deploy", good_deploy(), actor="a", subject="s", record=False)
    assert not decision.allowed
    assert [v.rule for v in decision.denials] == ["policy-error"]
    assert "platform policy test" in decision.denials[0].fix


ECHO = """\
package goldenpath.naming

import rego.v1

deny contains v if {
    input.action == "scaffold"
    startswith(input.parameters.description, "draft")
    text := input.parameters.description
    v := sprintf("naming: %s is a draft — fix: describe the \\"service\\"", [text])
}

warn contains input.parameters[key] if {
    some key in ["title", "note"]
    input.parameters[key] == "say \\"hi\\"\\\\ there\\n"
}

deny contains v if {
    input.action == "scaffold"
    v := upper(input.parameters.shout)
}
"""


@pytest.mark.parametrize(
    "text",
    ['draft "v2" of C:\\path', "draft\nwith a new line\tand a tab", "draft \x01 é ünï"],
)
def test_input_strings_with_quotes_backslashes_and_control_characters_reach_messages_intact(
    tmp_path: Path, text: str
) -> None:
    """rego-cpp keeps string literals escaped; input strings handed over raw came back out
    unescaped, so its JSON output did not parse (or parsed into other strings)."""
    policies = tmp_path / "policies"
    write(policies, "naming.rego", ECHO.replace("upper(input.parameters.shout)", '"-"'))
    policy = make_policy(tmp_path, directory=policies)
    params = {"description": text, "title": 'say "hi"\\ there\n', "note": "plain"}
    decision = policy.check(
        "scaffold", {"parameters": params}, actor="a", subject="s", record=False
    )
    naming = [v for v in decision.denials if v.rule == "naming"]
    assert [(v.message, v.fix) for v in naming] == [
        (f"{text} is a draft", 'describe the "service"')
    ]
    # an input string equals the Rego literal with the same characters
    assert [v.message for v in decision.warnings if v.rule == "policy"] == ['say "hi"\\ there\n']


def test_output_that_is_not_json_fails_closed(tmp_path: Path) -> None:
    """rego-cpp's upper() also upper-cases escape sequences (\\n -> \\N): its output does
    not parse, and the decision is a policy-error denial, not a crash."""
    policies = tmp_path / "policies"
    write(policies, "naming.rego", ECHO)
    policy = make_policy(tmp_path, directory=policies)
    params = {"description": "fine", "shout": "line one\nline two"}
    decision = policy.check(
        "scaffold", {"parameters": params}, actor="a", subject="s", record=False
    )
    assert [v.rule for v in decision.denials] == ["policy-error"]
    assert "not valid JSON" in decision.denials[0].message
    assert "line one" not in decision.denials[0].message  # no input value in the error


def test_enforce_refuses_with_each_rule_and_fix(tmp_path: Path, engine: Engine) -> None:
    policy = make_policy(tmp_path, engine)
    doc = good_deploy(replicas=1, memory=None)
    with pytest.raises(PolicyDenied) as caught:
        policy.enforce(
            "deploy", doc, actor="user:default/ann", subject="service hello in production"
        )
    error = caught.value
    assert isinstance(error, Forbidden) and error.status == 403 and error.code == "policy_denied"
    assert error.message.startswith("deploy of service hello in production denied by policy: ")
    assert "production-replicas: service hello runs 1 replica(s) in production" in error.message
    assert "— fix: set `replicas: 2`" in error.message
    assert "production-limits: service hello has no memory limit" in error.message
    assert {d["rule"] for d in error.details["denials"]} == {
        "production-replicas",
        "production-limits",
    }
    assert error.details["decisionId"] == error.decision.id is not None
    ok = policy.enforce(
        "deploy", in_dev_latest(), actor="user:default/ann", subject="service hello in dev"
    )
    assert ok.allowed and [w.rule for w in ok.warnings] == ["image-tag"] and ok.id is not None


def in_dev_latest() -> dict[str, Any]:
    doc = good_deploy(images=["nginx:latest"])
    doc["environment"] = {"name": "dev", "production": False}
    return doc


def test_decisions_are_recorded_with_a_stable_digest(tmp_path: Path, engine: Engine) -> None:
    policy = make_policy(tmp_path, engine)
    doc = good_deploy(replicas=1)
    first = policy.check("deploy", doc, actor="user:default/ann", subject="service hello")
    reordered = dict(reversed(list(doc.items())))
    second = policy.check("deploy", reordered, actor="user:default/bob", subject="service hello")
    assert first.input_digest == second.input_digest == input_digest(doc)
    assert len(first.input_digest) == 64
    allowed = policy.check(
        "provision", {"resource": {}, "owner": good_deploy()["owner"]}, actor="c", subject="db"
    )
    dry = policy.check("deploy", doc, actor="d", subject="dry", record=False)
    assert dry.id is None
    listed = policy.decisions()
    assert [d.id for d in listed] == [allowed.id, second.id, first.id]
    assert listed[2] == first and listed[2].at == T0
    assert [d.subject for d in policy.decisions(action="deploy")] == ["service hello"] * 2
    assert [d.id for d in policy.decisions(allowed=True)] == [allowed.id]
    assert [d.id for d in policy.decisions(allowed=False, limit=1)] == [second.id]
    assert [d.id for d in policy.decisions(before=second.id)] == [first.id]
    assert (
        listed[1].denials[0].rule == "production-replicas" and listed[1].actor == "user:default/bob"
    )
    with pytest.raises(InvalidInput, match="action 'delete' is unknown"):
        policy.decisions(action="delete")


def test_disabled_policy_allows_and_records_nothing(tmp_path: Path, engine: Engine) -> None:
    policy = make_policy(tmp_path, engine, enabled=False)
    decision = policy.enforce("deploy", good_deploy(replicas=0), actor="a", subject="s")
    assert decision.allowed and decision.id is None
    assert policy.decisions() == []


def test_bad_requests_are_refused(tmp_path: Path) -> None:
    policy = make_policy(tmp_path)
    with pytest.raises(InvalidInput, match="action 'destroy' is unknown; use one of deploy"):
        policy.check("destroy", {}, actor="a", subject="s")
    with pytest.raises(InvalidInput, match="not plain JSON"):
        policy.check("deploy", {"x": float("nan")}, actor="a", subject="s", record=False)
    with pytest.raises(InvalidInput, match=r"beyond 1\.8e308"):
        policy.check("scaffold", {"p": {"n": 10**400}}, actor="a", subject="s", record=False)
    with pytest.raises(InvalidInput, match="lone UTF-16 surrogate"):
        policy.check("scaffold", {"p": {"d": "a\ud800"}}, actor="a", subject="s", record=False)


def test_a_case_whose_input_is_not_unicode_fails_and_the_other_cases_run(tmp_path: Path) -> None:
    """PyYAML reads ``"\\ud800"`` into text no encoder takes; before, the run crashed."""
    cases = (
        "cases:\n"
        '  - name: not text\n    input: {action: scaffold, parameters: {d: "\\ud800"}}\n'
        "    expect: {}\n"
        "  - name: fine\n    input: {action: scaffold, owner: {ref: group:default/a,\n"
        "            exists: true, kind: Group}}\n    expect: {}\n"
    )
    report = make_policy(tmp_path).test(files={"texts_test.yaml": cases})
    mine = {c.name: c for c in report.cases if c.file == "texts_test.yaml"}
    assert mine["fine"].passed and not mine["not text"].passed
    assert "lone UTF-16 surrogate" in (mine["not text"].error or "")


def _policy_diffs(engine: Engine) -> list[object]:
    def only_policy(name: str | None, type_: str, parent: object) -> bool:
        return type_ != "table" or bool(name and name.startswith("policy_"))

    def only_policy_objects(
        obj: object, name: str | None, type_: str, reflected: bool, other: object
    ) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return str(getattr(table, "name", None) or name or "").startswith("policy_")

    import goldenpath.policy.store  # noqa: F401  (declares the table on metadata)

    with engine.connect() as conn:
        opts = {"include_name": only_policy, "include_object": only_policy_objects}
        return list(compare_metadata(MigrationContext.configure(conn, opts=opts), metadata))


def test_migration_0007_matches_the_table_and_round_trips(engine: Engine) -> None:
    assert "policy_decisions" in sa.inspect(engine).get_table_names()
    assert _policy_diffs(engine) == []
    migrate.downgrade(engine, "0006_secrets")
    assert "policy_decisions" not in sa.inspect(engine).get_table_names()
    migrate.upgrade(engine)
    assert "policy_decisions" in sa.inspect(engine).get_table_names()
    assert _policy_diffs(engine) == []
