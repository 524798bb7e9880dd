"""Scorecards: the rule language, scheduled rules, cumulative levels, file errors, and facts
gathered from a real catalog, real deploy records, policy decisions and scaffolder tasks."""

from __future__ import annotations

import hashlib
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from goldenpath.auth import store as auth_store
from goldenpath.auth.models import Role, TokenRead
from goldenpath.catalog.service import CatalogService
from goldenpath.deploy import store as deploy_store
from goldenpath.errors import InvalidInput, NotFound
from goldenpath.insights import _rules
from goldenpath.insights.facts import FactCollector
from goldenpath.insights.platform_metrics import platform_metrics
from goldenpath.insights.scorecards import (
    BUILTIN_DIR,
    ScorecardService,
    load_scorecards,
    parse_scorecard,
    rule_effective,
    score,
)
from goldenpath.policy import store as policy_store
from goldenpath.policy.model import Decision, Violation
from goldenpath.scaffolder import taskstore
from goldenpath.scaffolder.tasks import TaskRecord, TaskStatus
from goldenpath.settings import Settings

SAMPLE_CATALOG = Path(__file__).resolve().parents[1] / "api" / "data" / "catalog"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

DOC: dict[str, Any] = {
    "kind": "Component",
    "metadata": {
        "name": "checkout",
        "description": "Takes the money",
        "annotations": {"backstage.io/techdocs-ref": "dir:.", "pagerduty.com/service-id": "P1"},
        "links": [{"url": "https://x/rb", "title": "Runbook"}, {"url": "https://x/d"}],
        "tags": ["python", "payments"],
    },
    "spec": {"type": "service", "owner": "team-a"},
    "deploy": {"daysSinceLast": 3.5, "lastSuccessAt": "2026-12-01T00:00:00+00:00"},
    "template": {"latest": False},
}


@pytest.mark.parametrize(
    ("check", "passed"),
    [
        ({"fact": "spec.type", "op": "eq", "value": "service"}, True),
        ({"fact": "spec.type", "op": "eq", "value": "website"}, False),
        ({"fact": "spec.type", "op": "ne", "value": "website"}, True),
        ({"fact": "deploy.daysSinceLast", "op": "lte", "value": 30}, True),
        ({"fact": "deploy.daysSinceLast", "op": "gt", "value": 30}, False),
        ({"fact": "deploy.daysSinceLast", "op": "gte", "value": 3.5}, True),
        ({"fact": "deploy.daysSinceLast", "op": "lt", "value": 3.5}, False),
        ({"fact": "deploy.lastSuccessAt", "op": "gte", "value": "2026-11-30"}, True),
        ({"fact": "deploy.lastSuccessAt", "op": "lt", "value": "2026-11-30"}, False),
        ({"fact": "metadata.title", "op": "gt", "value": 1}, False),  # missing: fails
        ({"fact": "metadata.description", "op": "exists"}, True),
        ({"fact": "metadata.title", "op": "exists"}, False),
        ({"fact": "metadata.title", "op": "exists", "value": False}, True),
        ({"fact": "spec.type", "op": "in", "value": ["service", "website"]}, True),
        ({"fact": "spec.type", "op": "in", "value": ["library"]}, False),
        ({"fact": "metadata.description", "op": "matches", "value": "(?i)money"}, True),
        ({"fact": "metadata.description", "op": "matches", "value": "^money"}, False),
        ({"fact": "metadata.tags", "op": "contains", "value": "payments"}, True),
        ({"fact": "metadata.tags", "op": "contains", "value": "go"}, False),
        ({"fact": "metadata.description", "op": "contains", "value": "money"}, True),
        (
            {"fact": "metadata.annotations", "op": "contains", "value": "pagerduty.com/service-id"},
            True,
        ),
        ({"fact": "template.latest", "op": "eq", "value": True}, False),
        # annotation keys containing dots resolve (longest key wins)
        (
            {
                "fact": "metadata.annotations.backstage.io/techdocs-ref",
                "op": "eq",
                "value": "dir:.",
            },
            True,
        ),
        ({"fact": "metadata.links.0.title", "op": "eq", "value": "Runbook"}, True),
        (
            {
                "fact": "metadata.links",
                "op": "any",
                "where": {"field": "title", "op": "matches", "value": "(?i)runbook"},
            },
            True,
        ),
        (
            {"fact": "metadata.links", "op": "all", "where": {"field": "title", "op": "exists"}},
            False,
        ),
        (
            {
                "fact": "metadata.links",
                "op": "all",
                "where": {"field": "url", "op": "matches", "value": "^https://"},
            },
            True,
        ),
        ({"fact": "metadata.tags", "op": "any", "where": {"op": "eq", "value": "python"}}, True),
        ({"fact": "spec.missing", "op": "all", "where": {"op": "exists"}}, False),
        ({"fact": "spec.missing", "op": "any"}, False),
        (
            {
                "allOf": [
                    {"fact": "spec.type", "value": "service"},
                    {"fact": "oncall", "op": "exists"},
                ]
            },
            False,
        ),
        (
            {
                "anyOf": [
                    {"fact": "spec.type", "value": "website"},
                    {"fact": "spec.owner", "value": "team-a"},
                ]
            },
            True,
        ),
    ],
)
def test_rule_language_operators(check: dict[str, Any], passed: bool) -> None:
    ok, message = _rules.evaluate(_rules.parse_check(check), DOC)
    assert ok is passed, message
    assert message


