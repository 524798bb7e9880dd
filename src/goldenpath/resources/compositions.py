"""Compositions: YAML the platform team writes to say how a claim is provisioned.

Shape (``docs/resources.md`` has the reference)::

    apiVersion: goldenpath.dev/v1alpha1
    kind: Composition
    metadata: {name: local-postgres, description: …}
    spec:
      type: postgres                 # a resource type
      classes: all                   # or [small, medium]
      priority: 0                    # higher wins when several match
      environments:
        driver: local                # local | kubernetes
        names: [dev, staging]        # optional; absent = every environment of the driver
      provision:
        kind: local-postgres         # local-postgres | local-redis | kubernetes-manifests
        sizes: {small: {connection_limit: 20, storage_quota_mb: 1024}, …}
        …                            # further kind-specific keys (render, imageName …)
      outputs: {host: "{host}", url: "postgresql://{username}:{password}@{host}:{port}/{database}"}

Built-ins ship as package data (``goldenpath/resources/compositions/*.yaml``); files in
``settings.resources.compositions_dir`` (default ``<home>/compositions``) add compositions, and
one with the ``metadata.name`` of a built-in replaces it. Output templates use ``{field}``
placeholders filled from what the provisioner reports (``host port database username password
name namespace environment claim``).

Matching (Crossplane's ``compositionSelector`` reduced to data): a composition matches a claim
when ``spec.type`` equals the claim's type, the class is in ``classes``, the environment's driver
equals ``environments.driver`` and, when ``names`` is given, the environment is listed. Among
matches the highest ``priority`` wins, then one with ``names`` over one without, then the name.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import yaml

from goldenpath.errors import InvalidInput

__all__ = [
    "API_VERSION",
    "DRIVERS",
    "PROVISION_KINDS",
    "Composition",
    "CompositionSet",
    "load_compositions",
    "parse_composition",
]

API_VERSION = "goldenpath.dev/v1alpha1"
DRIVERS: tuple[str, ...] = ("local", "kubernetes")
PROVISION_KINDS: tuple[str, ...] = ("local-postgres", "local-redis", "kubernetes-manifests")
#: placeholders an output template may use
OUTPUT_FIELDS = frozenset(
    {"host", "port", "database", "username", "password", "name", "namespace", "environment",
     "claim"}
)  # fmt: skip
_MAX_BYTES = 256_000
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CACHE_SIZE = 64


@dataclass(frozen=True)
class Composition:
    """One parsed composition.

    ``classes`` None = every size class; ``names`` None = every environment of ``driver``.
    ``provision``: the provision mapping without ``sizes`` (``kind`` and kind-specific keys);
    ``sizes``: per-class parameters; ``source``: the file it came from (for messages).
    """

    name: str
    type: str
    classes: frozenset[str] | None
    driver: str
    names: frozenset[str] | None
    provision_kind: str
    provision: Mapping[str, Any]
    sizes: Mapping[str, Mapping[str, Any]]
    outputs: Mapping[str, str]
    priority: int = 0
    description: str = ""
    source: str = ""
    builtin: bool = False

    def matches(self, *, type: str, size: str, environment: str, driver: str) -> bool:
        """True when this composition serves ``type``/``size`` in ``environment``."""
        return (
            self.type == type
            and (self.classes is None or size in self.classes)
            and self.driver == driver
            and (self.names is None or environment in self.names)
        )

    def parameters(self, size: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """Provision parameters for ``size``: the type's ``defaults`` < ``provision`` keys <
        ``sizes[size]``."""
        merged = dict(defaults)
        merged.update({k: v for k, v in self.provision.items() if k != "kind"})
        merged.update(self.sizes.get(size, {}))
        return merged

    def render_outputs(self, facts: Mapping[str, Any]) -> dict[str, str]:
        """Fill the output templates from ``facts`` (missing placeholders → empty string)."""
        values = {key: "" if value is None else str(value) for key, value in facts.items()}
        return {key: template.format_map(_Blank(values)) for key, template in self.outputs.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON for the API: ``{name, description, type, classes, priority, environments:
        {driver, names}, provision: {kind, …, sizes}, outputs, source, builtin}``."""
        return {
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "classes": None if self.classes is None else sorted(self.classes),
            "priority": self.priority,
            "environments": {
                "driver": self.driver,
                "names": None if self.names is None else sorted(self.names),
            },
            "provision": {
                **dict(self.provision),
                "sizes": {k: dict(v) for k, v in self.sizes.items()},
            },
            "outputs": dict(self.outputs),
            "source": self.source,
            "builtin": self.builtin,
        }


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _fail(source: str, path: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"{source}: {path}: {message}",
        details={"errors": [{"path": path, "message": message}], "file": source},
    )


