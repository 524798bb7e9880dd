"""Scaffolder actions that publish the workspace: ``publish:git`` (any git remote, by default
the platform's own git host), ``publish:github``, ``publish:github:pull-request`` and
``publish:gitlab``.

``publish:git`` follows Backstage's ``publish:*`` contract (Backstage "Builtin actions"):
commit everything in the workspace (or ``sourcePath``) as ``gitAuthorName <gitAuthorEmail>``
with ``gitCommitMessage`` and push it as ``defaultBranch``. The git metadata is kept outside
the workspace, so a ``.git`` directory a template wrote there (hooks, config) is neither run
nor committed (:func:`goldenpath.scaffolder.githost.publish_directory`). Outputs
``remoteUrl``, ``repoContentsUrl`` (``<repo>/tree/<branch>``, what ``catalog:register``
takes) and ``commitHash``. Like Backstage's publishers it refuses a repository that already
has content. In a dry run nothing is created or pushed; the outputs say where it would go,
with ``commitHash`` the all-zero sha.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from goldenpath.errors import Conflict, InvalidInput, Unavailable
from goldenpath.scaffolder import githost
from goldenpath.scaffolder.actions import _github, _gitlab
from goldenpath.scaffolder.actions._publishing import (
    COMMON_INPUTS,
    PUBLISH_OUTPUTS,
    author_of,
    log_ignored_inputs,
    parse_repo_url,
    source_dir,
)
from goldenpath.scaffolder.actions.base import Action, ActionContext

__all__ = ["ACTIONS", "PUBLISH_GIT"]

_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/]")
_URL_SCHEMES = ("file://", "git://", "http://", "https://", "ssh://")

_GIT_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "repoUrl": {
            "title": "Repository Location",
            "type": "string",
            "description": "platform.local?owner=<owner>&repo=<repo>: a repository on the "
            "platform's own git host, created by this step.",
        },
        "remoteUrl": {
            "title": "Remote URL",
            "type": "string",
            "description": "Any existing, empty git remote (URL or absolute path) to push to "
            "instead of repoUrl.",
        },
        **COMMON_INPUTS,
    },
    "oneOf": [{"required": ["repoUrl"]}, {"required": ["remoteUrl"]}],
}


def _remote_target(ctx: ActionContext, branch: str) -> tuple[str, str, tuple[str, str] | None]:
    """``(remote, repoContentsUrl, (owner, repo) on the git host or None)`` for the input."""
    remote_url, repo_url = ctx.input.get("remoteUrl"), ctx.input.get("repoUrl")
    if remote_url and repo_url:
        raise InvalidInput("publish:git: give either repoUrl or remoteUrl, not both")
    if remote_url:
        remote = _check_remote(str(remote_url))
        browse = Path(remote).as_uri() if remote.startswith("/") else remote
        return remote, f"{browse.rstrip('/')}/tree/{branch}", None
    parsed = parse_repo_url(repo_url, action="publish:git")
    if parsed.host != githost.GitHost.HOST:
        raise InvalidInput(
            f"publish:git publishes to the platform git host ({githost.GitHost.HOST}); for "
            f'repoUrl host "{parsed.host}" use publish:github or publish:gitlab, or pass '
            "remoteUrl: <git URL of an existing empty repository>"
        )
    if not parsed.owner:
        raise InvalidInput(
            f'publish:git: repoUrl "{repo_url}" has no owner; use '
            f"{githost.GitHost.HOST}?owner=<team>&repo=<name>"
        )
    host = ctx.services.githost
    owner, repo = parsed.owner, parsed.repo
    if host is None:
        if not ctx.dry_run:
            raise Unavailable("publish:git: this task has no platform git host (services.githost)")
        # A dry run never touches the host: placeholder URLs say where it would publish.
        placeholder = f"https://{githost.GitHost.HOST}/{owner}/{repo}"
        return f"{placeholder}.git", f"{placeholder}/tree/{branch}", (owner, repo)
    return host.clone_url(owner, repo), host.contents_url(owner, repo, branch), (owner, repo)


def _check_remote(remote: str) -> str:
    if remote.startswith("-"):
        raise InvalidInput(f'publish:git: remoteUrl "{remote}" may not start with "-"')
    if remote.startswith(_URL_SCHEMES) or _SCP_LIKE.match(remote) or remote.startswith("/"):
        return remote
    raise InvalidInput(
        f'publish:git: remoteUrl "{remote}" is not a git URL (file://, https://, ssh://, '
        "git://, user@host:path) or an absolute path"
    )


def _check_branch(branch: str) -> str:
    try:
        githost.git(["check-ref-format", "--branch", branch], what="checking defaultBranch")
    except InvalidInput:
        raise InvalidInput(
            f'publish:git: defaultBranch "{branch}" is not a valid git branch name'
        ) from None
    return branch


def publish_git(ctx: ActionContext) -> None:
    """``publish:git``: commit the workspace (or ``sourcePath``) and push it (module doc)."""
    log_ignored_inputs(ctx, _GIT_INPUT["properties"])
    branch = _check_branch(str(ctx.input.get("defaultBranch") or "main"))
    remote, contents_url, hosted = _remote_target(ctx, branch)
    source = source_dir(ctx)
    if ctx.dry_run:
        ctx.log(f"dry run: would publish {source.name or '.'} to {remote} on branch {branch}")
        _outputs(ctx, remote, contents_url, githost.NULL_SHA)
        return
    if hosted is not None:
        host = ctx.services.githost
        if not host.exists(*hosted):
            host.ensure_repo(*hosted, branch=branch)
        elif host.is_empty(*hosted):
            host.set_default_branch(*hosted, branch)
        else:
            raise Conflict(
                f"repository {hosted[0]}/{hosted[1]} already exists on the platform git host "
                "and is not empty; choose another repo name"
            )
    elif githost.remote_refs(remote):
        raise Conflict(
            f"publish:git: the remote {remote} already has branches; publish to an empty repository"
        )
    message = str(ctx.input.get("gitCommitMessage") or "initial commit")
    commit = githost.publish_directory(
        source, remote, branch=branch, message=message, author=author_of(ctx)
    )
    ctx.log(f"pushed {commit[:12]} to {remote} ({branch})")
    _outputs(ctx, remote, contents_url, commit)


def _outputs(ctx: ActionContext, remote: str, contents_url: str, commit: str) -> None:
    ctx.output("remoteUrl", remote)
    ctx.output("repoContentsUrl", contents_url)
    ctx.output("commitHash", commit)


PUBLISH_GIT = Action(
    id="publish:git",
    description="Initializes a git repository of the content in the workspace and pushes it "
    "to the platform's git host (repoUrl platform.local?owner=…&repo=…) or to any empty "
    "git remote (remoteUrl).",
    handler=publish_git,
    input_schema=_GIT_INPUT,
    output_schema=PUBLISH_OUTPUTS,
    supports_dry_run=True,
    examples=(
        {
            "description": "Publish to the platform git host",
            "example": "steps:\n  - id: publish\n    action: publish:git\n    input:\n"
            "      repoUrl: platform.local?owner=team-a&repo=my-api\n",
        },
    ),
)

ACTIONS: list[Action] = [
    PUBLISH_GIT,
    _github.PUBLISH_GITHUB,
    _github.PUBLISH_GITHUB_PULL_REQUEST,
    _gitlab.PUBLISH_GITLAB,
]