def test_a_failing_check_says_what_it_found() -> None:
    check = _rules.parse_check({"fact": "deploy.daysSinceLast", "op": "lte", "value": 1})
    assert _rules.evaluate(check, DOC) == (False, "deploy.daysSinceLast is 3.5, expected <= 1")


def _card(rules: str, levels: str = "[Bronze, Silver, Gold]") -> str:
    return textwrap.dedent(
        """\
        apiVersion: goldenpath.dev/v1
        kind: Scorecard
        metadata: {name: readiness, title: Readiness}
        spec:
          filter: {kind: component, spec.type: service}
          levels: %s
          rules:
        %s"""
    ) % (levels, textwrap.indent(textwrap.dedent(rules), "    "))


def _parse(text: str) -> Any:
    import yaml

    return parse_scorecard(yaml.safe_load(text), "cards/readiness.yaml")


LEVELS = """\
- id: has-owner
  title: Has an owner
  level: Bronze
  check: {fact: spec.owner, op: exists}
- id: has-oncall
  title: Has on-call
  level: Silver
  check: {fact: oncall, op: exists}
- id: recent
  title: Deployed in 30 days
  level: Gold
  check: {fact: deploy.daysSinceLast, op: lte, value: 30}
"""


def test_levels_are_cumulative_and_the_highest_held_wins() -> None:
    card = _parse(_card(LEVELS))
    full = {**DOC, "oncall": "pagerduty"}
    assert score(card, "component:default/checkout", full, NOW).level == "Gold"
    # passing the Gold and Silver rules but failing Bronze holds no level at all
    no_owner = {**full, "spec": {"type": "service"}}
    result = score(card, "component:default/checkout", no_owner, NOW)
    assert result.level is None
    assert result.next_level == "Bronze"
    assert result.missing == ("Has an owner",)
    body = result.to_dict()
    assert [(lv["name"], lv["passed"], lv["held"]) for lv in body["levels"]] == [
        ("Bronze", False, False),
        ("Silver", True, False),
        ("Gold", True, False),
    ]
    # failing only Silver: Bronze held, Silver next, Gold passes its own rule but not held
    result = score(card, "component:default/checkout", DOC, NOW)
    assert (result.level, result.next_level, result.missing) == (
        "Bronze",
        "Silver",
        ("Has on-call",),
    )


