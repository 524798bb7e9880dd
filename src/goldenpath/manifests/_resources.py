"""A workload's ``resources``: claim names, output wiring and database manifests.

Each ``${resources.<name>.<output>}`` becomes either a literal (hosts and ports the platform
knows: a CloudNativePG service, another workload's Service, the ingress host) or a reference
to a key of a Kubernetes Secret (passwords, URIs, every output of types without a
Kubernetes composition). Values never appear in the manifests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from goldenpath.errors import InvalidInput
from goldenpath.manifests.target import RenderTarget
from goldenpath.resources import kubernetes as k8s_resources
from goldenpath.resources.compositions import Composition, CompositionSet, load_compositions
from goldenpath.resources.model import validate_claim_name
from goldenpath.workloads.model import ResourceRequest, Workload

__all__ = [
    "DATABASE_TYPES",
    "Output",
    "claim_name",
    "conventional_env",
    "database_objects",
    "resolve_output",
]

DATABASE_TYPES = frozenset({"postgres"})
_SERVICE_TYPES = frozenset({"service", "endpoint", "service-port"})
_NO_OUTPUTS = frozenset({"route", "volume"})
# Score output names → the composition's output names.
_ALIASES = {"name": "database", "dbname": "database", "user": "username", "uri": "url"}
_SECRET_PREFIX = "secretKeyRef:"


@dataclass(frozen=True)
class Output:
    """One resolved output: a literal ``value``, or ``key`` of Secret ``secret``."""

    value: str | None = None
    secret: str | None = None
    key: str | None = None


def claim_name(workload: Workload, request: ResourceRequest) -> str:
    """The claim behind ``request``: ``params.id`` (shared) or ``<service>-<resource>``."""
    shared = request.params.get("id")
    name = str(shared) if shared else f"{workload.name}-{request.name}"
    return validate_claim_name(name, field_name=f"{workload.source}: resources.{request.name}")


def _composition(
    compositions: CompositionSet | None, request: ResourceRequest, target: RenderTarget
) -> Composition:
    found = compositions if compositions is not None else load_compositions(None)
    return found.select(
        type=request.type,
        size=request.size or "small",
        environment=target.environment,
        driver="kubernetes",
    )


def _database_output(
    workload: Workload,
    target: RenderTarget,
    request: ResourceRequest,
    output: str,
    compositions: CompositionSet | None,
    field: str,
) -> Output:
    comp = _composition(compositions, request, target)
    name = claim_name(workload, request)
    outputs = comp.render_outputs(
        {
            "name": name,
            "claim": name,
            "environment": target.environment,
            "namespace": target.namespace,
            "database": "app",
            "username": "app",
        }
    )
    wanted = _ALIASES.get(output, output)
    if wanted not in outputs:
        raise InvalidInput(
            f"{workload.source}: {field}: {request.type} resource {request.name!r} has no "
            f"output {output!r}; use one of {', '.join(sorted(outputs))}"
        )
    value = outputs[wanted]
    if value.startswith(_SECRET_PREFIX):
        secret, _, key = value[len(_SECRET_PREFIX) :].partition("/")
        return Output(secret=secret, key=key)
    return Output(value=value)


def resolve_output(
    workload: Workload,
    target: RenderTarget,
    resource: str,
    output: str,
    *,
    field: str,
    compositions: CompositionSet | None = None,
) -> Output:
    """Where ``${resources.<resource>.<output>}`` comes from in ``target``.

    ``postgres``: the Kubernetes composition's outputs (CloudNativePG: host
    ``<claim>-rw.<namespace>.svc``, port 5432, database/username ``app``, password and url from
    Secret ``<claim>-app``); ``dns``: ``host`` = the Ingress host; ``service``/``endpoint``/
    ``service-port``: ``name``/``host``/``hostname`` = the other workload's Service name
    (``params.workload`` or the resource name), ``port`` = a numeric ``params.port``; any other
    type: key ``<output>`` of Secret ``<claim>`` (created by the platform team's provisioner).

    Raises:
        InvalidInput: an undeclared resource, or an output that cannot be rendered (names
            the workload source and ``field``).
    """
    request = workload.resources.get(resource)
    if request is None:
        raise InvalidInput(
            f"{workload.source}: {field}: resource {resource!r} is not declared; add it to "
            "resources"
        )
    kind = request.type
    if kind in DATABASE_TYPES:
        return _database_output(workload, target, request, output, compositions, field)
    if kind == "dns" and output in ("host", "hostname"):
        return Output(value=target.host(workload.name))
    if kind in _SERVICE_TYPES:
        found = _service_output(request, output)
        if found is not None:
            return found
    if kind in _SERVICE_TYPES and output == "port":
        raise InvalidInput(
            f"{workload.source}: {field}: output 'port' of {kind} resource {resource!r} "
            f"cannot be rendered for Kubernetes: params.port {request.params.get('port')!r} "
            "is not a port number; set params.port to the number (or write the port literally)"
        )
    if kind in _NO_OUTPUTS or kind == "dns" or kind in _SERVICE_TYPES:
        raise InvalidInput(
            f"{workload.source}: {field}: output {output!r} of {kind} resource "
            f"{resource!r} cannot be rendered for Kubernetes; use a literal value"
        )
    return Output(secret=claim_name(workload, request), key=output)


def _service_output(request: ResourceRequest, output: str) -> Output | None:
    params: Mapping[str, Any] = request.params
    if output in ("name", "host", "hostname"):
        return Output(value=str(params.get("workload") or request.name))
    port = params.get("port")
    if output == "port" and (isinstance(port, int) or str(port).isdigit()):
        return Output(value=str(port))
    return None


def database_objects(
    workload: Workload, target: RenderTarget, *, compositions: CompositionSet | None = None
) -> list[dict[str, Any]]:
    """The manifests of every ``postgres`` resource, from its Kubernetes composition.

    Raises:
        InvalidInput: no composition serves the resource in ``target.environment``, or a
            claim name is invalid.
    """
    found: list[dict[str, Any]] = []
    for request in workload.resources.values():
        if request.type not in DATABASE_TYPES:
            continue
        comp = _composition(compositions, request, target)
        found.extend(
            k8s_resources.render(
                comp,
                name=claim_name(workload, request),
                environment=target.environment,
                size=request.size or "small",
                defaults={},
                namespace=target.namespace,
            )
        )
    return found


_PG_VARS = {
    "host": "PGHOST",
    "port": "PGPORT",
    "database": "PGDATABASE",
    "username": "PGUSER",
    "password": "PGPASSWORD",
    "url": "DATABASE_URL",
}
_OUTPUTS = ("host", "port", "database", "username", "password", "url")


def conventional_env(
    workload: Workload, target: RenderTarget, *, compositions: CompositionSet | None = None
) -> dict[str, Output]:
    """The variables the local driver also sets for ``postgres`` resources: ``<NAME>_HOST``,
    ``_PORT``, ``_DATABASE``, ``_USERNAME``, ``_PASSWORD``, ``_URL`` per resource, and for the
    one named ``db`` (``platform.yaml`` ``spec.database``) ``DATABASE_URL`` and ``PG*``."""
    found: dict[str, Output] = {}
    for request in workload.resources.values():
        if request.type not in DATABASE_TYPES:
            continue
        prefix = "".join(c if c.isalnum() else "_" for c in request.name.upper())
        field = f"resources.{request.name}"
        for output in _OUTPUTS:
            out = _database_output(workload, target, request, output, compositions, field)
            found[f"{prefix}_{output.upper()}"] = out
            if request.name == "db":
                found[_PG_VARS[output]] = out
    return found
