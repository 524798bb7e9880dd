"""``publish:gitlab`` against GitLab's REST API (v4).

As Backstage's ``createPublishGitlabAction``: ``GET /namespaces/{owner}`` gives the namespace
id, ``POST /projects`` creates the project (``settings`` are passed through as project
attributes; ``repoVisibility``/``topics`` are the older spellings), the workspace is pushed
over https to ``http_url_to_repo`` with the token (user ``oauth2``) as an HTTP header, then
``projectVariables`` and ``branches`` (create/protect) are applied. Outputs ``remoteUrl``
(without ``.git``), ``repoContentsUrl`` (``<remoteUrl>/-/blob/<branch>``), ``projectId``,
``commitHash``.

Token: input ``token``, else ``integrations.gitlab.token``; API root
``integrations.gitlab.api_base_url``. ``defaultBranch`` defaults to ``main``. Dry runs need no
token and call nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from goldenpath.errors import InvalidInput
from goldenpath.scaffolder import githost
from goldenpath.scaffolder.actions._publishing import (
    COMMON_INPUTS,
    PUBLISH_OUTPUTS,
    ApiClient,
    author_of,
    check_host,
    integration,
    log_ignored_inputs,
    parse_repo_url,
    require_token,
    source_dir,
)
from goldenpath.scaffolder.actions.base import Action, ActionContext

__all__ = ["PUBLISH_GITLAB"]

_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["repoUrl"],
    "properties": {
        "repoUrl": {
            "title": "Repository Location",
            "type": "string",
            "description": "Accepts the format 'gitlab.com?repo=project_name&owner=group_name'.",
        },
        "repoVisibility": {"type": "string", "enum": ["private", "public", "internal"]},
        **COMMON_INPUTS,
        "token": {"title": "Authentication Token", "type": "string"},
        "topics": {"type": "array", "items": {"type": "string"}},
        "settings": {
            "title": "Project settings",
            "description": "Attributes of GitLab's create-project API (visibility, topics, "
            "description, path, …).",
            "type": "object",
        },
        "branches": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "protect": {"type": "boolean"},
                    "create": {"type": "boolean"},
                    "ref": {"type": "string"},
                },
            },
        },
        "projectVariables": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "value"],
                "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
            },
        },
    },
}

_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        **PUBLISH_OUTPUTS["properties"],
        "projectId": {"title": "The ID of the project", "type": "number"},
    },
}


def _project_body(ctx: ActionContext, namespace_id: int, repo: str) -> dict[str, Any]:
    settings = dict(ctx.input.get("settings") or {})
    visibility = settings.pop("visibility", None) or ctx.input.get("repoVisibility") or "private"
    body: dict[str, Any] = {
        **settings,
        "namespace_id": namespace_id,
        "name": repo,
        "path": settings.get("path") or repo,
        "visibility": visibility,
    }
    if ctx.input.get("topics") and "topics" not in body:
        body["topics"] = list(ctx.input["topics"])
    return body


def _after_push(api: ApiClient, ctx: ActionContext, project_id: int, branch: str) -> None:
    for variable in ctx.input.get("projectVariables") or []:
        api.call("POST", f"/projects/{project_id}/variables", json=dict(variable))
    for spec in ctx.input.get("branches") or []:
        name = str(spec["name"])
        if spec.get("create"):
            api.call(
                "POST",
                f"/projects/{project_id}/repository/branches",
                json={"branch": name, "ref": spec.get("ref") or branch},
            )
        if spec.get("protect"):
            api.call("POST", f"/projects/{project_id}/protected_branches", json={"name": name})


def publish_gitlab(ctx: ActionContext) -> None:
    """``publish:gitlab``: create the project and push the workspace (module doc)."""
    log_ignored_inputs(ctx, _INPUT["properties"])
    parsed = parse_repo_url(ctx.input.get("repoUrl"), action="publish:gitlab")
    if not parsed.owner:
        raise InvalidInput(
            f"publish:gitlab: no owner provided for host {parsed.host} and repo {parsed.repo}"
        )
    config = integration(ctx, "gitlab")
    check_host(parsed, config, action="publish:gitlab", service="gitlab")
    owner, repo = parsed.owner, parsed.repo
    branch = str(ctx.input.get("defaultBranch") or "main")
    source = source_dir(ctx)
    if ctx.dry_run:
        web = f"https://{parsed.host}/{owner}/{repo}"
        ctx.log(f"dry run: would create GitLab project {owner}/{repo} and push {branch}")
        for name, value in (
            ("remoteUrl", web),
            ("repoContentsUrl", f"{web}/-/blob/{branch}"),
            ("projectId", 0),
            ("commitHash", githost.NULL_SHA),
        ):
            ctx.output(name, value)
        return
    token = require_token(ctx, "publish:gitlab", "gitlab", config)
    with ApiClient("GitLab", config["api_base_url"], {"Authorization": f"Bearer {token}"}) as api:
        namespace = api.call("GET", f"/namespaces/{quote(owner, safe='')}")
        project = api.call("POST", "/projects", json=_project_body(ctx, namespace["id"], repo))
        ctx.log(f"created GitLab project {project.get('path_with_namespace', f'{owner}/{repo}')}")
        clone_url = str(project["http_url_to_repo"])
        commit = githost.publish_directory(
            source,
            clone_url,
            branch=branch,
            message=str(ctx.input.get("gitCommitMessage") or "initial commit"),
            author=author_of(ctx),
            headers=githost.headers_for(token, username="oauth2"),
        )
        _after_push(api, ctx, int(project["id"]), branch)
    remote = clone_url.removesuffix(".git")
    ctx.output("remoteUrl", remote)
    ctx.output("repoContentsUrl", f"{remote}/-/blob/{branch}")
    ctx.output("projectId", project["id"])
    ctx.output("commitHash", commit)


PUBLISH_GITLAB = Action(
    id="publish:gitlab",
    description="Initializes a git repository of the content in the workspace, and publishes "
    "it to GitLab.",
    handler=publish_gitlab,
    input_schema=_INPUT,
    output_schema=_OUTPUT,
    supports_dry_run=True,
)
