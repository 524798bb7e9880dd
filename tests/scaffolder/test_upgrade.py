"""``platform template upgrade``: a three-way merge of a template's new version into a project.

Real git everywhere: the template lives in a git repository in tmp_path, the project is
generated from version 1 with the real runner (file-producing steps, dry run) plus the
answers file, the user edits and commits, the template moves to version 2, and the upgrade
is checked file by file.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from goldenpath.cli.commands.template_upgrade import upgrade
from goldenpath.errors import Conflict, InvalidInput, NotFound
from goldenpath.scaffolder.answers import ANSWERS_PATH, read_answers, write_answers
from goldenpath.scaffolder.upgrade import render_template_files, upgrade_project

pytestmark = pytest.mark.skipif(
    subprocess.run(["git", "--version"], capture_output=True).returncode != 0,
    reason="git is not installed",
)

_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}

TEMPLATE_YAML = """\
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: tiny-service
spec:
  owner: group:default/platform
  type: service
  parameters:
    - title: Service
      required: [name]
      properties:
        name: {type: string, pattern: '^[a-z][a-z0-9-]*$'}
        owner: {type: string, default: team-a}
  steps:
    - id: fetch
      name: Fetch skeleton
      action: fetch:template
      input:
        url: ./skeleton
        values:
          name: ${{ parameters.name }}
          owner: ${{ parameters.owner }}
    - id: log
      name: Log
      action: debug:log
      input: {message: done}
    - id: publish
      name: Publish
      action: publish:git
      input: {repoUrl: 'platform.local?owner=x&repo=${{ parameters.name }}'}
