"""Settings: one documented pydantic-settings tree, built at start-up and passed down.

Sources, highest precedence first: keyword arguments, environment variables with the
``GOLDENPATH_`` prefix (nested fields with ``__``: ``GOLDENPATH_CATALOG__REFRESH_INTERVAL=30``),
then an optional YAML config file (``GOLDENPATH_CONFIG``, else ``<home>/config.yaml`` when it
exists), then defaults. Nothing here is read at import time: call :func:`load_settings`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
import yaml
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from goldenpath.errors import InvalidInput

__all__ = [
    "CatalogSettings",
    "DeploySettings",
    "GitHubIntegration",
    "GitLabIntegration",
    "InsightsSettings",
    "IntegrationsSettings",
    "OidcSettings",
    "PortalSettings",
    "RuntimeSettings",
    "ScaffolderSettings",
    "ServerSettings",
    "Settings",
    "load_settings",
]


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("goldenpath", appauthor=False))


class ServerSettings(BaseModel):
    """Where ``platform server`` listens and where the CLI finds it.

    ``url`` set → the CLI talks to that server and never starts one. Unset → the CLI starts
    (or reuses) a local server for the data directory on ``host`` and a free port.
    """

    url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0 = pick a free port")
    token: str | None = Field(
        default=None, description="API token for the CLI (else the admin token file)"
    )
    start_timeout: float = Field(
        default=30.0, gt=0, description="seconds to wait for a local server"
    )
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024 * 1024,
        description="largest request body the API reads (413 beyond): every body is read "
        "into memory, so an unbounded one could exhaust it",
    )


class CatalogSettings(BaseModel):
    """Catalog behaviour; mirrors Backstage's ``catalog.*`` app-config where one exists."""

    refresh_interval: float = Field(
        default=300.0, ge=0, description="seconds between refresh loop passes; 0 disables the loop"
    )
    orphan_grace: float = Field(
        default=0.0,
        ge=0,
        description="seconds an orphaned entity keeps its backstage.io/orphan mark before deletion",
    )
    allowed_kinds: list[str] = Field(
        default_factory=lambda: [
            "Component",
            "API",
            "Resource",
            "System",
            "Domain",
            "Group",
            "User",
            "Location",
            "Template",
        ],
        description="like Backstage's catalog.rules; '*' accepts unknown kinds",
    )
    allowed_roots: list[Path] = Field(
        default_factory=list,
        description="directories file locations may read from; empty = any directory "
        "(a location's own directory always bounds its relative targets)",
    )
    max_document_bytes: int = Field(default=1_000_000, gt=0)
    max_alias_count: int = Field(
        default=100, ge=0, description="YAML aliases per file, as Backstage's parser"
    )


class ScaffolderSettings(BaseModel):
    """Software-template tasks (Backstage's ``scaffolder.*``): workers, time limits, workspaces.

    A worker thread runs one task at a time and writes a heartbeat every
    ``heartbeat_interval`` seconds; a ``processing`` task whose heartbeat is older than
    ``stale_after`` seconds belonged to a server that died and is failed (never left running).
    """

    workers: int = Field(default=2, ge=0, le=64, description="task worker threads; 0 = none")
    task_timeout: float = Field(
        default=1800.0, gt=0, description="seconds a task may run before it is cancelled"
    )
    heartbeat_interval: float = Field(
        default=2.0, gt=0, description="seconds between heartbeats of a running task"
    )
    stale_after: float = Field(
        default=30.0, gt=0, description="seconds without heartbeat after which a task is dead"
    )
    workspace_dir: Path | None = Field(
        default=None, description="task workspaces; default <home>/scaffolder/workspaces"
    )
    keep_workspaces: bool = Field(
        default=False, description="keep a task's workspace after it ends (debugging)"
    )
    builtin_templates: bool = Field(
        default=True,
        description="publish the packaged golden paths to the git host and register them at start",
    )


