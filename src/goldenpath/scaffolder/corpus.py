"""Surveying a corpus of real Backstage templates: does each load, and does it dry-run?

Used by ``scripts/gen_real_templates_expected.py`` (which writes the expected outcome per
file and the action table of ``docs/templates.md``) and by
``tests/scaffolder/test_real_templates.py`` (which recomputes and compares). Issue 3,
"Real input": every Template either loads and has its parameter schema validated, or is
rejected with a precise reason; every template whose actions are all supported dry-runs.

The corpus ships template YAML only, without skeleton directories. :func:`dry_run_file`
therefore copies the file into a scratch directory and wraps the ``fetch:*`` actions so
that a *relative* source that does not exist is created just before the step runs: an
empty directory holding one probe file (:data:`PROBE_NAME`, rendering ``values``), or for
``fetch:plain:file`` an empty file. Parameter values are synthesised from the schema by
:func:`synthesize_values`.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import re
import shutil
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from goldenpath.catalog.placeholders import file_reader, resolve_placeholders
from goldenpath.catalog.yamldocs import parse_documents
from goldenpath.errors import InvalidInput, PlatformError
from goldenpath.scaffolder.actions import ActionContext, ActionRegistry, default_registry
from goldenpath.scaffolder.actions.base import Action, confine
from goldenpath.scaffolder.templates import TemplateSpec, load_template_file, strip_ui

__all__ = [
    "DRY_RUN_USER",
    "PROBE_NAME",
    "dry_run_file",
    "survey_corpus",
    "survey_file",
    "synthesize_values",
]

#: the file put into a missing skeleton directory; its content renders ``values``
PROBE_NAME = "goldenpath-probe.txt"
_PROBE = "name: ${{ values.name }}\nvalues: ${{ values | dump }}\n"

#: ``user`` of a corpus dry run (``${{ user.entity.metadata.name }}`` …)
DRY_RUN_USER: dict[str, Any] = {
    "ref": "user:default/jane",
    "entity": {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "User",
        "metadata": {"name": "jane", "namespace": "default"},
        "spec": {"profile": {"displayName": "Jane Doe", "email": "jane@example.com"}},
    },
}
_SECRETS = {"USER_OAUTH_TOKEN": "dry-run-token", "token": "dry-run-token"}

_REPO_URL = "github.com?owner=acme&repo=demo-service"
_GITLAB_URL = "gitlab.com?owner=acme&repo=demo-service"
_ENTITY = "group:default/team-a"
_BY_FIELD = {
    "RepoUrlPicker": _REPO_URL,
    "OwnerPicker": _ENTITY,
    "EntityPicker": _ENTITY,
    "OwnedEntityPicker": _ENTITY,
    "MyGroupsPicker": _ENTITY,
    "EntityNamePicker": "demo-service",
}
_CANDIDATES = (
    "demo-service",
    "demo",
    "demoservice",
    "demo123",
    "Demo",
    "d",
    "demo_service",
    "demo.service",
    "1",
    "v1",
    "123456",
    "dev@example.com",
    "https://example.com",
    _REPO_URL,
    _ENTITY,
    "us-east-1",
    "t3.micro",
    "10.0.0.0/16",
)
_FORMATS = {"email": "dev@example.com", "uri": "https://example.com", "date": "2026-01-01"}


def _relative(text: str, path: Path) -> str:
    """``text`` with the machine's absolute paths around ``path`` made relative to its
    directory (``…/dir/x`` → ``x``, ``…/dir`` → ``.``, ``…/x`` → ``../x``), so messages
    stay the same on every checkout."""
    directory = path.resolve().parent
    for absolute, relative in (
        (f"{directory}/", ""),
        (str(directory), "."),
        (f"{directory.parent}/", "../"),
    ):
        text = text.replace(absolute, relative)
    return text


def _strict_yaml_error(path: Path) -> str | None:
    """PyYAML's complaint when the file is not YAML with a JSON data model, else ``None``.

    Backstage's parser (the npm ``yaml`` package) and goldenpath's catalog loader accept a
    flow mapping as a mapping key (``- {{ gitlab_hostname }}``) and stringify it; strict
    loaders (PyYAML, js-yaml) refuse the file ("found unhashable key").
    """
    try:
        for _ in yaml.safe_load_all(path.read_bytes()):
            pass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        context = getattr(e, "context", None)
        return f"{where}{context + ': ' if context else ''}{problem}"
    return None


def survey_file(path: Path, *, supported: Collection[str]) -> dict[str, Any]:
    """What loading one template file gives, per Template document.

    Returns ``{"file", "strict_yaml_error", "yaml_error", "templates": [...]}``:
    ``strict_yaml_error`` is :func:`_strict_yaml_error`; ``yaml_error`` is goldenpath's YAML
    loader's message when it refuses the file (then ``templates`` is empty). Each template
    is ``{"document", "name", "outcome", "reason", "pages", "actions", "unsupported"}``:
    ``outcome`` ``"loaded"`` (placeholders resolved, every parameter page passed
    ``Draft7Validator.check_schema`` without ``ui:*`` keys) or ``"rejected"`` (the
    :class:`InvalidInput` message in ``reason``); ``actions`` maps each action id to its
    number of steps; ``unsupported`` lists the ids not in ``supported``.
    """
    record: dict[str, Any] = {
        "file": path.name,
        "strict_yaml_error": _strict_yaml_error(path),
        "yaml_error": None,
        "templates": [],
    }
    docs = parse_documents(path.read_bytes(), source=path.name)
    broken = next((d.error for d in docs if d.error is not None), None)
    if broken is not None:
        record["yaml_error"] = broken.message
        return record
    for doc in docs:
        if isinstance(doc.data, dict) and doc.data.get("kind") == "Template":
            record["templates"].append(_survey_document(path, doc.index, doc.data, supported))
    return record


def _survey_document(
    path: Path, index: int, data: dict[str, Any], supported: Collection[str]
) -> dict[str, Any]:
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    steps = (data.get("spec") or {}).get("steps") if isinstance(data.get("spec"), dict) else None
    item: dict[str, Any] = {
        "document": index,
        "name": name,
        "outcome": "loaded",
        "reason": None,
        "pages": 0,
        "actions": _action_counts(steps),
    }
    try:
        entity, errors = resolve_placeholders(
            data, base_dir=path.resolve().parent, reader=file_reader()
        )
        if errors:
            raise InvalidInput(errors[0].message)
        spec = TemplateSpec.from_entity(entity, base_dir=path.resolve().parent)
        for page in spec.parameters:
            jsonschema.Draft7Validator.check_schema(strip_ui(page))
        spec.parameter_schema()
    except PlatformError as e:
        item.update(outcome="rejected", reason=_relative(e.message, path))
    else:
        item.update(pages=len(spec.parameters), actions=_action_counts(spec.steps))
    item["unsupported"] = sorted(set(item["actions"]) - set(supported))
    return item


def _action_counts(steps: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict) and isinstance(step.get("action"), str):
            counts[step["action"]] = counts.get(step["action"], 0) + 1
    return dict(sorted(counts.items()))


def survey_corpus(directory: Path) -> list[dict[str, Any]]:
    """:func:`survey_file` for every ``*.yaml`` in ``directory`` (sorted by name), against
    the default registry; each template that loads and uses supported actions only gets a
    ``dry_run`` (:func:`dry_run_file`), the others ``None``."""
    supported = default_registry().ids()
    records = []
    for path in sorted(directory.glob("*.yaml")):
        record = survey_file(path, supported=supported)
        several = len(record["templates"]) > 1
        for item in record["templates"]:
            runnable = item["outcome"] == "loaded" and not item["unsupported"]
            name = item["name"] if several else None
            item["dry_run"] = dry_run_file(path, name) if runnable else None
        records.append(record)
    return records


# --------------------------------------------------------------------------- values


def _matches(schema: Mapping[str, Any], value: str) -> bool:
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            if re.search(pattern, value) is None:
                return False
        except re.error:
            return True
    return int(schema.get("minLength", 0)) <= len(value) <= int(schema.get("maxLength", 10**6))


def _example(schema: Any, name: str) -> Any:
    """One value for ``schema`` (a property of ``name``)."""
    if not isinstance(schema, Mapping):
        return "demo-service"
    if "default" in schema:
        return copy.deepcopy(schema["default"])
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    field = schema.get("ui:field")
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "array":
        items = schema.get("items") or {}
        return [_example(items, name) for _ in range(int(schema.get("minItems", 0)))]
    if kind == "object":
        return _fill(schema, {})
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if isinstance(field, str) and field in _BY_FIELD:
        return _BY_FIELD[field]
    if name == "repoUrl":
        return _REPO_URL
    if schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    pattern = schema.get("pattern")
    tail = _literal_tail(pattern) if isinstance(pattern, str) else ""
    candidates = (*_CANDIDATES, f"demo{tail}", f"demo-service{tail}") if tail else _CANDIDATES
    return next((c for c in candidates if _matches(schema, c)), "demo-service")


def _fill(schema: Mapping[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Set an example for each ``required`` property of ``schema`` missing in ``values``."""
    props = schema.get("properties")
    props = props if isinstance(props, Mapping) else {}
    required = schema.get("required")
    for name in required if isinstance(required, list) else []:
        if isinstance(name, str) and name not in values:
            values[name] = _example(props.get(name), name)
    return values


