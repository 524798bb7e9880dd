"""Deploy requests go through the policy guardrails before anything is recorded.

The real :class:`PolicyService` with its built-in Rego bundle, the deploy service with a
:class:`Provisioner`, and the scripted driver of ``test_deploy_reconciler_scripted`` (no
processes): a production deploy with one replica and no owner is denied naming each rule
and its fix, and leaves no deployment and a recorded decision; the same workload in dev
is deployed with the owner rule as a warning in its message.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from test_deploy_reconciler_scripted import Clock, ScriptedDriver, run_until, spec

from goldenpath.deploy.provisioning import Provisioner
from goldenpath.deploy.service import DeployRequest, DeployService
from goldenpath.policy.service import PolicyDenied, PolicyService
from goldenpath.settings import Settings


@pytest.fixture
def guarded(engine: Engine, settings: Settings) -> tuple[DeployService, PolicyService, Clock]:
    settings = settings.model_copy(
        update={"deploy": settings.deploy.model_copy(update={"reconcile_interval": 0.0})}
    )
    clock = Clock()
    policy = PolicyService(engine=engine, settings=settings, clock=clock)
    svc = DeployService(
        engine=engine,
        settings=settings,
        driver=ScriptedDriver(settings.home),
        clock=clock,
        provisioner=Provisioner(policy=policy),
    )
    return svc, policy, clock


def test_a_production_deploy_breaking_rules_is_denied_before_anything_is_recorded(
    guarded: tuple[DeployService, PolicyService, Clock],
) -> None:
    svc, policy, clock = guarded
    text = spec("demo==1.0", replicas=1)
    with pytest.raises(PolicyDenied) as denied:
        svc.deploy(DeployRequest(environment="production", spec_text=text), actor="ann")
    message = denied.value.message
    assert "production-replicas" in message and "owner-group" in message
    assert "fix:" in message
    assert svc.history() == []  # nothing recorded
    (decision,) = policy.decisions(action="deploy")
    assert not decision.allowed and decision.subject == "service demo in production"
    assert {v.rule for v in decision.denials} >= {"production-replicas", "owner-group"}

    dev = svc.deploy(DeployRequest(environment="dev", spec_text=text), actor="ann")
    assert "policy warning: owner-group" in dev.message
    assert run_until(svc, dev, {"succeeded"}, clock).state == "succeeded"