class RuntimeSettings(BaseModel):
    """The local runtime (``goldenpath.drivers.local``): router ports, builds, replicas.

    Service URLs are ``http://<service>.<environment>.<domain>:<router_http_port>``; port 0
    picks a free port at the router's first start and keeps it in
    ``<home>/run/router/ports.json`` so URLs stay stable across restarts.
    """

    bind: str = Field(default="127.0.0.1", description="address the router listens on")
    router_http_port: int = Field(default=0, ge=0, le=65535, description="0 = pick, then keep")
    router_https_port: int = Field(default=0, ge=0, le=65535, description="0 = pick, then keep")
    domain: str = Field(default="localhost", description="URL suffix after <service>.<env>.")
    haproxy: str = Field(default="haproxy", description="HAProxy executable (name or path)")
    build_timeout: float = Field(default=900.0, gt=0, description="seconds one build may take")
    start_timeout: float = Field(
        default=60.0, gt=0, description="default seconds a replica may take to become ready"
    )
    log_max_bytes: int = Field(default=10_000_000, gt=0, description="rotate a replica log at")
    log_backups: int = Field(default=5, ge=0, description="rotated replica logs kept")


class DeploySettings(BaseModel):
    """Deployments and the reconciler (``goldenpath.deploy``)."""

    reconcile_interval: float = Field(
        default=1.0, ge=0, description="seconds between reconciler passes; 0 = no loop (tests)"
    )
    lease_ttl: float = Field(
        default=30.0, gt=0, description="seconds a reconciler's claim on a deployment lives"
    )
    environments: list[str] = Field(
        default_factory=lambda: ["dev", "staging", "production"],
        description="environments that exist by default (driver: local)",
    )


class SecretsSettings(BaseModel):
    """Secrets (``goldenpath.secrets``): envelope encryption at rest, or HashiCorp Vault.

    The master key never lives in the database: it is read from ``master_key`` (env
    ``GOLDENPATH_SECRETS__MASTER_KEY``, base64 of 32 bytes, optionally ``<key-id>:<base64>``)
    or from ``master_key_file`` (default ``<home>/keys/master.key``, created with mode 0600
    at first start when neither is given).
    """

    backend: Literal["local", "vault"] = Field(
        default="local", description="local = encrypted rows in the store; vault = KV v2"
    )
    master_key: str | None = Field(
        default=None, repr=False, description="base64 key (or 'kid:base64'); overrides the file"
    )
    master_key_file: Path | None = Field(
        default=None, description="key file (mode 0600); default <home>/keys/master.key"
    )
    vault_url: str | None = Field(default=None, description="e.g. http://127.0.0.1:8200")
    vault_token: str | None = Field(default=None, repr=False)
    vault_mount: str = Field(default="secret", description="KV version 2 mount point")


class PolicySettings(BaseModel):
    """Policy guardrails (``goldenpath.policy``): Rego bundles evaluated with regopy."""

    enabled: bool = Field(default=True, description="check deploy, provision and scaffold requests")
    directory: Path | None = Field(
        default=None,
        description="extra/overriding .rego files; default <home>/policies (a file with the "
        "same name as a built-in one replaces it)",
    )


class ResourcesSettings(BaseModel):
    """Self-service resources (``goldenpath.resources``) and their local compositions."""

    compositions_dir: Path | None = Field(
        default=None,
        description="extra/overriding composition YAML files; default <home>/compositions",
    )
    pg_bin: Path = Field(
        default=Path("/usr/lib/postgresql/15/bin"),
        description="directory with initdb, pg_ctl, postgres (the managed local cluster)",
    )
    redis_server: str = Field(default="redis-server", description="executable (name or path)")
    backup_retention: int = Field(default=5, ge=1, description="backups kept per database")
    backup_dir: Path | None = Field(
        default=None, description="where backups go; default <home>/backups"
    )


class GitHubIntegration(BaseModel):
    """Backstage ``integrations.github``: used by ``publish:github`` and pull requests."""

    token: str | None = Field(default=None, description="personal access / app token")
    api_base_url: str = "https://api.github.com"
    host: str = "github.com"


class GitLabIntegration(BaseModel):
    """Backstage ``integrations.gitlab``: used by ``publish:gitlab``."""

    token: str | None = Field(default=None, description="personal / project access token")
    api_base_url: str = "https://gitlab.com/api/v4"
    host: str = "gitlab.com"