def test_a_scheduled_rule_is_shown_but_enforced_only_from_its_date() -> None:
    rules = LEVELS + (
        "- id: latest-template\n  title: On the latest template\n  level: Bronze\n"
        "  effectiveFrom: 2027-01-01\n  check: {fact: template.latest, op: eq, value: true}\n"
    )
    card = _parse(_card(rules))
    rule = next(r for r in card.rules if r.id == "latest-template")
    before, after = datetime(2026, 12, 31, 23, 59, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    assert not rule_effective(rule, before) and rule_effective(rule, after)
    doc = {**DOC, "oncall": "pagerduty"}
    early = score(card, "component:default/checkout", doc, before)
    assert early.level == "Gold"
    shown = next(r for r in early.levels[0].rules if r.id == "latest-template")
    assert shown.to_dict() == {
        "id": "latest-template",
        "title": "On the latest template",
        "passed": False,
        "message": "template.latest is False, expected True",
        "effectiveFrom": "2027-01-01",
        "enforced": False,
    }
    late = score(card, "component:default/checkout", doc, after)
    assert (late.level, late.next_level, late.missing) == (
        None,
        "Bronze",
        ("On the latest template",),
    )


@pytest.mark.parametrize(
    ("rules", "levels", "expected"),
    [
        (
            "- id: r1\n  level: Bronze\n  check: {fact: spec.owner, op: equals, value: x}\n",
            "[Bronze]",
            "cards/readiness.yaml: scorecard readiness: rule r1: check.op: check.op 'equals' is "
            "unknown; use one of eq, ne",
        ),
        (
            "- id: r1\n  level: Platinum\n  check: {fact: spec.owner}\n",
            "[Bronze]",
            "cards/readiness.yaml: scorecard readiness: rule r1: level: 'Platinum' is not one of "
            "spec.levels (Bronze); use one of them",
        ),
        (
            "- id: r1\n  level: Bronze\n  check: {fact: x, op: matches, value: '(unclosed'}\n",
            "[Bronze]",
            "cards/readiness.yaml: scorecard readiness: rule r1: check.value: check.value is not "
            "a valid regular expression",
        ),
        (
            "- id: r1\n  level: Bronze\n  check: {op: exists}\n",
            "[Bronze]",
            "cards/readiness.yaml: scorecard readiness: rule r1: check.fact: check.fact is missing",
        ),
        (
            "- id: r1\n  level: Bronze\n  check: {fact: x, op: in, value: a}\n",
            "[Bronze]",
            "rule r1: check.value: check.value must be a list for op in",
        ),
        (
            "- id: r1\n  level: Bronze\n  effectiveFrom: next year\n  check: {fact: x}\n",
            "[Bronze]",
            "rule r1.effectiveFrom: 'next year' is not a date; write it as YYYY-MM-DD",
        ),
        (
            "- id: r1\n  level: Bronze\n  check: {fact: x}\n- id: r1\n  level: Bronze\n"
            "  check: {fact: y}\n",
            "[Bronze]",
            "rule r1: the id is used twice",
        ),
        (
            "- id: r1\n  level: Bronze\n  check: {fact: x}\n",
            "[]",
            "spec.levels: must be a non-empty",
        ),
        (
            "- id: r1\n  level: Bronze\n  check: {fact: x, op: any, where: {field: t, op: nope}}\n",
            "[Bronze]",
            "rule r1: check.where[0].op: check.where[0].op 'nope' is unknown",
        ),
    ],
)
def test_bad_scorecards_name_the_file_rule_field_and_fix(
    rules: str, levels: str, expected: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        _parse(_card(rules, levels))
    assert expected in caught.value.message


def test_invalid_yaml_and_overrides_from_the_home_directory(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.yaml").write_text("apiVersion: [unclosed\n")
    with pytest.raises(InvalidInput, match=r"bad\.yaml: not valid YAML"):
        load_scorecards([BUILTIN_DIR, broken])
    mine = tmp_path / "mine"
    mine.mkdir()
    text = _card(LEVELS).replace(
        "name: readiness, title: Readiness", "name: production-readiness, title: Ours"
    )
    (mine / "prod.yaml").write_text(text)
    builtin = {c.name: c for c in load_scorecards([BUILTIN_DIR])}
    assert builtin["production-readiness"].levels == ("Bronze", "Silver", "Gold")
    merged = {c.name: c for c in load_scorecards([BUILTIN_DIR, mine])}
    assert merged["production-readiness"].title == "Ours"
    assert merged["production-readiness"].source == str(mine / "prod.yaml")


# --- facts from real parts ------------------------------------------------------------------

EXTRA = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: orders
  description: Keeps the orders.
  annotations:
    backstage.io/techdocs-ref: dir:.
    goldenpath.dev/golden-path: python-service
    opsgenie.com/team: shop
    goldenpath.dev/slo: "99.5"
  links:
    - url: https://wiki.example/orders/runbook
      title: Orders runbook
spec:
  type: service
  lifecycle: production
  owner: team-a
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: stray
spec:
  type: service
  lifecycle: experimental
  owner: ghost-team
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: python-service
  annotations:
    goldenpath.dev/template-version: "v2"
spec:
  type: service
  steps: []
"""


def _deploy(
    engine: Engine, service: str, env: str, at: datetime, state: str = "succeeded", **workload: Any
) -> None:
    found = deploy_store.create_deployment(
        engine,
        service=service,
        environment=env,
        kind="deploy",
        strategy="rolling",
        repo=None,
        ref=None,
        workload=workload,
        steps=[],
        triggered_by="user:default/jane",
        now=at - timedelta(minutes=5),
    )
    if state == "failed":
        deploy_store.transition(engine, found.id, "failed", actor="t", reason="x", now=at)
        return
    for step in ("building", "progressing", "succeeded"):
        deploy_store.transition(engine, found.id, step, actor="t", reason=step, now=at)


def _decide(engine: Engine, service: str, allowed: bool, at: datetime, rule: str = "r") -> None:
    denials = () if allowed else (Violation(rule=rule, message="m", fix="f", severity="deny"),)
    policy_store.record_decision(
        engine,
        Decision(
            id=None,
            action="deploy",
            allowed=allowed,
            denials=denials,
            warnings=(),
            input_digest="0" * 64,
            actor="user:default/jane",
            at=at,
            subject=f"service {service} in production",
        ),
    )


def _scaffolded(engine: Engine, name: str, version: str, at: datetime) -> None:
    task_id = str(uuid.uuid4())
    spec = {
        "parameters": {"name": name, "owner": "team-a"},
        "templateInfo": {
            "entityRef": "template:default/python-service",
            "entity": {"metadata": {"annotations": {"goldenpath.dev/template-version": version}}},
        },
        "dryRun": False,
    }
    taskstore.insert_task(
        engine,
        TaskRecord(
            id=task_id,
            spec=spec,
            status=TaskStatus.PROCESSING,
            created_by="user:default/jane",
            created_at=at - timedelta(minutes=1),
        ),
    )
    taskstore.finish(
        engine,
        task_id,
        from_status=TaskStatus.PROCESSING,
        to_status=TaskStatus.COMPLETED,
        now=at,
        completion={"message": "done"},
    )


@pytest.fixture
def world(engine: Engine, settings: Settings, tmp_path: Path) -> dict[str, Any]:
    """The sample API catalog + orders/stray/a template, deployments, decisions, a task."""
    created = NOW - timedelta(days=20)
    catalog = CatalogService(engine=engine, settings=settings, clock=lambda: created)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "catalog-info.yaml").write_text(EXTRA)
    catalog.register_location(type="file", target=str(SAMPLE_CATALOG))
    catalog.register_location(type="file", target=str(extra))
    deploy_store.ensure_environments(engine, ["dev", "production"], now=created)
    _deploy(engine, "orders", "production", NOW - timedelta(days=2))
    _deploy(engine, "checkout", "production", NOW - timedelta(days=18), monitoring={"slo": 99.9})
    _deploy(engine, "payments", "production", NOW - timedelta(days=10), state="failed")
    _deploy(engine, "payments", "production", NOW - timedelta(days=9))
    _deploy(engine, "payments", "dev", NOW - timedelta(days=1))
    _decide(engine, "orders", False, NOW - timedelta(days=3))
    _decide(engine, "orders", True, NOW - timedelta(days=2))
    _decide(engine, "payments", False, NOW - timedelta(days=1), rule="approval_required")
    _scaffolded(engine, "payments", "v1", created - timedelta(hours=1))
    auth_store.insert_token(
        engine,
        info=TokenRead(
            id=str(uuid.uuid4()),
            name="jane",
            owner="user:default/jane",
            role=Role.MEMBER,
            created_at=NOW - timedelta(days=19),
        ),
        token_hash=hashlib.sha256(b"jane").hexdigest(),
    )
    levels = {"orders": "high", "checkout": "low"}
    facts = FactCollector(
        catalog=catalog,
        engine=engine,
        settings=settings,
        dora_levels=lambda names, now: {n: levels.get(n) for n in names},
    )
    return {"catalog": catalog, "facts": facts, "settings": settings, "engine": engine}


def test_facts_come_from_the_catalog_deploys_policy_and_scaffolder(world: dict[str, Any]) -> None:
    docs = world["facts"].collect(now=NOW)
    assert sorted(docs) == [
        "component:default/audit-trail",
        "component:default/checkout",
        "component:default/ledger",
        "component:default/orders",
        "component:default/payments",
        "component:default/storefront",
        "component:default/stray",
    ]
    orders, payments = docs["component:default/orders"], docs["component:default/payments"]
    stray, checkout = docs["component:default/stray"], docs["component:default/checkout"]
    assert orders["owner"] == {"ref": "group:default/team-a", "exists": True, "kind": "Group"}
    assert stray["owner"] == {"ref": "group:default/ghost-team", "exists": False, "kind": None}
    assert (orders["docs"]["techdocs"], orders["oncall"]) == (True, "opsgenie")
    assert (checkout["docs"]["techdocs"], checkout["oncall"]) == (False, None)
    assert orders["slo"] == {"defined": True, "objective": 99.5, "source": "annotation"}
    assert checkout["slo"] == {"defined": True, "objective": 99.9, "source": "workload"}
    assert payments["slo"]["defined"] is False
    assert orders["deploy"]["daysSinceLast"] == 2.0
    assert orders["deploy"]["lastSuccessAt"] == (NOW - timedelta(days=2)).isoformat()
    assert (payments["deploy"]["count"], payments["deploy"]["anyCount"]) == (1, 2)
    assert stray["deploy"] == {
        "lastSuccessAt": None,
        "daysSinceLast": None,
        "firstSuccessAt": None,
        "count": 0,
        "lastSuccessAnyAt": None,
        "anyCount": 0,
    }
    assert (orders["pipeline"]["standard"], stray["pipeline"]["standard"]) == (True, False)
    assert orders["policy"]["passes"] is True  # the later decision wins
    assert payments["policy"]["passes"] is False
    assert stray["policy"]["passes"] is None
    # orders: annotation names the template but no version → not latest; payments: from a
    # scaffolder task that ran version v1 while the catalog template is at v2
    assert orders["template"]["name"] == "python-service"
    assert orders["template"]["latest"] is False
    assert payments["template"]["ref"] == "template:default/python-service"
    assert (payments["template"]["version"], payments["template"]["latestVersion"]) == ("v1", "v2")
    assert checkout["template"]["name"] is None and checkout["template"]["latest"] is None
    assert (orders["dora"]["level"], checkout["dora"]["level"]) == ("high", "low")


def test_scorecard_service_evaluates_the_builtin_scorecard(world: dict[str, Any]) -> None:
    service = ScorecardService(
        catalog=world["catalog"], facts=world["facts"], settings=world["settings"]
    )
    assert [c.name for c in service.definitions()] == ["production-readiness"]
    results = {r.entity_ref: r for r in service.evaluate(now=NOW)}
    # the filter keeps services only (storefront is a website, ledger a library)
    assert sorted(results) == [
        "component:default/audit-trail",
        "component:default/checkout",
        "component:default/orders",
        "component:default/payments",
        "component:default/stray",
    ]
    orders = results["component:default/orders"].to_dict()
    assert (orders["level"], orders["nextLevel"]) == ("Silver", "Gold")
    assert orders["missing"] == ["On the latest version of its template"]
    dora = next(r for lv in orders["levels"] for r in lv["rules"] if r["id"] == "dora-high")
    assert (dora["passed"], dora["enforced"], dora["effectiveFrom"]) == (True, False, "2027-04-01")
    stray = results["component:default/stray"]
    assert (stray.level, stray.next_level) == (None, "Bronze")
    assert stray.missing == ("Has an owner that exists", "Has a description")
    single = service.evaluate("Component:default/Orders", now=NOW)
    assert [r.to_dict() for r in single] == [orders]
    assert service.summary(now=NOW) == {
        "scorecard": "production-readiness",
        "title": "Production readiness",
        "levels": {"Bronze": 2, "Silver": 1, "Gold": 0},
        "none": 2,
        "total": 5,
    }
    with pytest.raises(NotFound):
        service.evaluate("component:default/nope", now=NOW)


def test_org_facts_feed_the_platform_metrics(world: dict[str, Any]) -> None:
    org = world["facts"].org_facts(now=NOW, window_days=30)
    by_name = {s["name"]: s for s in org["services"]}
    created = NOW - timedelta(days=20)
    assert by_name["orders"]["createdAt"] == created
    assert by_name["payments"]["createdAt"] == created - timedelta(hours=1)  # the task was earlier
    assert org["requests"]["approvalRequired"] == 1
    assert org["recoveries"] == [86400.0]
    metrics = platform_metrics(org)
    ttfd = {row["ref"]: row["seconds"] for row in metrics["timeToFirstDeploy"]["services"]}
    assert ttfd["component:default/orders"] == 18 * 86400
    assert ttfd["component:default/checkout"] == 2 * 86400
    assert ttfd["component:default/payments"] == 11 * 86400 + 3600
    assert ttfd["component:default/stray"] is None
    assert metrics["timeToFirstDeploy"]["medianSeconds"] == 11 * 86400 + 3600
    developer = metrics["timeToFirstDeployPerDeveloper"]
    assert developer["developers"] == [
        {
            "user": "user:default/jane",
            "firstSeenAt": (NOW - timedelta(days=19)).isoformat(),
            "firstDeployAt": (NOW - timedelta(days=18)).isoformat(),
            "seconds": 86400.0,
        }
    ]
    adoption = metrics["goldenPathAdoption"]
    assert (adoption["fromTemplate"], adoption["total"], adoption["onLatestVersion"]) == (2, 7, 0)
    assert (adoption["standardPipeline"], adoption["pipelineRate"]) == (3, round(3 / 7, 4))
    assert metrics["mttrSeconds"] == 86400.0
