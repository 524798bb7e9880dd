"""Repository rules a newcomer and CI rely on, checked rather than hoped for.

- The layering of DESIGN.md holds (import-linter), and the contracts really catch a
  violation (checked on a throwaway package tree with the same contracts).
- The README opens with exactly the two newcomer commands, and CI runs the test command.
- The scripts parse, no module shadows the standard library's ``platform``, and every
  module follows the house rules (docstring, ``__all__`` in public modules, a size ceiling).

ruff and mypy run as gates in scripts/test.sh (mypy takes too long to repeat here).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "goldenpath"
BIN = Path(sys.executable).parent
# House rule: modules under ~400 lines. The test fails well past it, where splitting is overdue.
MODULE_LINE_CEILING = 600


def _run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_import_layers_hold() -> None:
    result = _run([str(BIN / "lint-imports")], ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def _write_importlinter_config(tmp_path: Path) -> None:
    """Copy the import-linter tables of pyproject.toml, verbatim, into tmp_path/pyproject.toml."""
    kept, keep = [], False
    for line in (ROOT / "pyproject.toml").read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            keep = line.strip("[] ").startswith("tool.importlinter")
        if keep:
            kept.append(line)
    assert kept, "pyproject.toml has no [tool.importlinter] section"
    (tmp_path / "pyproject.toml").write_text("\n".join(kept) + "\n", encoding="utf-8")


def _contract_modules() -> set[str]:
    """Every goldenpath module the import-linter contracts of pyproject.toml name."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names: set[str] = set()
    for contract in config["tool"]["importlinter"]["contracts"]:
        for key in ("layers", "source_modules", "forbidden_modules", "modules"):
            for entry in contract.get(key, []):
                names.update(re.split(r"[|:]", entry))
    return {n.strip() for n in names if n.strip().startswith("goldenpath.")}


def _fake_tree(tmp_path: Path, catalog_source: str) -> None:
    """A goldenpath package with every module the contracts name, all empty but two."""
    (tmp_path / "goldenpath").mkdir()
    (tmp_path / "goldenpath" / "__init__.py").write_text("", encoding="utf-8")
    for module in _contract_modules() | {"goldenpath.api", "goldenpath.catalog"}:
        pkg = tmp_path.joinpath(*module.split("."))
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "goldenpath" / "api" / "routes.py").write_text(
        "import goldenpath.catalog\n", encoding="utf-8"
    )
    (tmp_path / "goldenpath" / "catalog" / "service.py").write_text(
        catalog_source, encoding="utf-8"
    )


@pytest.mark.parametrize(
    ("catalog_source", "broken"),
    [
        ("import goldenpath.store\n", False),
        ("import goldenpath.api.routes\n", True),
        ("from goldenpath.cli import main\n", True),
    ],
    ids=["domain-imports-store", "domain-imports-api", "domain-imports-cli"],
)
def test_layer_contracts_catch_upward_imports(
    tmp_path: Path, catalog_source: str, broken: bool
) -> None:
    _fake_tree(tmp_path, catalog_source)
    _write_importlinter_config(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = _run([str(BIN / "lint-imports"), "--no-cache"], tmp_path, env)
    assert (result.returncode != 0) == broken, result.stdout + result.stderr
    if broken:
        assert "BROKEN" in result.stdout


def test_readme_opens_with_exactly_the_two_newcomer_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```(?:sh|bash|console)?\n(.*?)```", readme, re.S)
    assert first_block is not None, "README.md has no code block"
    commands = [
        line.strip()
        for line in first_block.group(1).splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert commands == ["bash scripts/quickstart.sh", "bash scripts/test.sh"]
    assert readme.index("```") < readme.index("\n## "), "the commands must come before the tour"


def test_ci_runs_the_test_command() -> None:
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "script", [".ci/run", "scripts/setup.sh", "scripts/test.sh", "scripts/quickstart.sh"]
)
def test_shell_scripts_parse(script: str) -> None:
    result = _run(["bash", "-n", script], ROOT)
    assert result.returncode == 0, result.stderr


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def test_no_module_shadows_the_standard_library_platform() -> None:
    assert not [p for p in ROOT.joinpath("src").rglob("platform.py")]
    assert not [p for p in ROOT.joinpath("src").rglob("platform") if p.is_dir()]


def test_every_module_has_a_docstring_and_public_modules_declare_all() -> None:
    problems = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = path.relative_to(ROOT)
        if ast.get_docstring(tree) is None and path.stat().st_size > 0:
            problems.append(f"{rel}: add a module docstring saying what the module owns")
        public = not path.name.startswith("_") and not any(
            part.startswith("_") for part in path.relative_to(SRC).parts[:-1]
        )
        declares_all = any(
            isinstance(node, ast.Assign | ast.AnnAssign)
            and any(
                isinstance(t, ast.Name) and t.id == "__all__"
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            )
            for node in tree.body
        )
        if public and not declares_all:
            problems.append(f"{rel}: public module without __all__ (CONVENTIONS.md habit 9)")
    assert problems == []


def test_modules_stay_small() -> None:
    too_big = [
        f"{p.relative_to(ROOT)}: {n} lines (split it by noun; ceiling {MODULE_LINE_CEILING})"
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MODULE_LINE_CEILING
    ]
    assert too_big == []
