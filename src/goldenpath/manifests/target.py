"""Where a render goes: one environment of one cluster (namespace, domain, cluster add-ons).

A :class:`RenderTarget` is plain data handed to every renderer of ``goldenpath.manifests``;
the deploy layer builds it from the environment's settings. No IO.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RenderTarget"]


@dataclass(frozen=True, slots=True)
class RenderTarget:
    """One environment on a Kubernetes cluster, as the manifests need to know it.

    Attributes:
        environment: the goldenpath environment name (``dev``, ``staging``, ``production``);
            it selects ``platform.yaml`` ``environments.<name>`` overrides and is part of the
            public host ``<service>.<environment>.<domain>``.
        namespace: the Kubernetes namespace every namespaced object is rendered into.
        domain: the DNS zone public hosts live under.
        production: the environment serves real users (for policies and labels).
        kubernetes_version: ``major.minor`` of the cluster; objects are validated against
            this version's OpenAPI schemas.
        ingress_class: ``spec.ingressClassName`` of every Ingress.
        cluster_issuer: the cert-manager ``ClusterIssuer`` that signs Ingress TLS certificates.
        image_registry: registry of images the platform builds
            (``<registry>/<service>:<version>``).
        ingress_namespace: namespace of the ingress controller (allowed by NetworkPolicies).
        external_secret_store: the External Secrets Operator ``ClusterSecretStore`` that holds
            service secrets.
        prometheus_address: the Prometheus URL Argo Rollouts' analysis queries.
    """

    environment: str
    namespace: str
    domain: str = "example.com"
    production: bool = False
    kubernetes_version: str = "1.30"
    ingress_class: str = "nginx"
    cluster_issuer: str = "letsencrypt"
    image_registry: str = "registry.local"
    ingress_namespace: str = "ingress-nginx"
    external_secret_store: str = "platform-secrets"
    prometheus_address: str = "http://prometheus-operated.monitoring.svc:9090"

    def host(self, service: str) -> str:
        """The public host of ``service`` here: ``<service>.<environment>.<domain>``."""
        return f"{service}.{self.environment}.{self.domain}"
