"""API definitions (an API entity's ``spec.definition``) turned into a view model for the API tab.

Reads OpenAPI 3.x (and Swagger 2.0, mapped onto the same shapes), AsyncAPI 2.x and AsyncAPI
3.x documents, written as YAML or JSON text, into plain dataclasses a template renders:
operations (method, path, summary, parameters, request body, responses), AsyncAPI channels with
their operations and messages, and the named schemas. Local ``$ref`` s (``#/components/...``)
are resolved; references to other files are shown, not fetched. Schemas are expanded to a
bounded depth and node count, and a reference cycle stops at the repeated name, so any
document — however large or self-referential — renders in bounded time and size.

Nothing raises on a bad document: problems go to :attr:`ApiView.errors` and the page shows
them (a catalog may hold definitions nobody validated).

Sources: https://spec.openapis.org/oas/v3.1.0, https://www.asyncapi.com/docs/reference/specification/v2.6.0,
https://www.asyncapi.com/docs/reference/specification/v3.0.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from goldenpath.catalog import yamldocs
from goldenpath.portal import _apischema as js
from goldenpath.portal._apischema import MAX_DEPTH, MAX_NODES, SchemaNode

__all__ = [
    "MAX_DEFINITION_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "ApiView",
    "Channel",
    "ChannelOperation",
    "Media",
    "Message",
    "Operation",
    "Parameter",
    "ResponseView",
    "SchemaNode",
    "parse_definition",
]

MAX_DEFINITION_BYTES = 5_000_000
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(slots=True)
class Parameter:
    """An operation or channel parameter: ``location`` is path|query|header|cookie (or "")."""

    name: str
    location: str
    required: bool
    description: str
    schema: SchemaNode | None


@dataclass(slots=True)
class Media:
    """A body in one content type (``application/json`` …) with its schema."""

    content_type: str
    schema: SchemaNode | None


@dataclass(slots=True)
class ResponseView:
    """One response of an operation: ``status`` is ``200``, ``4XX``, ``default`` …"""

    status: str
    description: str
    content: list[Media] = field(default_factory=list)


@dataclass(slots=True)
class Operation:
    """An OpenAPI operation (``method`` upper-case)."""

    method: str
    path: str
    summary: str = ""
    description: str = ""
    operation_id: str = ""
    tags: list[str] = field(default_factory=list)
    deprecated: bool = False
    parameters: list[Parameter] = field(default_factory=list)
    request_body: list[Media] = field(default_factory=list)
    request_required: bool = False
    responses: list[ResponseView] = field(default_factory=list)


@dataclass(slots=True)
class Message:
    """An AsyncAPI message: its payload (and headers) schemas."""

    name: str
    title: str = ""
    summary: str = ""
    content_type: str = ""
    payload: SchemaNode | None = None
    headers: SchemaNode | None = None


@dataclass(slots=True)
class ChannelOperation:
    """What an application does on a channel: ``action`` is publish|subscribe (v2) or
    send|receive (v3)."""

    action: str
    operation_id: str = ""
    summary: str = ""
    description: str = ""
    messages: list[Message] = field(default_factory=list)


@dataclass(slots=True)
class Channel:
    """An AsyncAPI channel: ``name`` is the v2 channel key or the v3 channel id; ``address``
    the topic/queue (v3 ``address``, v2 the key)."""

    name: str
    address: str
    description: str = ""
    parameters: list[Parameter] = field(default_factory=list)
    operations: list[ChannelOperation] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


@dataclass(slots=True)
class ApiView:
    """What the API tab shows. ``format`` is openapi|swagger|asyncapi|unknown; ``spec_version``
    the document's own version field (``3.0.3``, ``2.6.0`` …)."""

    format: str
    spec_version: str = ""
    title: str = ""
    version: str = ""
    description: str = ""
    servers: list[str] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    schemas: list[SchemaNode] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_definition(definition: Any, *, declared_type: str = "") -> ApiView:
    """The view model of ``definition`` (YAML/JSON text, or an already parsed mapping).

    ``declared_type`` is the entity's ``spec.type`` (openapi, asyncapi, graphql, grpc …);
    the document's own ``openapi``/``swagger``/``asyncapi`` field decides the format when
    present. Never raises: unreadable input gives an :class:`ApiView` with ``errors``.
    """
    doc, error = _load(definition)
    if error:
        return ApiView(format="unknown", errors=[error])
    assert doc is not None
    resolver = js.Resolver(doc)
    view = _header(doc, resolver)
    if "openapi" in doc or "swagger" in doc:
        view.format = "openapi" if "openapi" in doc else "swagger"
        view.spec_version = str(doc.get("openapi") or doc.get("swagger") or "")
        view.operations = _openapi_operations(doc, resolver, swagger=view.format == "swagger")
        named = js.dig(doc, "components", "schemas") or doc.get("definitions")
    elif "asyncapi" in doc:
        view.format = "asyncapi"
        view.spec_version = str(doc.get("asyncapi") or "")
        if view.spec_version.startswith("2"):
            view.channels = _asyncapi2_channels(doc, resolver)
        else:
            view.channels = _asyncapi3_channels(doc, resolver)
        named = js.dig(doc, "components", "schemas")
    else:
        kind = declared_type or "this"
        view.errors.append(
            f"the definition has no openapi, swagger or asyncapi field; {kind} definitions "
            "are shown as text"
        )
        return view
    if isinstance(named, Mapping):
        view.schemas = [
            js.schema(resolver, value, name=str(key), seen=(f"#/schemas/{key}",))
            for key, value in list(named.items())[:200]
        ]
    view.errors.extend(resolver.errors[:20])
    return view


