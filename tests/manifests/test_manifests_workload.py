"""Essentials of each rendered object: labels, security, TLS, rollout steps, env wiring."""

from __future__ import annotations

from typing import Any

import pytest

from goldenpath.errors import InvalidInput
from goldenpath.manifests.target import RenderTarget
from goldenpath.manifests.validate import validate
from goldenpath.manifests.workload import workload_objects
from goldenpath.workloads import Workload, parse_workload

PAYMENT = """\
kind: Service
metadata: {name: payment-api, team: payments, tier: critical}
spec:
  language: typescript
  build: {image: ghcr.io/acme/payments:1.4.2}
  run:
    command: ["node", "dist/server.js", "--port", "$PORT"]
    port: 3000
    readiness: {path: /readyz, timeout: 2s}
    liveness: {path: null}
    env:
      LOG_LEVEL: info
      DB_PASS: "${resources.db.password}"
      DSN: "postgres://${resources.db.username}:${resources.db.password}@${resources.db.host}/x"
      CACHE_HOST: "${resources.cache.host}"
      ODD: "$(not-a-ref)"
  runtime: {replicas: 3, cpu: "500m", memory: "512Mi"}
  database: {type: postgres, size: small}
  resources:
    cache: {type: redis, size: small}
  deployment:
    strategy: canary
    steps:
      - setWeight: 10
      - pause: 30s
      - analysis: {interval: 5s, count: 3}
      - setWeight: 50
      - pause: {}
  environments:
    production:
      runtime: {replicas: 5}
"""

SIMPLE = """\
kind: Service
metadata: {name: hello}
spec:
  language: python
  framework: fastapi
  runtime: {replicas: 1}
"""

DEV = RenderTarget(environment="dev", namespace="team-dev", domain="apps.test")
PROD = RenderTarget(environment="production", namespace="team-prod", production=True)


def _load(text: str, source: str = "svc/platform.yaml") -> Workload:
    return parse_workload(text, source=source)


