"""Shared by ``platform deploy``, ``status`` and ``env``: following a deployment's progress
and presenting deployments, service status and environments.

A deployment is followed over ``GET /api/deploy/v1/deployments/{id}/eventstream``: each state
transition is printed on stderr as a line, and on a terminal a Rich status line names the
current step; a stream that ends or breaks off is resumed from the last transition id
(``?after=``) until the deployment is terminal or paused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from goldenpath.cli import output
from goldenpath.cli.client import PlatformClient
from goldenpath.errors import Unavailable

__all__ = [
    "DEPLOY",
    "DONE",
    "deployment_detail",
    "deployment_table",
    "describe_step",
    "environment_table",
    "follow",
    "overview_view",
    "status_view",
    "transition_line",
]

DEPLOY = "/api/deploy/v1"
#: states a follow stops at
DONE = frozenset({"succeeded", "failed", "aborted", "paused"})
_RECONNECTS = 3
_STYLE = {"succeeded": "green", "failed": "red", "aborted": "yellow", "paused": "cyan"}


def describe_step(step: Mapping[str, Any] | None) -> str:
    """A rollout step in words: ``setWeight 10%``, ``pause 30s``, ``pause (until promote)``,
    ``analysis``, ``rolling update``, ``preview``, ``switch``."""
    if not step:
        return "finishing"
    if "setWeight" in step:
        return f"setWeight {step['setWeight']}%"
    if "pause" in step:
        duration = (step.get("pause") or {}).get("duration")
        return (
            f"pause {duration:g}s" if isinstance(duration, int | float) else "pause (until promote)"
        )
    if "rollingUpdate" in step:
        return "rolling update"
    return next(iter(step))


def _short(sha: Any) -> str:
    return str(sha)[:7] if sha else ""


def _time(value: Any) -> str:
    return str(value or "")[:19].replace("T", " ")


def transition_line(event: Mapping[str, Any]) -> str:
    """One transition as a Rich-markup line: ``HH:MM:SS from → to  reason``."""
    at = str(event.get("at") or "")[11:19]
    to = str(event.get("to") or "")
    origin = event.get("from")
    arrow = f"{escape(str(origin))} → " if origin else ""
    reason = escape(str(event.get("reason") or ""))
    style = _STYLE.get(to, "bold")
    return f"[dim]{at}[/] {arrow}[{style}]{escape(to)}[/]" + (f"  {reason}" if reason else "")


def _status_text(deployment_id: Any, progress: Mapping[str, Any]) -> str:
    state = progress.get("state") or "pending"
    total = int(progress.get("steps") or 0)
    index = int(progress.get("stepIndex") or 0)
    text = f"deployment {deployment_id}: {state}"
    if state == "progressing" and total:
        text += f", step {min(index + 1, total)}/{total}: {describe_step(progress.get('step'))}"
    message = progress.get("message")
    return text + (f" — {message}" if message else "")


def follow(
    client: PlatformClient,
    deployment: Mapping[str, Any],
    *,
    after: int | None = None,
    timeout: float = 3600.0,
    on_transition: Callable[[Mapping[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Follow ``deployment`` until it is terminal, or paused by a transition newer than
    ``after``; returns the final Deployment.

    Raises:
        NotFound: the deployment disappeared.
        Unavailable: the stream broke off three times in a row, or ``timeout`` seconds
            passed (the deployment goes on; the message says how to look at it).
    """
    deployment_id = deployment["id"]
    console = output.stderr()
    show = on_transition or (lambda e: console.print(transition_line(e), highlight=False))
    deadline = time.monotonic() + timeout
    path = f"{DEPLOY}/deployments/{deployment_id}/eventstream"
    failures = 0
    with console.status(f"deployment {deployment_id}: {deployment.get('state')}") as status:
        while time.monotonic() < deadline:
            try:
                params = {"after": after} if after is not None else None
                for message in client.stream_events(path, params):
                    data = message.data if isinstance(message.data, dict) else {}
                    if message.event == "transition":
                        after = int(message.id or data.get("index") or 0)
                        show(data)
                        status.update(_status_text(deployment_id, data))
                    elif message.event == "progress":
                        status.update(_status_text(deployment_id, data))
                    elif message.event == "end":
                        return data
                failures = 0
            except Unavailable:
                failures += 1
                if failures >= _RECONNECTS:
                    raise
                time.sleep(0.5 * failures)
    raise Unavailable(
        f"deployment {deployment_id} did not finish within {timeout:g}s; it goes on — watch it "
        f"with `platform deploy history` or `platform status`"
    )


def deployment_table(items: list[dict[str, Any]]) -> Table:
    """ID / SERVICE / ENV / KIND / STRATEGY / STATE / SHA / BY / CREATED / MESSAGE rows;
    without SERVICE when every row is the same service (one service's history or status:
    the column only took width from MESSAGE)."""
    one_service = len({d.get("service") for d in items}) <= 1
    rows = [
        (
            d.get("id"),
            *(() if one_service else (d.get("service"),)),
            d.get("environment"),
            d.get("kind"),
            d.get("strategy"),
            d.get("state"),
            _short(d.get("sha")),
            d.get("triggeredBy"),
            _time(d.get("createdAt")),
            d.get("message"),
        )
        for d in items
    ]
    columns = ["ID", *(() if one_service else ("SERVICE",)), "ENV", "KIND", "STRATEGY"]
    return output.make_table([*columns, "STATE", "SHA", "BY", "CREATED", "MESSAGE"], rows)


