"""The composition root: every service of a running server, built once and connected.

``create_app`` calls :func:`build_services`. The order follows DESIGN.md's data flow: the
catalog and auth; policy and secrets; the local driver, whose supervisord also runs the
managed PostgreSQL and Redis of the resources service (provision requests checked against
policy); the deploy service with its :class:`~goldenpath.deploy.provisioning.Provisioner`
(policy → resources → secrets for every deployment); the scaffolder, which deploys through
``platform:deploy`` and checks scaffold requests against policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from goldenpath.api.deps import Services
from goldenpath.api.metrics import ApiMetrics
from goldenpath.auth.service import AuthService
from goldenpath.catalog.owners import owner_facts
from goldenpath.catalog.service import CatalogService
from goldenpath.deploy import store as deploy_store
from goldenpath.deploy.provisioning import Provisioner
from goldenpath.deploy.service import DeployService
from goldenpath.drivers.local.driver import LocalDriver
from goldenpath.drivers.local.postgres import ManagedPostgres
from goldenpath.drivers.local.redis import ManagedRedis
from goldenpath.errors import NotFound
from goldenpath.insights.service import InsightsService
from goldenpath.policy.service import PolicyService
from goldenpath.resources.service import ResourceService
from goldenpath.scaffolder.service import ScaffolderService
from goldenpath.secrets.service import SecretService
from goldenpath.settings import Settings
from goldenpath.store import migrate
from goldenpath.store.engine import make_engine, make_read_engine

__all__ = ["build_services"]


def build_services(settings: Settings, clock: Callable[[], datetime]) -> Services:
    """Migrate the store and build every service for ``settings`` (module doc).

    Raises:
        PlatformError: the database cannot be migrated; a master key is missing
            (``MasterKeyMissing``); the policy directory cannot be read.
    """
    engine = make_engine(settings.effective_database_url)
    migrate.upgrade(engine)
    read_engine = make_read_engine(settings.effective_database_url)
    catalog = CatalogService(engine=engine, settings=settings, clock=clock, read_engine=read_engine)
    auth = AuthService(engine=engine, clock=clock, user_exists=_user_exists(catalog))
    policy = PolicyService(engine=engine, settings=settings, clock=clock)
    secrets = SecretService(engine=engine, settings=settings, clock=clock)
    driver = LocalDriver(settings)

    def owners(ref: str | None) -> dict[str, Any]:
        return owner_facts(catalog, ref)

    resources = ResourceService(
        engine=engine,
        settings=settings,
        secrets=secrets,
        postgres=ManagedPostgres(settings, driver.supervisor),
        redis=ManagedRedis(settings, driver.supervisor),
        guard=_provision_guard(policy, owners),
        environments=_environment_facts(engine),
        clock=clock,
    )
    provisioner = Provisioner(resources=resources, secrets=secrets, policy=policy, owners=owners)
    deployments = DeployService(
        engine=engine, settings=settings, driver=driver, clock=clock, provisioner=provisioner
    )
    tasks = ScaffolderService(
        engine=engine,
        settings=settings,
        catalog=catalog,
        deploy=deployments,
        policy=policy,
        clock=clock,
    )
    insights = InsightsService(
        engine=engine, settings=settings, catalog=catalog, clock=clock, redact=secrets.redact
    )
    return Services(
        settings=settings,
        engine=engine,
        read_engine=read_engine,
        catalog=catalog,
        auth=auth,
        metrics=ApiMetrics(_entity_counts(catalog)),
        scaffolder=tasks,
        deploy=deployments,
        policy=policy,
        secrets=secrets,
        resources=resources,
        insights=insights,
    )


def _provision_guard(
    policy: PolicyService, owners: Callable[[str | None], dict[str, Any]]
) -> Callable[[Mapping[str, Any]], None]:
    """The resources service's guard: the ``provision`` policies, with the owner's catalog
    facts filled in; ``PolicyDenied`` stops the claim before anything changes."""

    def guard(request: Mapping[str, Any]) -> None:
        doc = dict(request)
        doc["owner"] = owners((request.get("owner") or {}).get("ref"))
        resource = doc.get("resource") or {}
        environment = (doc.get("environment") or {}).get("name")
        policy.enforce(
            "provision",
            doc,
            actor=str(doc.get("actor") or "user:default/guest"),
            subject=f"{resource.get('type')} {resource.get('name')} in {environment}",
        )

    return guard


def _environment_facts(engine: Any) -> Callable[[str], Mapping[str, Any]]:
    """Environment name → ``{"driver", "production"}`` from the deploy store.

    Raises ``NotFound`` naming the known environments."""

    def facts(name: str) -> Mapping[str, Any]:
        try:
            env = deploy_store.get_environment(engine, name)
        except NotFound:
            known = ", ".join(e.name for e in deploy_store.list_environments(engine))
            raise NotFound(
                f"environment {name!r} does not exist; known: {known or 'none'} (create it "
                f"with `platform env create {name}`)",
                details={"name": name},
            ) from None
        return {"driver": env.driver, "production": env.production}

    return facts


def _user_exists(catalog: CatalogService) -> Callable[[str], bool]:
    def exists(ref: str) -> bool:
        try:
            catalog.get_entity_by_ref(ref)
        except NotFound:
            return False
        return True

    return exists


def _entity_counts(catalog: CatalogService) -> Callable[[], dict[str, int]]:
    def counts() -> dict[str, int]:
        facets = catalog.facets(facets=["kind"], filters=None)
        return {item["value"]: int(item["count"]) for item in facets.get("kind", [])}

    return counts
