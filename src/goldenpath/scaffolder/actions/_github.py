"""``publish:github`` and ``publish:github:pull-request`` against GitHub's REST API.

publish:github (Backstage ``createPublishGithubAction``): ``GET /users/{owner}`` decides
between ``POST /orgs/{owner}/repos`` and ``POST /user/repos``; the workspace is committed and
pushed over https to the new repository's ``clone_url`` with the token as an HTTP header;
then ``PUT …/topics`` and branch protection (``PUT …/branches/{branch}/protection``; a
refusal, e.g. on a plan without protection, is logged, not fatal). Outputs ``remoteUrl``
(``clone_url``), ``repoContentsUrl`` (``<html_url>/blob/<branch>``), ``commitHash``.

publish:github:pull-request (Backstage ``createPublishGithubPullRequestAction``): clones the
repository's ``targetBranchName`` (default branch when unset), copies the workspace
(``sourcePath``) into ``targetPath``, commits to ``branchName``, pushes it and opens the pull
request with ``POST /repos/{owner}/{repo}/pulls``. Outputs ``remoteUrl`` (the pull request's
``html_url``), ``pullRequestNumber``, ``targetBranchName``.

The token: input ``token``, else ``integrations.github.token``. ``defaultBranch`` defaults to
``main`` (Backstage: ``master``). Dry runs need no token and call nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from goldenpath.errors import Conflict, InvalidInput, PlatformError
from goldenpath.scaffolder import githost
from goldenpath.scaffolder.actions._publishing import (
    COMMON_INPUTS,
    PUBLISH_OUTPUTS,
    ApiClient,
    RepoUrl,
    author_of,
    check_host,
    integration,
    log_ignored_inputs,
    parse_repo_url,
    require_token,
    source_dir,
)
from goldenpath.scaffolder.actions.base import Action, ActionContext, confine

__all__ = ["PUBLISH_GITHUB", "PUBLISH_GITHUB_PULL_REQUEST"]

_GIT_USER = "x-access-token"

_REPO_URL = {
    "title": "Repository Location",
    "type": "string",
    "description": "Accepts the format 'github.com?repo=reponame&owner=owner'.",
}
_TOKEN = {
    "title": "Authentication Token",
    "type": "string",
    "description": "The token to use for authorization to GitHub "
    "(default: integrations.github.token).",
}
_BOOL = {"type": "boolean"}

_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["repoUrl"],
    "properties": {
        "repoUrl": _REPO_URL,
        "description": {"title": "Repository Description", "type": "string"},
        "homepage": {"title": "Repository Homepage", "type": "string"},
        "repoVisibility": {
            "title": "Repository Visibility",
            "type": "string",
            "enum": ["private", "public", "internal"],
        },
        **COMMON_INPUTS,
        "protectDefaultBranch": {**_BOOL, "description": "Protect the default branch (true)."},
        "protectEnforceAdmins": {**_BOOL, "description": "Enforce protection for admins."},
        "requireCodeOwnerReviews": _BOOL,
        "dismissStaleReviews": _BOOL,
        "requiredApprovingReviewCount": {"type": "number"},
        "requiredStatusCheckContexts": {"type": "array", "items": {"type": "string"}},
        "requireBranchesToBeUpToDate": _BOOL,
        "requiredConversationResolution": _BOOL,
        "deleteBranchOnMerge": _BOOL,
        "allowMergeCommit": _BOOL,
        "allowSquashMerge": _BOOL,
        "allowRebaseMerge": _BOOL,
        "allowAutoMerge": _BOOL,
        "hasProjects": _BOOL,
        "hasWiki": _BOOL,
        "hasIssues": _BOOL,
        "topics": {"type": "array", "items": {"type": "string"}},
        "token": _TOKEN,
    },
}

_PR_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["repoUrl", "title", "description", "branchName"],
    "properties": {
        "repoUrl": _REPO_URL,
        "branchName": {"title": "Branch Name", "type": "string"},
        "targetBranchName": {"title": "Target Branch Name", "type": "string"},
        "title": {"title": "Pull Request Name", "type": "string"},
        "description": {"title": "Pull Request Description", "type": "string"},
        "draft": {**_BOOL, "title": "Create as Draft"},
        "sourcePath": {"title": "Working Subdirectory", "type": "string"},
        "targetPath": {"title": "Repository Subdirectory", "type": "string"},
        "token": _TOKEN,
        "reviewers": {"type": "array", "items": {"type": "string"}},
        "teamReviewers": {"type": "array", "items": {"type": "string"}},
        "commitMessage": {"title": "Commit Message", "type": "string"},
        "update": {**_BOOL, "description": "Update the pull request if it already exists."},
    },
}

_PR_OUTPUT: dict[str, Any] = {
    "type": "object",
    "required": ["remoteUrl"],
    "properties": {
        "targetBranchName": {"title": "Target branch name of the merge request", "type": "string"},
        "remoteUrl": {"title": "Pull Request URL", "type": "string"},
        "pullRequestNumber": {"title": "Pull Request Number", "type": "number"},
    },
}


def _target(ctx: ActionContext, action: str) -> tuple[RepoUrl, dict[str, Any]]:
    parsed = parse_repo_url(ctx.input.get("repoUrl"), action=action)
    if not parsed.owner:
        raise InvalidInput(f"{action}: repoUrl has no owner; use github.com?owner=<o>&repo=<r>")
    config = integration(ctx, "github")
    check_host(parsed, config, action=action, service="github")
    return parsed, config


def _client(config: dict[str, Any], token: str) -> ApiClient:
    return ApiClient(
        "GitHub",
        config["api_base_url"],
        {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )


def _create_repo(api: ApiClient, ctx: ActionContext, owner: str, repo: str) -> dict[str, Any]:
    get = ctx.input.get
    visibility = get("repoVisibility") or "private"
    body: dict[str, Any] = {
        "name": repo,
        "private": visibility != "public",
        "description": get("description"),
        "homepage": get("homepage"),
        "delete_branch_on_merge": bool(get("deleteBranchOnMerge", False)),
        "allow_merge_commit": bool(get("allowMergeCommit", True)),
        "allow_squash_merge": bool(get("allowSquashMerge", True)),
        "allow_rebase_merge": bool(get("allowRebaseMerge", True)),
        "allow_auto_merge": bool(get("allowAutoMerge", False)),
    }
    for key, field in (("hasProjects", "has_projects"), ("hasWiki", "has_wiki")):
        if get(key) is not None:
            body[field] = bool(get(key))
    if get("hasIssues") is not None:
        body["has_issues"] = bool(get("hasIssues"))
    account = api.call("GET", f"/users/{owner}")
    if isinstance(account, dict) and account.get("type") == "Organization":
        body["visibility"] = visibility
        created = api.call("POST", f"/orgs/{owner}/repos", json=body)
    else:
        created = api.call("POST", "/user/repos", json=body)
    if not isinstance(created, dict) or "clone_url" not in created:
        raise InvalidInput("GitHub answered the repository creation without a clone_url")
    return created


def _protect(api: ApiClient, ctx: ActionContext, owner: str, repo: str, branch: str) -> None:
    get = ctx.input.get
    body = {
        "required_status_checks": {
            "strict": bool(get("requireBranchesToBeUpToDate", True)),
            "contexts": list(get("requiredStatusCheckContexts") or []),
        },
        "enforce_admins": bool(get("protectEnforceAdmins", True)),
        "required_pull_request_reviews": {
            "required_approving_review_count": int(get("requiredApprovingReviewCount", 1)),
            "require_code_owner_reviews": bool(get("requireCodeOwnerReviews", False)),
            "dismiss_stale_reviews": bool(get("dismissStaleReviews", False)),
        },
        "restrictions": None,
        "required_conversation_resolution": bool(get("requiredConversationResolution", False)),
    }
    try:
        api.call("PUT", f"/repos/{owner}/{repo}/branches/{branch}/protection", json=body)
    except PlatformError as e:
        ctx.log(f"warning: could not protect branch {branch}: {e.message}")


def publish_github(ctx: ActionContext) -> None:
    """``publish:github``: create the repository, push the workspace (module doc)."""
    log_ignored_inputs(ctx, _INPUT["properties"])
    parsed, config = _target(ctx, "publish:github")
    owner, repo = str(parsed.owner), parsed.repo
    branch = str(ctx.input.get("defaultBranch") or "main")
    source = source_dir(ctx)
    if ctx.dry_run:
        web = f"https://{parsed.host}/{owner}/{repo}"
        ctx.log(f"dry run: would create GitHub repository {owner}/{repo} and push {branch}")
        ctx.output("remoteUrl", f"{web}.git")
        ctx.output("repoContentsUrl", f"{web}/blob/{branch}")
        ctx.output("commitHash", githost.NULL_SHA)
        return
    token = require_token(ctx, "publish:github", "github", config)
    with _client(config, token) as api:
        created = _create_repo(api, ctx, owner, repo)
        ctx.log(f"created GitHub repository {created.get('full_name', f'{owner}/{repo}')}")
        commit = githost.publish_directory(
            source,
            created["clone_url"],
            branch=branch,
            message=str(ctx.input.get("gitCommitMessage") or "initial commit"),
            author=author_of(ctx),
            headers=githost.headers_for(token, username=_GIT_USER),
        )
        if ctx.input.get("topics"):
            api.call("PUT", f"/repos/{owner}/{repo}/topics", json={"names": ctx.input["topics"]})
        if ctx.input.get("protectDefaultBranch", True):
            _protect(api, ctx, owner, repo, branch)
    ctx.output("remoteUrl", created["clone_url"])
    ctx.output("repoContentsUrl", f"{created['html_url']}/blob/{branch}")
    ctx.output("commitHash", commit)


def _prepare_branch(
    ctx: ActionContext, clone_url: str, base: str, headers: list[str], workdir: Path
) -> str:
    """Clone ``base``, copy the workspace in on ``branchName``, commit; the new commit sha."""
    clone = workdir / "repo"
    githost.git(
        ["clone", "--quiet", "--depth", "1", "--branch", base, "--", clone_url, str(clone)],
        headers=headers,
        what=f"git clone of {clone_url}",
    )
    base_sha = githost.git(["rev-parse", "HEAD"], cwd=clone)
    target = confine(clone, ctx.input.get("targetPath") or ".", what="targetPath")
    if target == clone / ".git" or target.is_relative_to(clone / ".git"):
        raise InvalidInput("publish:github:pull-request: targetPath may not point into .git")
    shutil.copytree(
        source_dir(ctx),
        target,
        dirs_exist_ok=True,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git"),
    )
    message = str(ctx.input.get("commitMessage") or ctx.input["title"])
    branch = str(ctx.input["branchName"])
    commit = githost.commit_directory(clone, branch=branch, message=message, author=author_of(ctx))
    if commit == base_sha:
        raise InvalidInput(
            f"publish:github:pull-request: the workspace adds no changes to {base}; "
            "nothing to propose"
        )
    githost.push(
        clone, clone_url, branch=branch, headers=headers, force=bool(ctx.input.get("update"))
    )
    return commit


def _open_pull_request(
    api: ApiClient, ctx: ActionContext, owner: str, repo: str, base: str
) -> dict[str, Any]:
    get = ctx.input.get
    branch = str(get("branchName"))
    if get("update"):
        found = api.call(
            "GET",
            f"/repos/{owner}/{repo}/pulls",
            params={"head": f"{owner}:{branch}", "state": "open"},
        )
        if isinstance(found, list) and found:
            number = found[0]["number"]
            body = {"title": get("title"), "body": get("description")}
            updated: dict[str, Any] = api.call(
                "PATCH", f"/repos/{owner}/{repo}/pulls/{number}", json=body
            )
            return updated
    body = {
        "title": get("title"),
        "body": get("description"),
        "head": branch,
        "base": base,
        "draft": bool(get("draft", False)),
    }
    created: dict[str, Any] = api.call("POST", f"/repos/{owner}/{repo}/pulls", json=body)
    return created


def publish_github_pull_request(ctx: ActionContext) -> None:
    """``publish:github:pull-request``: branch, push, open the pull request (module doc)."""
    log_ignored_inputs(ctx, _PR_INPUT["properties"])
    parsed, config = _target(ctx, "publish:github:pull-request")
    owner, repo = str(parsed.owner), parsed.repo
    branch = str(ctx.input["branchName"])
    githost.git(["check-ref-format", "--branch", branch], what=f'branchName "{branch}"')
    if ctx.dry_run:
        target = ctx.input.get("targetBranchName") or "main"
        ctx.log(f"dry run: would open a pull request {branch} → {target} on {owner}/{repo}")
        ctx.output("targetBranchName", target)
        ctx.output("remoteUrl", f"https://{parsed.host}/{owner}/{repo}/pull/0")
        ctx.output("pullRequestNumber", 0)
        return
    token = require_token(ctx, "publish:github:pull-request", "github", config)
    headers = githost.headers_for(token, username=_GIT_USER)
    with _client(config, token) as api:
        info = api.call("GET", f"/repos/{owner}/{repo}")
        base = str(ctx.input.get("targetBranchName") or info["default_branch"])
        if not ctx.input.get("update") and githost.remote_refs(
            info["clone_url"], headers=headers
        ).get(f"refs/heads/{branch}"):
            raise Conflict(
                f"branch {branch} already exists in {owner}/{repo}; choose another branchName "
                "or set update: true"
            )
        with tempfile.TemporaryDirectory(prefix="goldenpath-pr-") as tmp:
            commit = _prepare_branch(ctx, info["clone_url"], base, headers, Path(tmp))
        ctx.log(f"pushed {commit[:12]} to {owner}/{repo} branch {branch}")
        pull = _open_pull_request(api, ctx, owner, repo, base)
        reviewers, teams = ctx.input.get("reviewers"), ctx.input.get("teamReviewers")
        if reviewers or teams:
            try:
                api.call(
                    "POST",
                    f"/repos/{owner}/{repo}/pulls/{pull['number']}/requested_reviewers",
                    json={"reviewers": reviewers or [], "team_reviewers": teams or []},
                )
            except PlatformError as e:
                ctx.log(f"warning: could not request reviewers: {e.message}")
    ctx.output("targetBranchName", pull.get("base", {}).get("ref", base))
    ctx.output("remoteUrl", pull["html_url"])
    ctx.output("pullRequestNumber", pull["number"])


PUBLISH_GITHUB = Action(
    id="publish:github",
    description="Initializes a git repository of contents in workspace and publishes it to GitHub.",
    handler=publish_github,
    input_schema=_INPUT,
    output_schema=PUBLISH_OUTPUTS,
    supports_dry_run=True,
)

PUBLISH_GITHUB_PULL_REQUEST = Action(
    id="publish:github:pull-request",
    description="Creates a pull request on GitHub with the contents of the workspace.",
    handler=publish_github_pull_request,
    input_schema=_PR_INPUT,
    output_schema=_PR_OUTPUT,
    supports_dry_run=True,
)
