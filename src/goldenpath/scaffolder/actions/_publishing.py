"""What the ``publish:*`` actions share: Backstage repoUrl parsing, the commit author, the
source directory, integration settings and tokens, and JSON calls to a host's HTTP API.

repoUrl syntax (Backstage ``parseRepoUrl``): ``<host>?owner=<owner>&repo=<repo>`` (also
``organization``, ``workspace``, ``project`` for other hosts), e.g.
``github.com?owner=acme&repo=my-api`` or ``platform.local?owner=team-a&repo=my-api``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from goldenpath.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from goldenpath.scaffolder.actions.base import ActionContext
from goldenpath.scaffolder.githost import user_author, validate_name

__all__ = [
    "COMMON_INPUTS",
    "DEFAULT_AUTHOR",
    "PUBLISH_OUTPUTS",
    "ApiClient",
    "RepoUrl",
    "author_of",
    "integration",
    "log_ignored_inputs",
    "parse_repo_url",
    "require_token",
    "source_dir",
]

DEFAULT_AUTHOR = ("goldenpath", "goldenpath@localhost")
_INTEGRATION_DEFAULTS: dict[str, dict[str, str]] = {
    "github": {"host": "github.com", "api_base_url": "https://api.github.com"},
    "gitlab": {"host": "gitlab.com", "api_base_url": "https://gitlab.com/api/v4"},
}
_TIMEOUT = 30.0

COMMON_INPUTS: dict[str, dict[str, Any]] = {
    "defaultBranch": {
        "title": "Default Branch",
        "type": "string",
        "description": "The branch to push (default: main).",
    },
    "gitCommitMessage": {
        "title": "Git Commit Message",
        "type": "string",
        "description": "The commit message (default: initial commit).",
    },
    "gitAuthorName": {
        "title": "Default Author Name",
        "type": "string",
        "description": "Commit author name (default: the task user, else goldenpath).",
    },
    "gitAuthorEmail": {
        "title": "Default Author Email",
        "type": "string",
        "description": "Commit author e-mail (default: the task user's, else "
        "goldenpath@localhost).",
    },
    "sourcePath": {
        "title": "Source Path",
        "type": "string",
        "description": "Directory of the workspace to publish as the repository root "
        "(default: the whole workspace).",
    },
}

PUBLISH_OUTPUTS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "remoteUrl": {"title": "A URL to the repository", "type": "string"},
        "repoContentsUrl": {"title": "A URL to the root of the repository", "type": "string"},
        "commitHash": {"title": "The git commit hash of the initial commit", "type": "string"},
    },
}


@dataclass(frozen=True, slots=True)
class RepoUrl:
    """A parsed Backstage repoUrl: ``host`` plus the query parameters it names."""

    host: str
    repo: str
    owner: str | None = None
    organization: str | None = None
    workspace: str | None = None
    project: str | None = None


def parse_repo_url(value: Any, *, action: str) -> RepoUrl:
    """Parse ``"<host>?owner=<o>&repo=<r>"`` (Backstage's repoUrl picker format).

    ``owner`` and ``repo`` are validated as names (letters, digits, ``._-``).

    Raises:
        InvalidInput: not a string, no host, no ``repo``, or an invalid owner/repo name.
    """
    if not isinstance(value, str) or "?" not in value:
        raise InvalidInput(
            f'{action}: repoUrl "{value}" is not on the form <host>?owner=<owner>&repo=<repo> '
            "(e.g. github.com?owner=acme&repo=my-api)"
        )
    parts = urlsplit(value if "://" in value else f"https://{value}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = parts.netloc
    repo = query.get("repo")
    if not host or not repo:
        raise InvalidInput(
            f'{action}: repoUrl "{value}" has no {"host" if not host else "repo"}; '
            "use <host>?owner=<owner>&repo=<repo>"
        )
    owner = query.get("owner")
    validate_name(repo, what=f"{action}: repoUrl repo")
    if owner is not None:
        validate_name(owner, what=f"{action}: repoUrl owner")
    return RepoUrl(
        host=host.lower(),
        repo=repo,
        owner=owner,
        organization=query.get("organization"),
        workspace=query.get("workspace"),
        project=query.get("project"),
    )


def author_of(ctx: ActionContext) -> tuple[str, str]:
    """The commit author: input ``gitAuthorName``/``gitAuthorEmail``, else the task user's
    profile, else ``goldenpath <goldenpath@localhost>``."""
    from_user = user_author(ctx.user) or DEFAULT_AUTHOR
    name = ctx.input.get("gitAuthorName") or from_user[0]
    email = ctx.input.get("gitAuthorEmail") or from_user[1]
    return str(name), str(email)


def source_dir(ctx: ActionContext) -> Path:
    """The directory to publish: ``sourcePath`` inside the workspace, or the workspace.

    Raises:
        InvalidInput: ``sourcePath`` escapes the workspace or is not a directory.
    """
    path = ctx.resolve(ctx.input.get("sourcePath") or ".", what="sourcePath")
    if not path.is_dir():
        raise InvalidInput(
            f'sourcePath "{ctx.input.get("sourcePath")}" is not a directory in the workspace; '
            "point it at a directory an earlier step wrote"
        )
    return path


def integration(ctx: ActionContext, name: str) -> dict[str, Any]:
    """``integrations.<name>`` settings as ``{"token", "host", "api_base_url"}``; defaults when
    settings (or the ``integrations`` part) are absent."""
    found: dict[str, Any] = {"token": None, **_INTEGRATION_DEFAULTS[name]}
    settings = ctx.services.settings
    section = getattr(getattr(settings, "integrations", None), name, None)
    for key in ("token", "host", "api_base_url"):
        value = getattr(section, key, None)
        if value:
            found[key] = value
    found["api_base_url"] = str(found["api_base_url"]).rstrip("/")
    return found


def require_token(ctx: ActionContext, action: str, service: str, config: Mapping[str, Any]) -> str:
    """The token: step input ``token``, else ``integrations.<service>.token``.

    Raises:
        InvalidInput: neither is set (the message says which setting to set).
    """
    token = ctx.input.get("token") or config.get("token")
    if not token:
        raise InvalidInput(
            f"{action} needs a token: set GOLDENPATH_INTEGRATIONS__{service.upper()}__TOKEN "
            "or pass input.token"
        )
    return str(token)


def check_host(repo_url: RepoUrl, config: Mapping[str, Any], *, action: str, service: str) -> None:
    """Refuse a repoUrl whose host is not the configured ``integrations.<service>.host``."""
    if repo_url.host != str(config["host"]).lower():
        raise InvalidInput(
            f'{action}: repoUrl host "{repo_url.host}" has no {service} integration; '
            f'integrations.{service}.host is "{config["host"]}" (set it and '
            f"integrations.{service}.api_base_url for a self-hosted instance)"
        )


def log_ignored_inputs(ctx: ActionContext, supported: Collection[str]) -> None:
    """Log the input keys this implementation does not act on (Backstage has more)."""
    ignored = sorted(k for k in ctx.input if k not in supported)
    if ignored:
        ctx.log(f"not supported by goldenpath, ignored: {', '.join(ignored)}")


class ApiClient:
    """JSON calls to a git host's REST API with a bearer token; errors mapped to ours.

    Args:
        service: "GitHub" or "GitLab" (for messages).
        base_url: API root, e.g. ``https://api.github.com``.
        headers: headers sent on every request (authorization, accept, …).
    """

    def __init__(self, service: str, base_url: str, headers: Mapping[str, str]) -> None:
        self.service = service
        self.base_url = base_url
        self._client = httpx.Client(
            base_url=base_url,
            headers={"User-Agent": "goldenpath-scaffolder", **headers},
            timeout=_TIMEOUT,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        ok: Iterable[int] = (200, 201, 202, 204),
    ) -> Any:
        """Send one request; the decoded JSON body (``None`` when empty).

        Raises:
            Unavailable: the API cannot be reached, or answers 5xx.
            Forbidden: 401/403 (the token is wrong or lacks a permission).
            NotFound: 404.
            Conflict: 409, or 422 saying something already exists.
            InvalidInput: any other non-success status (the API's message quoted).
        """
        try:
            response = self._client.request(method, path, json=json, params=params)
        except httpx.HTTPError as e:
            raise Unavailable(
                f"{self.service} API at {self.base_url} cannot be reached ({type(e).__name__}: "
                f"{e}); check integrations settings and the network"
            ) from e
        if response.status_code in set(ok):
            return response.json() if response.content else None
        raise self._error(method, path, response)

    def _error(self, method: str, path: str, response: httpx.Response) -> Exception:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        detail = _api_message(body) or response.reason_phrase
        where = f"{self.service} {method} {path} answered {status}: {detail}"
        if status >= 500:
            return Unavailable(f"{where}; try again later")
        if status in (401, 403):
            return Forbidden(f"{where}; check that the token is valid and has the needed scopes")
        if status == 404:
            return NotFound(f"{where}; check the owner/repository names and token access")
        if status == 409 or (status == 422 and "exist" in detail.lower()):
            return Conflict(f"{where}; choose another repository name")
        return InvalidInput(where)


def _api_message(body: Any) -> str:
    if not isinstance(body, Mapping):
        return ""
    message = body.get("message") or body.get("error") or ""
    if isinstance(message, Mapping):  # GitLab: {"message": {"name": ["has already been taken"]}}
        message = "; ".join(f"{k} {', '.join(map(str, v))}" for k, v in message.items())
    errors = body.get("errors")
    if isinstance(errors, list):
        extra = [e.get("message") if isinstance(e, Mapping) else str(e) for e in errors]
        message = " ".join([str(message), *(m for m in extra if m)]).strip()
    return str(message)
