"""Load a workload spec — golden-path ``platform.yaml`` or Score ``score.dev/v1b1`` — by content.

A document whose ``apiVersion`` starts with ``score.dev/`` (or that has ``containers`` and no
``kind``) is Score; anything else is read as ``platform.yaml`` (``kind: Service``).
Reference: docs/workloads.md.
"""

from __future__ import annotations

from pathlib import Path

from goldenpath.errors import NotFound
from goldenpath.workloads._platform import parse_platform
from goldenpath.workloads._score import parse_score
from goldenpath.workloads._yaml import load_yaml
from goldenpath.workloads.model import Workload

__all__ = ["WORKLOAD_FILES", "load_workload", "parse_workload"]

WORKLOAD_FILES = ("platform.yaml", "platform.yml", "score.yaml", "score.yml")
"""File names a repository's workload spec is looked up under, in this order."""


def parse_workload(text: str | bytes, *, source: str) -> Workload:
    """Parse and check one workload document.

    Args:
        text: the file content (bytes are decoded as UTF-8).
        source: how messages name the file, e.g. ``"payments/platform.yaml"``.

    Raises:
        goldenpath.workloads.WorkloadError: invalid YAML or spec; ``.source``, ``.line``
            (1-based) and ``.field`` (dotted path) say where, the message says how to fix it.
    """
    doc = load_yaml(text, source=source)
    data = doc.data
    if isinstance(data, dict):
        api = data.get("apiVersion")
        is_score = isinstance(api, str) and api.startswith("score.dev/")
        if is_score or ("containers" in data and "kind" not in data):
            return parse_score(doc)
    return parse_platform(doc)


def load_workload(path: Path, *, source: str | None = None) -> Workload:
    """Read and parse ``path`` (see :func:`parse_workload`); ``source`` defaults to the path.

    A directory is searched for :data:`WORKLOAD_FILES`.

    Raises:
        NotFound: no such file (or no workload file in the directory).
        goldenpath.workloads.WorkloadError: the file is invalid.
    """
    path = Path(path)
    if path.is_dir():
        found = next((path / n for n in WORKLOAD_FILES if (path / n).is_file()), None)
        if found is None:
            raise NotFound(
                f"{path}: no workload spec; add platform.yaml (kind: Service) or score.yaml"
            )
        path = found
    try:
        text = path.read_bytes()
    except FileNotFoundError as e:
        raise NotFound(f"{path}: no such file; add platform.yaml or score.yaml") from e
    return parse_workload(text, source=source or str(path))
