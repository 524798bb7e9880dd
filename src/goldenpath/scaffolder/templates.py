"""Template entities (``scaffolder.backstage.io/v1beta3``, kind ``Template``) and their parameters.

A :class:`TemplateSpec` is a checked view of one Template entity: its parameter pages (JSON
Schema, draft 7, with rjsf ``ui:*`` keys), its steps and its output. Values a user fills in
are validated the way Backstage's ``POST /v2/tasks`` does (every page against the merged
values) after applying the schema defaults the way the form (rjsf) would.

Backstage docs: "Writing Templates"
(https://backstage.io/docs/features/software-templates/writing-templates) and the
``Template.v1beta3.schema.json`` of ``@backstage/plugin-scaffolder-common``.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from goldenpath.catalog.locations import GitReader, parse_git_url
from goldenpath.catalog.placeholders import file_reader, resolve_placeholders
from goldenpath.catalog.yamldocs import parse_documents
from goldenpath.errors import InvalidInput
from goldenpath.scaffolder import _parameters
from goldenpath.scaffolder._parameters import strip_ui

__all__ = [
    "API_VERSION",
    "TemplateSpec",
    "load_template_file",
    "load_templates",
    "strip_ui",
    "template_source_dir",
]

API_VERSION = "scaffolder.backstage.io/v1beta3"
_MANAGED_BY = "backstage.io/managed-by-location"
_DEFAULT_PAGE_TITLE = "Please enter the following information"


# --------------------------------------------------------------------------- entity checks


def _check_parameters(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    pages = raw if isinstance(raw, list) else [raw]
    if not isinstance(raw, (list, dict)):
        raise InvalidInput(
            f"spec.parameters must be an object (one JSON Schema) or a list of them, "
            f"not {type(raw).__name__}"
        )
    checked: list[dict[str, Any]] = []
    for index, page in enumerate(pages):
        where = f"spec.parameters[{index}]" if isinstance(raw, list) else "spec.parameters"
        if not isinstance(page, dict):
            raise InvalidInput(f"{where} must be an object (a JSON Schema), not {page!r:.60}")
        try:
            jsonschema.Draft7Validator.check_schema(strip_ui(page))
        except SchemaError as e:
            # an anyOf failure says "not valid under any": show the closest alternative
            best = min(e.context, key=lambda c: c.validator != "enum") if e.context else e
            pointer = "/".join(str(p) for p in e.absolute_path)
            raise InvalidInput(
                f"{where} is not a valid JSON Schema (draft 7) at '{pointer or '/'}': "
                f"{best.message}"
            ) from e
        checked.append(page)
    return checked


def _check_steps(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        raise InvalidInput("spec.steps is missing: a Template needs a list of steps")
    if not isinstance(raw, list):
        raise InvalidInput(f"spec.steps must be a list of steps, not {type(raw).__name__}")
    steps: list[dict[str, Any]] = []
    for index, step in enumerate(raw):
        where = f"spec.steps[{index}]"
        if not isinstance(step, dict):
            raise InvalidInput(f"{where} must be an object with an action, not {step!r:.60}")
        action = step.get("action")
        if not isinstance(action, str) or not action:
            raise InvalidInput(f"{where}.action is missing: every step names its action")
        for key in ("id", "name"):
            if key in step and not isinstance(step[key], str):
                raise InvalidInput(f"{where}.{key} must be a string")
        if "input" in step and step["input"] is not None and not isinstance(step["input"], dict):
            raise InvalidInput(f"{where}.input must be an object")
        steps.append(step)
    return steps


@dataclass
class TemplateSpec:
    """One Template entity, checked.

    Attributes:
        ref: the entity ref (``template:default/python-service``) or ``None`` (inline).
        entity: the whole Template entity.
        base_dir: directory of ``template.yaml`` (base of ``./skeleton`` URLs) or ``None``.
        parameters: parameter pages (a single object schema becomes ``[schema]``).
        steps: ``spec.steps`` as written.
        output: ``spec.output`` (``links``, ``text``, …) or ``{}``.
    """

    ref: str | None
    entity: dict[str, Any]
    base_dir: Path | None
    parameters: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    output: dict[str, Any]

    @classmethod
    def from_entity(
        cls, entity: Mapping[str, Any], *, base_dir: Path | None = None, ref: str | None = None
    ) -> TemplateSpec:
        """Check ``entity`` and build the spec.

        Raises:
            InvalidInput: not a ``scaffolder.backstage.io/v1beta3`` Template, ``spec.steps``
                missing or not a list, a step without ``action``, ``spec.parameters`` not a
                (list of) valid JSON Schema(s), ``spec.output`` not an object. The message
                names the field.
        """
        if not isinstance(entity, Mapping):
            raise InvalidInput("a Template entity must be an object")
        if entity.get("kind") != "Template":
            raise InvalidInput(f"kind must be Template, not {entity.get('kind')!r}")
        if entity.get("apiVersion") != API_VERSION:
            raise InvalidInput(
                f"apiVersion {entity.get('apiVersion')!r} is not supported for a Template; "
                f"use {API_VERSION}"
            )
        spec = entity.get("spec")
        if not isinstance(spec, Mapping):
            raise InvalidInput("spec is missing: a Template needs spec.steps")
        output = spec.get("output") or {}
        if not isinstance(output, dict):
            raise InvalidInput("spec.output must be an object (links, text, …)")
        return cls(
            ref=ref,
            entity=dict(entity),
            base_dir=base_dir,
            parameters=_check_parameters(spec.get("parameters")),
            steps=_check_steps(spec.get("steps")),
            output=output,
        )

    @property
    def name(self) -> str:
        """``metadata.name`` (or ``"template"`` when absent)."""
        return str((self.entity.get("metadata") or {}).get("name") or "template")

    def parameter_schema(self) -> dict[str, Any]:
        """Backstage's ``GET /v2/templates/{ns}/{kind}/{name}/parameter-schema`` body:
        ``{"title", "description"?, "presentation"?, "steps": [{"title", "description",
        "schema"}]}``; schemas keep their ``ui:*`` keys for the form."""
        meta = self.entity.get("metadata") or {}
        spec = self.entity.get("spec") or {}
        body: dict[str, Any] = {"title": meta.get("title") or meta.get("name")}
        if meta.get("description"):
            body["description"] = meta["description"]
        if spec.get("presentation"):
            body["presentation"] = spec["presentation"]
        body["steps"] = [
            {
                "title": page.get("title") or _DEFAULT_PAGE_TITLE,
                "description": page.get("description"),
                "schema": page,
            }
            for page in self.parameters
        ]
        return body

    def secret_parameters(self) -> set[str]:
        """Property names marked ``ui:field: Secret`` or ``ui:widget: password``."""
        found: set[str] = set()
        _parameters.secret_names(self.parameters, found)
        return found

    def validate_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` with defaults applied, checked against every parameter page.

        Returns a new dict (``values`` is not mutated).

        Raises:
            InvalidInput: ``values`` is not an object, or fails a page; ``details`` is
                ``{"errors": [{"path": "/name", "message": <jsonschema's message>,
                "keyword": "pattern"}]}`` with a JSON pointer per failure (a missing
                required property points at the property itself). Values of secret
                parameters are masked in messages.
        """
        if not isinstance(values, Mapping):
            raise InvalidInput("values must be an object of parameter name → value")
        data: dict[str, Any] = copy.deepcopy(dict(values))
        schemas = [strip_ui(page) for page in self.parameters]
        for schema in schemas:
            data = _parameters.apply_defaults(schema, data, schema)
        secret_names = self.secret_parameters()
        errors: list[dict[str, Any]] = []
        for schema in schemas:
            validator = jsonschema.Draft7Validator(
                schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
            )
            for error in sorted(validator.iter_errors(data), key=lambda e: list(e.path)):
                for item in _parameters.error_items(error, secret_names):
                    if item not in errors:
                        errors.append(item)
        if errors:
            summary = "; ".join(f"{e['path'] or '/'}: {e['message']}" for e in errors[:5])
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            raise InvalidInput(
                f"parameters of {self.ref or self.name} are invalid: {summary}{more}",
                details={"errors": errors},
            )
        return data