def _find_property(schema: Any, name: str) -> Any:
    """The first schema of property ``name`` anywhere in ``schema`` (``oneOf`` branches,
    ``dependencies``…), preferring one with a ``default``."""
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict) and isinstance(props.get(name), dict):
                found.append(props[name])
            for key, value in node.items():
                if key not in ("default", "enum", "const", "examples"):
                    walk(value)

    walk(schema)
    return next((f for f in found if "default" in f), found[0] if found else None)


def _literal_tail(pattern: str) -> str:
    """The literal text a regular expression ends with (``^[a-z-]+-docs$`` → ``-docs``)."""
    match = re.search(r"((?:\\.|[^\\\[\]()|*+?{}^$.])+)\$$", pattern)
    return re.sub(r"\\(.)", r"\1", match.group(1)) if match else ""


def synthesize_values(spec: TemplateSpec) -> dict[str, Any]:
    """Values for every required parameter of every page, then for every property the
    validation still reports as required (``oneOf``/``dependencies`` branches): the default,
    the first ``enum`` value, a picker-shaped value (``RepoUrlPicker`` →
    ``github.com?owner=acme&repo=…``, or ``gitlab.com`` when a step publishes to GitLab;
    entity pickers → ``group:default/team-a``) or the first candidate string that satisfies
    ``pattern``/``minLength``/``maxLength`` (candidates include ``demo`` + the literal text
    the pattern ends with). May still fail validation; the caller reports why."""
    values: dict[str, Any] = {}
    for page in spec.parameters:
        _fill(page, values)
    if any(str(step.get("action")).startswith("publish:gitlab") for step in spec.steps):
        values = {k: _GITLAB_URL if v == _REPO_URL else v for k, v in values.items()}
    for _ in range(5):
        try:
            spec.validate_values(values)
        except PlatformError as e:
            missing = [
                item["path"].lstrip("/")
                for item in e.details.get("errors") or []
                if item.get("keyword") == "required" and item["path"].count("/") == 1
            ]
            missing = [m for m in missing if m not in values]
            if not missing:
                break
            for name in missing:
                values[name] = _example(_find_property(spec.parameters, name), name)
        else:
            break
    return values


