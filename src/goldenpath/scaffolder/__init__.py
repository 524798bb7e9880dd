"""Software templates (Backstage ``scaffolder.backstage.io/v1beta3``): golden paths.

This package renders template expressions (:mod:`goldenpath.scaffolder.expressions`);
actions, tasks and template upgrades build on it. Plain Python: no web imports.
"""

from goldenpath.scaffolder.expressions import (
    DEFAULT_INTEGRATIONS,
    TemplateError,
    evaluate_condition,
    render_string,
    render_value,
)

__all__ = [
    "DEFAULT_INTEGRATIONS",
    "TemplateError",
    "evaluate_condition",
    "render_string",
    "render_value",
]
