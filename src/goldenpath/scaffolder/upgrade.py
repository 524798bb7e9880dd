"""Template upgrades: bring a generated repository to its template's current version.

``platform template upgrade [PATH]`` (issue 3, "Template upgrades"). The repository at
``PATH`` records in ``.goldenpath/answers.yaml`` the template, the commit it was generated
from and the answers. :func:`upgrade_project`:

1. refuses a work tree with uncommitted or untracked changes;
2. clones the template's repository (``source``: ``url:<repo>/blob/<ref>/<path>`` or
   ``file:/abs/template.yaml`` inside a git work tree) and checks out the recorded commit
   and the current head of ``<ref>``;
3. renders both with the recorded values — only the steps that write files (``fetch:*``,
   ``fs:*``, ``catalog:write``), as a dry run — into two file trees;
4. merges with git's own machinery (``git merge-tree --write-tree``, the ``ort`` strategy):
   base = old render, theirs = new render, ours = the repository's ``HEAD``. Everything
   happens in a scratch bare repository that borrows the user's objects (``alternates``),
   so a dry run writes nothing to the user's repository;
5. writes the result (with ``answers.yaml``'s ``version`` moved on) as one commit whose
   parent is ``HEAD``, fetches it into the user's repository as a new branch
   (``goldenpath/upgrade-<short sha>``) and switches the work tree to it.

Conflicts are committed like copier does: the files keep standard conflict markers
(``<<<<<<< <your branch>`` … ``>>>>>>> template-<short sha>``) and are listed in the result;
nothing the user changed is dropped. A file the user deleted and the template changed is a
``modify/delete`` conflict: the template's new version is left in the branch and reported,
so the user decides (delete it again, or keep it). The user's branch is never moved.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goldenpath.catalog.locations import parse_git_url
from goldenpath.errors import Conflict, InvalidInput, NotFound
from goldenpath.scaffolder._upgrade_git import (
    MergeConflict,
    Project,
    RenderedFile,
    Scratch,
    git,
    merge,
    open_project,
)
from goldenpath.scaffolder.actions import default_registry
from goldenpath.scaffolder.actions.base import confine
from goldenpath.scaffolder.answers import ANSWERS_PATH, Answers, read_answers, write_answers
from goldenpath.scaffolder.runner import run_template
from goldenpath.scaffolder.templates import load_template_file

__all__ = [
    "FILE_ACTION_PREFIXES",
    "MergeConflict",
    "RenderedFile",
    "Renderer",
    "UpgradeResult",
    "render_template_files",
    "upgrade_project",
]

#: steps kept when rendering for an upgrade: the ones that produce the file tree
FILE_ACTION_PREFIXES = ("fetch:", "fs:", "catalog:write")
_COMMIT = re.compile(r"^[0-9a-f]{7,64}$")


#: ``(template.yaml path, values) -> {posix path relative to the project: file}``
Renderer = Callable[[Path, Mapping[str, Any]], dict[str, RenderedFile]]


@dataclass(slots=True)
class UpgradeResult:
    """What :func:`upgrade_project` did (or, in a dry run, would do).

    Attributes:
        template: the template ref from the answers file.
        old_version / new_version: template commits (full shas).
        up_to_date: the recorded version already is the current one; nothing else is set.
        branch: the branch created (``None`` in a dry run or when up to date).
        commit: the upgrade commit (``None`` in a dry run or when up to date).
        checked_out: the work tree was switched to ``branch``.
        conflicts: files left with conflict markers (or modify/delete conflicts).
        changed: ``[{"status": "M"|"A"|"D"|…, "path"}]`` from ``HEAD`` to the result.
        diff: unified diff from ``HEAD`` to the result (what the branch applies).
    """

    template: str
    old_version: str
    new_version: str
    up_to_date: bool = False
    branch: str | None = None
    commit: str | None = None
    checked_out: bool = False
    conflicts: list[MergeConflict] = field(default_factory=list)
    changed: list[dict[str, str]] = field(default_factory=list)
    diff: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``conflicts`` as ``[{"path", "kind", "message"}]``)."""
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- the template