def _mapping(value: Any, source: str, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(source, path, "must be a mapping")
    return value


def _str_list(value: Any, source: str, path: str) -> frozenset[str] | None:
    if value is None or value == "all":
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(source, path, "must be 'all' or a list of names")
    return frozenset(value)


def _outputs(value: Any, source: str) -> dict[str, str]:
    raw = _mapping(value if value is not None else {}, source, "spec.outputs")
    out: dict[str, str] = {}
    for key, template in raw.items():
        where = f"spec.outputs.{key}"
        if not isinstance(template, str | int):
            raise _fail(source, where, "must be a string template like '{host}'")
        text = str(template)
        try:
            used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as e:
            raise _fail(source, where, f"bad template: {e}") from e
        unknown = sorted(used - OUTPUT_FIELDS)
        if unknown:
            raise _fail(
                source,
                where,
                f"unknown placeholder(s) {', '.join(unknown)}; use "
                f"{', '.join(sorted(OUTPUT_FIELDS))}",
            )
        out[str(key)] = text
    return out


def _sizes(value: Any, source: str) -> dict[str, dict[str, Any]]:
    raw = _mapping(value if value is not None else {}, source, "spec.provision.sizes")
    return {str(k): dict(_mapping(v, source, f"spec.provision.sizes.{k}")) for k, v in raw.items()}


def parse_composition(doc: Any, *, source: str, builtin: bool = False) -> Composition:
    """Check one YAML document and return it as a :class:`Composition`.

    Raises:
        InvalidInput: ``<source>: <field path>: <what is wrong and the fix>``.
    """
    doc = _mapping(doc, source, "(document)")
    if doc.get("apiVersion") != API_VERSION:
        raise _fail(source, "apiVersion", f"must be {API_VERSION}")
    if doc.get("kind") != "Composition":
        raise _fail(source, "kind", "must be Composition")
    meta = _mapping(doc.get("metadata"), source, "metadata")
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(source, "metadata.name", "is required (e.g. local-postgres)")
    spec = _mapping(doc.get("spec"), source, "spec")
    kind = spec.get("type")
    if not isinstance(kind, str) or not kind:
        raise _fail(source, "spec.type", "is required (a resource type such as postgres)")
    envs = _mapping(spec.get("environments") or {}, source, "spec.environments")
    driver = envs.get("driver", "local")
    if driver not in DRIVERS:
        raise _fail(source, "spec.environments.driver", f"must be one of {', '.join(DRIVERS)}")
    provision = dict(_mapping(spec.get("provision"), source, "spec.provision"))
    pkind = provision.get("kind")
    if pkind not in PROVISION_KINDS:
        raise _fail(source, "spec.provision.kind", f"must be one of {', '.join(PROVISION_KINDS)}")
    sizes = _sizes(provision.pop("sizes", None), source)
    priority = spec.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise _fail(source, "spec.priority", "must be an integer")
    return Composition(
        name=name,
        type=kind,
        classes=_str_list(spec.get("classes"), source, "spec.classes"),
        driver=driver,
        names=_str_list(envs.get("names"), source, "spec.environments.names"),
        provision_kind=pkind,
        provision=provision,
        sizes=sizes,
        outputs=_outputs(spec.get("outputs"), source),
        priority=priority,
        description=str(meta.get("description") or ""),
        source=source,
        builtin=builtin,
    )


def _read(path: Path | Any, source: str, builtin: bool) -> list[Composition]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InvalidInput(f"{source}: cannot read the composition file: {e}") from e
    if len(text) > _MAX_BYTES:
        raise InvalidInput(f"{source}: the file is larger than {_MAX_BYTES} bytes")
    try:
        docs = [d for d in yaml.load_all(text, Loader=_LOADER) if d is not None]
    except yaml.YAMLError as e:
        raise InvalidInput(f"{source}: not valid YAML: {e}") from e
    return [parse_composition(doc, source=source, builtin=builtin) for doc in docs]


class CompositionSet:
    """Compositions by name, with :meth:`select` for a claim."""

    def __init__(self, compositions: Iterable[Composition]) -> None:
        self._by_name: dict[str, Composition] = {}
        for item in compositions:
            self._by_name[item.name] = item  # later (user) files replace earlier (built-in)

    def all(self) -> list[Composition]:
        """Every composition, by name."""
        return [self._by_name[name] for name in sorted(self._by_name)]

    def get(self, name: str) -> Composition | None:
        """Composition ``name`` or None."""
        return self._by_name.get(name)

    def select(self, *, type: str, size: str, environment: str, driver: str) -> Composition:
        """The composition for a claim (see the module docstring for the order).

        Raises:
            InvalidInput: none matches; the message names the type, class, environment and
                driver and where to add one.
        """
        found = [
            c
            for c in self._by_name.values()
            if c.matches(type=type, size=size, environment=environment, driver=driver)
        ]
        if not found:
            raise InvalidInput(
                f"no composition provisions {type} (class {size}) in environment "
                f"{environment!r} (driver {driver}); add one to the compositions directory",
                details={"type": type, "size": size, "environment": environment, "driver": driver},
            )
        found.sort(key=lambda c: (-c.priority, c.names is None, c.name))
        return found[0]


@functools.lru_cache(maxsize=1)
def _builtins() -> tuple[Composition, ...]:
    root = importlib_resources.files("goldenpath.resources") / "compositions"
    files = sorted(
        (p for p in root.iterdir() if p.name.endswith((".yaml", ".yml"))), key=lambda p: p.name
    )
    return tuple(c for path in files for c in _read(path, f"builtin:{path.name}", True))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _read_file(path: Path, mtime_ns: int, size: int) -> tuple[Composition, ...]:
    """One team file, parsed once per (path, mtime, size): a changed file is read again."""
    return tuple(_read(path, str(path), False))


def _team_files(directory: Path) -> list[Composition]:
    items: list[Composition] = []
    seen: dict[str, str] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            stat = path.stat()
        except OSError as e:
            raise InvalidInput(f"{path}: cannot read the composition file: {e}") from e
        for comp in _read_file(path, stat.st_mtime_ns, stat.st_size):
            if comp.name in seen:
                raise InvalidInput(
                    f"{path}: metadata.name {comp.name!r} is also declared in "
                    f"{seen[comp.name]}; rename one of them",
                )
            seen[comp.name] = str(path)
            items.append(comp)
    return items


def load_compositions(directory: Path | None) -> CompositionSet:
    """Built-in compositions, then every ``*.yaml``/``*.yml`` in ``directory`` (when it exists).

    Parsed files are cached by path, modification time and size, so calling this per request
    costs a directory listing and a ``stat`` per file.

    Raises:
        InvalidInput: a file is unreadable, not YAML, or not a valid composition (names the
            file and field); two user files declare the same ``metadata.name``.
    """
    items = list(_builtins())
    if directory is not None and directory.is_dir():
        items.extend(_team_files(directory))
    return CompositionSet(items)
