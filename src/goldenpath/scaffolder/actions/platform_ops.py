"""Scaffolder actions for self-service operations on a running service (issue 7).

Seed 001's "automated runbook execution from the developer portal": the built-in Templates
of ``spec.type: action`` (``goldenpath/scaffolder/builtin/actions/``) run these actions, so an
operation is a task with a log, a history and the same permissions as any other template run.
Each one calls the deploy service (and, through its provisioner, the secrets and resources
services) exactly as the API does.

* ``platform:rotate-database-password`` — input ``service``, ``environment`` (``dev``),
  ``resource`` (a claim name; default every postgres claim the service consumes there),
  ``redeploy`` (``true``), ``wait`` (``true``), ``timeout`` (600 s). Sets a new password on
  the database role at its source (the ``resource:`` rotator), stores it as a new secret
  version and redeploys the consumers (rolling: no downtime). Output ``rotated`` (secret
  names and versions, never values), ``deploymentIds``.
* ``platform:create-preview-environment`` — input ``service``, ``source`` (``dev``), ``name``
  (default ``preview-<service>-<4 hex>``), ``ref`` (default the commit serving in
  ``source``), ``specPath``, ``ttl`` (``24h``; seconds or ``30m``/``24h``/``2d``), ``wait``,
  ``timeout``. Creates an ephemeral environment (torn down after the TTL) and deploys the
  service there. Output ``environment``, ``expiresAt``, ``deploymentId``, ``state``, ``url``.
* ``platform:run-runbook`` — input ``service``, ``environment``, ``runbook`` (``diagnose`` |
  ``restart``), ``logLines`` (50), ``wait``, ``timeout``. ``diagnose`` writes the service's
  status (versions, replicas, restarts, traffic split), a health probe of its URL and its last
  log lines (known secret values masked) into the task log; ``restart`` rolls the serving
  release out again with fresh processes (a ``redeploy``). Output ``state``, ``url``,
  ``deploymentId`` (restart).

Every action supports a dry run (it says what it would do and changes nothing).
"""

from __future__ import annotations

import re
import secrets as pyrandom
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from goldenpath.catalog.refs import parse_entity_ref
from goldenpath.deploy.service import DeployRequest
from goldenpath.errors import InvalidInput, NotFound, PlatformError, Unavailable
from goldenpath.resources.model import output_secret_names
from goldenpath.scaffolder.actions.base import Action, ActionContext
from goldenpath.scaffolder.actions.deploy import follow_deployment
from goldenpath.secrets.model import SecretScope

