"""An entity's relations neighbourhood: collected from the catalog and drawn as SVG by Graphviz.

:func:`neighbourhood` walks relations out from one entity to depth 1 or 2 (bounded node and
edge counts; symmetric pairs such as ``ownedBy``/``ownerOf`` become one edge) and returns a
:class:`Neighbourhood` — also what the page lists for screen readers. :func:`render_svg` writes
it in the DOT language with the ``graphviz`` package (labels escaped, so entity titles never
become DOT or HTML-like labels) and runs Debian's ``dot -Tsvg`` with a timeout; each node
links to its entity page.

Source (relation names): https://backstage.io/docs/features/software-catalog/well-known-relations
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import graphviz

from goldenpath.errors import Unavailable

__all__ = [
    "MAX_NODES",
    "Edge",
    "Neighbourhood",
    "Node",
    "entity_path",
    "neighbourhood",
    "render_svg",
]

MAX_NODES = 60
DOT_TIMEOUT = 10.0
#: of each symmetric pair, the direction drawn (the other is the same edge reversed)
_CANONICAL = {
    "ownerOf": "ownedBy",
    "hasPart": "partOf",
    "parentOf": "childOf",
    "hasMember": "memberOf",
    "dependencyOf": "dependsOn",
    "apiProvidedBy": "providesApi",
    "apiConsumedBy": "consumesApi",
}
_COLOURS = {
    "component": "#cfe8fc",
    "api": "#d6f5d6",
    "resource": "#fde2c8",
    "system": "#e8dcf7",
    "domain": "#f7dce8",
    "group": "#fff3bf",
    "user": "#eeeeee",
}


@dataclass(frozen=True, slots=True)
class Node:
    """One entity in the picture: ``ref`` lower-cased ``kind:namespace/name``; ``title``
    ``metadata.title`` or the name; ``missing`` when the ref names no entity."""

    ref: str
    title: str
    kind: str
    missing: bool = False


@dataclass(frozen=True, slots=True)
class Edge:
    """``source --type--> target`` (lower-cased refs; ``type`` as Backstage spells it)."""

    source: str
    type: str
    target: str


@dataclass(slots=True)
class Neighbourhood:
    """The nodes (the centre first) and edges around ``root``; ``truncated`` when the node
    budget cut it short."""

    root: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    truncated: bool = False


def entity_path(ref: str) -> str:
    """The portal URL of an entity ref ``kind:namespace/name`` (``/catalog/ns/kind/name``)."""
    kind, _, rest = ref.partition(":")
    namespace, _, name = rest.partition("/")
    if not name:
        namespace, name = "default", namespace
    return f"/catalog/{namespace}/{kind}/{name}"


def _split(ref: str) -> tuple[str, str]:
    kind, _, rest = ref.partition(":")
    return kind, rest.partition("/")[2] or rest


def _edge(source: str, type_: str, target: str) -> Edge:
    if type_ in _CANONICAL:
        return Edge(target, _CANONICAL[type_], source)
    return Edge(source, type_, target)


def _node(ref: str, entity: Mapping[str, Any] | None) -> Node:
    kind, name = _split(ref)
    if entity is None:
        return Node(ref, name, kind, missing=True)
    meta = entity.get("metadata") or {}
    title = str(meta.get("title") or meta.get("name") or name)
    return Node(ref, title, str(entity.get("kind") or kind).lower())


def neighbourhood(
    root: Mapping[str, Any],
    root_ref: str,
    *,
    depth: int = 1,
    fetch: Callable[[Sequence[str]], list[dict[str, Any] | None]],
    max_nodes: int = MAX_NODES,
) -> Neighbourhood:
    """The entities related to ``root`` (an entity with ``relations``) within ``depth`` hops.

    ``fetch(refs)`` returns entities (``kind``, ``metadata``, ``relations``) or None, in the
    order of ``refs`` (``CatalogService.get_entities_by_refs`` with ``fields=``). ``depth``
    is clamped to 1…2; at most ``max_nodes`` nodes are kept (``truncated`` says so).
    """
    depth = max(1, min(2, depth))
    out = Neighbourhood(root=root_ref)
    entities: dict[str, Mapping[str, Any] | None] = {root_ref: root}
    order = [root_ref]
    edges: dict[Edge, None] = {}
    frontier = [root_ref]
    for _hop in range(depth):
        next_frontier: list[str] = []
        for ref in frontier:
            entity = entities.get(ref)
            for rel in (entity or {}).get("relations") or []:
                target = str(rel.get("targetRef") or "").lower()
                if not target:
                    continue
                if target not in entities:
                    if len(order) >= max_nodes:
                        out.truncated = True
                        continue
                    entities[target] = None
                    order.append(target)
                    next_frontier.append(target)
                edges[_edge(ref, str(rel.get("type") or ""), target)] = None
        frontier = next_frontier
        if frontier:
            found = fetch(frontier)
            for ref, entity in zip(frontier, found, strict=False):
                entities[ref] = entity
    out.nodes = [_node(ref, entities.get(ref)) for ref in order]
    out.edges = list(edges)
    return out


def _dot_source(graph: Neighbourhood, link: Callable[[str], str]) -> str:
    dot = graphviz.Digraph(
        "relations",
        graph_attr={"rankdir": "LR", "bgcolor": "transparent", "fontname": "sans-serif"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": "sans-serif"},
        edge_attr={"fontname": "sans-serif", "fontsize": "10", "color": "#555555"},
    )
    for i, node in enumerate(graph.nodes):
        # escaped parts joined by DOT's own line break: titles stay literal text
        label = graphviz.nohtml(f"{_esc(node.kind)}\\n{_esc(node.title)}")
        attrs = {
            "label": label,
            "fillcolor": "#ffffff" if node.missing else _COLOURS.get(node.kind, "#f5f5f5"),
            "tooltip": graphviz.escape(node.ref),
        }
        if node.missing:
            attrs["style"] = "rounded,dashed"
        else:
            attrs["href"] = graphviz.escape(link(node.ref))
            attrs["target"] = "_top"
        if i == 0:
            attrs["penwidth"] = "2.5"
        dot.node(f"n{i}", **attrs)
    index = {node.ref: i for i, node in enumerate(graph.nodes)}
    for edge in graph.edges:
        if edge.source in index and edge.target in index:
            dot.edge(
                f"n{index[edge.source]}",
                f"n{index[edge.target]}",
                label=graphviz.escape(edge.type),
            )
    return dot.source


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\")


_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)


def render_svg(
    graph: Neighbourhood, *, link: Callable[[str], str] = entity_path, timeout: float = DOT_TIMEOUT
) -> str:
    """The SVG element (no XML prologue or DOCTYPE, ready to inline) of ``graph``.

    Raises:
        Unavailable: ``dot`` is not installed, failed, or ran over ``timeout`` seconds.
    """
    exe = shutil.which("dot")
    if exe is None:
        raise Unavailable("Graphviz `dot` is not installed; apt-get install graphviz")
    try:
        done = subprocess.run(
            [exe, "-Tsvg"],
            input=_dot_source(graph, link).encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise Unavailable(f"Graphviz `dot` took more than {timeout:.0f} s") from e
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()[:300]
        raise Unavailable(f"Graphviz `dot` failed (exit {done.returncode}): {detail}")
    return _PROLOGUE.sub("", done.stdout.decode(), count=1)