class IntegrationsSettings(BaseModel):
    """Outside source-control hosts (``GOLDENPATH_INTEGRATIONS__GITHUB__TOKEN`` …)."""

    github: GitHubIntegration = Field(default_factory=GitHubIntegration)
    gitlab: GitLabIntegration = Field(default_factory=GitLabIntegration)


class OidcSettings(BaseModel):
    """OpenID Connect sign-in for the portal (authlib); off until ``metadata_url`` is set."""

    metadata_url: str | None = Field(
        default=None,
        description="the provider's /.well-known/openid-configuration URL; unset = no OIDC",
    )
    client_id: str | None = None
    client_secret: str | None = None
    scope: str = "openid email profile"
    label: str = Field(default="Single sign-on", description="the sign-in button's text")


class PortalSettings(BaseModel):
    """The developer portal (``goldenpath.portal``): sessions, sign-in, TechDocs."""

    enabled: bool = Field(default=True, description="serve the portal under / beside the API")
    session_max_age: int = Field(
        default=8 * 3600, ge=60, description="seconds a portal sign-in lasts"
    )
    secure_cookies: bool = Field(
        default=False, description="mark the session cookie Secure (set behind HTTPS)"
    )
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    techdocs_dir: Path | None = Field(
        default=None, description="built TechDocs sites; default <home>/techdocs"
    )


class InsightsSettings(BaseModel):
    """DORA metrics, incidents, scorecards (``goldenpath.insights``)."""

    production_environment: str = Field(
        default="production", description="the environment whose deployments DORA counts"
    )
    scorecards_dir: Path | None = Field(
        default=None,
        description="extra/overriding scorecard YAML files; default <home>/scorecards",
    )


class Settings(BaseSettings):
    """The whole settings tree.

    Attributes:
        home: data directory; everything the platform writes lives under it.
        database_url: SQLAlchemy URL; default SQLite (WAL) at ``<home>/goldenpath.db``.
    """

    model_config = SettingsConfigDict(
        env_prefix="GOLDENPATH_", env_nested_delimiter="__", extra="ignore"
    )

    home: Path = Field(default_factory=_default_home)
    database_url: str | None = None
    log_level: str = "info"
    server: ServerSettings = Field(default_factory=ServerSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    scaffolder: ScaffolderSettings = Field(default_factory=ScaffolderSettings)
    integrations: IntegrationsSettings = Field(default_factory=IntegrationsSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    deploy: DeploySettings = Field(default_factory=DeploySettings)
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    resources: ResourcesSettings = Field(default_factory=ResourcesSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    insights: InsightsSettings = Field(default_factory=InsightsSettings)

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file under ``home``."""
        return self.database_url or f"sqlite:///{self.home / 'goldenpath.db'}"

    @property
    def admin_token_file(self) -> Path:
        """Where the first start writes the admin token (mode 0600) for the local CLI."""
        return self.home / "admin-token"

    @property
    def run_dir(self) -> Path:
        """PID files, server address and logs of processes the platform started."""
        return self.home / "run"

    @property
    def scaffolder_workspace_dir(self) -> Path:
        """Where task workspaces are created (``scaffolder.workspace_dir`` or under home)."""
        return self.scaffolder.workspace_dir or self.home / "scaffolder" / "workspaces"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFileSource(settings_cls))


class _YamlFileSource(PydanticBaseSettingsSource):
    """Reads ``GOLDENPATH_CONFIG`` or ``<home>/config.yaml`` when present."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _config_path()
        if path is None:
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise InvalidInput(f"{path}: cannot read the config file: {e}") from e
        if not isinstance(data, dict):
            raise InvalidInput(f"{path}: the config file must be a mapping of settings")
        return data


def _config_path() -> Path | None:
    explicit = os.environ.get("GOLDENPATH_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    home = Path(os.environ.get("GOLDENPATH_HOME") or _default_home()).expanduser()
    candidate = home / "config.yaml"
    return candidate if candidate.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Build the settings tree from overrides, environment and config file.

    Raises:
        InvalidInput: the config file is unreadable or a value fails validation.
    """
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise InvalidInput(f"invalid settings: {e}") from e
