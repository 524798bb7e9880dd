"""Validation of Score ``score.dev/v1b1`` workloads, rule for rule as the Score specification.

Spec: https://docs.score.dev/docs/score-specification/score-spec-reference/ (JSON schema
``score-v1b1``). Written out as code so the loader needs no schema file at runtime and each
failure names the field and the fix; the test suite proves the verdict equals the official
JSON schema's on real files. JSON-schema semantics are kept where they matter for the
verdict: integers may be written ``8080.0``, booleans are not numbers, regexes are searched
(``re.search``), length counts code points.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

from goldenpath.workloads._check import Ctx, describe, mapping
from goldenpath.workloads._yaml import Path_

__all__ = ["check_score"]

_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$")
_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,61}[A-Za-z0-9]$")
_ID = re.compile(r"^[a-z0-9]+(?:-+[a-z0-9]+)*(?:\.[a-z0-9]+(?:-+[a-z0-9]+)*)*$")
_ANNOTATION = re.compile(
    r"^(([a-z0-9][a-z0-9-]{0,61}[a-z0-9])(\.[a-z0-9][a-z0-9-]{0,61}[a-z0-9])*/)?"
    r"[A-Za-z0-9][A-Za-z0-9._-]{0,61}[A-Za-z0-9]$"
)
_MEMORY = re.compile(r"^(0\.\d+|[1-9]\d*(\.\d+)?)(K|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_CPU = re.compile(r"^\d+(?:m|\.\d+)?$")
_MODE = re.compile(r"^0?[0-7]{3}$")
_VARIABLE = re.compile(r"^[^=]+$")
_HEADER = re.compile(r"^[A-Za-z0-9_-]+$")
_LABEL_FORM = "an RFC 1123 label (2-63 of a-z, 0-9, '-'; no '-' at either end)"

_CONTAINER_KEYS = (
    "image",
    "command",
    "args",
    "variables",
    "files",
    "volumes",
    "before",
    "resources",
    "livenessProbe",
    "readinessProbe",
)
_FILE_KEYS = ("target", "mode", "source", "content", "binaryContent", "noExpand")
_FILE_SOURCES = ("content", "binaryContent", "source")


def _string(
    ctx: Ctx,
    value: Any,
    path: Path_,
    *,
    lo: int = 0,
    hi: int | None = None,
    pattern: re.Pattern[str] | None = None,
    form: str = "",
    choices: Collection[str] | None = None,
) -> str:
    if not isinstance(value, str):
        raise ctx.fail(path, f"expected a string, got {describe(value)}")
    if len(value) < lo or (hi is not None and len(value) > hi):
        size = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
        raise ctx.fail(path, f"{value!r} must be {size} characters long")
    if pattern is not None and not pattern.search(value):
        raise ctx.fail(path, f"{value!r} is not {form}")
    if choices is not None and value not in choices:
        raise ctx.fail(path, f"{value!r} is not one of {', '.join(choices)}")
    return value


def _port(ctx: Ctx, value: Any, path: Path_) -> int:
    """JSON-schema ``integer`` 1..65535: ``80.0`` counts as an integer, ``true`` does not."""
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral:
        raise ctx.fail(path, f"expected an integer port, got {describe(value)}")
    if not 1 <= value <= 65535:
        raise ctx.fail(path, f"{value} is out of range; a port is 1..65535")
    return int(value)


def _names(
    ctx: Ctx,
    value: dict[str, Any],
    path: Path_,
    pattern: re.Pattern[str],
    lo: int,
    hi: int | None,
    form: str,
) -> None:
    for key in value:
        _string(ctx, key, (*path, key), lo=lo, hi=hi, pattern=pattern, form=form)


def _string_map(ctx: Ctx, value: Any, path: Path_) -> dict[str, Any]:
    value = mapping(ctx, value, path)
    for key, item in value.items():
        _string(ctx, item, (*path, key))
    return value


def _annotations(ctx: Ctx, value: Any, path: Path_) -> None:
    value = _string_map(ctx, value, path)
    form = "an annotation name ([prefix/]name, letters, digits, '.', '_', '-')"
    _names(ctx, value, path, _ANNOTATION, 2, 316, form)


def _string_array(ctx: Ctx, value: Any, path: Path_) -> None:
    if not isinstance(value, list):
        raise ctx.fail(path, f"expected a list of strings, got {describe(value)}")
    for i, item in enumerate(value):
        _string(ctx, item, (*path, i))


def _file(ctx: Ctx, value: Any, path: Path_, *, allow_target: bool) -> None:
    value = mapping(ctx, value, path, _FILE_KEYS)
    if not allow_target and "target" in value:
        raise ctx.fail(
            (*path, "target"), "target is only for the deprecated list form; the key is the target"
        )
    given = [k for k in _FILE_SOURCES if k in value]
    if len(given) != 1:
        raise ctx.fail(
            path, f"a file needs exactly one of content, binaryContent, source (has {len(given)})"
        )
    if "target" in value:
        _string(ctx, value["target"], (*path, "target"), lo=1)
    if "mode" in value:
        _string(
            ctx, value["mode"], (*path, "mode"), pattern=_MODE, form='an octal mode like "0600"'
        )
    if "source" in value:
        _string(ctx, value["source"], (*path, "source"), lo=1)
    for key in ("content", "binaryContent"):
        if key in value:
            _string(ctx, value[key], (*path, key))
    if "noExpand" in value and not isinstance(value["noExpand"], bool):
        raise ctx.fail(
            (*path, "noExpand"), f"expected true or false, got {describe(value['noExpand'])}"
        )


def _volume(ctx: Ctx, value: Any, path: Path_, *, allow_target: bool) -> None:
    value = mapping(ctx, value, path)
    if not allow_target and "target" in value:
        raise ctx.fail(
            (*path, "target"), "target is only for the deprecated list form; the key is the target"
        )
    value = mapping(
        ctx, value, path, ("source", "path", "target", "readOnly"), required=("source",)
    )
    for key in ("source", "path", "target"):
        if key in value:
            _string(ctx, value[key], (*path, key))
    if "readOnly" in value and not isinstance(value["readOnly"], bool):
        raise ctx.fail(
            (*path, "readOnly"), f"expected true or false, got {describe(value['readOnly'])}"
        )


def _list_or_map(ctx: Ctx, value: Any, path: Path_, item: Callable[..., None]) -> None:
    """``files``/``volumes``: a map of target → item, or the deprecated list of items."""
    if isinstance(value, list):
        for i, entry in enumerate(value):
            item(ctx, entry, (*path, i), allow_target=True)
    elif isinstance(value, dict):
        for key, entry in value.items():
            item(ctx, entry, (*path, key), allow_target=False)
    else:
        raise ctx.fail(path, f"expected a mapping of target paths, got {describe(value)}")


def _limits(ctx: Ctx, value: Any, path: Path_) -> None:
    value = mapping(ctx, value, path, ("memory", "cpu"))
    if "memory" in value:
        _string(
            ctx,
            value["memory"],
            (*path, "memory"),
            pattern=_MEMORY,
            form='a memory size like "512Mi"',
        )
    if "cpu" in value:
        _string(
            ctx, value["cpu"], (*path, "cpu"), pattern=_CPU, form='a CPU amount like "500m" or "2"'
        )


def _probe(ctx: Ctx, value: Any, path: Path_) -> None:
    value = mapping(ctx, value, path, ("httpGet", "exec"))
    if "httpGet" not in value and "exec" not in value:
        raise ctx.fail(path, "a probe needs httpGet or exec")
    if "exec" in value:
        at = (*path, "exec")
        exec_ = mapping(ctx, value["exec"], at, ("command",), required=("command",))
        _string_array(ctx, exec_["command"], (*at, "command"))
    if "httpGet" in value:
        at = (*path, "httpGet")
        keys = ("host", "scheme", "path", "port", "httpHeaders")
        http = mapping(ctx, value["httpGet"], at, keys, required=("port", "path"))
        if "host" in http:
            _string(ctx, http["host"], (*at, "host"), lo=1)
        if "scheme" in http:
            _string(ctx, http["scheme"], (*at, "scheme"), choices=("HTTP", "HTTPS"))
        _string(ctx, http["path"], (*at, "path"))
        _port(ctx, http["port"], (*at, "port"))
        if "httpHeaders" in http:
            _headers(ctx, http["httpHeaders"], (*at, "httpHeaders"))


def _headers(ctx: Ctx, value: Any, path: Path_) -> None:
    if not isinstance(value, list):
        raise ctx.fail(path, f"expected a list of {{name, value}}, got {describe(value)}")
    for i, header in enumerate(value):
        header = mapping(ctx, header, (*path, i), ("name", "value"), required=("name", "value"))
        _string(ctx, header["name"], (*path, i, "name"), pattern=_HEADER, form="a header name")
        _string(ctx, header["value"], (*path, i, "value"), lo=1)


def _container(ctx: Ctx, value: Any, path: Path_) -> None:
    value = mapping(ctx, value, path, _CONTAINER_KEYS, required=("image",))
    _string(ctx, value["image"], (*path, "image"), lo=1)
    for key in ("command", "args"):
        if key in value:
            _string_array(ctx, value[key], (*path, key))
    if "variables" in value:
        at = (*path, "variables")
        variables = _string_map(ctx, value["variables"], at)
        _names(ctx, variables, at, _VARIABLE, 1, None, "a variable name without '='")
    if "files" in value:
        _list_or_map(ctx, value["files"], (*path, "files"), _file)
    if "volumes" in value:
        _list_or_map(ctx, value["volumes"], (*path, "volumes"), _volume)
    if "before" in value:
        at = (*path, "before")
        before = mapping(ctx, value["before"], at)
        _names(ctx, before, at, _LABEL, 2, 63, _LABEL_FORM)
        for key, entry in before.items():
            entry = mapping(ctx, entry, (*at, key), ("ready",), required=("ready",))
            _string(
                ctx, entry["ready"], (*at, key, "ready"), choices=("started", "healthy", "complete")
            )
    if "resources" in value:
        at = (*path, "resources")
        resources = mapping(ctx, value["resources"], at, ("limits", "requests"))
        for key, entry in resources.items():
            _limits(ctx, entry, (*at, key))
    for key in ("livenessProbe", "readinessProbe"):
        if key in value:
            _probe(ctx, value[key], (*path, key))


def _resource(ctx: Ctx, value: Any, path: Path_) -> None:
    keys = ("type", "class", "id", "metadata", "params")
    value = mapping(ctx, value, path, keys, required=("type",))
    type_form = "a resource type (2-63 of A-Z, a-z, 0-9, '-')"
    _string(ctx, value["type"], (*path, "type"), lo=2, hi=63, pattern=_TYPE, form=type_form)
    if "class" in value:
        _string(ctx, value["class"], (*path, "class"), lo=2, hi=63, pattern=_TYPE, form=type_form)
    if "id" in value:
        form = "a resource id (dot-separated labels of a-z, 0-9, '-')"
        _string(ctx, value["id"], (*path, "id"), lo=2, hi=63, pattern=_ID, form=form)
    if "metadata" in value:
        meta = mapping(ctx, value["metadata"], (*path, "metadata"))
        if "annotations" in meta:
            _annotations(ctx, meta["annotations"], (*path, "metadata", "annotations"))
    if "params" in value:
        mapping(ctx, value["params"], (*path, "params"))


def _service(ctx: Ctx, value: Any, path: Path_) -> None:
    value = mapping(ctx, value, path, ("ports",))
    if "ports" not in value:
        return
    at = (*path, "ports")
    ports = mapping(ctx, value["ports"], at)
    _names(ctx, ports, at, _LABEL, 2, 63, _LABEL_FORM)
    for name, port in ports.items():
        port = mapping(
            ctx, port, (*at, name), ("port", "protocol", "targetPort"), required=("port",)
        )
        _port(ctx, port["port"], (*at, name, "port"))
        if "protocol" in port:
            _string(ctx, port["protocol"], (*at, name, "protocol"), choices=("TCP", "UDP"))
        if "targetPort" in port:
            _port(ctx, port["targetPort"], (*at, name, "targetPort"))


def check_score(ctx: Ctx, data: Any) -> dict[str, Any]:
    """Raise :class:`WorkloadError` at the first rule of Score v1b1 that ``data`` breaks.

    Returns ``data`` (a mapping) when it is a valid Score workload.
    """
    keys = ("apiVersion", "metadata", "service", "containers", "resources")
    top = mapping(ctx, data, (), keys, required=("apiVersion", "metadata", "containers"))
    _string(
        ctx,
        top["apiVersion"],
        ("apiVersion",),
        pattern=re.compile(r"^score\.dev/v1b1$"),
        form="score.dev/v1b1",
    )
    meta = mapping(ctx, top["metadata"], ("metadata",), required=("name",))
    _string(ctx, meta["name"], ("metadata", "name"), lo=2, hi=63, pattern=_LABEL, form=_LABEL_FORM)
    if "annotations" in meta:
        _annotations(ctx, meta["annotations"], ("metadata", "annotations"))
    if "service" in top:
        _service(ctx, top["service"], ("service",))
    containers = mapping(ctx, top["containers"], ("containers",))
    if not containers:
        raise ctx.fail(("containers",), "needs at least one container")
    _names(ctx, containers, ("containers",), _LABEL, 2, 63, _LABEL_FORM)
    for name, container in containers.items():
        _container(ctx, container, ("containers", name))
    if "resources" in top:
        resources = mapping(ctx, top["resources"], ("resources",))
        _names(ctx, resources, ("resources",), _LABEL, 2, 63, _LABEL_FORM)
        for name, resource in resources.items():
            _resource(ctx, resource, ("resources", name))
    return top
