"""Per-invocation helpers shared by the command modules: settings and the API client.

Settings are built when a command runs (never at import time) from the environment
(``GOLDENPATH_*``) and the optional config file, as :func:`goldenpath.settings.load_settings`
documents.
"""

from __future__ import annotations

from goldenpath.cli import client as client_module
from goldenpath.settings import Settings, load_settings

__all__ = ["api_client", "settings"]


def settings() -> Settings:
    """The settings tree for this invocation.

    Raises:
        InvalidInput: the config file or an environment value is invalid.
    """
    return load_settings()


def api_client() -> client_module.PlatformClient:
    """A connected client; starts the local server first when no server URL is configured."""
    return client_module.connect(settings())
