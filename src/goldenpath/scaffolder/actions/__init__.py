"""Built-in scaffolder actions and the registry that holds them.

Each module owns one family of actions and exports ``ACTIONS: list[Action]``; the contract
they implement is :mod:`goldenpath.scaffolder.actions.base`.
"""

from __future__ import annotations

from goldenpath.scaffolder.actions.base import (
    Action,
    ActionContext,
    ActionRegistry,
    ActionServices,
)

__all__ = ["Action", "ActionContext", "ActionRegistry", "ActionServices", "default_registry"]


def default_registry() -> ActionRegistry:
    """A registry holding every built-in action (fetch, fs, debug, publish, catalog, deploy,
    platform operations)."""
    from goldenpath.scaffolder.actions import (
        catalog,
        debug,
        deploy,
        fetch,
        fs,
        platform_ops,
        publish,
    )

    return ActionRegistry(
        [
            *fetch.ACTIONS,
            *fs.ACTIONS,
            *debug.ACTIONS,
            *publish.ACTIONS,
            *catalog.ACTIONS,
            *deploy.ACTIONS,
            *platform_ops.ACTIONS,
        ]
    )
