"""The built-in golden paths, shipped in the package and published at first start.

Each entry of :data:`BUILTIN_TEMPLATES` is a directory next to this module holding a
Backstage ``scaffolder.backstage.io/v1beta3`` Template (``template.yaml``) and the skeleton
directories its ``fetch:template`` steps render:

* ``python-service`` — FastAPI; ``skeleton/`` plus ``skeleton-postgres/`` when
  ``database == 'postgres'``.
* ``node-service`` — ``skeleton/`` (catalog, docs, CI, platform.yaml) plus
  ``skeleton-typescript/`` or ``skeleton-javascript/``; Fastify or Express is chosen inside
  the files.

Every file whose content is templated ends in ``.njk`` (the steps set
``templateFileExtension: true``, which strips it), so the skeleton's Python sources are not
modules of this package for ruff, mypy or the import system; other files are copied as is.

:func:`publish_builtin_templates` commits these directories into the platform git host
repository ``platform/templates`` so the catalog registers them as ordinary ``url``
locations (issue 3, "Built-in golden paths (shipped in the package, registered at first
start)") and template upgrades can diff one version against the next by commit.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from goldenpath.scaffolder.githost import GitHost, commit_directory, git, push

__all__ = [
    "BUILTIN_TEMPLATES",
    "TEMPLATES_OWNER",
    "TEMPLATES_REPO",
    "builtin_dir",
    "publish_builtin_templates",
]

#: Names of the shipped templates; each is a directory under :func:`builtin_dir`.
BUILTIN_TEMPLATES: list[str] = [
    "python-service",
    "node-service",
    # self-service actions (spec.type: action; goldenpath.scaffolder.actions.platform_ops)
    "actions/rotate-database-password",
    "actions/create-preview-environment",
    "actions/run-incident-runbook",
]
#: The git host repository the built-ins are published to: ``platform/templates``.
TEMPLATES_OWNER = "platform"
TEMPLATES_REPO = "templates"

_BRANCH = "main"
_AUTHOR = ("goldenpath", "platform@goldenpath.local")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", ".venv", "dist")


def builtin_dir() -> Path:
    """The directory holding the built-in template directories (this package's directory)."""
    return Path(__file__).resolve().parent


def publish_builtin_templates(githost: GitHost) -> list[str]:
    """Commit the packaged templates into ``platform/templates`` on ``githost``.

    The repository is created when missing. Each built-in's directory in the repository is
    replaced by the packaged copy; other top-level entries (templates a platform team added)
    are kept. A commit is made and pushed to ``main`` only when the content changed, so
    calling this at every start is cheap and keeps the template version (the commit sha)
    stable between starts of the same release.

    Returns:
        One catalog ``url`` location target per built-in, in :data:`BUILTIN_TEMPLATES` order:
        ``"<clone url>/blob/main/<name>/template.yaml"``.

    Raises:
        InvalidInput: git refused an operation (its reason quoted).
        Unavailable: the ``git`` binary is missing or timed out.
    """
    repo = githost.ensure_repo(TEMPLATES_OWNER, TEMPLATES_REPO, branch=_BRANCH)
    clone_url = githost.clone_url(TEMPLATES_OWNER, TEMPLATES_REPO)
    with tempfile.TemporaryDirectory(prefix="goldenpath-builtin-") as tmp:
        work = Path(tmp) / TEMPLATES_REPO
        if githost.is_empty(TEMPLATES_OWNER, TEMPLATES_REPO):
            work.mkdir()
            before = None
        else:
            git(
                ["clone", "--quiet", "--branch", _BRANCH, "--", str(repo), str(work)],
                what=f"cloning {clone_url}",
            )
            before = git(["rev-parse", "HEAD"], cwd=work, what="git rev-parse")
        for name in BUILTIN_TEMPLATES:
            shutil.rmtree(work / name, ignore_errors=True)
            shutil.copytree(builtin_dir() / name, work / name, ignore=_IGNORE)
        after = commit_directory(
            work,
            branch=_BRANCH,
            message="Update the built-in golden paths",
            author=_AUTHOR,
        )
        if after != before:
            push(work, str(repo), branch=_BRANCH)
    return [f"{clone_url}/blob/{_BRANCH}/{name}/template.yaml" for name in BUILTIN_TEMPLATES]