def _load(definition: Any) -> tuple[dict[str, Any] | None, str]:
    if isinstance(definition, Mapping):
        return dict(definition), ""
    if not isinstance(definition, str) or not definition.strip():
        return None, "spec.definition is empty or not text"
    if len(definition.encode()) > MAX_DEFINITION_BYTES:
        return None, f"spec.definition is larger than {MAX_DEFINITION_BYTES:,} bytes"
    docs = yamldocs.parse_documents(
        definition,
        source="spec.definition",
        max_bytes=MAX_DEFINITION_BYTES,
        max_aliases=1000,
        require_mapping=False,
    )
    if not docs:
        return None, "spec.definition is empty"
    if docs[0].error is not None:
        return None, docs[0].error.message
    if not isinstance(docs[0].data, dict):
        return None, "spec.definition is not a YAML/JSON mapping"
    return docs[0].data, ""


def _header(doc: dict[str, Any], resolver: js.Resolver) -> ApiView:
    raw_info = doc.get("info")
    info: Mapping[str, Any] = raw_info if isinstance(raw_info, Mapping) else {}
    servers: list[str] = []
    raw_servers = doc.get("servers")
    if isinstance(raw_servers, list):  # OpenAPI 3
        servers = [js.text(s.get("url")) for s in raw_servers if isinstance(s, Mapping)]
    elif isinstance(raw_servers, Mapping):  # AsyncAPI
        for name, s in raw_servers.items():
            s, _ = resolver.deref(s)
            if isinstance(s, Mapping):
                url = js.text(s.get("url") or s.get("host"))
                protocol = js.text(s.get("protocol"))
                servers.append(f"{name}: {protocol + ' ' if protocol else ''}{url}".strip())
    elif isinstance(doc.get("host"), str):  # Swagger 2
        servers = [f"{doc['host']}{js.text(doc.get('basePath'))}"]
    return ApiView(
        format="unknown",
        title=js.text(info.get("title")),
        version=js.text(info.get("version")),
        description=js.text(info.get("description")),
        servers=[s for s in servers if s][:20],
    )