def _template_location(answers: Answers) -> tuple[str, str | None, str]:
    """``(repository to clone, ref or None for HEAD, template.yaml path in it)``."""
    kind, _, target = answers.source.partition(":")
    if kind == "url":
        repo, ref, path = parse_git_url(target)
        if ref is None or path is None:
            raise InvalidInput(
                f"{ANSWERS_PATH}: source {answers.source!r} is not of the form "
                "url:<repository>/blob/<ref>/<path to template.yaml>"
            )
        return repo, None if ref == "HEAD" else ref, path
    if kind == "file" and os.path.isabs(target):
        directory = Path(target).parent
        if not directory.is_dir():
            raise NotFound(f"{ANSWERS_PATH}: the template directory {directory} does not exist")
        inside = git(directory, "rev-parse", "--is-inside-work-tree", ok=(0, 128)).stdout
        if inside.strip() != "true":
            raise InvalidInput(
                f"{ANSWERS_PATH}: the template {target} is not in a git repository, so its "
                "old version cannot be recovered; keep templates in git to upgrade from them"
            )
        top = Path(git(directory, "rev-parse", "--show-toplevel").stdout.strip())
        return str(top), None, Path(target).resolve().relative_to(top.resolve()).as_posix()
    raise InvalidInput(
        f"{ANSWERS_PATH}: source {answers.source!r} is not supported; upgrades need "
        "url:<repository>/blob/<ref>/<path> or file:/absolute/template.yaml in a git repository"
    )


def _checkout_versions(answers: Answers, scratch: Path) -> tuple[Path, str, Path, str]:
    """Clone the template repository; ``(old template.yaml, old sha, new one, new sha)``."""
    if not _COMMIT.match(answers.version):
        raise InvalidInput(
            f"{ANSWERS_PATH}: version {answers.version!r} is not a git commit (the template "
            "was not in a git repository when the project was generated), so the old render "
            "cannot be rebuilt"
        )
    repo, ref, path = _template_location(answers)
    clone = scratch / "template.git"
    # only real transports: a crafted answers file may not run ext:: or fd:: helpers
    protocols = {"GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh"}
    git(scratch, "clone", "--quiet", "--bare", "--", repo, str(clone), env=protocols)
    new = git(clone, "rev-parse", "--verify", f"{ref or 'HEAD'}^{{commit}}", ok=(0, 128))
    if new.returncode != 0:
        raise NotFound(f"{ANSWERS_PATH}: ref {ref!r} does not exist in {repo}")
    old = git(clone, "rev-parse", "--verify", f"{answers.version}^{{commit}}", ok=(0, 128))
    if old.returncode != 0:
        raise NotFound(
            f"{ANSWERS_PATH}: version {answers.version} is not a commit of {repo} (was its "
            "history rewritten?); set version to the commit the project was generated from"
        )
    trees = []
    for name, sha in (("old", old.stdout.strip()), ("new", new.stdout.strip())):
        tree = scratch / name
        git(clone, "worktree", "add", "--quiet", "--detach", str(tree), sha)
        template_file = confine(tree, path, what=f"{ANSWERS_PATH} source path")
        if not template_file.is_file():
            raise NotFound(f"{path} does not exist in {repo} at commit {sha}")
        trees.append((template_file, sha))
    return trees[0][0], trees[0][1], trees[1][0], trees[1][1]


def render_template_files(
    template_file: Path, values: Mapping[str, Any]
) -> dict[str, RenderedFile]:
    """Render the file-producing steps of ``template_file`` as a dry run.

    Only steps whose action starts with one of :data:`FILE_ACTION_PREFIXES` run (publishing,
    registering and logging steps are dropped), with ``values`` as parameters and no secrets
    or user. Returns ``{posix path: RenderedFile}``.

    Raises:
        InvalidInput: the template cannot be loaded, ``values`` fail its parameter schema
            (e.g. the new version added a required parameter: add it to the answers file's
            ``values``), or a step failed.
    """
    spec = load_template_file(template_file)
    steps = [s for s in spec.steps if str(s.get("action", "")).startswith(FILE_ACTION_PREFIXES)]
    spec = dataclasses.replace(spec, steps=steps)
    with tempfile.TemporaryDirectory(prefix="goldenpath-render-") as workspace:
        result = run_template(
            spec, values, registry=default_registry(), workspace=Path(workspace), dry_run=True
        )
    if result.status != "completed":
        raise InvalidInput(f"rendering {template_file} failed: {result.error}")
    return {
        f["path"]: RenderedFile(base64.b64decode(f["base64Content"]), bool(f.get("executable")))
        for f in result.files
    }


# --------------------------------------------------------------------------- the use case


