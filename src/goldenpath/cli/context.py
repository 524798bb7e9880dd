"""Per-invocation helpers shared by the command modules: settings, the API client, and
reading a JSON document a command is given as a file.

Settings are built when a command runs (never at import time) from the environment
(``GOLDENPATH_*``) and the optional config file, as :func:`goldenpath.settings.load_settings`
documents.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from goldenpath.cli import client as client_module
from goldenpath.errors import InvalidInput
from goldenpath.settings import Settings, load_settings

__all__ = ["api_client", "read_json_file", "settings"]


def settings() -> Settings:
    """The settings tree for this invocation.

    Raises:
        InvalidInput: the config file or an environment value is invalid.
    """
    return load_settings()


def api_client() -> client_module.PlatformClient:
    """A connected client; starts the local server first when no server URL is configured."""
    return client_module.connect(settings())


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (JSON numbers are finite)")


def read_json_file(file: Path) -> Any:
    """The JSON document in ``file`` (UTF-8), as the API will receive it.

    Raises:
        InvalidInput: unreadable, not UTF-8, not JSON (``NaN`` and ``Infinity`` included),
            or nested too deeply — naming the file.
    """
    try:
        return json.loads(file.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InvalidInput(f"{file}: cannot read a JSON document: {e}") from e
    except RecursionError:
        raise InvalidInput(f"{file}: the JSON document nests too deeply") from None