def _parameters(resolver: js.Resolver, raw: Any, swagger: bool) -> list[Parameter]:
    out: list[Parameter] = []
    for item in raw if isinstance(raw, list) else []:
        p, _ = resolver.deref(item)
        if not isinstance(p, Mapping) or (swagger and p.get("in") in ("body", "formData")):
            continue
        schema = p.get("schema")
        if schema is None and swagger:  # Swagger 2 puts type/format on the parameter itself
            schema = {k: p[k] for k in ("type", "format", "items", "enum") if k in p}
        out.append(
            Parameter(
                name=js.text(p.get("name")),
                location=js.text(p.get("in")),
                required=bool(p.get("required")),
                description=js.text(p.get("description")),
                schema=js.schema(resolver, schema) if schema is not None else None,
            )
        )
    return out


def _content(resolver: js.Resolver, content: Any) -> list[Media]:
    if not isinstance(content, Mapping):
        return []
    out = []
    for media_type, media in list(content.items())[:10]:
        media, _ = resolver.deref(media)
        schema = media.get("schema") if isinstance(media, Mapping) else None
        out.append(
            Media(str(media_type), js.schema(resolver, schema) if schema is not None else None)
        )
    return out


def _merged_parameters(path_level: Any, op_level: Any) -> list[Any]:
    """Path-level parameters overridden by operation-level ones with the same name+in."""
    merged: dict[tuple[str, str], Any] = {}
    for i, p in enumerate([*(path_level or []), *(op_level or [])]):
        key = (js.text(p.get("name")), js.text(p.get("in"))) if isinstance(p, Mapping) else ("", "")
        merged[key if key != ("", "") else (str(i), "")] = p
    return list(merged.values())


def _openapi_operations(
    doc: dict[str, Any], resolver: js.Resolver, *, swagger: bool
) -> list[Operation]:
    paths = doc.get("paths")
    out: list[Operation] = []
    if not isinstance(paths, Mapping):
        return out
    for path, item in paths.items():
        item, _ = resolver.deref(item)
        if not isinstance(item, Mapping):
            continue
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, Mapping):
                continue
            params = _merged_parameters(item.get("parameters"), op.get("parameters"))
            view = Operation(
                method=method.upper(),
                path=str(path),
                summary=js.text(op.get("summary")),
                description=js.text(op.get("description")),
                operation_id=js.text(op.get("operationId")),
                tags=[js.text(t) for t in op.get("tags") or [] if t is not None][:10],
                deprecated=bool(op.get("deprecated")),
                parameters=_parameters(resolver, params, swagger),
            )
            if swagger:
                _swagger_body(resolver, params, op, doc, view)
            else:
                body, _ = resolver.deref(op.get("requestBody"))
                if isinstance(body, Mapping):
                    view.request_body = _content(resolver, body.get("content"))
                    view.request_required = bool(body.get("required"))
            view.responses = _responses(resolver, op.get("responses"), swagger, op, doc)
            out.append(view)
            if len(out) >= 1000:
                resolver.errors.append("only the first 1,000 operations are shown")
                return out
    return out


def _swagger_body(
    resolver: js.Resolver,
    params: list[Any],
    op: Mapping[str, Any],
    doc: dict[str, Any],
    view: Operation,
) -> None:
    consumes = op.get("consumes") or doc.get("consumes") or ["application/json"]
    for p in params:
        p, _ = resolver.deref(p)
        if isinstance(p, Mapping) and p.get("in") == "body":
            view.request_body = [Media(js.text(consumes[0]), js.schema(resolver, p.get("schema")))]
            view.request_required = bool(p.get("required"))


def _responses(
    resolver: js.Resolver, raw: Any, swagger: bool, op: Mapping[str, Any], doc: dict[str, Any]
) -> list[ResponseView]:
    out: list[ResponseView] = []
    if not isinstance(raw, Mapping):
        return out
    produces = op.get("produces") or doc.get("produces") or ["application/json"]
    for status, response in raw.items():
        response, _ = resolver.deref(response)
        if not isinstance(response, Mapping):
            continue
        view = ResponseView(str(status), js.text(response.get("description")))
        if swagger and response.get("schema") is not None:
            view.content = [
                Media(js.text(produces[0]), js.schema(resolver, response.get("schema")))
            ]
        else:
            view.content = _content(resolver, response.get("content"))
        out.append(view)
    return out