def upgrade_project(
    path: Path,
    *,
    dry_run: bool = False,
    branch: str | None = None,
    checkout: bool = True,
    renderer: Renderer | None = None,
) -> UpgradeResult:
    """Upgrade the generated project at ``path`` to its template's current version.

    Args:
        path: the directory holding ``.goldenpath/answers.yaml`` (a git work tree, or a
            directory inside one).
        dry_run: compute the merge and return its diff; write nothing to the repository.
        branch: the branch to create (default ``goldenpath/upgrade-<12-char new sha>``).
        checkout: switch the work tree to the new branch afterwards.
        renderer: renders a template file with values (default
            :func:`render_template_files`; tests may inject one).

    Returns:
        An :class:`UpgradeResult`; ``conflicts`` lists files committed with conflict markers.

    Raises:
        NotFound: no answers file; the recorded version or the template is gone.
        InvalidInput: not a git repository, unsupported ``source``, rendering failed, or
            ``branch`` is not a valid branch name.
        Conflict: the work tree has uncommitted or untracked changes; ``branch`` exists.
    """
    root = Path(path).resolve()
    answers = read_answers(root)
    project = open_project(root)
    render = renderer or render_template_files
    with tempfile.TemporaryDirectory(prefix="goldenpath-upgrade-") as tmp:
        scratch_dir = Path(tmp)
        old_file, old_sha, new_file, new_sha = _checkout_versions(answers, scratch_dir)
        result = UpgradeResult(answers.template, old_sha, new_sha)
        if old_sha == new_sha:
            result.up_to_date = True
            return result
        name = branch or f"goldenpath/upgrade-{new_sha[:12]}"
        _check_branch(project, name, dry_run=dry_run)
        old_files = render(old_file, answers.values)
        new_files = render(new_file, answers.values)
        scratch = Scratch(scratch_dir / "merge.git", project)
        tree, result.conflicts = merge(scratch, old_files, new_files, f"template-{new_sha[:12]}")
        tree = _bump_version(scratch, tree, answers, new_sha)
        result.diff = scratch.git("diff", "--no-color", "--no-ext-diff", project.head, tree)
        result.changed = _name_status(scratch, project.head, tree)
        if dry_run:
            return result
        message = _commit_message(answers, old_sha, new_sha, result.conflicts)
        result.commit = scratch.commit(tree, message, project.head)
        scratch.git("update-ref", "refs/heads/goldenpath-result", result.commit)
        git(
            project.top,
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            str(scratch.path),
            f"refs/heads/goldenpath-result:refs/heads/{name}",
        )
        result.branch = name
    if checkout:
        done = git(project.top, "switch", "--quiet", name, ok=(0, 1, 128))
        result.checked_out = done.returncode == 0
    return result


def _check_branch(project: Project, name: str, *, dry_run: bool) -> None:
    valid = git(project.top, "check-ref-format", "--branch", name, ok=(0, 1, 128))
    if valid.returncode != 0:
        raise InvalidInput(f"--branch {name!r} is not a valid git branch name")
    exists = git(project.top, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}", ok=(0, 1))
    if exists.returncode == 0 and not dry_run:
        raise Conflict(
            f"branch {name} already exists in {project.top}: delete it (git branch -D {name}) "
            "or pass --branch with another name"
        )


def _bump_version(scratch: Scratch, tree: str, answers: Answers, new_sha: str) -> str:
    """``tree`` with the answers file's ``version`` set to ``new_sha`` (values kept)."""
    with tempfile.TemporaryDirectory(prefix="goldenpath-answers-") as tmp:
        written = write_answers(
            Path(tmp),
            template=answers.template,
            version=new_sha,
            source=answers.source,
            values=answers.values,
        )
        content = written.read_bytes()
    return scratch.with_file(tree, f"{scratch.project.prefix}{ANSWERS_PATH}", content)


def _name_status(scratch: Scratch, head: str, tree: str) -> list[dict[str, str]]:
    out = scratch.git("diff", "--name-status", "-z", "--no-renames", head, tree)
    fields = [f for f in out.split("\0") if f]
    return [{"status": s, "path": p} for s, p in zip(fields[::2], fields[1::2], strict=True)]


def _commit_message(answers: Answers, old: str, new: str, conflicts: list[MergeConflict]) -> str:
    lines = [
        f"Upgrade {answers.template} to template version {new[:12]}",
        "",
        f"Template {answers.template} from {old[:12]} to {new[:12]} ({answers.source}),",
        "merged three-way by goldenpath (platform template upgrade).",
    ]
    if conflicts:
        lines += ["", "Conflicts to resolve (conflict markers are in the files):"]
        lines += [f"  {c.kind}: {c.path}" for c in conflicts]
    return "\n".join(lines)
