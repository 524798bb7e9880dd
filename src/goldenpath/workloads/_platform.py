"""The golden-path ``platform.yaml`` (``kind: Service``) → :class:`Workload`.

The document is ``{apiVersion?, kind: Service, metadata: {name, team, tier, description},
spec: {...}}``; ``docs/workloads.md`` is the field reference. Each spec section is applied
over a base value, so ``spec.environments.<env>`` overrides reuse the same parsers (and the
same error messages) with the loaded workload as base.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from goldenpath.workloads._check import DNS_LABEL, Ctx, mapping, string, string_list
from goldenpath.workloads._deployment import check_steps, parse_deployment
from goldenpath.workloads._sections import (
    defaults_for,
    parse_build,
    parse_database,
    parse_monitoring,
    parse_resources,
    parse_run,
    parse_runtime,
)
from goldenpath.workloads._yaml import Path_, YamlFile
from goldenpath.workloads.model import (
    Build,
    DeploymentPolicy,
    Monitoring,
    Probe,
    Runtime,
    Workload,
)

__all__ = ["API_VERSION", "apply_environment", "parse_platform"]

API_VERSION = "goldenpath.dev/v1"
_TOP = ("apiVersion", "kind", "metadata", "spec")
_META = ("name", "team", "tier", "description")
_SPEC = (
    "language",
    "framework",
    "build",
    "run",
    "runtime",
    "database",
    "resources",
    "monitoring",
    "deployment",
    "dependencies",
    "environments",
)
_FIXED = ("language", "framework", "environments")
_OVERRIDABLE = tuple(k for k in _SPEC if k not in _FIXED)
_PLACEHOLDER = re.compile(r"(?<!\$)\$\{resources\.([^.}]+)")
_NAME_FORM = "a DNS label: lowercase letters, digits and '-', at most 63, no '-' at either end"


def _or_empty(value: Any) -> Any:
    return {} if value is None else value


def _optional_str(ctx: Ctx, raw: dict[str, Any], key: str, path: Path_) -> str | None:
    value = raw.get(key)
    return None if value is None else string(ctx, value, (*path, key))


def parse_platform(doc: YamlFile) -> Workload:
    """Check and normalise a parsed ``platform.yaml``; every environment override is checked too.

    Raises:
        WorkloadError: the first problem found, with file, line, dotted field and the fix.
    """
    ctx = Ctx(doc.source, doc.line)
    hints = {k: f"it belongs under spec: (spec.{k})" for k in _SPEC}
    top = mapping(ctx, doc.data, (), _TOP, required=("kind", "metadata"), hints=hints)
    if "apiVersion" in top:
        string(ctx, top["apiVersion"], ("apiVersion",), choices=(API_VERSION,))
    string(ctx, top["kind"], ("kind",), choices=("Service",))
    meta = mapping(ctx, top["metadata"], ("metadata",), _META, required=("name",))
    name = string(ctx, meta["name"], ("metadata", "name"), pattern=DNS_LABEL, expected=_NAME_FORM)
    spec = mapping(ctx, _or_empty(top.get("spec")), ("spec",), _SPEC)
    language = _optional_str(ctx, spec, "language", ("spec",))
    framework = _optional_str(ctx, spec, "framework", ("spec",))
    defaults = defaults_for(language, framework)
    base = Workload(
        name=name,
        team=_optional_str(ctx, meta, "team", ("metadata",)),
        tier=_optional_str(ctx, meta, "tier", ("metadata",)),
        description=_optional_str(ctx, meta, "description", ("metadata",)),
        language=language,
        framework=framework,
        build=Build(kind=defaults.kind),
        command=defaults.command,
        port=defaults.port,
        readiness=Probe("/readyz"),
        liveness=Probe("/healthz"),
        env={},
        runtime=Runtime(),
        resources={},
        monitoring=Monitoring(),
        deployment=DeploymentPolicy(),
        dependencies=(),
        environments={},
        source=doc.source,
        format="platform.yaml",
    )
    workload = _apply(ctx, spec, ("spec",), base)
    raw_run = spec.get("run")
    run: dict[str, Any] = raw_run if isinstance(raw_run, dict) else {}
    if workload.build.kind == "package":
        # A published package is someone else's app: no /readyz or /healthz to assume, so
        # unless spec.run says otherwise its probes are TCP connects to its port.
        if "readiness" not in run:
            workload = replace(workload, readiness=Probe(None))
        if "liveness" not in run:
            workload = replace(workload, liveness=Probe(None))
    environments = _environments(ctx, spec.get("environments"), workload)
    return replace(workload, environments=environments)


def _environments(ctx: Ctx, raw: Any, workload: Workload) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    path: Path_ = ("spec", "environments")
    raw = mapping(ctx, raw, path)
    hints = {k: f"spec.{k} is the same in every environment" for k in _FIXED}
    out: dict[str, dict[str, Any]] = {}
    for env, override in raw.items():
        at = (*path, env)
        if not DNS_LABEL.match(env):
            raise ctx.fail(at, f"environment name {env!r} is not {_NAME_FORM}")
        override = mapping(ctx, _or_empty(override), at, _OVERRIDABLE, hints=hints)
        _apply(ctx, override, at, workload)  # checked now, with lines; applied on deploy
        out[env] = override
    return out


def apply_environment(workload: Workload, environment: str) -> Workload:
    """``workload`` with ``environments[environment]`` applied (``Workload.for_environment``)."""
    ctx = Ctx(f"{workload.source} (environment {environment})")
    at: Path_ = ("spec", "environments", environment)
    override = mapping(ctx, dict(workload.environments[environment]), at, _OVERRIDABLE)
    return _apply(ctx, override, at, workload)


def _apply(ctx: Ctx, spec: dict[str, Any], at: Path_, base: Workload) -> Workload:
    """Apply the sections of ``spec`` (a checked mapping at path ``at``) over ``base``."""
    changes: dict[str, Any] = {}
    if "build" in spec:
        changes["build"] = parse_build(ctx, spec["build"], (*at, "build"), base.build)
    if "run" in spec:
        changes.update(parse_run(ctx, spec["run"], (*at, "run"), base))
    if "runtime" in spec:
        changes["runtime"] = parse_runtime(ctx, spec["runtime"], (*at, "runtime"), base.runtime)
    resources = dict(base.resources)
    if "database" in spec:
        resources = parse_database(ctx, spec["database"], (*at, "database"), resources)
    if "resources" in spec:
        resources = parse_resources(ctx, spec["resources"], (*at, "resources"), resources)
    changes["resources"] = resources
    if "monitoring" in spec:
        changes["monitoring"] = parse_monitoring(
            ctx, spec["monitoring"], (*at, "monitoring"), base.monitoring
        )
    deployment = base.deployment
    if "deployment" in spec:
        deployment = parse_deployment(ctx, spec["deployment"], (*at, "deployment"), deployment)
    changes["deployment"] = check_steps(ctx, deployment, (*at, "deployment"))
    if "dependencies" in spec:
        deps = spec["dependencies"]
        path = (*at, "dependencies")
        changes["dependencies"] = () if deps is None else string_list(ctx, deps, path, unique=True)
    workload = replace(base, **changes)
    _check_runnable(ctx, workload, at)
    return workload


def _check_runnable(ctx: Ctx, w: Workload, at: Path_) -> None:
    """A command exists and every ``${resources.<name>...}`` names a declared resource."""
    if not w.command:
        lang = f"language {w.language!r}" if w.language else "no spec.language"
        fw = f" and framework {w.framework!r}" if w.framework else ""
        raise ctx.fail(
            (*at, "run", "command"),
            f"no default command for {lang}{fw}; set spec.run.command, "
            'e.g. ["gunicorn", "app:app", "--bind", "127.0.0.1:$PORT"]',
        )
    for var, value in w.env.items():
        for name in _PLACEHOLDER.findall(value):
            if name not in w.resources:
                declared = ", ".join(sorted(w.resources)) or "none"
                raise ctx.fail(
                    (*at, "run", "env", var),
                    f"refers to ${{resources.{name}...}} but no resource {name!r} is declared "
                    f"(declared: {declared}); add spec.resources.{name} or spec.database",
                )