def _message(resolver: js.Resolver, raw: Any, name: str = "") -> list[Message]:
    value, ref = resolver.deref(raw)
    if not isinstance(value, Mapping):
        return []
    if isinstance(value.get("oneOf"), list):  # AsyncAPI 2: message: {oneOf: [...]}
        return [m for sub in value["oneOf"][:20] for m in _message(resolver, sub)]
    payload = value.get("payload")
    headers = value.get("headers")
    return [
        Message(
            name=js.text(value.get("name")) or name or js.ref_name(ref),
            title=js.text(value.get("title")),
            summary=js.text(value.get("summary") or value.get("description")),
            content_type=js.text(value.get("contentType")),
            payload=js.schema(resolver, payload) if payload is not None else None,
            headers=js.schema(resolver, headers) if headers is not None else None,
        )
    ]


def _channel_parameters(resolver: js.Resolver, raw: Any) -> list[Parameter]:
    out: list[Parameter] = []
    for name, p in (raw or {}).items() if isinstance(raw, Mapping) else []:
        p, _ = resolver.deref(p)
        p = p if isinstance(p, Mapping) else {}
        schema = p.get("schema")
        out.append(
            Parameter(
                name=str(name),
                location="channel",
                required=True,
                description=js.text(p.get("description")),
                schema=js.schema(resolver, schema) if schema is not None else None,
            )
        )
    return out


def _asyncapi2_channels(doc: dict[str, Any], resolver: js.Resolver) -> list[Channel]:
    channels = doc.get("channels")
    out: list[Channel] = []
    for name, item in list(channels.items() if isinstance(channels, Mapping) else [])[:500]:
        item, _ = resolver.deref(item)
        if not isinstance(item, Mapping):
            continue
        channel = Channel(
            name=str(name),
            address=str(name),
            description=js.text(item.get("description")),
            parameters=_channel_parameters(resolver, item.get("parameters")),
        )
        for action in ("publish", "subscribe"):
            op = item.get(action)
            if isinstance(op, Mapping):
                channel.operations.append(
                    ChannelOperation(
                        action=action,
                        operation_id=js.text(op.get("operationId")),
                        summary=js.text(op.get("summary")),
                        description=js.text(op.get("description")),
                        messages=_message(resolver, op.get("message")),
                    )
                )
        out.append(channel)
    return out


def _asyncapi3_channels(doc: dict[str, Any], resolver: js.Resolver) -> list[Channel]:
    channels = doc.get("channels")
    by_id: dict[str, Channel] = {}
    for cid, item in list(channels.items() if isinstance(channels, Mapping) else [])[:500]:
        item, _ = resolver.deref(item)
        if not isinstance(item, Mapping):
            continue
        messages = item.get("messages")
        by_id[str(cid)] = Channel(
            name=str(cid),
            address=js.text(item.get("address")) or str(cid),
            description=js.text(item.get("description")),
            parameters=_channel_parameters(resolver, item.get("parameters")),
            messages=[
                m
                for key, raw in (messages.items() if isinstance(messages, Mapping) else [])
                for m in _message(resolver, raw, str(key))
            ],
        )
    operations = doc.get("operations")
    for oid, op in operations.items() if isinstance(operations, Mapping) else []:
        op, _ = resolver.deref(op)
        if not isinstance(op, Mapping):
            continue
        channel_ref = js.dig(op, "channel", "$ref")
        cid = (
            channel_ref.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")
            if isinstance(channel_ref, str)
            else ""
        )
        channel = by_id.get(cid)
        if channel is None:
            channel = by_id.setdefault(cid or "(no channel)", Channel(cid or "(no channel)", cid))
        msgs = op.get("messages")
        channel.operations.append(
            ChannelOperation(
                action=js.text(op.get("action")),
                operation_id=str(oid),
                summary=js.text(op.get("summary") or op.get("title")),
                description=js.text(op.get("description")),
                messages=[
                    m
                    for raw in (msgs if isinstance(msgs, list) else [])
                    for m in _message(resolver, raw)
                ]
                or list(channel.messages),
            )
        )
    return list(by_id.values())
