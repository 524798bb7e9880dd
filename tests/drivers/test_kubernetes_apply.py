"""Direct apply (server-side apply + prune) up to the API boundary: no cluster runs on these
machines, so a missing kubeconfig and an unreachable API server are tested here, and the
apply itself only where ``GOLDENPATH_TEST_KUBECONFIG`` names a real cluster."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from goldenpath.drivers.kubernetes.apply import apply_objects
from goldenpath.errors import InvalidInput, Unavailable

UNREACHABLE = """\
apiVersion: v1
kind: Config
clusters:
- cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
  name: nowhere
contexts:
- context: {cluster: nowhere, user: nobody}
  name: nowhere
current-context: nowhere
users:
- name: nobody
  user: {token: not-a-real-token}
"""


def _config_map(name: str, namespace: str = "default") -> dict[str, object]:
    labels = {"app.kubernetes.io/instance": "gp-test", "app.kubernetes.io/managed-by": "goldenpath"}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"k": "v"},
    }


def test_a_missing_kubeconfig_and_an_unreachable_api_server_are_clear_errors(
    tmp_path: Path,
) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        apply_objects([_config_map("a")], service="gp-test", kubeconfig=tmp_path / "none")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(UNREACHABLE)
    with pytest.raises(Unavailable, match="cannot reach the Kubernetes API server") as caught:
        apply_objects([_config_map("a")], service="gp-test", kubeconfig=kubeconfig)
    assert "not-a-real-token" not in caught.value.message


@pytest.mark.skipif(
    not os.environ.get("GOLDENPATH_TEST_KUBECONFIG"),
    reason="no cluster here: set GOLDENPATH_TEST_KUBECONFIG to a test cluster's kubeconfig",
)
def test_apply_then_prune_against_a_real_cluster() -> None:
    kubeconfig = Path(os.environ["GOLDENPATH_TEST_KUBECONFIG"])
    a, b = f"gp-{uuid.uuid4().hex[:8]}", f"gp-{uuid.uuid4().hex[:8]}"
    first = apply_objects(
        [_config_map(a), _config_map(b)], service="gp-test", kubeconfig=kubeconfig
    )
    assert len(first["applied"]) == 2
    second = apply_objects([_config_map(a)], service="gp-test", kubeconfig=kubeconfig)
    assert f"ConfigMap/default/{b}" in second["pruned"]
    apply_objects([], service="gp-test", kubeconfig=kubeconfig)
