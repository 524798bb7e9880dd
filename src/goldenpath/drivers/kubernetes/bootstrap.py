"""Bootstrap manifests that point Argo CD or Flux at the GitOps repository.

The repository holds ``<environment>/<service>/`` folders, each with a
``kustomization.yaml``, and ``<environment>/kustomization.yaml`` listing the services
(:mod:`goldenpath.drivers.kubernetes.gitops`). :func:`bootstrap` returns, as
``{filename: object}``:

- Argo CD (``argoproj.io/v1alpha1``): per environment either an ``ApplicationSet`` whose git
  directory generator makes one ``Application`` per ``<environment>/*`` service folder
  (``argocd/applicationset-<env>.yaml``, the default), or one ``Application`` building the
  whole ``<environment>`` folder (``argocd/application-<env>.yaml``). Both sync
  automatically with prune and self-heal into the namespace named after the environment.
- Flux: one ``GitRepository`` (``source.toolkit.fluxcd.io/v1``,
  ``flux/gitrepository-goldenpath.yaml``) and per environment a ``Kustomization``
  (``kustomize.toolkit.fluxcd.io/v1``, ``flux/kustomization-<env>.yaml``, path
  ``./<env>``, prune on).

Apply the ``argocd/`` or the ``flux/`` files, never both on one cluster (two controllers
would fight over the same objects).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from goldenpath.drivers.kubernetes._kustomize import validate_segment
from goldenpath.errors import InvalidInput

__all__ = ["ARGOCD_API", "FLUX_KUSTOMIZE_API", "FLUX_SOURCE_API", "bootstrap"]

ARGOCD_API = "argoproj.io/v1alpha1"
FLUX_SOURCE_API = "source.toolkit.fluxcd.io/v1"
FLUX_KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
_IN_CLUSTER = "https://kubernetes.default.svc"
_LABELS = {"app.kubernetes.io/managed-by": "goldenpath"}


def bootstrap(
    repo_url: str,
    environments: Sequence[str],
    *,
    branch: str = "main",
    tools: Sequence[Literal["argocd", "flux"]] = ("argocd", "flux"),
    argocd: Literal["applicationset", "application"] = "applicationset",
    argocd_namespace: str = "argocd",
    flux_namespace: str = "flux-system",
    interval: str = "1m",
) -> dict[str, dict[str, Any]]:
    """``{filename: object}``: the Argo CD and/or Flux objects for ``environments``.

    Args:
        repo_url: the GitOps repository as the controller clones it (https/ssh URL).
        environments: environment folder names (DNS labels).
        branch: the branch the platform commits to.
        tools: which controllers to write for.
        argocd: ``applicationset`` (one Application per service folder) or
            ``application`` (one per environment folder).
        argocd_namespace / flux_namespace: where the controllers' objects live.
        interval: Flux reconcile interval (Go duration).

    Raises:
        InvalidInput: no repository URL, no environment, a bad environment name or an
            unknown tool.
    """
    if not isinstance(repo_url, str) or not repo_url.strip():
        raise InvalidInput("bootstrap needs the GitOps repository URL (repo_url)")
    if not environments:
        raise InvalidInput("bootstrap needs at least one environment")
    envs = sorted({validate_segment(e, what="environment") for e in environments})
    unknown = sorted(set(tools) - {"argocd", "flux"})
    if unknown or argocd not in ("applicationset", "application"):
        raise InvalidInput(
            f"unknown GitOps tool {unknown or argocd!r}: use tools 'argocd'/'flux' and "
            "argocd 'applicationset'/'application'"
        )
    files: dict[str, dict[str, Any]] = {}
    if "argocd" in tools:
        for env in envs:
            if argocd == "applicationset":
                files[f"argocd/applicationset-{env}.yaml"] = _application_set(
                    repo_url, env, branch, argocd_namespace
                )
            else:
                files[f"argocd/application-{env}.yaml"] = _application(
                    repo_url, env, branch, argocd_namespace
                )
    if "flux" in tools:
        files["flux/gitrepository-goldenpath.yaml"] = {
            "apiVersion": FLUX_SOURCE_API,
            "kind": "GitRepository",
            "metadata": {"name": "goldenpath", "namespace": flux_namespace, "labels": _LABELS},
            "spec": {"interval": interval, "url": repo_url, "ref": {"branch": branch}},
        }
        for env in envs:
            files[f"flux/kustomization-{env}.yaml"] = _flux_kustomization(
                env, flux_namespace, interval
            )
    return files


def _sync_policy() -> dict[str, Any]:
    return {
        "automated": {"prune": True, "selfHeal": True},
        "syncOptions": ["CreateNamespace=true"],
    }


def _application(repo_url: str, env: str, branch: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": ARGOCD_API,
        "kind": "Application",
        "metadata": {"name": f"goldenpath-{env}", "namespace": namespace, "labels": _LABELS},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": branch, "path": env},
            "destination": {"server": _IN_CLUSTER, "namespace": env},
            "syncPolicy": _sync_policy(),
        },
    }


def _application_set(repo_url: str, env: str, branch: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": ARGOCD_API,
        "kind": "ApplicationSet",
        "metadata": {"name": f"goldenpath-{env}", "namespace": namespace, "labels": _LABELS},
        "spec": {
            "generators": [
                {
                    "git": {
                        "repoURL": repo_url,
                        "revision": branch,
                        "directories": [{"path": f"{env}/*"}],
                    }
                }
            ],
            "template": {
                "metadata": {"name": f"{env}-{{{{path.basename}}}}", "labels": _LABELS},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": repo_url, "targetRevision": branch, "path": "{{path}}"},
                    "destination": {"server": _IN_CLUSTER, "namespace": env},
                    "syncPolicy": _sync_policy(),
                },
            },
        },
    }


def _flux_kustomization(env: str, namespace: str, interval: str) -> dict[str, Any]:
    return {
        "apiVersion": FLUX_KUSTOMIZE_API,
        "kind": "Kustomization",
        "metadata": {"name": f"goldenpath-{env}", "namespace": namespace, "labels": _LABELS},
        "spec": {
            "interval": interval,
            "path": f"./{env}",
            "prune": True,
            "targetNamespace": env,
            "sourceRef": {"kind": "GitRepository", "name": "goldenpath"},
        },
    }
