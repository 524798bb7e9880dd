"""Template filters: Backstage's scaffolder filters and the Nunjucks built-ins.

Implements the filters a Backstage template may use, with nunjitsu's (Nunjucks 3.2.4)
semantics rather than Jinja2's: ``join`` defaults to ``''``, ``title`` lower-cases the rest
of each word, ``default`` only replaces ``undefined``, ``replace`` accepts ``r/…/g``
regular-expression literals, ``dump`` is ``JSON.stringify``.

Backstage docs: "Writing Templates" → "Builtin filters"
(https://backstage.io/docs/features/software-templates/writing-templates#built-in-filters):
``parseRepoUrl``, ``parseEntityRef``, ``pick``, ``projectSlug``.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from goldenpath.scaffolder import _js
from goldenpath.scaffolder._js import JsUndefined, to_str
from goldenpath.scaffolder._nunjucks_filters import FilterError, nunjucks_filters

__all__ = ["DEFAULT_INTEGRATIONS", "FilterError", "backstage_filters", "nunjucks_filters"]

#: host → integration type known without configuration. Backstage adds github.com by
#: default (plus the other public SaaS hosts below); ``localhost`` is goldenpath's own git host.
DEFAULT_INTEGRATIONS: Mapping[str, str] = {
    "github.com": "github",
    "gitlab.com": "gitlab",
    "bitbucket.org": "bitbucketCloud",
    "dev.azure.com": "azure",
    "localhost": "goldenpath",
    "127.0.0.1": "goldenpath",
}

_REQUIRED_PARAMS: Mapping[str, tuple[str, ...]] = {
    "bitbucketCloud": ("workspace", "project", "repo"),
    "bitbucketServer": ("project", "repo"),
    "azure": ("project", "repo"),
    "gitea": ("repo",),
    "gerrit": ("repo",),
}


# --- Backstage filters -----------------------------------------------------------------


def _integration_type(host: str, integrations: Mapping[str, str]) -> str | None:
    if host in integrations:
        return integrations[host]
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if integrations.get(hostname) == "goldenpath":
        return "goldenpath"
    return None


def parse_repo_url(repo_url: Any, integrations: Mapping[str, str]) -> dict[str, str]:
    """``parseRepoUrl``: ``'github.com?owner=o&repo=r'`` → ``{host, owner, repo, …}``.

    Raises :class:`FilterError` for a host with no integration or a missing parameter,
    with Backstage's wording.
    """
    text = to_str(repo_url)
    parsed = urllib.parse.urlsplit(f"https://{text}")
    host = parsed.netloc.rsplit("@", 1)[-1].lower()
    kind = _integration_type(host, integrations)
    if kind is None:
        raise FilterError(
            f"No matching integration configuration for host {host}, "
            "please check your integrations config"
        )
    query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
    result = {"host": host}
    for name in ("owner", "organization", "workspace", "project", "repo"):
        if name in query:
            result[name] = query[name].strip("/")
    required = _REQUIRED_PARAMS.get(kind, ("repo", "owner"))
    if kind == "gitlab":
        required = () if query.get("project") else ("owner", "repo")
    for name in required:
        if not query.get(name):
            raise FilterError(
                f"Invalid repo URL passed to publisher: https://{text}, missing {name}"
            )
    return result


def parse_entity_ref(ref: Any, context: Any = None) -> dict[str, str]:
    """``parseEntityRef``: ``'group:default/team-a'`` → ``{kind, namespace, name}``.

    ``context`` may give ``defaultKind`` and ``defaultNamespace`` (default ``default``).
    Raises :class:`FilterError` naming the expected form ``[<kind>:][<namespace>/]<name>``.
    """
    if not _js.truthy(ref):
        raise FilterError("Entity reference must not be empty")
    options = context if isinstance(context, dict) else {}
    default_kind = options.get("defaultKind")
    default_namespace = options.get("defaultNamespace") or "default"
    if isinstance(ref, str):
        colon, slash = ref.find(":"), ref.find("/")
        if slash != -1 and slash < colon:
            colon = -1
        kind = None if colon == -1 else ref[:colon]
        namespace = None if slash == -1 else ref[colon + 1 : slash]
        name: Any = ref[max(colon + 1, slash + 1) :]
        if "" in (kind, namespace, name):
            raise FilterError(
                f'Entity reference "{ref}" was not on the form [<kind>:][<namespace>/]<name>'
            )
    elif isinstance(ref, dict):
        kind, namespace, name = ref.get("kind"), ref.get("namespace"), ref.get("name")
    else:
        raise FilterError(f"Entity reference {to_str(ref)!r} must be a string or an object")
    kind = kind if kind is not None else default_kind
    namespace = namespace if namespace is not None else default_namespace
    textual = json.dumps(ref, separators=(",", ":"), ensure_ascii=False)
    for field, value in (("kind", kind), ("namespace", namespace), ("name", name)):
        if not value:
            hint = ' (e.g. did not start with "component:" or similar)' if field == "kind" else ""
            raise FilterError(f"Entity reference {textual} had missing or empty {field}{hint}")
    return {"kind": kind, "namespace": namespace, "name": name}


_PATH_PART = re.compile(r"[^.[\]]+|\[(\d+)\]")


def pick(value: Any, path: Any = None) -> Any:
    """``pick``: lodash ``get(value, path)`` — ``'a.b[0]'`` walks objects and lists."""
    current = value
    for match in _PATH_PART.finditer(to_str(path)):
        key = match.group(1) or match.group(0)
        if isinstance(current, dict) and key in current:
            current = current[key]
        elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            return JsUndefined()
    return current


def backstage_filters(integrations: Mapping[str, str]) -> dict[str, Callable[..., Any]]:
    """The scaffolder's default filters bound to ``integrations`` (host → type)."""

    def project_slug(repo_url: Any) -> str:
        """``projectSlug``: ``owner/repo`` of a repo-picker URL."""
        parts = parse_repo_url(repo_url, integrations)
        return f"{parts.get('owner', 'undefined')}/{parts.get('repo', 'undefined')}"

    return {
        "parseRepoUrl": lambda url: parse_repo_url(url, integrations),
        "parseEntityRef": parse_entity_ref,
        "pick": pick,
        "projectSlug": project_slug,
    }
