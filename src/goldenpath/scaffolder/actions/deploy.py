"""Scaffolder action ``platform:deploy``: deploy the repository a template just published.

goldenpath's own action (Backstage lets platforms add actions beside the built-ins, "Writing
Custom Actions"). Input:

* ``repoUrl`` (required): the git repository to deploy — usually
  ``${{ steps['publish'].output.remoteUrl }}``.
* ``ref`` (default ``main``), ``specPath`` (default ``platform.yaml``),
  ``environment`` (default ``dev``), ``canary`` (first canary weight, ``10`` or ``"10%"``).
* ``wait`` (default ``true``): follow the deployment until it succeeds or ends otherwise;
  ``timeout`` seconds (default 600).

Output: ``deploymentId``, ``state``, ``environment`` and ``url`` (the service's URL through
the router, once it has one). A deployment that ends in any state but ``succeeded`` fails the
step with the deployment's own message. In a dry run nothing is deployed: the workspace's
spec is validated (file, line and field on error) and the step says what it would do.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from goldenpath.deploy.records import TERMINAL
from goldenpath.deploy.service import DeployRequest
from goldenpath.errors import PlatformError, Unavailable
from goldenpath.scaffolder.actions.base import Action, ActionContext
from goldenpath.workloads import load_workload

__all__ = ["ACTIONS", "follow_deployment"]

#: seconds between progress checks while waiting for the deployment
POLL_INTERVAL = 0.5

DEPLOY_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["repoUrl"],
    "properties": {
        "repoUrl": {
            "type": "string",
            "minLength": 1,
            "description": "Git repository to deploy (e.g. the publish step's remoteUrl)",
        },
        "ref": {"type": "string", "default": "main", "description": "Branch, tag or sha"},
        "specPath": {
            "type": "string",
            "default": "platform.yaml",
            "description": "The workload spec inside the repository (platform.yaml or score.yaml)",
        },
        "environment": {"type": "string", "default": "dev", "description": "Target environment"},
        "canary": {
            "description": "First canary weight in percent (10 or '10%'); omit for the "
            "workload's own strategy",
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 100},
                {"type": "string", "pattern": "^(100|[1-9][0-9]?)%?$"},
            ],
        },
        "wait": {"type": "boolean", "default": True, "description": "Wait for the outcome"},
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 600,
            "description": "Seconds to wait for the outcome",
        },
    },
}

DEPLOY_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "deploymentId": {"type": "integer"},
        "state": {"type": "string"},
        "environment": {"type": "string"},
        "url": {"type": "string"},
    },
}


def _canary(value: Any) -> int | None:
    if value is None:
        return None
    return int(str(value).rstrip("%"))


def _dry_run(ctx: ActionContext, environment: str, spec_path: str) -> None:
    spec = ctx.resolve(spec_path, what="specPath")
    if spec.is_file():
        workload = load_workload(Path(spec))
        ctx.log(f"dry run: {spec_path} is valid (service {workload.name})")
    else:
        ctx.log(f"dry run: no {spec_path} in the workspace to check")
    ctx.log(f"dry run: would deploy {ctx.input['repoUrl']} to {environment}")
    ctx.output("environment", environment)


def platform_deploy(ctx: ActionContext) -> None:
    """``platform:deploy`` (module doc).

    Raises:
        Unavailable: the task runs without the deploy service.
        InvalidInput/NotFound/Conflict: the deploy request was refused (as ``platform deploy``).
        PlatformError: the deployment ended in a state other than ``succeeded``, or did not
            end within ``timeout`` seconds.
    """
    environment = str(ctx.input.get("environment") or "dev")
    spec_path = str(ctx.input.get("specPath") or "platform.yaml")
    if ctx.dry_run:
        _dry_run(ctx, environment, spec_path)
        return
    deployer = ctx.services.deploy
    if deployer is None:
        raise Unavailable("platform:deploy: this task has no deploy service")
    request = DeployRequest(
        environment=environment,
        repo=str(ctx.input["repoUrl"]),
        ref=str(ctx.input.get("ref") or "main"),
        spec_path=spec_path,
        canary=_canary(ctx.input.get("canary")),
    )
    actor = str(ctx.user.get("ref") or "user:default/guest")
    deployment = deployer.deploy(request, actor=actor)
    ctx.log(f"Deployment {deployment.id} of {deployment.service} to {environment} recorded")
    ctx.output("deploymentId", deployment.id)
    ctx.output("environment", environment)
    if ctx.input.get("wait", True) is False:
        ctx.output("state", deployment.state)
        return
    deployment = follow_deployment(
        ctx,
        deployer,
        deployment.id,
        float(ctx.input.get("timeout") or 600),
        where="with platform deploy history",
        prefix="platform:deploy: ",
    )
    ctx.output("state", deployment.state)
    if deployment.state != "succeeded":
        raise PlatformError(
            f"platform:deploy: deployment {deployment.id} ended {deployment.state}: "
            f"{deployment.message}"
        )
    for status in deployer.status(deployment.service, environment):
        if status.urls is not None:
            ctx.output("url", status.urls.http)
            ctx.log(f"{deployment.service} answers at {status.urls.http}")


def follow_deployment(
    ctx: ActionContext,
    deployer: Any,
    deployment_id: int,
    timeout: float,
    *,
    where: str,
    prefix: str = "",
) -> Any:
    """Wait (polling every :data:`POLL_INTERVAL` s) for deployment ``deployment_id`` to reach
    a terminal state, logging each state it passes through; returns the deployment.

    Raises:
        PlatformError: it did not end within ``timeout`` seconds (the message says to follow
            it ``where``, e.g. "with platform deploy history"; ``prefix`` starts it).
    """
    deadline = time.monotonic() + timeout
    seen = ""
    while True:
        remaining = deadline - time.monotonic()
        deployment = deployer.wait(deployment_id, timeout=min(POLL_INTERVAL, max(remaining, 0)))
        if deployment.state != seen:
            seen = deployment.state
            ctx.log(f"Deployment {deployment_id}: {seen} — {deployment.message}".rstrip(" —"))
        if deployment.state in TERMINAL:
            return deployment
        if remaining <= 0:
            raise PlatformError(
                f"{prefix}deployment {deployment_id} still {deployment.state} after {timeout:g} s; "
                f"follow it {where}"
            )


ACTIONS: list[Action] = [
    Action(
        id="platform:deploy",
        description="Deploys a service's repository (its platform.yaml or score.yaml) to an "
        "environment and waits for the rollout.",
        handler=platform_deploy,
        input_schema=DEPLOY_INPUT,
        output_schema=DEPLOY_OUTPUT,
        supports_dry_run=True,
        examples=(
            {
                "description": "Deploy the repository published by the previous step to dev",
                "example": "steps:\n  - id: deploy\n    action: platform:deploy\n    input:\n"
                "      repoUrl: ${{ steps['publish'].output.remoteUrl }}\n"
                "      environment: dev\n",
            },
        ),
    ),
]
