"""Fixtures for the CLI tests (helpers live in ``cli_helpers``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import COMPONENTS, ORG, SYSTEM, build_file_tree, stop_everything


@pytest.fixture
def catalog_tree(tmp_path: Path) -> Path:
    """A small catalog: 2 org entities, 2 valid + 1 invalid components/APIs, 1 system."""
    return build_file_tree(
        tmp_path / "catalog",
        {"org.yaml": ORG, "components.yaml": COMPONENTS, "systems/shop.yaml": SYSTEM},
    )


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A fresh data directory; every process the platform started there is stopped after."""
    path = tmp_path / "home"
    path.mkdir()
    try:
        yield path
    finally:
        stop_everything(path)
