"""Container ``env``: Score placeholders → literals, ``secretKeyRef`` and ``$(VAR)`` expansion.

A value that is exactly one secret output becomes ``valueFrom.secretKeyRef``. A value that
mixes text and secret outputs (``postgres://${resources.db.username}:…``) gets one helper
variable per secret output (``GP_<RESOURCE>_<OUTPUT>``, declared first) and references them
with Kubernetes dependent-variable syntax ``$(GP_…)``. Literal ``$(`` is escaped as ``$$(``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from goldenpath.errors import InvalidInput
from goldenpath.manifests._resources import Output, resolve_output
from goldenpath.manifests.target import RenderTarget
from goldenpath.resources.compositions import CompositionSet
from goldenpath.workloads.model import Workload

__all__ = ["container_env", "unescape"]

_TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}")


def unescape(text: str) -> str:
    """Score's ``$$`` escape → ``$`` (for commands and args)."""
    return text.replace("$$", "$")


def _literal(text: str) -> str:
    return text.replace("$(", "$$(")


def _helper_name(resource: str, output: str) -> str:
    return "GP_" + re.sub(r"[^A-Za-z0-9]", "_", f"{resource}_{output}").upper()


def container_env(
    workload: Workload,
    target: RenderTarget,
    env: Mapping[str, str],
    *,
    field_prefix: str,
    compositions: CompositionSet | None = None,
    preset: Mapping[str, Output] | None = None,
) -> list[dict[str, Any]]:
    """The ``env`` list of one container from ``env`` (name → value with placeholders).

    ``field_prefix`` names the spec field in messages (``spec.env`` or
    ``containers.<name>.variables``). ``preset`` (resolved outputs by variable name, e.g.
    ``DATABASE_URL``) comes first; ``env`` entries of the same name replace them.

    Raises:
        InvalidInput: a placeholder that cannot be rendered (source and field named).
    """
    helpers: dict[str, dict[str, Any]] = {}
    plain: list[dict[str, Any]] = []
    for name, out in (preset or {}).items():
        if name in env:
            continue
        if out.secret is None:
            plain.append({"name": name, "value": _literal(out.value or "")})
        else:
            plain.append(
                {"name": name, "valueFrom": {"secretKeyRef": {"name": out.secret, "key": out.key}}}
            )
    for name, value in env.items():
        field = f"{field_prefix}.{name}"
        parts: list[str] = []
        secret_only: dict[str, Any] | None = None
        tokens = list(_TOKEN.finditer(value))
        pos = 0
        for match in tokens:
            parts.append(_literal(value[pos : match.start()]))
            pos = match.end()
            if match.group(0) == "$$":
                parts.append("$")
                continue
            ref = match.group(1)
            if ref == "metadata.name":
                parts.append(_literal(workload.name))
                continue
            head, _, rest = ref.partition(".")
            resource, _, output = rest.partition(".")
            if head != "resources" or not resource or not output:
                raise InvalidInput(
                    f"{workload.source}: {field}: placeholder ${{{ref}}} cannot be rendered "
                    "for Kubernetes; use ${resources.<name>.<output>} or ${metadata.name}"
                )
            out = resolve_output(
                workload, target, resource, output, field=field, compositions=compositions
            )
            if out.secret is None:
                parts.append(_literal(out.value or ""))
                continue
            ref_dict = {"secretKeyRef": {"name": out.secret, "key": out.key}}
            if len(tokens) == 1 and match.group(0) == value:
                secret_only = ref_dict
                break
            helper = _helper_name(resource, output)
            helpers.setdefault(helper, {"name": helper, "valueFrom": ref_dict})
            parts.append(f"$({helper})")
        if secret_only is not None:
            plain.append({"name": name, "valueFrom": secret_only})
            continue
        parts.append(_literal(value[pos:]))
        plain.append({"name": name, "value": "".join(parts)})
    return [*helpers.values(), *plain]