# --------------------------------------------------------------------------- loading


def load_templates(path: Path) -> list[TemplateSpec]:
    """Every Template document of a YAML file (other kinds are ignored), in file order.

    ``$yaml``/``$text``/``$json`` placeholders resolve relative to the file and may not
    leave its directory. ``base_dir`` is the file's directory; ``ref`` is
    ``template:<namespace>/<name>``.

    Raises:
        InvalidInput: unreadable file, invalid YAML (with line and column), a placeholder
            that cannot be read, an invalid Template (the message names the field).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InvalidInput(f"cannot read template file {path}: {e.strerror or e}") from e
    docs = parse_documents(raw, source=str(path))
    for doc in docs:
        if doc.error is not None:
            raise InvalidInput(doc.error.message)
    base_dir = path.resolve().parent
    specs: list[TemplateSpec] = []
    for doc in docs:
        if not isinstance(doc.data, dict) or doc.data.get("kind") != "Template":
            continue
        entity, errors = resolve_placeholders(doc.data, base_dir=base_dir, reader=file_reader())
        if errors:
            raise InvalidInput(f"{path}: {errors[0].message}")
        meta = entity.get("metadata") or {}
        name = meta.get("name") if isinstance(meta, dict) else None
        namespace = (meta.get("namespace") if isinstance(meta, dict) else None) or "default"
        ref = f"template:{namespace}/{name}" if isinstance(name, str) and name else None
        try:
            specs.append(TemplateSpec.from_entity(entity, base_dir=base_dir, ref=ref))
        except InvalidInput as e:
            where = f"{path} (document {doc.index}, {ref or 'unnamed'})"
            raise InvalidInput(f"{where}: {e.message}", details=e.details) from e
    return specs


def load_template_file(path: Path, *, name: str | None = None) -> TemplateSpec:
    """The Template of a ``template.yaml`` (see :func:`load_templates`).

    ``name`` picks one by ``metadata.name`` when the file holds several.

    Raises:
        InvalidInput: as :func:`load_templates`; no Template in the file, several without
            ``name``, or none named ``name``.
    """
    specs = load_templates(path)
    if name is not None:
        specs = [s for s in specs if s.name == name]
    if len(specs) != 1:
        names = ", ".join(s.name for s in load_templates(path)) or "none"
        wanted = f" named {name!r}" if name else ""
        raise InvalidInput(
            f"{path} must hold exactly one Template{wanted}, found {len(specs)} "
            f"(Templates in the file: {names}); pass the name to pick one"
        )
    return specs[0]


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _directory_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            file = Path(root) / name
            digest.update(file.relative_to(directory).as_posix().encode() + b"\0")
            if file.is_symlink():
                digest.update(b"link:" + os.readlink(file).encode())
            else:
                digest.update(hashlib.sha256(file.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


def template_source_dir(entity: Mapping[str, Any], *, cache_dir: Path) -> tuple[Path, str]:
    """The directory a catalog Template's relative URLs (``./skeleton``) resolve against.

    From the ``backstage.io/managed-by-location`` annotation: ``file:/abs/template.yaml`` →
    its directory; ``url:<repo>/blob/<ref>/<path>`` → a checkout of ``<repo>`` at ``<ref>``
    under ``cache_dir`` (one immutable directory per commit), the directory of ``<path>``.

    Returns:
        ``(directory, version)``: ``version`` is the git commit sha of the source, or for a
        file outside any git work tree ``sha256:<hash of the directory's files>``.

    Raises:
        InvalidInput: no or unsupported annotation, the directory is missing, git failed.
    """
    meta = entity.get("metadata") or {}
    location = ((meta.get("annotations") or {}) if isinstance(meta, Mapping) else {}).get(
        _MANAGED_BY
    )
    if not isinstance(location, str) or ":" not in location:
        raise InvalidInput(
            f"the Template has no {_MANAGED_BY} annotation: register it from a location "
            "(file or url) so its skeleton files can be found"
        )
    kind, _, target = location.partition(":")
    if kind == "file":
        directory = Path(target).parent
        if not directory.is_dir():
            raise InvalidInput(f"{_MANAGED_BY} {location}: directory {directory} does not exist")
        sha = (
            _git(directory, "rev-parse", "HEAD")
            if _git(directory, "rev-parse", "--is-inside-work-tree") == "true"
            else None
        )
        return directory, sha or _directory_digest(directory)
    if kind == "url":
        return _checkout(location, target, cache_dir)
    raise InvalidInput(f"{_MANAGED_BY} {location}: location type {kind!r} is not supported")


def _checkout(location: str, target: str, cache_dir: Path) -> tuple[Path, str]:
    repo, ref, sub = parse_git_url(target)
    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="fetch-", dir=cache_dir))
    try:
        checkout = GitReader(scratch).checkout(repo, None if ref in (None, "HEAD") else ref)
        sha = _git(checkout, "rev-parse", "HEAD")
        if sha is None:
            raise InvalidInput(f"{_MANAGED_BY} {location}: cannot read the checked-out commit")
        final = cache_dir / sha
        if not final.exists():
            try:
                checkout.rename(final)
            except OSError:  # another task stored the same commit first
                if not final.exists():
                    raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    directory = (final / (sub or "template.yaml")).parent
    if not directory.resolve().is_relative_to(final.resolve()) or not directory.is_dir():
        raise InvalidInput(f"{_MANAGED_BY} {location}: {sub} is not a path in the repository")
    return directory, sha
