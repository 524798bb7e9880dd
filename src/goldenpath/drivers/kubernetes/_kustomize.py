"""The files of a GitOps repository: one YAML file per object plus ``kustomization.yaml``.

Pure functions (no IO): :func:`render_service` turns a service's objects into
``{filename: bytes}`` for its folder, :func:`kustomization` writes a Kustomize
``Kustomization`` (``kustomize.config.k8s.io/v1beta1``) listing resources, and
:func:`identify` reads kind and name back from a file. Output is deterministic (the same
objects always give the same bytes), which is what lets an unchanged render make no commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from goldenpath.errors import InvalidInput

__all__ = [
    "KUSTOMIZATION",
    "dump_yaml",
    "identify",
    "kustomization",
    "object_filename",
    "render_service",
    "validate_segment",
]

#: The file Kustomize (``kubectl kustomize``, Argo CD, Flux) reads in every folder.
KUSTOMIZATION = "kustomization.yaml"
_SEGMENT = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_RESERVED = frozenset({"bootstrap"})
_HEADER = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
# libyaml's emitter is ~5x faster than the pure-Python one; both give the same documents.
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def validate_segment(value: str, *, what: str) -> str:
    """``value`` if it can name an environment or service folder (an RFC 1123 DNS label:
    lower-case letters, digits and ``-``, at most 63 characters; ``bootstrap`` is reserved
    for the bootstrap manifests), else :class:`InvalidInput`."""
    if not isinstance(value, str) or len(value) > 63 or not _SEGMENT.match(value):
        raise InvalidInput(
            f"{what} {value!r} cannot name a GitOps folder: use lower-case letters, digits "
            "and '-' (a DNS label, at most 63 characters)"
        )
    if value in _RESERVED:
        raise InvalidInput(f"{what} {value!r} is reserved (the bootstrap manifests' folder)")
    return value


def dump_yaml(document: Mapping[str, Any]) -> bytes:
    """``document`` as one YAML document (block style, keys in the order given, UTF-8)."""
    try:
        text = _dump(document)
    except yaml.representer.RepresenterError:  # Mapping/tuple types the safe dumper refuses
        text = _dump(_plain(document))
    return text.encode("utf-8")


def _dump(document: Any) -> str:
    text: str = yaml.dump(
        document,
        Dumper=_DUMPER,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    return text


def kustomization(resources: Iterable[str]) -> bytes:
    """A ``Kustomization`` listing ``resources`` (files or folders), sorted."""
    return dump_yaml(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": sorted(resources),
        }
    )


def object_filename(obj: Mapping[str, Any], *, index: int = 0) -> str:
    """``<kind>-<name>.yaml`` (kind lower-cased) for one manifest.

    Raises:
        InvalidInput: the object has no string ``kind`` or ``metadata.name``, or they are
            not valid Kubernetes names (``index`` is named in the message).
    """
    if not isinstance(obj, Mapping):
        raise InvalidInput(f"object #{index} is not a mapping: pass manifests as dicts")
    kind = obj.get("kind")
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise InvalidInput(f"object #{index} has no valid 'kind' (got {kind!r})")
    if not isinstance(name, str) or len(name) > 253 or not _NAME.match(name):
        raise InvalidInput(
            f"{kind} #{index} has no valid 'metadata.name' (got {name!r}): use a DNS "
            "subdomain name (lower-case letters, digits, '-' and '.')"
        )
    return f"{kind.lower()}-{name}.yaml"


def render_service(objects: Sequence[Mapping[str, Any]]) -> dict[str, bytes]:
    """``{filename: bytes}`` for a service folder: one file per object and a
    ``kustomization.yaml`` listing them; ``{}`` when there are no objects.

    Raises:
        InvalidInput: an object is malformed (see :func:`object_filename`) or two objects
            would share a file (same kind and name).
    """
    files: dict[str, bytes] = {}
    for index, obj in enumerate(objects):
        filename = object_filename(obj, index=index)
        if filename in files or filename == KUSTOMIZATION:
            raise InvalidInput(
                f"two objects would both be written to {filename} (same kind and name): "
                "give every object of a kind a distinct metadata.name"
            )
        files[filename] = dump_yaml(obj)
    if files:
        # Written by hand (hot path): file names never need YAML quoting; the bytes equal
        # kustomization(files).
        listed = "".join(f"- {name}\n" for name in sorted(files))
        files[KUSTOMIZATION] = (_HEADER + listed).encode()
    return files


def identify(filename: str, content: bytes) -> tuple[str, str]:
    """``(kind, name)`` of the manifest in ``content`` (from the file name when it does not
    parse as one)."""
    try:
        doc = yaml.load(content, Loader=_LOADER)
    except yaml.YAMLError:
        doc = None
    if isinstance(doc, Mapping):
        metadata = doc.get("metadata")
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        if isinstance(doc.get("kind"), str) and isinstance(name, str):
            return doc["kind"], name
    stem = filename.removesuffix(".yaml")
    kind, _, name = stem.partition("-")
    return kind, name


def _plain(value: Any) -> Any:
    """``value`` with every Mapping/Sequence made a dict/list, so the safe dumper takes it."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
