"""No template reads or writes outside its directory and the workspace, runs code, reaches
Python internals or leaks secrets into task logs — at the level of whole runs.

The payload corpus is ``data/security/payloads.yaml``; each case is named after the
published Backstage advisory whose class of attack it replays (see the file's header).
Every run happens in ``tmp_path`` with a sentinel directory ``outside/`` next to the
template and the workspace; after each run nothing outside the workspace may have changed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from scaffoldhelpers import Run, build_tree, files_under, run, template_entity

from goldenpath.errors import InvalidInput

CORPUS = yaml.safe_load((Path(__file__).parent / "data/security/payloads.yaml").read_text())
SENTINEL = "OUTSIDE-SECRET"
LEAK_MARKERS = (SENTINEL, "<class", "<function", "<module", "<built-in", "object at 0x", "uid=")
SECRET = "s3cr3t-t0ken-value"
PASSWORD = "pa55-w0rd-value"
STRAY = (Path("/tmp/goldenpath-pwned"), Path.home() / "pwned")

pytestmark = pytest.mark.timeout(120)


def cases(section: str) -> Any:
    return pytest.mark.parametrize("case", CORPUS[section], ids=[c["id"] for c in CORPUS[section]])


def snapshot(tmp_path: Path) -> dict[str, bytes | str]:
    """Everything below ``tmp_path`` except the workspace (links by their target)."""
    seen: dict[str, bytes | str] = {}
    for root, dirs, files in os.walk(tmp_path):
        here = Path(root)
        if here == tmp_path:
            dirs[:] = [d for d in dirs if d != "workspace"]
        for name in [*dirs, *files]:
            path = here / name
            key = path.relative_to(tmp_path).as_posix()
            if path.is_symlink():
                seen[key] = "-> " + os.readlink(path)
            elif path.is_file():
                seen[key] = path.read_bytes()
            else:
                seen[key] = "dir"
    return seen


@pytest.fixture
def sandbox(tmp_path: Path) -> Any:
    """``tmp_path`` with ``outside/secret.txt``; checks afterwards that only the workspace
    changed and nothing appeared in the usual escape targets."""
    build_tree(tmp_path, {"outside/secret.txt": SENTINEL, "outside/keep/x.txt": SENTINEL})
    yield tmp_path
    for stray in STRAY:
        assert not stray.exists(), f"{stray} was created"


def guarded(tmp_path: Path, entity: dict[str, Any], values: dict[str, Any], **kw: Any) -> Run:
    """Run, then assert nothing outside the workspace changed and nothing leaked."""
    skeleton = kw.pop("skeleton", {})
    build_tree(tmp_path / "template", skeleton)
    before = snapshot(tmp_path)
    started = time.monotonic()
    done = run(tmp_path, entity, values, skeleton={}, **kw)
    assert time.monotonic() - started < 30
    assert snapshot(tmp_path) == before, "a file outside the workspace changed"
    everything = "\n".join(
        [done.log, done.result.error or "", repr(done.result.output), repr(done.result.steps)]
    )
    workspace = tmp_path / "workspace"
    if workspace.exists():
        everything += repr(files_under(workspace))
    for marker in LEAK_MARKERS:
        assert marker not in everything, f"{marker!r} leaked"
    return done


PARAMS = {
    "properties": {
        "name": {"type": "string"},
        "password": {"type": "string", "ui:field": "Secret"},
    }
}


# --------------------------------------------------------------------------- sandbox


@cases("expressions")
def test_expressions_cannot_escape_the_sandbox(sandbox: Path, case: dict[str, Any]) -> None:
    payload = case["payload"]
    entity = template_entity(
        [
            {"id": "log", "action": "debug:log", "input": {"message": payload}},
            {
                "id": "fetch",
                "action": "fetch:template",
                "input": {"url": "./skeleton", "values": {"name": "${{ parameters.name }}"}},
            },
        ],
        parameters=PARAMS,
        output={"text": [{"title": "t", "content": payload}]},
    )
    skeleton = {"skeleton/evil.txt": payload, "skeleton/named/x.txt": "x"}
    done = guarded(sandbox, entity, {"name": "svc"}, skeleton=skeleton)
    # the skeleton file either rendered to something harmless or failed naming the file
    if done.result.status == "failed":
        assert "evil.txt" in (done.result.error or "")


@cases("expressions")
def test_expressions_in_file_names_cannot_escape(sandbox: Path, case: dict[str, Any]) -> None:
    name = case["payload"].replace("/", "\N{DIVISION SLASH}")  # one path segment
    entity = template_entity(
        [{"id": "fetch", "action": "fetch:template", "input": {"url": "./skeleton", "values": {}}}]
    )
    guarded(sandbox, entity, {}, skeleton={f"skeleton/{name}": "x"})


# --------------------------------------------------------------------------- path traversal


def _path_steps() -> list[dict[str, Any]]:
    return [
        {
            "id": "names",
            "action": "fetch:template",
            "input": {"url": "./skeleton", "values": {"name": "${{ parameters.name }}"}},
        },
        {
            "id": "target",
            "action": "fetch:plain",
            "input": {"url": "./skeleton", "targetPath": "${{ parameters.name }}"},
        },
        {
            "id": "file",
            "action": "fetch:plain:file",
            "input": {"url": "./skeleton/static.txt", "targetPath": "${{ parameters.name }}"},
        },
        {
            "id": "rename",
            "action": "fs:rename",
            "input": {"files": [{"from": "static.txt", "to": "${{ parameters.name }}"}]},
        },
        {"id": "delete", "action": "fs:delete", "input": {"files": ["${{ parameters.name }}"]}},
    ]


@cases("path_names")
@pytest.mark.parametrize("step", [s["id"] for s in _path_steps()])
def test_paths_built_from_parameters_stay_in_the_workspace(
    sandbox: Path, case: dict[str, Any], step: str
) -> None:
    chosen = [s for s in _path_steps() if s["id"] == step]
    seed = {
        "id": "seed",
        "action": "fetch:plain:file",
        "input": {"url": "./skeleton/static.txt", "targetPath": "static.txt"},
    }
    entity = template_entity([seed, *chosen], parameters=PARAMS)
    skeleton = {"skeleton/${{ values.name }}/pwned.txt": "pwned", "skeleton/static.txt": "s"}
    done = guarded(sandbox, entity, {"name": case["value"]}, skeleton=skeleton)
    if done.result.status == "failed":
        assert any(
            word in (done.result.error or "")
            for word in (
                "escapes the workspace",
                "not absolute",
                "backslash",
                "NUL byte",
                "does not exist",
            )
        ), done.result.error
    workspace = (sandbox / "workspace").resolve()
    for path in workspace.rglob("*"):
        assert path.resolve().is_relative_to(workspace)


@cases("urls")
@pytest.mark.parametrize("action", ["fetch:template", "fetch:plain"])
def test_fetch_urls_cannot_leave_the_template(
    sandbox: Path, case: dict[str, Any], action: str
) -> None:
    entity = template_entity([{"id": "f", "action": action, "input": {"url": case["url"]}}])
    done = guarded(sandbox, entity, {}, skeleton={"skeleton/a.txt": "a"})
    assert done.result.status == "failed"
    assert not any((sandbox / "workspace").rglob("*"))


@cases("skeleton_links")
@pytest.mark.parametrize("action", ["fetch:template", "fetch:plain"])
def test_skeleton_links_leading_outside_are_refused(
    sandbox: Path, case: dict[str, Any], action: str
) -> None:
    skeleton: dict[str, str | bytes] = {"skeleton/a.txt": "a"}
    skeleton.update({f"skeleton/{k}": f"-> {v}" for k, v in case["links"].items()})
    entity = template_entity([{"id": "f", "action": action, "input": {"url": "./skeleton"}}])
    done = guarded(sandbox, entity, {}, skeleton=skeleton)
    assert done.result.status == "failed"
    assert "symbolic link" in (done.result.error or "")


# Links that are already in a workspace (a cloned repository, an archive) when actions run.
PLANTED = {
    "link-to-secret": "../outside/secret.txt",
    "outdir": "../outside/keep",
    "dangling": "../outside/not-yet",
}


@pytest.mark.parametrize(
    ("case_id", "step"),
    [
        (
            "GHSA-rq6q-wr2q-7pgp-debug-log-reads-through-link",
            {"action": "debug:log", "input": {"listWorkspace": "with-contents"}},
        ),
        (
            "GHSA-rq6q-wr2q-7pgp-fs-delete-through-dir-link",
            {"action": "fs:delete", "input": {"files": ["outdir/*"]}},
        ),
        (
            "GHSA-rq6q-wr2q-7pgp-fs-delete-recursive-glob",
            {"action": "fs:delete", "input": {"files": ["**/*.txt"]}},
        ),
        (
            "GHSA-rq6q-wr2q-7pgp-fs-delete-the-link-itself",
            {"action": "fs:delete", "input": {"files": ["link-to-secret"]}},
        ),
        (
            "GHSA-rq6q-wr2q-7pgp-fetch-into-dir-link",
            {"action": "fetch:plain", "input": {"url": "./skeleton", "targetPath": "outdir"}},
        ),
        (
            "CVE-2026-24047-fetch-into-dangling-link",
            {"action": "fetch:template", "input": {"url": "./skeleton", "targetPath": "dangling"}},
        ),
        (
            "CVE-2026-24047-write-file-onto-dangling-link",
            {
                "action": "fetch:plain:file",
                "input": {"url": "./skeleton/a.txt", "targetPath": "dangling"},
            },
        ),
        (
            "CVE-2026-24047-rename-onto-dangling-link",
            {
                "action": "fs:rename",
                "input": {"files": [{"from": "link-to-secret", "to": "dangling/x"}]},
            },
        ),
        (
            "CVE-2026-24047-fetch-from-link-in-workspace",
            {"action": "fetch:template", "input": {"url": "WS/outdir"}},
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_links_already_in_the_workspace_are_never_followed_out(
    sandbox: Path, case_id: str, step: dict[str, Any]
) -> None:
    workspace = sandbox / "workspace"
    build_tree(workspace, {k: f"-> {v}" for k, v in PLANTED.items()})
    if step["input"].get("url", "").startswith("WS/"):
        step = {
            **step,
            "input": {"url": step["input"]["url"].replace("WS", str(workspace.resolve()))},
        }
    entity = template_entity([{"id": "s", **step}])
    done = guarded(sandbox, entity, {}, skeleton={"skeleton/a.txt": "a"})
    assert (sandbox / "outside/secret.txt").read_text() == SENTINEL
    assert (sandbox / "outside/keep/x.txt").read_text() == SENTINEL
    assert not (sandbox / "outside/not-yet").exists()
    if case_id.endswith("the-link-itself"):  # the link is removed, its target is not
        assert done.result.status == "completed"
        assert not os.path.lexists(workspace / "link-to-secret")
    if done.result.status == "failed":
        assert "symbolic link" in (done.result.error or "") or "escapes" in (
            done.result.error or ""
        )


# --------------------------------------------------------------------------- secrets


def _transformations() -> list[str]:
    return [
        SECRET,
        SECRET[::-1],
        SECRET.upper(),
        " ".join(SECRET),
        SECRET.replace("s3", "S-3"),
        SECRET[:6],
        SECRET[6:],
        PASSWORD,
    ]


@cases("secret_leaks")
def test_secrets_and_values_derived_from_them_never_reach_the_log(
    sandbox: Path, case: dict[str, Any]
) -> None:
    entity = template_entity(
        [{"id": "log", "action": "debug:log", "input": {"message": case["message"]}}],
        parameters=PARAMS,
    )
    done = guarded(
        sandbox, entity, {"name": "svc", "password": PASSWORD}, secrets={"token": SECRET}
    )
    assert done.result.status == "completed"
    lines = [e.message for e in done.events if e.type == "log"]
    assert lines, "debug:log logged nothing"
    for line in lines:
        for form in _transformations():
            assert form not in line, f"{form!r} leaked in {line!r}"


def test_backstage_30876_fetch_template_does_not_log_secret_values(sandbox: Path) -> None:
    entity = template_entity(
        [
            {
                "id": "fetch",
                "action": "fetch:template",
                "input": {
                    "url": "./skeleton",
                    "values": {"key": "k1", "secret": "${{ secrets.token }}"},
                },
            },
            {"id": "log", "action": "debug:log", "input": {"listWorkspace": "with-contents"}},
        ]
    )
    done = guarded(
        sandbox,
        entity,
        {},
        secrets={"token": SECRET},
        skeleton={"skeleton/.env": "TOKEN=${{ values.secret }}\n"},
    )
    assert done.result.status == "completed"
    assert (sandbox / "workspace/.env").read_text() == f"TOKEN={SECRET}\n"  # the file has it
    assert SECRET not in done.log and "TOKEN=***" in done.log  # the log does not


def test_ghsa_8qp7_secrets_derived_values_are_masked_in_errors(sandbox: Path) -> None:
    entity = template_entity(
        [
            {
                "id": "log",
                "action": "debug:log",
                "input": {"listWorkspace": "${{ secrets.token | upper }}"},
            }
        ]
    )
    done = guarded(sandbox, entity, {}, secrets={"token": SECRET})
    assert done.result.status == "failed"
    assert "invalid input passed to action debug:log" in (done.result.error or "")
    assert SECRET.upper() not in (done.result.error or "") and "***" in (done.result.error or "")


def test_secrets_are_not_visible_to_the_template_output_or_if(sandbox: Path) -> None:
    entity = template_entity(
        [
            {
                "id": "log",
                "if": "${{ secrets.token }}",
                "action": "debug:log",
                "input": {"message": "ran"},
            }
        ],
        output={"text": [{"title": "t", "content": "[${{ secrets.token }}]"}]},
    )
    done = guarded(sandbox, entity, {}, secrets={"token": SECRET})
    assert done.result.output == {"text": [{"title": "t", "content": "[]"}]}
    assert done.result.steps[0]["status"] == "skipped"


# --------------------------------------------------------------------------- parameters


@cases("path_names")
def test_values_failing_the_schema_are_rejected_before_any_step(
    sandbox: Path, case: dict[str, Any]
) -> None:
    params = {
        "required": ["name"],
        "properties": {"name": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,62}$"}},
    }
    entity = template_entity(
        [{"id": "f", "action": "fetch:template", "input": {"url": "./skeleton"}}], parameters=params
    )
    before = snapshot(sandbox)
    with pytest.raises(InvalidInput) as info:
        run(sandbox, entity, {"name": case["value"]}, skeleton={"skeleton/a.txt": "a"})
    assert info.value.details["errors"][0]["path"] == "/name"
    assert "does not match '^[a-z][a-z0-9-]{0,62}$'" in info.value.details["errors"][0]["message"]
    assert not (sandbox / "workspace").exists()
    after = snapshot(sandbox)
    assert {k: v for k, v in after.items() if not k.startswith("template")} == {
        k: v for k, v in before.items() if not k.startswith("template")
    }
