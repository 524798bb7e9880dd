"""Template parameter forms: JSON Schema pages → form fields, and the submitted form → values.

The portal's version of Backstage's rjsf form for a Template's ``spec.parameters``
(``scaffolder.backstage.io/v1beta3``). :func:`build_form` turns every parameter page into a
:class:`Page` of :class:`Field` view models the template ``create_form.html`` renders as one
fieldset per page; :func:`parse_form` reads the posted form back into typed values and
:func:`validate_form` checks them with the scaffolder's own validation
(:meth:`goldenpath.scaffolder.templates.TemplateSpec.validate_values`), so the messages next
to the fields are the ones ``POST /api/scaffolder/v2/tasks`` returns.

Supported: ``string`` (``pattern``, ``minLength``/``maxLength``, ``format``), ``number``,
``integer`` (``minimum``/``maximum``), ``boolean`` (checkbox), ``enum`` (select, labels from
``enumNames``), ``array`` of an enum (checkboxes), ``required``, ``default``, ``ui:widget:
textarea|password``, ``ui:field: Secret`` (masked, never echoed), ``ui:field: OwnerPicker`` /
``EntityPicker`` (a select of catalog entities of ``catalogFilter.kind`` or
``allowedKinds``; OwnerPicker defaults to Group), ``ui:autofocus``, ``ui:help``. Any other
type (objects, free arrays) is a JSON text area.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from goldenpath.errors import InvalidInput
from goldenpath.scaffolder.templates import TemplateSpec

__all__ = [
    "FIELD_PREFIX",
    "Choices",
    "Field",
    "Option",
    "Page",
    "TemplateForm",
    "build_form",
    "parse_form",
    "picker_kinds",
    "validate_form",
]

#: HTML ``name`` prefix of parameter inputs (keeps them apart from ``csrf_token``)
FIELD_PREFIX = "p."
_PICKERS = frozenset({"OwnerPicker", "EntityPicker", "OwnedEntityPicker", "MyGroupsPicker"})


@dataclass(frozen=True, slots=True)
class Option:
    """One choice of a select or checkbox group."""

    value: str
    label: str


@dataclass(slots=True)
class Field:
    """One input. ``kind``: text, password, textarea, number, integer, checkbox, select,
    multiselect, json. ``value`` is what the input shows (always ``""`` for secrets);
    ``selected`` the chosen values of a multiselect; ``error`` the message shown beside it."""

    name: str
    label: str
    kind: str
    html_name: str
    description: str = ""
    required: bool = False
    value: str = ""
    selected: tuple[str, ...] = ()
    options: list[Option] = field(default_factory=list)
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    step: str | None = None
    autofocus: bool = False
    secret: bool = False
    error: str | None = None

    @property
    def id(self) -> str:
        """The input's HTML id (label ``for``)."""
        return "f-" + self.name


@dataclass(slots=True)
class Page:
    """One parameter page (a fieldset)."""

    title: str
    description: str
    fields: list[Field]


@dataclass(slots=True)
class TemplateForm:
    """The whole form: ``pages`` in order, ``errors`` that belong to no field."""

    title: str
    description: str
    pages: list[Page]
    errors: list[str] = field(default_factory=list)

    @property
    def fields(self) -> list[Field]:
        """Every field of every page."""
        return [f for page in self.pages for f in page.fields]


#: picker options: ``kinds`` (e.g. ``["Group"]``) → ``[Option(ref, title)]``
Choices = Callable[[Sequence[str]], list[Option]]


def _is_secret(prop: Mapping[str, Any]) -> bool:
    return prop.get("ui:field") == "Secret" or prop.get("ui:widget") == "password"


def picker_kinds(prop: Mapping[str, Any]) -> list[str] | None:
    """The entity kinds an ``OwnerPicker``/``EntityPicker`` offers (``None`` when ``prop`` is
    not a picker): ``ui:options.catalogFilter.kind`` (string or list),
    ``ui:options.allowedKinds``, else ``Group`` for an OwnerPicker, any kind otherwise."""
    if prop.get("ui:field") not in _PICKERS:
        return None
    options = prop.get("ui:options") or {}
    kinds: Any = options.get("allowedKinds")
    catalog_filter = options.get("catalogFilter")
    if kinds is None and isinstance(catalog_filter, Mapping):
        kinds = catalog_filter.get("kind")
    if isinstance(kinds, str):
        return [kinds]
    if isinstance(kinds, list) and kinds:
        return [str(k) for k in kinds]
    return ["Group"] if prop.get("ui:field") in ("OwnerPicker", "MyGroupsPicker") else []


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2)
    return str(value)


def _enum_options(schema: Mapping[str, Any]) -> list[Option]:
    values = list(schema.get("enum") or [])
    names = schema.get("enumNames") or schema.get("ui:enumNames") or []
    return [
        Option(_shown(v), str(names[i]) if i < len(names) else _shown(v))
        for i, v in enumerate(values)
    ]


def _kind_of(prop: Mapping[str, Any], choices: list[Option] | None) -> str:
    if _is_secret(prop):
        return "password"
    if choices is not None:
        return "select"
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    items = prop.get("items")
    if "enum" in prop:
        return "select"
    if kind == "array" and isinstance(items, Mapping) and "enum" in items:
        return "multiselect"
    if kind in ("number", "integer"):
        return str(kind)
    if kind == "boolean":
        return "checkbox"
    if kind in ("object", "array"):
        return "json"
    return "textarea" if prop.get("ui:widget") == "textarea" else "text"


