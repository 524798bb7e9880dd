"""``platform.yaml`` spec sections other than deployment: build, run, runtime, resources,
monitoring, and the per-language defaults that make the built-in templates deploy as is."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from goldenpath.workloads._check import (
    DNS_LABEL,
    Ctx,
    boolean,
    command,
    describe,
    duration,
    integer,
    mapping,
    number,
    string,
    string_list,
)
from goldenpath.workloads._yaml import Path_
from goldenpath.workloads.model import (
    Build,
    BuildKind,
    Monitoring,
    Probe,
    ResourceRequest,
    Runtime,
    Workload,
)

__all__ = [
    "DATABASE_RESOURCE",
    "Defaults",
    "defaults_for",
    "parse_build",
    "parse_database",
    "parse_monitoring",
    "parse_resources",
    "parse_run",
    "parse_runtime",
]

DATABASE_RESOURCE = "db"
"""The resource name ``spec.database`` becomes: ``${resources.db.url}`` and friends."""

CPU = re.compile(r"^(?:\d+(?:\.\d+)?|\d+m)$")
MEMORY = re.compile(r"^\d+(?:\.\d+)?(?:Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E)?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESOURCE_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,61}[A-Za-z0-9]$")
_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?\s*(?:[<>=!~;@].*)?$")
_NODE = ("typescript", "javascript", "node")
BUILD_KINDS = ("python", "node", "package")


@dataclass(frozen=True)
class Defaults:
    """What a language/framework runs with when ``spec.run``/``spec.build`` leave it open."""

    kind: BuildKind | None
    command: tuple[str, ...]
    port: int


def defaults_for(language: str | None, framework: str | None) -> Defaults:
    """Python + FastAPI/Starlette: uvicorn on ``app.main:app`` (the python-service template)
    at 127.0.0.1:$PORT, port 8000; TypeScript/JavaScript/Node: ``npm start`` (the server reads
    ``PORT`` from the environment), port 3000; anything else: no command (``spec.run.command``
    is then required), port 8080."""
    lang = (language or "").lower()
    if lang == "python":
        if (framework or "").lower() in ("fastapi", "starlette"):
            argv = ("uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", "$PORT")
            return Defaults("python", argv, 8000)
        return Defaults("python", (), 8000)
    if lang in _NODE:
        return Defaults("node", ("npm", "start"), 3000)
    return Defaults(None, (), 8080)


def parse_build(ctx: Ctx, raw: Any, path: Path_, base: Build) -> Build:
    """``build: {kind, package, subdir, extraPackages, command, image}`` over ``base``.

    ``package`` without ``kind`` sets ``kind: package``."""
    keys = ("kind", "package", "subdir", "extraPackages", "command", "image")
    raw = mapping(ctx, raw, path, keys)
    out = base
    if "package" in raw:
        package = string(
            ctx,
            raw["package"],
            (*path, "package"),
            pattern=_REQUIREMENT,
            expected='a PEP 508 requirement such as "datasette==0.65.1"',
        )
        out = replace(out, package=package, kind="package")
    if "kind" in raw:
        kind: Any = string(ctx, raw["kind"], (*path, "kind"), choices=BUILD_KINDS)
        out = replace(out, kind=kind)
    if "subdir" in raw:
        subdir = string(ctx, raw["subdir"], (*path, "subdir")).strip("/")
        if raw["subdir"].startswith("/") or ".." in subdir.split("/"):
            raise ctx.fail((*path, "subdir"), "must be a relative path inside the repository")
        out = replace(out, subdir=subdir)
    if "extraPackages" in raw:
        extra = string_list(ctx, raw["extraPackages"], (*path, "extraPackages"), unique=True)
        out = replace(out, extra_packages=extra)
    if "command" in raw:
        out = replace(out, command=command(ctx, raw["command"], (*path, "command")))
    if "image" in raw:
        out = replace(out, image=string(ctx, raw["image"], (*path, "image")) or None)
    if out.kind == "package" and not out.package:
        raise ctx.fail((*path, "package"), 'kind: package needs package: "name==version"')
    return out


def _probe(ctx: Ctx, raw: Any, path: Path_, base: Probe) -> Probe:
    """``"/readyz"``, ``{path: /readyz, timeout: 2s}`` or ``{path: null}`` (TCP connect)."""
    if isinstance(raw, str):
        raw = {"path": raw}
    raw = mapping(ctx, raw, path, ("path", "timeout"))
    out = base
    if "path" in raw:
        value = raw["path"]
        if value is not None:
            value = string(ctx, value, (*path, "path"))
            if not value.startswith("/"):
                raise ctx.fail((*path, "path"), f"{value!r} must start with '/'")
        out = replace(out, path=value)
    if "timeout" in raw:
        out = replace(out, timeout=duration(ctx, raw["timeout"], (*path, "timeout")))
    return out


def _env(ctx: Ctx, raw: Any, path: Path_, base: dict[str, str]) -> dict[str, str]:
    """Variables merge over ``base``; ``null`` removes one. Numbers/booleans become strings.
    Values are never echoed (they may be secrets)."""
    raw = mapping(ctx, raw, path)
    out = dict(base)
    for name, value in raw.items():
        if not ENV_NAME.match(name):
            raise ctx.fail(
                (*path, name),
                f"{name!r} is not a variable name (letters, digits, _; no digit first)",
            )
        if value is None:
            out.pop(name, None)
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            out[name] = str(value)
        else:
            raise ctx.fail((*path, name), f"expected a string, got {describe(value)}")
    return out


def parse_run(ctx: Ctx, raw: Any, path: Path_, base: Workload) -> dict[str, Any]:
    """``run: {command, port, readiness, liveness, env}`` → changed ``Workload`` fields."""
    raw = mapping(ctx, raw, path, ("command", "port", "readiness", "liveness", "env"))
    out: dict[str, Any] = {}
    if "command" in raw:
        out["command"] = command(ctx, raw["command"], (*path, "command"))
    if "port" in raw:
        out["port"] = integer(ctx, raw["port"], (*path, "port"), 1, 65535)
    for key in ("readiness", "liveness"):
        if key in raw:
            out[key] = _probe(ctx, raw[key], (*path, key), getattr(base, key))
    if "env" in raw:
        out["env"] = _env(ctx, raw["env"], (*path, "env"), dict(base.env))
    return out


def parse_runtime(ctx: Ctx, raw: Any, path: Path_, base: Runtime) -> Runtime:
    """``runtime: {replicas: 1..50, cpu: "500m", memory: "512Mi"}`` over ``base``."""
    raw = mapping(ctx, raw, path, ("replicas", "cpu", "memory"))
    out = base
    if "replicas" in raw:
        out = replace(out, replicas=integer(ctx, raw["replicas"], (*path, "replicas"), 1, 50))
    for key, pattern, example in (("cpu", CPU, '"500m" or "2"'), ("memory", MEMORY, '"512Mi"')):
        if key not in raw:
            continue
        value = raw[key]
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = f"{value:g}"
        value = string(
            ctx, value, (*path, key), pattern=pattern, expected=f"a quantity such as {example}"
        )
        out = replace(out, cpu=value) if key == "cpu" else replace(out, memory=value)
    return out


def _resource(
    ctx: Ctx, name: str, raw: Any, path: Path_, base: ResourceRequest | None
) -> ResourceRequest:
    raw = mapping(ctx, raw, path, ("type", "size", "class", "params"))
    if "size" in raw and "class" in raw:
        raise ctx.fail((*path, "class"), "give size or class (the same thing), not both")
    if base is None and "type" not in raw:
        raise ctx.fail(path, "missing required key 'type' (e.g. postgres, redis)")
    out = base or ResourceRequest(name=name, type="")
    if "type" in raw:
        kind = string(
            ctx, raw["type"], (*path, "type"), pattern=RESOURCE_TYPE, expected="a resource type"
        )
        out = replace(out, type=kind)
    for key in ("size", "class"):
        if key in raw:
            size = raw[key]
            out = replace(out, size=None if size is None else string(ctx, size, (*path, key)))
    if "params" in raw:
        params = raw["params"]
        out = replace(out, params={} if params is None else mapping(ctx, params, (*path, "params")))
    return out


def parse_database(
    ctx: Ctx, raw: Any, path: Path_, base: dict[str, ResourceRequest]
) -> dict[str, ResourceRequest]:
    """``database: {type, size, params}`` → resource ``db``; ``type: none`` (or null) = none."""
    out = dict(base)
    removed = raw is None or (isinstance(raw, dict) and raw.get("type", "") in ("none", None))
    if removed:
        out.pop(DATABASE_RESOURCE, None)
        return out
    out[DATABASE_RESOURCE] = _resource(
        ctx, DATABASE_RESOURCE, raw, path, base.get(DATABASE_RESOURCE)
    )
    return out


def parse_resources(
    ctx: Ctx, raw: Any, path: Path_, base: dict[str, ResourceRequest]
) -> dict[str, ResourceRequest]:
    """``resources: {<name>: {type, size|class, params}}`` (Score's shape); null removes one."""
    raw = mapping(ctx, raw, path)
    out = dict(base)
    for name, value in raw.items():
        if not DNS_LABEL.match(name):
            raise ctx.fail((*path, name), f"{name!r} is not a DNS label (a-z, 0-9, -)")
        if value is None:
            out.pop(name, None)
        else:
            out[name] = _resource(ctx, name, value, (*path, name), base.get(name))
    return out


def parse_monitoring(ctx: Ctx, raw: Any, path: Path_, base: Monitoring) -> Monitoring:
    """``monitoring: {alerts: bool, dashboard: bool, slo: percent in (0, 100)}``."""
    raw = mapping(ctx, raw, path, ("alerts", "dashboard", "slo"))
    out = base
    for key in ("alerts", "dashboard"):
        if key in raw:
            out = replace(out, **{key: boolean(ctx, raw[key], (*path, key))})
    if "slo" in raw:
        slo = raw["slo"]
        if slo is not None:
            slo = number(ctx, slo, (*path, "slo"), 0.0, 100.0, open_lo=True, open_hi=True)
        out = replace(out, slo=slo)
    return out