__all__ = ["ACTIONS", "parse_ttl", "service_name"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SERVICE = {
    "type": "string",
    "minLength": 1,
    "description": "The service: a Component entity ref (component:default/orders) or its name",
}
_WAIT = {"type": "boolean", "default": True, "description": "Wait for the deployments to end"}
_TIMEOUT = {
    "type": "number",
    "exclusiveMinimum": 0,
    "default": 600,
    "description": "Seconds to wait",
}
_ENVIRONMENT = {"type": "string", "default": "dev", "description": "Environment"}


def service_name(value: Any) -> str:
    """The deployed service name of ``value``: a Component ref (``component:default/orders``,
    ``default/orders``) or a bare name (``orders``), lower-cased.

    Raises:
        InvalidInput: empty, malformed, or a ref to another kind than Component.
    """
    text = str(value or "").strip()
    if not text:
        raise InvalidInput("service: name the service (a Component ref or name)")
    ref = parse_entity_ref(text, default_kind="component")
    if ref.kind.lower() != "component":
        raise InvalidInput(f"service: {text!r} is a {ref.kind}, not a Component")
    return ref.name.lower()


def parse_ttl(value: Any) -> float:
    """Seconds of ``value``: a number of seconds or ``90s``/``30m``/``24h``/``2d`` (> 0).

    Raises:
        InvalidInput: anything else, naming the field ``ttl``.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise InvalidInput(f"ttl: {value!r} is not a duration; use e.g. 3600, 30m, 24h or 2d")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise InvalidInput(f"ttl: {value!r} must be positive (e.g. 24h)")
    return seconds


def _actor(ctx: ActionContext) -> str:
    return str(ctx.user.get("ref") or "user:default/guest")


def _deployer(ctx: ActionContext, action: str) -> Any:
    deployer = ctx.services.deploy
    if deployer is None:
        raise Unavailable(f"{action}: this task has no deploy service")
    return deployer


def _provisioner_part(deployer: Any, part: str, action: str) -> Any:
    """The deploy service's ``provisioner.secrets`` / ``provisioner.resources``."""
    found = getattr(getattr(deployer, "provisioner", None), part, None)
    if found is None:
        raise Unavailable(f"{action}: this platform runs without the {part} service")
    return found


def _finish(ctx: ActionContext, deployer: Any, deployment_id: int) -> Any:
    """Follow the deployment when ``wait``; a deployment ending otherwise than ``succeeded``
    fails the step with its own message."""
    if ctx.input.get("wait", True) is False:
        return deployer.get_deployment(deployment_id)
    timeout = float(ctx.input.get("timeout") or 600)
    d = follow_deployment(
        ctx, deployer, deployment_id, timeout, where="on the service's Deployments tab"
    )
    if d.state != "succeeded":
        raise PlatformError(f"deployment {d.id} ended {d.state}: {d.message}")
    return d


def _url(deployer: Any, service: str, environment: str) -> str | None:
    try:
        statuses = deployer.status(service, environment)
    except NotFound:
        return None
    for status in statuses:
        if status.urls is not None:
            return str(status.urls.http)
    return None


# --------------------------------------------------------------------------- rotate


def _database_claims(resources: Any, service: str, environment: str, only: str | None) -> list[Any]:
    claims = [
        c
        for c in resources.list(environment=environment, type="postgres")
        if (only is None and service in c.consumers) or c.name == only
    ]
    if not claims:
        which = f"resource {only!r}" if only else "no postgres resource"
        raise NotFound(
            f"{service} has {which} in {environment}"
            + (" (not found)" if only else "")
            + "; declare one in platform.yaml (resources: db: type: postgres) and deploy"
        )
    return claims


def rotate_database_password(ctx: ActionContext) -> None:
    """``platform:rotate-database-password`` (module doc).

    Raises:
        NotFound: the service consumes no postgres resource in the environment.
        Unavailable: no deploy/secrets/resources service in this task.
        PlatformError: a redeploy did not succeed.
    """
    action = "platform:rotate-database-password"
    service = service_name(ctx.input.get("service"))
    environment = str(ctx.input.get("environment") or "dev")
    deployer = _deployer(ctx, action)
    resources = _provisioner_part(deployer, "resources", action)
    claims = _database_claims(resources, service, environment, ctx.input.get("resource"))
    names = [output_secret_names(c.name)["password"] for c in claims]
    if ctx.dry_run:
        ctx.log(f"dry run: would rotate {', '.join(names)} in {environment} and redeploy")
        return
    secrets = _provisioner_part(deployer, "secrets", action)
    scope = SecretScope(environment=environment)
    results = []
    for name in names:
        for result in secrets.rotate(name, scope=scope, actor=_actor(ctx)):
            results.append(result)
            ctx.log(
                f"{result.name}: version {result.previous_version} → {result.meta.version} "
                f"({result.outcome})"
            )
    ctx.output("rotated", [{"name": r.name, "version": r.meta.version} for r in results])
    ids: list[int] = []
    if ctx.input.get("redeploy", True) is not False:
        for d in deployer.redeploy_rotated(results, actor=_actor(ctx)):
            ctx.log(f"Redeploying {d.service} in {d.environment} (deployment {d.id})")
            ids.append(d.id)
    ctx.output("deploymentIds", ids)
    for deployment_id in ids:
        _finish(ctx, deployer, deployment_id)


# --------------------------------------------------------------------------- preview


def _serving(deployer: Any, service: str, source: str) -> Any:
    """The deployment serving ``service`` in ``source`` (NotFound naming the fix)."""
    for status in deployer.status(service, source):
        if status.stable_id is not None:
            return deployer.get_deployment(status.stable_id)
    raise NotFound(f"{service} has no successful deployment in {source} to preview")


def create_preview_environment(ctx: ActionContext) -> None:
    """``platform:create-preview-environment`` (module doc).

    Raises:
        InvalidInput: bad ttl or environment name; the serving deployment has no repository.
        NotFound: the service never succeeded in ``source`` (and no ``ref``/``repo`` given).
        Conflict: the environment exists.
        PlatformError: the deployment did not succeed.
    """
    action = "platform:create-preview-environment"
    service = service_name(ctx.input.get("service"))
    source = str(ctx.input.get("source") or "dev")
    ttl = parse_ttl(ctx.input.get("ttl") or "24h")
    name = str(ctx.input.get("name") or f"preview-{service[:22]}-{pyrandom.token_hex(2)}")
    deployer = _deployer(ctx, action)
    serving = _serving(deployer, service, source)
    if not serving.repo:
        raise InvalidInput(
            f"{service} in {source} was deployed without a repository; deploy the preview "
            "from its repository with platform deploy"
        )
    ref = str(ctx.input.get("ref") or serving.sha or serving.ref or "HEAD")
    if ctx.dry_run:
        ctx.log(f"dry run: would create {name} from {source} (ttl {ttl:g} s) and deploy {ref}")
        return
    env = deployer.create_environment(name, source=source, ttl=ttl, actor=_actor(ctx))
    expires = env.expires_at or datetime.now(UTC) + timedelta(seconds=ttl)
    ctx.log(
        f"Environment {env.name} created from {source}; torn down at {expires:%Y-%m-%d %H:%M} UTC"
    )
    ctx.output("environment", env.name)
    ctx.output("expiresAt", expires.isoformat().replace("+00:00", "Z"))
    request = DeployRequest(
        environment=env.name,
        repo=serving.repo,
        ref=ref,
        spec_path=str(ctx.input.get("specPath") or "platform.yaml"),
    )
    d = deployer.deploy(request, actor=_actor(ctx))
    ctx.log(f"Deployment {d.id} of {service} ({ref[:12]}) to {env.name} recorded")
    ctx.output("deploymentId", d.id)
    d = _finish(ctx, deployer, d.id)
    ctx.output("state", d.state)
    url = _url(deployer, service, env.name)
    if url:
        ctx.output("url", url)
        ctx.log(f"{service} answers at {url}")


# --------------------------------------------------------------------------- runbook


def _diagnose(ctx: ActionContext, deployer: Any, service: str, environment: str) -> None:
    (status,) = deployer.status(service, environment)
    weights = ", ".join(f"{v} {w}%" for v, w in status.weights.items()) or "none"
    ctx.log(f"{service} in {environment}: traffic {weights}; stable d{status.stable_id}")
    for version in status.versions:
        ctx.log(
            f"  {version['version']} ({version.get('state') or 'no record'}): "
            f"{version['ready']}/{version['desired']} ready"
        )
        for r in version["replicas"]:
            note = f" — {r.message}" if getattr(r, "message", "") else ""
            ctx.log(f"    replica {r.replica}: {r.state}, {r.restarts} restarts{note}")
    if status.urls is not None:
        ctx.output("url", status.urls.http)
        _probe(ctx, status.urls.direct)
    _log_tail(ctx, deployer, service, environment)
    ctx.output(
        "state", "ready" if all(v["ready"] >= v["desired"] for v in status.versions) else "degraded"
    )


def _probe(ctx: ActionContext, url: str) -> None:
    try:
        response = httpx.get(url, timeout=3.0)
    except httpx.HTTPError as e:
        ctx.log(f"GET {url}: no answer ({type(e).__name__})")
        return
    ctx.log(
        f"GET {url}: {response.status_code} in {response.elapsed.total_seconds() * 1000:.0f} ms"
    )


def _log_tail(ctx: ActionContext, deployer: Any, service: str, environment: str) -> None:
    count = int(ctx.input.get("logLines") or 50)
    since = datetime.now(UTC) - timedelta(hours=1)
    lines = list(deployer.logs(service, environment, since=since))[-count:]
    secrets = getattr(getattr(deployer, "provisioner", None), "secrets", None)
    redact: Callable[[str], str] = secrets.redact if secrets is not None else (lambda t: t)
    ctx.log(f"Last {len(lines)} log lines (past hour):")
    for line in lines:
        ctx.log(f"  {line.at:%H:%M:%S} {line.version}/{line.replica} {redact(line.text)}")


def run_runbook(ctx: ActionContext) -> None:
    """``platform:run-runbook`` (module doc).

    Raises:
        NotFound: the service was never deployed to the environment (or has no successful
            deployment to restart).
        Conflict: a deployment is in flight (restart).
        PlatformError: the restart did not succeed.
    """
    action = "platform:run-runbook"
    service = service_name(ctx.input.get("service"))
    environment = str(ctx.input.get("environment") or "dev")
    runbook = str(ctx.input.get("runbook") or "diagnose")
    deployer = _deployer(ctx, action)
    if ctx.dry_run:
        ctx.log(f"dry run: would run the {runbook} runbook on {service} in {environment}")
        return
    if runbook == "diagnose":
        _diagnose(ctx, deployer, service, environment)
        return
    d = deployer.redeploy(
        service, environment, actor=_actor(ctx), reason=f"restart runbook run by {_actor(ctx)}"
    )
    ctx.log(f"Restarting {service} in {environment}: deployment {d.id}")
    ctx.output("deploymentId", d.id)
    d = _finish(ctx, deployer, d.id)
    ctx.output("state", d.state)
    url = _url(deployer, service, environment)
    if url:
        ctx.output("url", url)


ACTIONS: list[Action] = [
    Action(
        id="platform:rotate-database-password",
        description="Rotates the password of a service's PostgreSQL resource at its source "
        "and redeploys the service with the new credentials (no downtime).",
        handler=rotate_database_password,
        input_schema={
            "type": "object",
            "required": ["service"],
            "properties": {
                "service": _SERVICE,
                "environment": _ENVIRONMENT,
                "resource": {"type": "string", "description": "One claim (default: all)"},
                "redeploy": {"type": "boolean", "default": True},
                "wait": _WAIT,
                "timeout": _TIMEOUT,
            },
        },
        output_schema={
            "type": "object",
            "properties": {"rotated": {"type": "array"}, "deploymentIds": {"type": "array"}},
        },
        supports_dry_run=True,
    ),
    Action(
        id="platform:create-preview-environment",
        description="Creates an ephemeral environment (deleted after its TTL) and deploys "
        "the service there.",
        handler=create_preview_environment,
        input_schema={
            "type": "object",
            "required": ["service"],
            "properties": {
                "service": _SERVICE,
                "source": {**_ENVIRONMENT, "description": "Environment to copy"},
                "name": {"type": "string", "description": "Name of the new environment"},
                "ref": {"type": "string", "description": "Branch, tag or sha to deploy"},
                "specPath": {"type": "string", "default": "platform.yaml"},
                "ttl": {"type": ["string", "number"], "default": "24h"},
                "wait": _WAIT,
                "timeout": _TIMEOUT,
            },
        },
        output_schema={
            "type": "object",
            "properties": {
                "environment": {"type": "string"},
                "expiresAt": {"type": "string"},
                "deploymentId": {"type": "integer"},
                "state": {"type": "string"},
                "url": {"type": "string"},
            },
        },
        supports_dry_run=True,
    ),
    Action(
        id="platform:run-runbook",
        description="Runs an incident runbook on a service: diagnose (status, health probe "
        "and recent logs into the task log) or restart (fresh processes, same release).",
        handler=run_runbook,
        input_schema={
            "type": "object",
            "required": ["service"],
            "properties": {
                "service": _SERVICE,
                "environment": _ENVIRONMENT,
                "runbook": {"type": "string", "enum": ["diagnose", "restart"]},
                "logLines": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                "wait": _WAIT,
                "timeout": _TIMEOUT,
            },
        },
        output_schema={
            "type": "object",
            "properties": {
                "state": {"type": "string"},
                "url": {"type": "string"},
                "deploymentId": {"type": "integer"},
            },
        },
        supports_dry_run=True,
    ),
]