def _by_kind(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        found.setdefault(obj["kind"], []).append(obj)
    return found


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = _by_kind(objects)[kind]
    return found


def test_every_object_carries_recommended_and_backstage_labels() -> None:
    objects = workload_objects(_load(PAYMENT), DEV, image="reg.test/payment-api:2.0.1")
    assert len(objects) >= 9
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "payment-api"
        assert labels["app.kubernetes.io/instance"] == "payment-api-dev"
        assert labels["app.kubernetes.io/version"] == "2.0.1"
        assert labels["app.kubernetes.io/component"] == "critical"
        assert labels["app.kubernetes.io/part-of"] == "payments"
        assert labels["app.kubernetes.io/managed-by"] == "goldenpath"
        assert labels["backstage.io/kubernetes-id"] == "payment-api"
        assert obj["metadata"]["namespace"] == "team-dev"
    assert validate(objects, kubernetes_version="1.30") == []


def test_pod_security_baseline_probes_and_resources() -> None:
    rollout = _one(workload_objects(_load(PAYMENT), DEV), "Rollout")
    pod = rollout["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "payment-api"
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]
    (main,) = pod["containers"]
    sc = main["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["runAsNonRoot"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "tmp", "mountPath": "/tmp"} in main["volumeMounts"]
    assert main["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    assert main["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["readinessProbe"]["timeoutSeconds"] == 2
    assert main["livenessProbe"]["tcpSocket"] == {"port": "http"}
    assert main["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
    assert main["command"] == ["node", "dist/server.js", "--port", "3000"]
    # the image the platform builds when none is given
    assert main["image"] == "registry.local/payment-api:1.4.2"


def test_image_parameter_wins_and_default_is_registry_service_version() -> None:
    simple = _load(SIMPLE)
    deployment = _one(workload_objects(simple, DEV, version="abc123"), "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.local/hello:abc123"
    target = RenderTarget(environment="dev", namespace="d", image_registry="r.example:5000")
    deployment = _one(
        workload_objects(simple, target, image="x/y@sha256:" + "a" * 64), "Deployment"
    )
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].startswith("x/y@")
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "a" * 12


def test_ingress_has_tls_for_the_environment_host() -> None:
    ingress = _one(workload_objects(_load(SIMPLE), DEV), "Ingress")
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["hello.dev.apps.test"], "secretName": "hello-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "hello.dev.apps.test"
    backend = rule["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "hello", "port": {"name": "http"}}}


def test_rollout_steps_analysis_template_and_canary_service() -> None:
    objects = workload_objects(_load(PAYMENT), DEV)
    kinds = _by_kind(objects)
    assert "Deployment" not in kinds
    rollout = _one(objects, "Rollout")
    assert rollout["apiVersion"] == "argoproj.io/v1alpha1"
    canary = rollout["spec"]["strategy"]["canary"]
    assert canary["stableService"] == "payment-api"
    assert canary["canaryService"] == "payment-api-canary"
    assert canary["trafficRouting"] == {"nginx": {"stableIngress": "payment-api"}}
    steps = canary["steps"]
    assert steps[0] == {"setWeight": 10}
    assert steps[1] == {"pause": {"duration": "30s"}}
    assert steps[2]["analysis"]["templates"] == [{"templateName": "payment-api-canary"}]
    assert steps[3] == {"setWeight": 50}
    assert steps[4] == {"pause": {}}
    assert sorted(s["metadata"]["name"] for s in kinds["Service"]) == [
        "payment-api",
        "payment-api-canary",
    ]
    template = _one(objects, "AnalysisTemplate")
    metrics = {m["name"]: m for m in template["spec"]["metrics"]}
    assert set(metrics) == {"error-rate", "p99-latency-ratio"}
    assert metrics["error-rate"]["interval"] == "5s"
    assert metrics["error-rate"]["count"] == 3
    assert metrics["error-rate"]["successCondition"] == "result[0] <= 0.05"
    query = metrics["p99-latency-ratio"]["provider"]["prometheus"]["query"]
    assert "histogram_quantile(0.99" in query
    hpa = _one(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Rollout"


def test_rolling_deployment_hpa_and_pdb_follow_replicas() -> None:
    objects = workload_objects(
        _load(PAYMENT.replace("strategy: canary", "strategy: rolling\n    canary: true")), PROD
    )
    deployment = _one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 5  # production override
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    hpa = _one(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (5, 15)
    assert _one(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    single = workload_objects(_load(SIMPLE), DEV)
    assert "PodDisruptionBudget" not in _by_kind(single)
    hpa = _one(single, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)


def test_network_policies_deny_by_default_and_allow_ingress_and_consumers() -> None:
    objects = workload_objects(_load(SIMPLE), DEV, consumers=["web", "batch"])
    policies = {p["metadata"]["name"]: p["spec"] for p in _by_kind(objects)["NetworkPolicy"]}
    deny = policies["hello-default-deny"]
    assert deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    allow = policies["hello-allow"]
    (rule,) = allow["ingress"]
    ns, consumers = rule["from"]
    assert ns == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    }
    expr = consumers["podSelector"]["matchExpressions"][0]
    assert expr == {"key": "app.kubernetes.io/name", "operator": "In", "values": ["batch", "web"]}
    alone = workload_objects(_load(SIMPLE), DEV)
    allow = next(p for p in alone if p["metadata"]["name"] == "hello-allow")
    assert len(allow["spec"]["ingress"][0]["from"]) == 1


def test_env_placeholders_become_secret_refs_never_values() -> None:
    objects = workload_objects(_load(PAYMENT), DEV, secret_names=["STRIPE_KEY", "API_TOKEN"])
    container = _one(objects, "Rollout")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["DB_PASS"]["valueFrom"] == {
        "secretKeyRef": {"name": "payment-api-db-app", "key": "password"}
    }
    # a mixed value composes helper variables with $(VAR), declared before it
    assert env["DSN"]["value"] == (
        "postgres://app:$(GP_DB_PASSWORD)@payment-api-db-rw.team-dev.svc/x"
    )
    names = [e["name"] for e in container["env"]]
    assert names.index("GP_DB_PASSWORD") < names.index("DSN")
    assert env["CACHE_HOST"]["valueFrom"] == {
        "secretKeyRef": {"name": "payment-api-cache", "key": "host"}
    }
    assert env["ODD"]["value"] == "$$(not-a-ref)"
    assert env["LOG_LEVEL"]["value"] == "info"
    # the local driver's conventional variables for the database
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "payment-api-db-app",
        "key": "uri",
    }
    assert env["PGHOST"]["value"] == "payment-api-db-rw.team-dev.svc"
    assert container["envFrom"] == [{"secretRef": {"name": "payment-api-secrets"}}]
    external = _one(objects, "ExternalSecret")
    assert external["apiVersion"] == "external-secrets.io/v1beta1"
    spec = external["spec"]
    assert spec["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "platform-secrets"}
    assert spec["target"]["name"] == "payment-api-secrets"
    assert [d["secretKey"] for d in spec["data"]] == ["API_TOKEN", "STRIPE_KEY"]
    assert spec["data"][0]["remoteRef"] == {"key": "dev/payment-api", "property": "API_TOKEN"}


def test_without_secrets_there_is_no_external_secret() -> None:
    objects = workload_objects(_load(SIMPLE), DEV)
    assert "ExternalSecret" not in _by_kind(objects)
    container = _one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "envFrom" not in container
    assert container["env"] == [{"name": "PORT", "value": str(_load(SIMPLE).port)}]
    # the local default binds loopback; in a pod it must listen on the pod IP
    assert "127.0.0.1" not in container["command"]
    assert "0.0.0.0" in container["command"]


SCORE = """\
apiVersion: score.dev/v1b1
metadata: {name: shop}
containers:
  web:
    image: .
    variables:
      PEER: "http://${resources.cart.name}:7070"
      SELF: "${metadata.name}"
      HOST: "${resources.dns.host}"
      LITERAL: "$${HOME}"
  helper:
    image: busybox:1.36
    command: ["/bin/sh"]
    args: ["-c", "echo $${X}"]
service:
  ports:
    www: {port: 80, targetPort: 8080}
resources:
  cart: {type: service}
  dns: {type: dns}
  route: {type: route, params: {host: "${resources.dns.host}", path: /shop, port: 80}}
"""


def test_score_containers_services_dns_and_route() -> None:
    objects = workload_objects(_load(SCORE, "shop/score.yaml"), DEV, image="reg/shop:7")
    containers = _one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web", "helper"]
    web, helper = containers
    assert web["image"] == "reg/shop:7"
    env = {e["name"]: e["value"] for e in web["env"]}
    assert env == {
        "PEER": "http://cart:7070",
        "SELF": "shop",
        "HOST": "shop.dev.apps.test",
        "LITERAL": "${HOME}",
    }
    assert helper["image"] == "busybox:1.36"
    assert helper["command"] == ["/bin/sh", "-c", "echo ${X}"]
    assert helper["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    ingress = _one(objects, "Ingress")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/shop"
    assert validate(objects, kubernetes_version="1.30") == []


def test_score_without_route_or_dns_gets_no_ingress() -> None:
    text = (
        SCORE.split("resources:")[0]
        .replace("${resources.dns.host}", "x")
        .replace("${resources.cart.name}", "cart")
    )
    objects = workload_objects(_load(text, "shop/score.yaml"), DEV)
    assert "Ingress" not in _by_kind(objects)


@pytest.mark.parametrize(
    ("env", "field", "fragment"),
    [
        ("${resources.nope.host}", "containers.web.variables.V", "'nope' is not declared"),
        ("${resources.dns.port}", "containers.web.variables.V", "output 'port' of dns"),
        ("${resources.cart.port}", "containers.web.variables.V", "params.port None"),
        ("${workload.thing}", "containers.web.variables.V", "cannot be rendered"),
    ],
)
def test_unrenderable_placeholders_name_source_and_field(
    env: str, field: str, fragment: str
) -> None:
    text = f"""\
apiVersion: score.dev/v1b1
metadata: {{name: shop}}
containers:
  web: {{image: nginx, variables: {{V: "{env}"}}}}
resources:
  cart: {{type: service}}
  dns: {{type: dns}}
"""
    workload = _load(text, "repo/score.yaml")
    with pytest.raises(InvalidInput) as caught:
        workload_objects(workload, DEV)
    assert caught.value.message.startswith(f"repo/score.yaml: {field}: ")
    assert fragment in caught.value.message


def test_blue_green_renders_a_rollout_with_a_preview_service() -> None:
    text = PAYMENT.replace("strategy: canary", "strategy: blue-green").split("    steps:")[0]
    objects = workload_objects(_load(text), DEV)
    strategy = _one(objects, "Rollout")["spec"]["strategy"]
    assert strategy == {
        "blueGreen": {
            "activeService": "payment-api",
            "previewService": "payment-api-preview",
            "autoPromotionEnabled": True,
        }
    }
    assert "AnalysisTemplate" not in _by_kind(objects)
