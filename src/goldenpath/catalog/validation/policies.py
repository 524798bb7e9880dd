"""Entity policies after the schema check: default namespace, no foreign root fields, field formats.

Mirrors Backstage's ``DefaultNamespaceEntityPolicy``, ``NoForeignRootFieldsEntityPolicy`` and
``FieldFormatEntityPolicy`` with its default validators (``makeValidator``): Kubernetes-style
object names, DNS-label namespaces, ``prefix/name`` label and annotation keys, tags, link URLs.

Source: https://backstage.io/docs/features/software-catalog/descriptor-format
(ADR002 default catalog file format).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from goldenpath.catalog.model import EntityError

__all__ = [
    "apply_default_namespace",
    "check_field_formats",
    "check_no_foreign_root_fields",
    "is_valid_annotation_key",
    "is_valid_api_version",
    "is_valid_dns_label",
    "is_valid_kind",
    "is_valid_label_value",
    "is_valid_object_name",
    "is_valid_tag",
    "is_valid_url",
]

_ADR = (
    "To learn more about catalog file format, visit: https://github.com/backstage/backstage/"
    "blob/master/docs/architecture-decisions/adr002-default-catalog-file-format.md"
)
_OBJECT_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_LABEL = re.compile(r"^[a-z0-9]+(?:-+[a-z0-9]+)*$")
_KIND = re.compile(r"^[a-zA-Z][a-z0-9A-Z]*$")
_VERSION = re.compile(r"^[a-z0-9A-Z]+$")
_TAG = re.compile(r"^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp", "file"})
_KNOWN_ROOT_FIELDS = ("apiVersion", "kind", "metadata", "spec")

_NAME_RULE = (
    "a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], "
    "at most 63 characters in total"
)
_PREFIX_RULE = "a valid prefix and/or suffix"
_DNS_RULE = (
    "a string that is sequences of [a-z0-9] separated by [-], at most 63 characters in total"
)


@lru_cache(maxsize=65_536)
def is_valid_object_name(value: Any) -> bool:
    """Kubernetes object name: 1-63 chars of ``[A-Za-z0-9-_.]``, alphanumeric at both ends."""
    return isinstance(value, str) and 1 <= len(value) <= 63 and bool(_OBJECT_NAME.match(value))


@lru_cache(maxsize=65_536)
def is_valid_dns_label(value: Any) -> bool:
    """RFC 1123 label: 1-63 chars ``[a-z0-9]`` separated by ``-``."""
    return isinstance(value, str) and 1 <= len(value) <= 63 and bool(_DNS_LABEL.match(value))


def _is_dns_subdomain(value: str) -> bool:
    return 1 <= len(value) <= 253 and all(is_valid_dns_label(p) for p in value.split("."))


def _prefix_and_or_suffix(
    value: Any, prefix: Callable[[str], bool], suffix: Callable[[str], bool]
) -> bool:
    if not isinstance(value, str):
        return False
    parts = value.split("/")
    if len(parts) == 1:
        return suffix(parts[0])
    return len(parts) == 2 and prefix(parts[0]) and suffix(parts[1])


@lru_cache(maxsize=65_536)
def is_valid_api_version(value: Any) -> bool:
    """``[<dns subdomain>/]<version>``, e.g. ``backstage.io/v1alpha1``."""
    return _prefix_and_or_suffix(
        value, _is_dns_subdomain, lambda n: 1 <= len(n) <= 63 and bool(_VERSION.match(n))
    )


def is_valid_kind(value: Any) -> bool:
    """A letter followed by letters/digits, at most 63 characters."""
    return isinstance(value, str) and 1 <= len(value) <= 63 and bool(_KIND.match(value))


@lru_cache(maxsize=65_536)
def is_valid_annotation_key(value: Any) -> bool:
    """``[<dns subdomain>/]<object name>``, e.g. ``backstage.io/techdocs-ref``; same for labels."""
    return _prefix_and_or_suffix(value, _is_dns_subdomain, is_valid_object_name)


def is_valid_label_value(value: Any) -> bool:
    """Empty, or an object name."""
    return value == "" or is_valid_object_name(value)


@lru_cache(maxsize=65_536)
def is_valid_tag(value: Any) -> bool:
    """1-63 chars of ``[a-z0-9:+#]`` separated by single ``-``."""
    return isinstance(value, str) and 1 <= len(value) <= 63 and bool(_TAG.match(value))


def is_valid_url(value: Any) -> bool:
    """Approximates WHATWG ``new URL(value)``: a scheme, and a host for http(s)/ws/ftp/file URLs."""
    if not isinstance(value, str) or not _SCHEME.match(value.strip()):
        return False
    value = value.strip()
    scheme = value.split(":", 1)[0].lower()
    if scheme not in _SPECIAL_SCHEMES:
        return True
    rest = value.split(":", 1)[1].lstrip("/\\")
    if scheme == "file":
        return True
    host = re.split(r"[/?#\\]", rest, maxsplit=1)[0].rsplit("@", 1)[-1]
    try:
        urlsplit(value)
    except ValueError:
        return False
    return bool(host) and not re.search(r"[\s<>^|%]", host.split(":")[0] if host[0] != "[" else "x")


def _non_empty(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def apply_default_namespace(entity: dict[str, Any], namespace: str = "default") -> None:
    """Set ``metadata.namespace`` when missing or empty (DefaultNamespaceEntityPolicy), in place."""
    if not entity["metadata"].get("namespace"):
        entity["metadata"]["namespace"] = namespace


def check_no_foreign_root_fields(entity: dict[str, Any]) -> list[EntityError]:
    """Only apiVersion, kind, metadata and spec may be written by hand (``Unknown field …``)."""
    return [
        EntityError(
            key,
            f"Unknown field {key}: only apiVersion, kind, metadata and spec are allowed "
            "at the root",
            "policy",
        )
        for key in entity
        if key not in _KNOWN_ROOT_FIELDS
    ]


def _bad(field: str, value: Any, rule: str | None) -> EntityError:
    # Backstage's wording names labels/annotations/tags/links without "metadata."; the path is full.
    path = (
        field
        if field in ("apiVersion", "kind") or field.startswith("metadata.")
        else f"metadata.{field}"
    )
    expectation = f' expected {rule} but found "{value}".' if rule else ""
    return EntityError(path, f'"{field}" is not valid;{expectation} {_ADR}', "policy")


_KIND_RULE = "a string that is a sequence of [a-zA-Z][a-z0-9A-Z], at most 63 characters in total"
_TAG_RULE = (
    "a string that is sequences of [a-z0-9+#] separated by [-], at most 63 characters in total"
)


def check_field_formats(entity: dict[str, Any]) -> list[EntityError]:
    """``FieldFormatEntityPolicy``: formats of apiVersion, kind, name, namespace, labels,
    annotations, tags and links.

    Messages use Backstage's wording and field names (``"labels.tier" is not valid; expected …``);
    paths are full (``metadata.labels.tier``, ``metadata.tags.0``, ``metadata.links.0.url``).
    """
    errors: list[EntityError] = []
    metadata = entity["metadata"]
    if not is_valid_api_version(entity["apiVersion"]):
        errors.append(_bad("apiVersion", entity["apiVersion"], _PREFIX_RULE))
    if not is_valid_kind(entity["kind"]):
        errors.append(_bad("kind", entity["kind"], _KIND_RULE))
    if not is_valid_object_name(metadata["name"]):
        errors.append(_bad("metadata.name", metadata["name"], _NAME_RULE))
    if "namespace" in metadata and not is_valid_dns_label(metadata["namespace"]):
        errors.append(_bad("metadata.namespace", metadata["namespace"], _DNS_RULE))
    for field in ("labels", "annotations"):
        for key, value in (metadata.get(field) or {}).items():
            errors.extend(_check_key_value(field, key, value))
    for i, tag in enumerate(metadata.get("tags") or []):
        if not is_valid_tag(tag):
            errors.append(_bad(f"tags.{i}", tag, _TAG_RULE))
    for i, link in enumerate(metadata.get("links") or []):
        errors.extend(_check_link(i, link if isinstance(link, dict) else {}))
    return errors


def _check_key_value(field: str, key: str, value: Any) -> list[EntityError]:
    if not is_valid_annotation_key(key):
        return [_bad(f"{field}.{key}", key, _PREFIX_RULE)]
    if value is None:
        return [
            EntityError(f"metadata.{field}.{key}", f"{field}.{key} must have a value", "policy")
        ]
    if field == "labels" and not is_valid_label_value(value):
        return [_bad(f"{field}.{key}", value, _NAME_RULE)]
    if field == "annotations" and not isinstance(value, str):
        return [_bad(f"{field}.{key}", value, "a string")]
    return []


def _check_link(i: int, link: dict[str, Any]) -> list[EntityError]:
    errors: list[EntityError] = []
    url = link.get("url")
    if url is None:
        errors.append(
            EntityError(f"metadata.links.{i}.url", f"links.{i}.url must have a value", "policy")
        )
    elif not is_valid_url(url):
        errors.append(_bad(f"links.{i}.url", url, "a string that is a valid url"))
    for field in ("title", "icon"):
        if link.get(field) is not None and not _non_empty(link[field]):
            errors.append(_bad(f"links.{i}.{field}", link[field], "a non empty string"))
    return errors
