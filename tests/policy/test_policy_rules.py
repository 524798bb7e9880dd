"""The default bundle on real-shaped inputs: each built-in rule denies (or warns) when its
guardrail is broken and stays quiet when it holds, for the three actions the platform checks.
The bundle's own example cases (``*_test.yaml``) pass too."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from goldenpath.policy.service import PolicyService
from goldenpath.settings import Settings
from goldenpath.store.engine import make_engine


def deploy_input(**service: Any) -> dict[str, Any]:
    """A production deploy that passes every built-in rule, with ``service`` fields replaced."""
    doc: dict[str, Any] = {
        "action": "deploy",
        "environment": {"name": "production", "production": True},
        "service": {
            "name": "hello",
            "owner": "group:default/team-a",
            "tier": "critical",
            "replicas": 2,
            "cpu": "500m",
            "memory": "256Mi",
            "images": ["python:3.12"],
            "slo": {"availability": 99.9},
            "network_policy": True,
            "resources": [{"name": "db", "type": "postgres", "size": "small", "backups": True}],
        },
        "owner": {"ref": "group:default/team-a", "exists": True, "kind": "Group"},
        "actor": "user:default/ann",
    }
    doc["service"].update(service)
    return doc


def in_dev(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["environment"] = {"name": "dev", "production": False}
    return doc


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> PolicyService:
    home = tmp_path_factory.mktemp("home")
    engine = make_engine(f"sqlite:///{home / 'unused.db'}")  # record=False: never connects
    return PolicyService(engine=engine, settings=Settings(home=home))


def rules(policy: PolicyService, action: str, doc: dict[str, Any]) -> tuple[set[str], set[str]]:
    d = policy.check(action, doc, actor="user:default/ann", subject="test", record=False)
    assert d.allowed == (not d.denials)
    return {v.rule for v in d.denials}, {v.rule for v in d.warnings}


def test_a_deploy_that_keeps_every_guardrail_is_allowed(policy: PolicyService) -> None:
    assert rules(policy, "deploy", deploy_input()) == (set(), set())
    assert rules(policy, "deploy", in_dev(deploy_input(replicas=1, cpu=None))) == (set(), set())


@pytest.mark.parametrize(
    ("service", "rule"),
    [
        ({"replicas": 1}, "production-replicas"),
        ({"replicas": None}, "production-replicas"),
        ({"cpu": None}, "production-limits"),
        ({"memory": ""}, "production-limits"),
        ({"images": ["nginx:latest"]}, "image-tag"),
        ({"images": ["registry.local:5000/team/shop"]}, "image-tag"),
        ({"slo": None}, "critical-slo"),
        ({"network_policy": False}, "network-policy"),
        (
            {"resources": [{"name": "db", "type": "postgres", "size": "small", "backups": False}]},
            "production-backups",
        ),
    ],
)
def test_each_production_guardrail_denies_with_a_fix(
    policy: PolicyService, service: dict[str, Any], rule: str
) -> None:
    decision = policy.check(
        "deploy", deploy_input(**service), actor="ann", subject="service hello", record=False
    )
    assert not decision.allowed
    assert [v.rule for v in decision.denials] == [rule]
    denial = decision.denials[0]
    assert denial.severity == "deny" and denial.message and denial.fix
    assert "hello" in denial.message or "db" in denial.message or "image" in denial.message


def test_image_tags_are_denied_in_production_and_only_warned_elsewhere(
    policy: PolicyService,
) -> None:
    doc = deploy_input(images=["nginx:latest", "python:3.12", "redis@sha256:0f4e"])
    prod = policy.check("deploy", doc, actor="ann", subject="s", record=False)
    assert [v.message.split()[1] for v in prod.denials] == ["nginx:latest"]
    dev = policy.check("deploy", in_dev(doc), actor="ann", subject="s", record=False)
    assert dev.allowed and [v.rule for v in dev.warnings] == ["image-tag"]
    assert dev.warnings[0].severity == "warn"
    assert "nginx:1.2.3" in dev.warnings[0].fix


def test_dev_relaxes_replicas_limits_and_backups_but_not_the_rest(policy: PolicyService) -> None:
    relaxed = deploy_input(
        replicas=1,
        cpu=None,
        memory=None,
        resources=[{"name": "db", "type": "postgres", "size": "small", "backups": False}],
    )
    assert rules(policy, "deploy", in_dev(relaxed)) == (set(), set())
    strict = in_dev(deploy_input(slo=None, network_policy=False))
    assert rules(policy, "deploy", strict) == ({"critical-slo", "network-policy"}, set())


@pytest.mark.parametrize(
    ("owner", "message"),
    [
        ({"ref": "group:default/ghosts", "exists": False, "kind": None}, "does not exist"),
        ({"ref": "user:default/ann", "exists": True, "kind": "User"}, "is a User, not a Group"),
        ({}, "names no owner"),
    ],
)
@pytest.mark.parametrize(
    ("action", "production"),
    [
        ("deploy", True),
        ("deploy", False),
        ("provision", True),
        ("provision", False),
        ("scaffold", False),
    ],
)
def test_the_owner_must_be_an_existing_group_refused_in_production_warned_elsewhere(
    policy: PolicyService, action: str, production: bool, owner: dict[str, Any], message: str
) -> None:
    env = {"name": "production" if production else "dev", "production": production}
    docs: dict[str, dict[str, Any]] = {
        "deploy": deploy_input() if production else in_dev(deploy_input()),
        "provision": {
            "environment": env,
            "resource": {"name": "db", "type": "postgres", "size": "small", "backups": True},
        },
        "scaffold": {
            "template": {"ref": "template:default/python-service"},
            "parameters": {"name": "hello"},
        },
    }
    doc = {**docs[action], "owner": owner, "actor": "user:default/ann"}
    decision = policy.check(action, doc, actor="ann", subject="s", record=False)
    found = decision.denials if production else decision.warnings
    assert [v.rule for v in found] == ["owner-group"]
    assert decision.allowed is not production
    assert message in found[0].message
    good = {**doc, "owner": {"ref": "group:default/team-a", "exists": True, "kind": "Group"}}
    again = policy.check(action, good, actor="ann", subject="s", record=False)
    assert again.allowed and not again.warnings


def test_provisioning_a_production_database_needs_backups(policy: PolicyService) -> None:
    doc = {
        "environment": {"name": "production", "production": True},
        "resource": {"name": "orders", "type": "postgres", "size": "medium", "backups": False},
        "owner": {"ref": "group:default/team-a", "exists": True, "kind": "Group"},
        "actor": "user:default/ann",
    }
    decision = policy.check("provision", doc, actor="ann", subject="s", record=False)
    assert [v.rule for v in decision.denials] == ["production-backups"]
    assert "postgres database orders in production" in decision.denials[0].message
    cache = {**doc, "resource": {"name": "c", "type": "redis", "size": "small", "backups": False}}
    assert policy.check("provision", cache, actor="ann", subject="s", record=False).allowed


def test_the_bundles_own_example_cases_pass(policy: PolicyService) -> None:
    report = policy.test()
    failed = [(c.file, c.name, c.expected, c.actual, c.error) for c in report.cases if not c.passed]
    assert failed == []
    assert {c.file for c in report.cases} == {
        "ownership_test.yaml",
        "resources_test.yaml",
        "workload_test.yaml",
    }
    assert report.ok and report.passed >= 20


def test_the_listed_files_name_their_rules(policy: PolicyService) -> None:
    files = {f.name: f for f in policy.policies()}
    assert set(files) == {"ownership.rego", "resources.rego", "workload.rego"}
    assert all(f.source == "builtin" and not f.overrides for f in files.values())
    assert set(files["workload.rego"].rules) == {
        "production-replicas",
        "production-limits",
        "image-tag",
        "critical-slo",
        "network-policy",
    }
    assert files["ownership.rego"].packages == ("goldenpath.ownership",)