def deployment_detail(d: dict[str, Any]) -> Group:
    """Key fields of one deployment, then its transitions."""
    steps = d.get("steps") or []
    fields = [
        ("id", d.get("id")),
        ("service", d.get("service")),
        ("environment", d.get("environment")),
        ("kind", d.get("kind")),
        ("strategy", d.get("strategy")),
        ("state", d.get("state")),
        (
            "step",
            f"{min(int(d.get('stepIndex') or 0) + 1, len(steps))}/{len(steps)}" if steps else None,
        ),
        ("repo", d.get("repo")),
        ("ref", d.get("ref")),
        ("sha", d.get("sha")),
        ("release", d.get("releaseId")),
        ("triggered by", d.get("triggeredBy")),
        ("message", d.get("message")),
    ]
    rows = [(k, v) for k, v in fields if v not in (None, "")]
    transitions = [
        (_time(t.get("at")), t.get("from") or "", t.get("to"), t.get("actor"), t.get("reason"))
        for t in d.get("transitions") or []
    ]
    return Group(
        output.make_table(["FIELD", "VALUE"], rows),
        output.make_table(["AT", "FROM", "TO", "ACTOR", "REASON"], transitions),
    )


def _health(version: Mapping[str, Any]) -> str:
    ready, desired = int(version.get("ready") or 0), int(version.get("desired") or 0)
    states = {str(r.get("state")) for r in version.get("replicas") or [] if isinstance(r, dict)}
    if desired and ready >= desired:
        return "healthy"
    if ready:
        return "degraded"
    if states & {"starting", "backoff"}:
        return "starting"
    return "down" if desired else "stopped"


def status_view(items: list[dict[str, Any]]) -> Group:
    """Per environment and version: ENV / VERSION / SHA / REPLICAS / HEALTH / WEIGHT / URL;
    then the recent deployments."""
    rows: list[tuple[Any, ...]] = []
    recent: list[dict[str, Any]] = []
    for item in items:
        env = item.get("environment")
        urls = item.get("urls") or {}
        weights = item.get("weights") or {}
        for version in item.get("versions") or [{}]:
            name = version.get("version")
            replicas = f"{version.get('ready', 0)}/{version.get('desired', 0)}" if name else ""
            weight = f"{weights[name]}%" if name in weights else ""
            health = _health(version) if name else "not deployed"
            rows.append(
                (env, name, _short(version.get("sha")), replicas, health, weight, urls.get("http"))
            )
        recent.extend(item.get("recent") or [])
    table = output.make_table(
        ["ENV", "VERSION", "SHA", "REPLICAS", "HEALTH", "WEIGHT", "URL"], rows
    )
    recent.sort(key=lambda d: int(d.get("id") or 0), reverse=True)
    return Group(table, "[bold]recent deployments[/]", deployment_table(recent[:10]))


def overview_view(items: list[dict[str, Any]]) -> Table:
    """One row per service and environment: ENV / SERVICE / VERSION / REPLICAS / HEALTH /
    LAST DEPLOY / URL (VERSION lists every version taking traffic, with its weight)."""
    rows: list[tuple[Any, ...]] = []
    for item in items:
        weights = item.get("weights") or {}
        versions = [v for v in item.get("versions") or [] if v.get("version")]
        serving = ", ".join(
            f"{name} {weight}%" if len(weights) > 1 else str(name)
            for name, weight in weights.items()
        )
        ready = sum(int(v.get("ready") or 0) for v in versions)
        desired = sum(int(v.get("desired") or 0) for v in versions)
        health = ", ".join(sorted({_health(v) for v in versions})) or "not running"
        recent = item.get("recent") or []
        last = f"{recent[0].get('id')} {recent[0].get('state')}" if recent else ""
        rows.append(
            (
                item.get("environment"),
                item.get("service"),
                serving or "-",
                f"{ready}/{desired}",
                health,
                last,
                (item.get("urls") or {}).get("http"),
            )
        )
    return output.make_table(
        ["ENV", "SERVICE", "VERSION", "REPLICAS", "HEALTH", "LAST DEPLOY", "URL"], rows
    )


def environment_table(items: list[dict[str, Any]]) -> Table:
    """NAME / PARENT / EPHEMERAL / EXPIRES / STATUS / CREATED BY / CREATED rows."""
    rows = [
        (
            e.get("name"),
            e.get("parent"),
            "yes" if e.get("ephemeral") else "",
            _time(e.get("expiresAt")),
            e.get("status"),
            e.get("createdBy"),
            _time(e.get("createdAt")),
        )
        for e in items
    ]
    return output.make_table(
        ["NAME", "PARENT", "EPHEMERAL", "EXPIRES", "STATUS", "CREATED BY", "CREATED"], rows
    )