# --------------------------------------------------------------------------- dry runs


def _with_missing_sources(action: Action) -> Action:
    """``action`` whose relative, missing ``url`` is created (empty + probe) before it runs."""

    def handler(ctx: ActionContext) -> None:
        url = ctx.input.get("url")
        if isinstance(url, str) and "://" not in url and ctx.template_dir is not None:
            try:
                target = confine(ctx.template_dir, url, what="url")
            except PlatformError:  # the action itself reports it
                target = ctx.template_dir
            if not target.exists():
                if action.id == "fetch:plain:file":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text("")
                else:
                    target.mkdir(parents=True)
                    (target / PROBE_NAME).write_text(_PROBE)
        action.handler(ctx)

    return dataclasses.replace(action, handler=handler)


def _registry() -> ActionRegistry:
    return ActionRegistry(
        _with_missing_sources(a) if a.id.startswith("fetch:") else a
        for a in default_registry().list()
    )


def dry_run_file(path: Path, name: str | None = None) -> dict[str, Any]:
    """Dry-run the template at ``path`` (the one named ``name`` when the file holds several)
    with synthesised values, in a scratch directory.

    Returns ``{"status": "completed"|"failed"|"values-rejected", "error", "steps":
    {step id: status}, "files": [paths written], "probes": {path: rendered probe file}}``;
    ``error`` is the runner's (or the value validation's) message with scratch paths
    removed.
    """
    with tempfile.TemporaryDirectory(prefix="goldenpath-corpus-") as tmp:
        scratch = Path(tmp)
        (scratch / "template").mkdir()
        shutil.copyfile(path, scratch / "template" / "template.yaml")
        spec = load_template_file(scratch / "template" / "template.yaml", name=name)
        values = synthesize_values(spec)
        try:
            spec.validate_values(values)
        except PlatformError as e:
            return {
                "status": "values-rejected",
                "error": e.message,
                "steps": {},
                "files": [],
                "probes": {},
            }
        from goldenpath.scaffolder.runner import run_template

        result = run_template(
            spec,
            values,
            registry=_registry(),
            workspace=scratch / "workspace",
            secrets=_SECRETS,
            user=DRY_RUN_USER,
            dry_run=True,
        )
        error = result.error.replace(str(scratch) + "/", "") if result.error else None
    probes = {
        f["path"]: base64.b64decode(f["base64Content"]).decode(errors="replace")
        for f in result.files
        if f["path"].rsplit("/", 1)[-1] == PROBE_NAME
    }
    return {
        "status": result.status,
        "error": error,
        "steps": {s["id"]: s["status"] for s in result.steps},
        "files": sorted(f["path"] for f in result.files),
        "probes": dict(sorted(probes.items())),
    }
