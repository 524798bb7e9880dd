"""Direct apply: rendered objects to a cluster with server-side apply, pruned by label.

The optional path beside GitOps (issue 6): with a kubeconfig, every object is applied with
Kubernetes server-side apply (field manager ``goldenpath``, conflicts forced: the platform
owns these fields) through the kubernetes Python client's dynamic client, then objects of the
same kinds that carry the service's labels (``app.kubernetes.io/instance=<service>``,
``app.kubernetes.io/managed-by=goldenpath``) but are no longer rendered are deleted.

No cluster can run on the machines goldenpath is built on: this module is exercised up to
the API boundary (kubeconfig loading, an unreachable API server) and against a real cluster
only where ``GOLDENPATH_TEST_KUBECONFIG`` names one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from goldenpath.errors import InvalidInput, Unavailable

__all__ = ["FIELD_MANAGER", "apply_objects"]

FIELD_MANAGER = "goldenpath"
_INSTANCE = "app.kubernetes.io/instance"
_MANAGED_BY = "app.kubernetes.io/managed-by"


def _client(kubeconfig: Path, context: str | None) -> Any:
    """A dynamic client for ``kubeconfig`` (and ``context``).

    Raises:
        InvalidInput: the file is missing or not a kubeconfig.
    """
    from kubernetes import config, dynamic  # imported on use: only this path needs them

    if not kubeconfig.is_file():
        raise InvalidInput(
            f"kubeconfig {kubeconfig} does not exist: set the environment's kubeconfig "
            "setting to a readable file (platform env create … --set kubeconfig=PATH)"
        )
    try:
        api = config.new_client_from_config(config_file=str(kubeconfig), context=context)
    except (config.ConfigException, ValueError, OSError) as e:
        raise InvalidInput(f"kubeconfig {kubeconfig} cannot be used: {e}") from e
    try:
        return dynamic.DynamicClient(api)
    except Exception as e:  # urllib3/ApiException: the API server is not there
        raise Unavailable(
            f"cannot reach the Kubernetes API server of {kubeconfig}: {type(e).__name__}: "
            f"{str(e)[:300]}"
        ) from e


def apply_objects(
    objects: Sequence[Mapping[str, Any]],
    *,
    service: str,
    kubeconfig: Path,
    context: str | None = None,
) -> dict[str, list[str]]:
    """Server-side apply ``objects`` and prune what ``service`` no longer renders.

    Returns ``{"applied": ["Kind/namespace/name", …], "pruned": […]}``.

    Raises:
        InvalidInput: a bad kubeconfig, or an object the API server refuses (its message).
        Unavailable: the API server cannot be reached.
    """
    client = _client(kubeconfig, context)
    applied: list[str] = []
    kinds: dict[tuple[str, str], set[str | None]] = {}
    try:
        for obj in objects:
            meta = obj.get("metadata") or {}
            resource = client.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            namespace = meta.get("namespace")
            resource.server_side_apply(
                body=dict(obj),
                name=meta["name"],
                namespace=namespace,
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
            )
            applied.append(f"{obj['kind']}/{namespace or '-'}/{meta['name']}")
            kinds.setdefault((obj["apiVersion"], obj["kind"]), set()).add(namespace)
        pruned = _prune(client, service, kinds, set(applied))
    except (InvalidInput, Unavailable):
        raise
    except Exception as e:
        status = getattr(e, "status", None)
        if status is None:
            raise Unavailable(f"Kubernetes API error: {type(e).__name__}: {str(e)[:300]}") from e
        raise InvalidInput(f"the Kubernetes API refused an object ({status}): {e}") from e
    return {"applied": applied, "pruned": pruned}


def _prune(
    client: Any,
    service: str,
    kinds: Mapping[tuple[str, str], set[str | None]],
    keep: set[str],
) -> list[str]:
    selector = f"{_INSTANCE}={service},{_MANAGED_BY}=goldenpath"
    pruned = []
    for (api_version, kind), namespaces in sorted(kinds.items(), key=str):
        resource = client.resources.get(api_version=api_version, kind=kind)
        for namespace in sorted(namespaces, key=str):
            found = resource.get(namespace=namespace, label_selector=selector)
            for item in found.items:
                key = f"{kind}/{namespace or '-'}/{item.metadata.name}"
                if key not in keep:
                    resource.delete(name=item.metadata.name, namespace=namespace)
                    pruned.append(key)
    return pruned
