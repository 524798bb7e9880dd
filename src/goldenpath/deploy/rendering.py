"""What a deploy to Kubernetes would apply: the workload rendered for an environment.

``platform render --env production`` (issue 6): the environment's settings become a
:class:`~goldenpath.manifests.target.RenderTarget` (namespace, domain, Kubernetes version,
ingress class, cert-manager issuer, image registry — each optional in the environment's
``settings``, see :func:`render_target`), the workload becomes Kubernetes objects
(:func:`goldenpath.manifests.render.render_service`), and every object is validated against
the Kubernetes OpenAPI schemas of that version. Secrets are referenced by name only
(ExternalSecret); values never enter a render.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from goldenpath.deploy.records import Environment
from goldenpath.manifests.render import render_service
from goldenpath.manifests.target import RenderTarget
from goldenpath.manifests.validate import validate
from goldenpath.workloads.model import Workload

__all__ = ["RenderResult", "render", "render_target"]

#: environment settings a render reads, with their RenderTarget field
_TARGET_SETTINGS = (
    "namespace",
    "domain",
    "kubernetes_version",
    "ingress_class",
    "cluster_issuer",
    "image_registry",
    "ingress_namespace",
    "external_secret_store",
)


@dataclass(frozen=True)
class RenderResult:
    """A render: the ``objects`` (Kubernetes manifests as dicts, in apply order) and the
    schema ``errors`` (``"<Kind>/<name>: <path>: <message>"``; empty when all are valid)."""

    service: str
    environment: str
    objects: list[dict[str, Any]]
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``{service, environment, objects, errors}``."""
        return {
            "service": self.service,
            "environment": self.environment,
            "objects": self.objects,
            "errors": self.errors,
        }


def render_target(env: Environment) -> RenderTarget:
    """The render target of ``env``: its name, ``production`` flag and the optional
    settings ``namespace`` (default: the environment's name), ``domain``,
    ``kubernetes_version``, ``ingress_class``, ``cluster_issuer``, ``image_registry``,
    ``ingress_namespace``, ``external_secret_store`` (defaults: RenderTarget's)."""
    given = {k: str(env.settings[k]) for k in _TARGET_SETTINGS if env.settings.get(k)}
    given.setdefault("namespace", env.name)
    return RenderTarget(environment=env.name, production=env.production, **given)


def render(
    workload: Workload,
    env: Environment,
    *,
    image: str | None = None,
    secret_names: Sequence[str] = (),
) -> RenderResult:
    """Render ``workload`` for ``env`` and validate every object (module doc).

    Raises:
        InvalidInput: the workload asks for something that cannot be rendered (the message
            names its source and field).
    """
    target = render_target(env)
    objects = render_service(workload, target, image=image, secret_names=secret_names)
    errors = validate(objects, kubernetes_version=target.kubernetes_version)
    return RenderResult(workload.name, env.name, objects, errors)
