"""Compositions as data: built-ins, overrides, selection, validation; Kubernetes renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from goldenpath.errors import InvalidInput
from goldenpath.resources import kubernetes
from goldenpath.resources.compositions import load_compositions
from goldenpath.resources.model import ClaimRequest, output_secret_names, validate_claim_name
from goldenpath.resources.types import load_types

PG_DEFAULTS = load_types().size(load_types().get("postgres"), "small")


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


OVERRIDE = """\
apiVersion: goldenpath.dev/v1alpha1
kind: Composition
metadata: {name: local-postgres, description: team override}
spec:
  type: postgres
  classes: [small, medium]
  environments: {driver: local}
  provision:
    kind: local-postgres
    sizes:
      small: {connection_limit: 7, storage_quota_mb: 100}
      medium: {connection_limit: 30, storage_quota_mb: 500}
  outputs: {url: "postgresql://{username}:{password}@{host}:{port}/{database}"}
"""


def test_builtins_cover_local_and_kubernetes_and_list_their_classes() -> None:
    comps = load_compositions(None)
    names = [c.name for c in comps.all()]
    assert names == [
        "kubernetes-postgres-cnpg",
        "kubernetes-postgres-crossplane",
        "local-postgres",
        "local-redis",
    ]
    assert all(c.builtin for c in comps.all())
    chosen = comps.select(type="postgres", size="large", environment="dev", driver="local")
    assert chosen.name == "local-postgres"
    assert chosen.parameters("large", PG_DEFAULTS) == {
        "connection_limit": 200,
        "storage_quota_mb": 102400,
    }
    k8s = comps.select(type="postgres", size="small", environment="prod", driver="kubernetes")
    assert k8s.name == "kubernetes-postgres-cnpg"  # crossplane selects no environment by default
    redis = comps.select(type="redis", size="medium", environment="dev", driver="local")
    assert redis.parameters("medium", {})["maxmemory_mb"] == 256


def test_a_team_file_overrides_a_builtin_by_name_and_narrows_its_classes(tmp_path: Path) -> None:
    write(tmp_path, "pg.yaml", OVERRIDE)
    comps = load_compositions(tmp_path)
    chosen = comps.select(type="postgres", size="small", environment="dev", driver="local")
    assert (chosen.name, chosen.builtin, chosen.source) == (
        "local-postgres",
        False,
        str(tmp_path / "pg.yaml"),
    )
    assert chosen.parameters("small", PG_DEFAULTS)["connection_limit"] == 7
    with pytest.raises(InvalidInput, match=r"no composition provisions postgres \(class large\)"):
        comps.select(type="postgres", size="large", environment="dev", driver="local")


def test_environment_names_and_priority_pick_the_composition(tmp_path: Path) -> None:
    crossplane_for_prod = (
        (Path(__file__).parents[2] / "src/goldenpath/resources/compositions")
        .joinpath("kubernetes-postgres-crossplane.yaml")
        .read_text()
        .replace("names: []", "names: [production]")
        .replace("name: kubernetes-postgres-crossplane", "name: prod-crossplane")
    )
    write(tmp_path, "prod.yaml", crossplane_for_prod)
    comps = load_compositions(tmp_path)
    pick = comps.select(
        type="postgres", size="small", environment="production", driver="kubernetes"
    )
    assert pick.name == "prod-crossplane"  # names given beats the catch-all
    other = comps.select(type="postgres", size="small", environment="staging", driver="kubernetes")
    assert other.name == "kubernetes-postgres-cnpg"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("apiVersion: goldenpath.dev/v1alpha1", "apiVersion: v2"), "apiVersion: must be"),
        (("kind: local-postgres", "kind: ec2"), "spec.provision.kind: must be one of"),
        (("driver: local", "driver: nomad"), "spec.environments.driver: must be one of"),
        (("classes: [small, medium]", "classes: small"), "spec.classes: must be 'all' or"),
        (("{port}/{database}", "{port}/{db_name}"), "spec.outputs.url: unknown placeholder"),
        (("metadata: {name: local-postgres, ", "metadata: {"), "metadata.name: is required"),
    ],
)
def test_an_invalid_file_is_refused_naming_file_and_field(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = write(tmp_path, "bad.yaml", OVERRIDE.replace(*change))
    with pytest.raises(InvalidInput, match=message) as caught:
        load_compositions(tmp_path)
    assert str(path) in caught.value.message


def test_duplicate_names_in_team_files_and_broken_yaml_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", OVERRIDE)
    write(tmp_path, "b.yml", OVERRIDE)
    with pytest.raises(InvalidInput, match="also declared in"):
        load_compositions(tmp_path)
    (tmp_path / "b.yml").write_text("spec: [unclosed", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"b\.yml: not valid YAML"):
        load_compositions(tmp_path)


def test_outputs_render_from_facts_and_secret_names_follow_the_claim() -> None:
    comp = load_compositions(None).select(
        type="postgres", size="small", environment="dev", driver="local"
    )
    facts = {"host": "127.0.0.1", "port": 5599, "database": "dev_app", "username": "dev_app",
             "password": "pw"}  # fmt: skip
    out = comp.render_outputs(facts)
    assert out["url"] == "postgresql://dev_app:pw@127.0.0.1:5599/dev_app"
    assert list(out) == ["host", "port", "database", "username", "password", "url"]
    assert output_secret_names("orders-db")["url"] == "ORDERS_DB_URL"
    with pytest.raises(InvalidInput, match="starting with a letter"):
        validate_claim_name("9lives")
    assert ClaimRequest(name="x", type="postgres").size == "small"


def test_cnpg_render_has_a_cluster_sized_by_class_and_a_backup_schedule() -> None:
    comp = load_compositions(None).get("kubernetes-postgres-cnpg")
    assert comp is not None
    cluster, scheduled = kubernetes.render(
        comp, name="orders-db", environment="production", size="medium", defaults=PG_DEFAULTS
    )
    assert (cluster["apiVersion"], cluster["kind"]) == ("postgresql.cnpg.io/v1", "Cluster")
    assert cluster["metadata"]["namespace"] == "production"
    assert cluster["metadata"]["labels"]["goldenpath.dev/claim"] == "orders-db"
    spec = cluster["spec"]
    assert spec["instances"] == 2
    assert spec["storage"] == {"size": "10Gi"}
    assert spec["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert spec["postgresql"]["parameters"]["max_connections"] == "50"
    assert spec["bootstrap"]["initdb"] == {"database": "app", "owner": "app"}
    assert spec["backup"]["barmanObjectStore"]["destinationPath"].endswith("/production/orders-db")
    assert spec["backup"]["retentionPolicy"] == "14d"
    assert scheduled["kind"] == "ScheduledBackup"
    assert scheduled["spec"]["cluster"] == {"name": "orders-db"}
    assert len(scheduled["spec"]["schedule"].split()) == 6  # CNPG: seconds first
    assert scheduled["spec"]["backupOwnerReference"] == "self"


def test_crossplane_render_is_the_claim_of_seed_004() -> None:
    comp = load_compositions(None).get("kubernetes-postgres-crossplane")
    assert comp is not None
    (claim,) = kubernetes.render(
        comp, name="my-service-db", environment="dev", size="medium", defaults=PG_DEFAULTS,
        namespace="my-team",
    )  # fmt: skip
    assert claim == {
        "apiVersion": "platform.example.com/v1alpha1",
        "kind": "Database",
        "metadata": {
            "name": "my-service-db",
            "namespace": "my-team",
            "labels": kubernetes.labels("my-service-db", "dev", "medium"),
        },
        "spec": {
            "parameters": {"size": "medium", "engine": "postgres", "version": "15"},
            "writeConnectionSecretToRef": {"name": "my-service-db-credentials"},
        },
    }
    local = load_compositions(None).get("local-postgres")
    assert local is not None
    with pytest.raises(InvalidInput, match="not kubernetes-manifests"):
        kubernetes.render(local, name="x", environment="dev", size="small", defaults={})


def test_types_list_sizes_and_refuse_unknown_ones_with_the_valid_list() -> None:
    registry = load_types()
    assert [t.name for t in registry.all()][:2] == ["postgres", "redis"]
    with pytest.raises(InvalidInput, match="valid types: postgres, redis"):
        registry.get("mongodb")
    with pytest.raises(InvalidInput, match="valid sizes: small, medium, large"):
        registry.size(registry.get("postgres"), "huge")


def test_plugin_types_come_from_entry_points_and_broken_ones_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "gp_mysql_plugin.py").write_text(
        "from goldenpath.resources.model import ResourceType\n"
        "MYSQL = ResourceType(name='mysql', description='MySQL 8', sizes={'small': {}})\n"
        "def make_postgres():\n"
        "    return ResourceType(name='postgres', description='shadow', sizes={})\n"
    )
    dist = tmp_path / "gp_mysql_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gp-mysql-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[goldenpath.resource_types]\n"
        "mysql = gp_mysql_plugin:MYSQL\n"
        "postgres = gp_mysql_plugin:make_postgres\n"
        "broken = gp_mysql_plugin:DOES_NOT_EXIST\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_types()
    assert registry.get("mysql").description == "MySQL 8"
    assert registry.get("postgres").sizes["small"]["connection_limit"] == 20  # not shadowed
    with pytest.raises(InvalidInput, match="valid types: mysql, postgres, redis"):
        registry.get("broken")