"""

V1 = {
    "README.md": "# ${{ values.name }}\n\nOwned by ${{ values.owner }}.\n\nRun it with make.\n",
    "app.py": "NAME = '${{ values.name }}'\nGREETING = 'hello'\n\nprint(GREETING, NAME)\n",
    "config.yaml": "name: ${{ values.name }}\n",
    "notes.md": "Notes for ${{ values.name }}\n",
    "LICENSE": "Apache-2.0\n",
}
V2 = {
    # one line the user did not touch changes
    "README.md": "# ${{ values.name }}\n\nOwned by ${{ values.owner }}.\n\nRun it with uv.\n",
    # the GREETING line changes on both sides: a conflict
    "app.py": "NAME = '${{ values.name }}'\nGREETING = 'hi there'\n\nprint(GREETING, NAME)\n",
    "notes.md": "Notes for ${{ values.name }}\n",
    # changed by the template, deleted by the user: a modify/delete conflict
    "LICENSE": "Apache-2.0 (see https://www.apache.org/licenses/LICENSE-2.0)\n",
    # added by the template
    "Makefile": "test:\n\tpytest\n",
    # config.yaml: deleted by the template
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **_ENV}
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def write_tree(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def set_skeleton(repo: Path, files: dict[str, str], message: str) -> str:
    skeleton = repo / "tiny" / "skeleton"
    if skeleton.exists():
        git(repo, "rm", "-rq", "tiny/skeleton")
    write_tree(skeleton, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def template_repo(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "templates"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "tiny").mkdir()
    (repo / "tiny" / "template.yaml").write_text(TEMPLATE_YAML)
    return repo, set_skeleton(repo, V1, "template v1")


def generate(template_repo: Path, version: str, dest: Path, *, source: str) -> Path:
    """A project generated from the template at ``version``: rendered, answers, committed."""
    checkout = dest.parent / f"tpl-{version[:8]}"
    git(template_repo, "worktree", "add", "-q", "--detach", str(checkout), version)
    files = render_template_files(checkout / "tiny" / "template.yaml", {"name": "my-api"})
    dest.mkdir(parents=True, exist_ok=True)
    for path, file in files.items():
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        (dest / path).write_bytes(file.content)
    write_answers(
        dest,
        template="template:default/tiny-service",
        version=version,
        source=source,
        values={"name": "my-api"},
    )
    return dest


def url_source(repo: Path) -> str:
    return f"url:file://{repo}/blob/main/tiny/template.yaml"


@pytest.fixture
def project(tmp_path: Path, template_repo: tuple[Path, str]) -> Path:
    """Generated from v1, committed, then edited and committed by the user."""
    repo, v1 = template_repo
    root = generate(repo, v1, tmp_path / "my-api", source=url_source(repo))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "generated")
    (root / "app.py").write_text(
        (root / "app.py").read_text().replace("GREETING = 'hello'", "GREETING = 'howdy'")
    )
    (root / "notes.md").write_text("Notes for my-api\nMy own note.\n")
    (root / "LICENSE").unlink()
    (root / "src.py").write_text("print('user code')\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "user edits")
    set_skeleton(repo, V2, "template v2")
    return root


def test_renders_only_file_steps(template_repo: tuple[Path, str]) -> None:
    repo, _ = template_repo
    files = render_template_files(repo / "tiny" / "template.yaml", {"name": "svc"})
    assert sorted(files) == sorted(V1)
    assert files["README.md"].content == b"# svc\n\nOwned by team-a.\n\nRun it with make.\n"


def test_upgrade_merges_three_way_on_a_new_branch(
    project: Path, template_repo: tuple[Path, str]
) -> None:
    repo, _ = template_repo
    v2 = git(repo, "rev-parse", "HEAD")
    main_before = git(project, "rev-parse", "main")

    result = upgrade_project(project)

    assert result.branch == f"goldenpath/upgrade-{v2[:12]}"
    assert git(project, "rev-parse", "main") == main_before  # the user's branch never moves
    assert git(project, "symbolic-ref", "--short", "HEAD") == result.branch
    assert git(project, "rev-parse", "HEAD") == result.commit
    assert git(project, "rev-parse", "HEAD~1") == main_before
    assert git(project, "status", "--porcelain") == ""
    # the template's own changes are applied
    assert (project / "README.md").read_text().endswith("Run it with uv.\n")
    assert (project / "Makefile").read_text() == "test:\n\tpytest\n"
    assert not (project / "config.yaml").exists()
    # the user's changes are kept
    assert (project / "notes.md").read_text() == "Notes for my-api\nMy own note.\n"
    assert (project / "src.py").read_text() == "print('user code')\n"
    # the colliding line carries conflict markers, and only that line
    assert (project / "app.py").read_text() == (
        "NAME = 'my-api'\n"
        "<<<<<<< main\n"
        "GREETING = 'howdy'\n"
        "=======\n"
        "GREETING = 'hi there'\n"
        f">>>>>>> template-{v2[:12]}\n"
        "\n"
        "print(GREETING, NAME)\n"
    )
    # deleted by the user, changed by the template: reported, not silently resurrected
    assert {(c.path, c.kind) for c in result.conflicts} == {
        ("app.py", "contents"),
        ("LICENSE", "modify/delete"),
    }
    assert "deleted in" in next(c.message for c in result.conflicts if c.path == "LICENSE")
    answers = read_answers(project)
    assert answers.version == v2
    assert answers.values == {"name": "my-api"}
    # main still holds the user's version of everything
    assert git(project, "show", "main:app.py").count("howdy") == 1
    assert git(project, "show", "main:config.yaml") == "name: my-api"
    assert {"status": "A", "path": "Makefile"} in result.changed
    assert {"status": "D", "path": "config.yaml"} in result.changed


def test_dry_run_prints_the_diff_and_changes_nothing(
    project: Path, template_repo: tuple[Path, str]
) -> None:
    def snapshot() -> tuple[str, str, str, str]:
        return (
            git(project, "for-each-ref"),
            git(project, "rev-parse", "HEAD"),
            git(project, "count-objects", "-v"),
            git(project, "status", "--porcelain", "--ignored"),
        )

    before = snapshot()
    result = upgrade_project(project, dry_run=True)
    assert snapshot() == before
    assert result.branch is None and result.commit is None
    assert "+Run it with uv." in result.diff
    assert "diff --git a/Makefile b/Makefile" in result.diff
    assert "+<<<<<<< main" in result.diff
    assert "deleted file mode" in result.diff  # config.yaml


def test_dirty_or_untracked_work_tree_is_refused(project: Path) -> None:
    (project / "src.py").write_text("print('unsaved')\n")
    with pytest.raises(Conflict, match="uncommitted or untracked changes"):
        upgrade_project(project)
    git(project, "checkout", "-q", "--", "src.py")
    (project / "scratch.txt").write_text("x\n")
    with pytest.raises(Conflict, match=r"scratch\.txt"):
        upgrade_project(project, dry_run=True)


def test_up_to_date_and_file_source_and_subdirectory(
    tmp_path: Path, template_repo: tuple[Path, str]
) -> None:
    repo, v1 = template_repo
    mono = tmp_path / "mono"
    root = generate(repo, v1, mono / "services" / "api", source=f"file:{repo}/tiny/template.yaml")
    git(mono, "init", "-q", "-b", "trunk")
    git(mono, "add", "-A")
    git(mono, "commit", "-qm", "generated")
    assert upgrade_project(root).up_to_date

    set_skeleton(repo, V2, "template v2")
    result = upgrade_project(root, branch="up", checkout=False)
    assert result.conflicts == []
    assert git(mono, "symbolic-ref", "--short", "HEAD") == "trunk"  # not checked out
    assert git(mono, "show", "up:services/api/Makefile") == "test:\n\tpytest"
    assert git(mono, "show", "up:services/api/LICENSE").startswith("Apache-2.0 (see")
    assert read_answers(root).version == v1  # the work tree is still trunk
    with pytest.raises(Conflict, match="branch up already exists"):
        upgrade_project(root, branch="up")


def test_refusals(tmp_path: Path, project: Path) -> None:
    with pytest.raises(NotFound, match=r"answers\.yaml"):
        upgrade_project(tmp_path)
    loose = tmp_path / "loose"
    write_answers(
        loose, template="t", version="1", source="url:file:///x/blob/main/t.yaml", values={}
    )
    with pytest.raises(InvalidInput, match="not inside a git work tree"):
        upgrade_project(loose)
    answers = project / ANSWERS_PATH
    answers.write_text(answers.read_text().replace("source: url:", "source: catalog:"))
    git(project, "commit", "-qam", "bad source")
    with pytest.raises(InvalidInput, match="is not supported"):
        upgrade_project(project)
    answers.write_text(answers.read_text().replace("version: ", "version: sha256:"))
    git(project, "commit", "-qam", "no commit version")
    with pytest.raises(InvalidInput, match="is not a git commit"):
        upgrade_project(project)


def test_cli_dry_run_and_upgrade(project: Path, template_repo: tuple[Path, str]) -> None:
    app = typer.Typer()
    app.command()(upgrade)
    runner = CliRunner()
    dry = runner.invoke(app, [str(project), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "+Run it with uv." in dry.stdout
    assert git(project, "branch", "--list") == "* main"
    done = runner.invoke(app, [str(project), "--branch", "tpl-v2"])
    assert done.exit_code == 0, done.output
    assert "CONFLICT (contents): app.py" in done.output
    assert git(project, "symbolic-ref", "--short", "HEAD") == "tpl-v2"
