"""Schema validation of rendered objects against the Kubernetes OpenAPI schemas.

Uses the JSON schemas shipped by kubernetes-validate (https://github.com/willthames/
kubernetes-validate), strict flavour (unknown fields are errors), for the newest schema
version not newer than the requested ``major.minor``. Unlike ``kubernetes_validate.validate``
(first error only, schemas re-read per call) this reports *every* error of every object and
compiles each schema once per process.

Built-in kinds are validated (core ``v1`` and the ``*.k8s.io``/unqualified API groups:
``apps``, ``autoscaling``, ``policy``, ``networking.k8s.io`` …). Custom resources are
skipped because kubernetes-validate ships no CRD schemas: Argo Rollouts ``Rollout`` and
``AnalysisTemplate``, Prometheus Operator ``ServiceMonitor`` and ``PrometheusRule``,
External Secrets ``ExternalSecret``, CloudNativePG ``Cluster``/``ScheduledBackup`` and
Crossplane claims are not checked here.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import importlib_resources
import jsonschema
from packaging.version import Version
from referencing import Registry, Resource

from goldenpath.errors import InvalidInput
from goldenpath.manifests import _fastschema

__all__ = ["is_builtin", "schema_version", "supported_versions", "validate"]

_SCHEMAS = "kubernetes-json-schema"
_DIR = re.compile(r"^v(\d+\.\d+)\.\d+-local-strict$")


@functools.lru_cache(maxsize=1)
def supported_versions() -> tuple[str, ...]:
    """``major.minor`` versions kubernetes-validate has strict schemas for, oldest first."""
    root = importlib_resources.files("kubernetes_validate") / _SCHEMAS
    found = {m.group(1) for p in root.iterdir() if (m := _DIR.match(p.name))}
    return tuple(sorted(found, key=Version))


def schema_version(kubernetes_version: str) -> str:
    """The schema version used for ``kubernetes_version`` (``"1.30"``, ``"v1.30.2"``): the
    newest supported one not newer than it.

    Raises:
        InvalidInput: not a version, or older than the oldest supported one.
    """
    match = re.match(r"^v?(\d+)\.(\d+)", kubernetes_version.strip())
    if match is None:
        raise InvalidInput(
            f"kubernetes_version: {kubernetes_version!r} is not a version; use e.g. 1.30"
        )
    wanted = Version(f"{match.group(1)}.{match.group(2)}")
    usable = [v for v in supported_versions() if Version(v) <= wanted]
    if not usable:
        raise InvalidInput(
            f"kubernetes_version: {kubernetes_version!r} is older than every schema "
            f"kubernetes-validate ships ({supported_versions()[0]} … "
            f"{supported_versions()[-1]}); use one of those"
        )
    return usable[-1]


def is_builtin(api_version: str) -> bool:
    """True for API groups Kubernetes serves itself (``v1``, ``apps/v1``, ``*.k8s.io/…``)."""
    if "/" not in api_version:
        return True
    group = api_version.split("/", 1)[0]
    return "." not in group or group.endswith(".k8s.io")


def _schema_file(api_version: str, kind: str) -> str:
    # kubernetes-validate's file naming: rbac.authorization.k8s.io/v1 → rbac-v1
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}.json"


@functools.lru_cache(maxsize=8)
def _registry(version: str) -> tuple[Registry[Any], str, _fastschema.Compiler]:
    folder = f"v{version}.0-local-strict"
    root = importlib_resources.files("kubernetes_validate") / _SCHEMAS / folder
    definitions = json.loads((root / "_definitions.json").read_text(encoding="utf-8"))
    registry: Registry[Any] = Resource.from_contents(definitions) @ Registry()
    return registry, folder, _fastschema.Compiler(definitions)


@functools.lru_cache(maxsize=256)
def _validator(
    version: str, filename: str
) -> tuple[_fastschema.Check | None, jsonschema.protocols.Validator] | None:
    """(fast validity check or None when unsupported, the full jsonschema validator)."""
    registry, folder, compiler = _registry(version)
    path = importlib_resources.files("kubernetes_validate") / _SCHEMAS / folder / filename
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    validator: jsonschema.protocols.Validator = jsonschema.Draft202012Validator(
        schema, registry=Resource.from_contents(schema) @ registry
    )
    try:
        fast: _fastschema.Check | None = compiler.compile(schema)
    except _fastschema.Unsupported:
        fast = None
    return fast, validator


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _errors(obj: Mapping[str, Any], version: str) -> list[str]:
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    label = f"{kind or '?'}/{name or '?'}"
    if not isinstance(kind, str) or not isinstance(api_version, str):
        return [f"{label}: (root): apiVersion and kind are required strings"]
    if not is_builtin(api_version):
        return []
    found = _validator(version, _schema_file(api_version, kind))
    if found is None:
        return [
            f"{label}: apiVersion: Kubernetes {version} has no {kind} in {api_version}; "
            "use a served apiVersion"
        ]
    fast, validator = found
    if fast is not None and fast(obj):
        return []
    errors = sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{label}: {_path(e.absolute_path)}: {e.message}" for e in errors]


def validate(objects: Iterable[Mapping[str, Any]], *, kubernetes_version: str) -> list[str]:
    """Every schema error of ``objects`` for ``kubernetes_version``; ``[]`` = all valid.

    Each error reads ``"<Kind>/<name>: <path>: <message>"`` (path dotted with ``[i]`` list
    indexes, e.g. ``spec.template.spec.containers[0].ports[0].containerPort``). Strict mode:
    unknown fields are errors. Custom resources are skipped (see the module docstring);
    a built-in ``apiVersion`` the version does not serve is an error.

    Raises:
        InvalidInput: ``kubernetes_version`` is not supported (see :func:`schema_version`).
    """
    version = schema_version(kubernetes_version)
    errors: list[str] = []
    for obj in objects:
        errors.extend(_errors(obj, version))
    return errors
