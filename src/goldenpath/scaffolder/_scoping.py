"""Nunjucks variable scoping for ``{% set %}`` inside loops, on a Jinja2 tree (private).

In Nunjucks a ``{% set x = … %}`` inside a ``for`` body updates an ``x`` that already exists
outside the loop (frames resolve upward); in Jinja2 it would only live for one iteration.
Templates that count or accumulate in a loop rely on the Nunjucks behaviour, so every
variable assigned both inside and outside a loop is moved into one hidden
``jinja2.utils.Namespace`` (``_nj_frame.x``), which Jinja2 lets loop bodies write to.
Macro bodies keep their own scope, as in Nunjucks.
"""

from __future__ import annotations

from typing import Any

from jinja2 import nodes
from jinja2.visitor import NodeTransformer

__all__ = ["FRAME", "share_loop_assignments"]

#: Name of the hidden namespace holding the shared variables.
FRAME = "_nj_frame"
_OWN_SCOPE = (nodes.Macro, nodes.CallBlock)


def _assigned_names(node: nodes.Node) -> set[str]:
    if isinstance(node, (nodes.Assign, nodes.AssignBlock)) and isinstance(node.target, nodes.Name):
        return {node.target.name}
    return set()


def _collect(node: nodes.Node, in_loop: bool, found: dict[str, set[str]]) -> None:
    """Fill ``found`` with names assigned ``inside``/``outside`` loops and loop ``targets``."""
    if isinstance(node, _OWN_SCOPE):
        return
    found["inside" if in_loop else "outside"] |= _assigned_names(node)
    if isinstance(node, nodes.For):
        found["targets"] |= {n.name for n in node.target.find_all(nodes.Name)}
        if isinstance(node.target, nodes.Name):
            found["targets"].add(node.target.name)
        for child in node.body:
            _collect(child, True, found)
        for child in node.else_:
            _collect(child, in_loop, found)
        return
    for child in node.iter_child_nodes():
        _collect(child, in_loop, found)


class _Share(NodeTransformer):
    def __init__(self, names: set[str]) -> None:
        self.names = names

    def visit_Macro(self, node: nodes.Macro) -> nodes.Node:
        """Macros keep their own scope."""
        return node

    def visit_CallBlock(self, node: nodes.CallBlock) -> nodes.Node:
        """Call blocks keep their own scope."""
        return node

    def visit_Name(self, node: nodes.Name) -> Any:
        """``x`` → ``_nj_frame.x`` (read) or the namespace slot (write)."""
        if node.name not in self.names:
            return node
        if node.ctx == "store":
            return nodes.NSRef(FRAME, node.name).set_lineno(node.lineno)
        frame = nodes.Name(FRAME, "load").set_lineno(node.lineno)
        return nodes.Getattr(frame, node.name, "load").set_lineno(node.lineno)


def share_loop_assignments(tree: nodes.Template) -> nodes.Template:
    """Rewrite ``tree`` so loop bodies update outer variables the Nunjucks way."""
    found: dict[str, set[str]] = {"inside": set(), "outside": set(), "targets": set()}
    for child in tree.body:
        _collect(child, False, found)
    shared = (found["inside"] & found["outside"]) - found["targets"]
    if not shared:
        return tree
    rewritten = _Share(shared).visit(tree)
    make = nodes.Call(nodes.Name("_nj_namespace", "load"), [], [], None, None)
    init = nodes.Assign(nodes.Name(FRAME, "store"), make).set_lineno(1)
    rewritten.body.insert(0, init)
    return rewritten