def _field(
    name: str,
    prop: Mapping[str, Any],
    *,
    required: bool,
    value: Any,
    choices: Choices | None,
) -> Field:
    kinds = picker_kinds(prop)
    picked = choices(kinds) if kinds is not None and choices is not None else None
    kind = _kind_of(prop, picked)
    f = Field(
        name=name,
        label=str(prop.get("title") or name),
        kind=kind,
        html_name=FIELD_PREFIX + name,
        description=str(prop.get("description") or prop.get("ui:help") or ""),
        required=required,
        pattern=prop.get("pattern") if isinstance(prop.get("pattern"), str) else None,
        minimum=prop.get("minimum"),
        maximum=prop.get("maximum"),
        min_length=prop.get("minLength"),
        max_length=prop.get("maxLength"),
        step="1" if kind == "integer" else ("any" if kind == "number" else None),
        autofocus=bool(prop.get("ui:autofocus")),
        secret=kind == "password",
    )
    if kind == "select":
        f.options = picked if picked is not None else _enum_options(prop)
        current = _shown(value)
        if current and current not in {o.value for o in f.options}:
            f.options = [Option(current, current), *f.options]
    elif kind == "multiselect":
        f.options = _enum_options(prop.get("items") or {})
        f.selected = tuple(_shown(v) for v in value) if isinstance(value, list) else ()
    if not f.secret and kind != "multiselect":
        f.value = _shown(value)
    return f


def build_form(
    template: TemplateSpec,
    *,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    choices: Choices | None = None,
) -> TemplateForm:
    """The form of ``template``: one :class:`Page` per parameter page, fields in schema
    order, showing ``values`` (else each property's ``default``; never a secret's value),
    ``errors`` by field name (the key ``""`` holds errors of no field) and picker options
    from ``choices``."""
    values = values or {}
    errors = dict(errors or {})
    meta = template.entity.get("metadata") or {}
    pages = []
    for index, schema in enumerate(template.parameters):
        required = set(schema.get("required") or [])
        fields = []
        for name, prop in (schema.get("properties") or {}).items():
            if not isinstance(prop, Mapping) or prop.get("ui:widget") == "hidden":
                continue
            value = values[name] if name in values else prop.get("default")
            f = _field(name, prop, required=name in required, value=value, choices=choices)
            f.error = errors.pop(name, None)
            fields.append(f)
        title = schema.get("title") or ("Parameters" if len(template.parameters) == 1 else "")
        pages.append(
            Page(str(title or f"Step {index + 1}"), str(schema.get("description") or ""), fields)
        )
    return TemplateForm(
        title=str(meta.get("title") or meta.get("name") or "Template"),
        description=str(meta.get("description") or ""),
        pages=pages,
        errors=[message for message in errors.values() if message],
    )


def _properties(template: TemplateSpec) -> dict[str, Mapping[str, Any]]:
    props: dict[str, Mapping[str, Any]] = {}
    for schema in template.parameters:
        for name, prop in (schema.get("properties") or {}).items():
            if isinstance(prop, Mapping):
                props.setdefault(name, prop)
    return props


def _number(text: str, kind: str) -> int | float:
    number = float(text)
    if kind == "integer":
        if not number.is_integer():
            raise ValueError(text)
        return int(number)
    return int(number) if number.is_integer() and "." not in text else number


def parse_form(
    template: TemplateSpec, form: Mapping[str, Sequence[str]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed values from a posted form (``name`` → list of submitted strings).

    Empty inputs are left out (so schema defaults apply); an unchecked checkbox is
    ``false``; numbers and JSON text are parsed. Returns ``(values, errors)`` where
    ``errors`` maps a field name to why its text could not be read (e.g. "must be a whole
    number").
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, prop in _properties(template).items():
        submitted = [s for s in form.get(FIELD_PREFIX + name, []) if isinstance(s, str)]
        kind = _kind_of(prop, [] if picker_kinds(prop) is not None else None)
        if kind == "checkbox":
            values[name] = any(s in ("true", "on", "1") for s in submitted)
            continue
        if kind == "multiselect":
            values[name] = _typed_items(prop, submitted)
            continue
        text = submitted[-1] if submitted else ""
        if text.strip() == "" and kind != "password":
            continue
        if kind == "password" and text == "":
            continue
        if kind in ("number", "integer"):
            try:
                values[name] = _number(text.strip(), kind)
            except ValueError:
                errors[name] = "must be a whole number" if kind == "integer" else "must be a number"
        elif kind == "json":
            try:
                values[name] = json.loads(text)
            except ValueError as e:
                errors[name] = f"is not valid JSON: {e}"
        elif kind == "select" and "enum" in prop:
            values[name] = _enum_value(prop, text)
        else:
            values[name] = text
    return values, errors


def _enum_value(prop: Mapping[str, Any], text: str) -> Any:
    for candidate in prop.get("enum") or []:
        if _shown(candidate) == text:
            return candidate
    return text


def _typed_items(prop: Mapping[str, Any], submitted: list[str]) -> list[Any]:
    items = prop.get("items") or {}
    return [_enum_value(items, s) for s in submitted]


def validate_form(template: TemplateSpec, values: Mapping[str, Any]) -> dict[str, str]:
    """Errors of ``values`` by field name (``""`` for errors of no single field), from the
    scaffolder's own validation; empty when the values are valid."""
    try:
        template.validate_values(values)
    except InvalidInput as e:
        found: dict[str, str] = {}
        for item in (e.details or {}).get("errors") or []:
            path = str(item.get("path") or "")
            name = path.lstrip("/").split("/", 1)[0].replace("~1", "/").replace("~0", "~")
            found.setdefault(name, _friendly(str(item.get("message") or "")))
        return found or {"": e.message}
    return {}


def _friendly(message: str) -> str:
    """jsonschema's message, worded for a form: "'x' is a required property" → "is
    required"; a pattern mismatch names the pattern."""
    if message.endswith("is a required property"):
        return "is required"
    return message
