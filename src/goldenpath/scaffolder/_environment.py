"""The sandboxed Jinja2 environment that renders the Nunjucks subset (private).

Built on Jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` and tightened
further: member lookup only reaches data keys and nunjitsu's JS intrinsics
(:mod:`._intrinsics`), operators follow JavaScript (:mod:`._js`), filters and tests are
replaced by the Nunjucks set, the only globals are ``range`` (bounded) and, for steps,
``always()``/``failure()``. Every loop, lookup and call is charged to a per-render budget.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import nodes
from jinja2.environment import Template, TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, pass_environment
from jinja2.visitor import NodeTransformer

from goldenpath.scaffolder import _intrinsics, _js, filters
from goldenpath.scaffolder._js import JsUndefined, RegexLiteral
from goldenpath.scaffolder._nunjucks_filters import FilterError
from goldenpath.scaffolder._scoping import share_loop_assignments
from goldenpath.scaffolder._sequence_filters import sequence_filters
from goldenpath.scaffolder._text_filters import text_filters

__all__ = ["NunjucksEnvironment", "compile_source", "environment_for"]

MAX_STRING = _js.MAX_STRING
#: Tags that would read other files; templates are single strings, so they are refused.
_FILE_TAGS = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)
_OPERATORS = frozenset({"+", "-", "*", "/", "//", "%", "**"})


def _call(name: str, *args: Any, lineno: int) -> Any:
    call = nodes.Call(nodes.EnvironmentAttribute(name), list(args), [], None, None)
    return call.set_lineno(lineno)


def _const(value: Any, lineno: int) -> Any:
    return nodes.Const(value).set_lineno(lineno)


class _JsSemantics(NodeTransformer):
    """Rewrite the parsed template so truthiness, ``~`` and comparisons follow JS."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        """``a ~ b`` → ``js_concat(a, b)`` (``String()`` of each side)."""
        self.generic_visit(node)
        return _call("js_concat", *node.nodes, lineno=node.lineno)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        """Comparisons → ``js_compare`` (JS loose equality and ordering)."""
        self.generic_visit(node)
        result: nodes.Expr = node.expr
        for operand in node.ops:
            op = nodes.Const(operand.op).set_lineno(node.lineno)
            result = _call("js_compare", result, op, operand.expr, lineno=node.lineno)
        return result

    def visit_Not(self, node: nodes.Not) -> nodes.Node:
        """``not x`` with JS truthiness (``not []`` is false)."""
        self.generic_visit(node)
        return nodes.Not(_call("js_truthy", node.node, lineno=node.lineno)).set_lineno(node.lineno)

    def visit_And(self, node: nodes.And) -> nodes.Node:
        """``a and b`` → ``b if truthy(a) else a`` (JS value semantics)."""
        self.generic_visit(node)
        test = _call("js_truthy", node.left, lineno=node.lineno)
        return nodes.CondExpr(test, node.right, node.left).set_lineno(node.lineno)

    def visit_Or(self, node: nodes.Or) -> nodes.Node:
        """``a or b`` → ``a if truthy(a) else b`` (JS value semantics)."""
        self.generic_visit(node)
        test = _call("js_truthy", node.left, lineno=node.lineno)
        return nodes.CondExpr(test, node.left, node.right).set_lineno(node.lineno)

    def visit_If(self, node: nodes.If) -> nodes.Node:
        """``{% if %}`` tests with JS truthiness."""
        self.generic_visit(node)
        node.test = _call("js_truthy", node.test, lineno=node.lineno)
        return node

    def visit_CondExpr(self, node: nodes.CondExpr) -> nodes.Node:
        """``x if c else y`` with JS truthiness; a missing ``else`` is ``''``."""
        self.generic_visit(node)
        node.test = _call("js_truthy", node.test, lineno=node.lineno)
        if node.expr2 is None:  # Nunjucks: `a if c` with no else is ''
            node.expr2 = _const("", node.lineno)
        return node

    def visit_For(self, node: nodes.For) -> nodes.Node:
        """Loops iterate through ``js_iter``: charged, objects as ``[key, value]``."""
        self.generic_visit(node)
        targets = len(node.target.items) if isinstance(node.target, nodes.Tuple) else 1
        count = nodes.Const(targets).set_lineno(node.lineno)
        node.iter = _call("js_iter", node.iter, count, lineno=node.lineno)
        return node


def _js_iter(value: Any, targets: int) -> Iterator[Any]:
    if isinstance(value, dict):  # Nunjucks only iterates an object as `for key, value in`
        items: Any = [[k, v] for k, v in value.items()] if targets > 1 else ()
    elif isinstance(value, (list, tuple, str, range)):
        items = value
    else:
        items = ()
    return _js.counted(items)


def _range(start: Any, stop: Any = None, step: Any = 1) -> list[int]:
    """Nunjucks ``range``; materialised, so its size is charged before it is built."""
    begin, end = (0, start) if stop is None else (start, stop)
    numbers = [_js.to_number(x) for x in (begin, end, step)]
    if any(isinstance(n, float) and not math.isfinite(n) for n in numbers) or not numbers[2]:
        return []
    size = len(range(int(numbers[0]), math.ceil(numbers[1]), int(numbers[2]) or 1))
    _js.charge(size)
    return list(range(int(numbers[0]), math.ceil(numbers[1]), int(numbers[2]) or 1))


def _checked_str(value: str) -> str:
    if len(value) > MAX_STRING:
        raise SecurityError(
            f"Template evaluation exceeded the output limit of {MAX_STRING} characters"
        )
    return value


@pass_environment
def _finalize(_env: Any, value: Any) -> str:
    return _js.to_str(value)


def _nj_regex(source: Any, flags: Any) -> RegexLiteral:
    pattern = RegexLiteral(str(source), str(flags))
    pattern.compile()
    return pattern


def _sameas(left: Any, right: Any) -> bool:
    return _js.strict_equal(left, right)


class NunjucksEnvironment(ImmutableSandboxedEnvironment):
    """A Jinja2 sandbox that behaves like nunjitsu for the Backstage template subset."""

    intercepted_binops = _OPERATORS
    intercepted_unops = frozenset({"-", "+"})

    def __init__(
        self,
        *,
        cookiecutter: bool,
        trim_blocks: bool,
        lstrip_blocks: bool,
        step_globals: bool,
        integrations: Mapping[str, str],
        newline: str = "\n",
    ) -> None:
        super().__init__(
            newline_sequence=newline,  # type: ignore[arg-type,unused-ignore]
            variable_start_string="{{" if cookiecutter else "${{",
            variable_end_string="}}",
            trim_blocks=trim_blocks,
            lstrip_blocks=lstrip_blocks,
            keep_trailing_newline=True,
            autoescape=False,
            optimized=False,
            finalize=_finalize,
            undefined=JsUndefined,
            loader=None,
            cache_size=0,
        )
        self.cookiecutter = cookiecutter
        self._install_capabilities(step_globals, integrations)
        self.js_truthy = _js.truthy
        self.js_concat = lambda *values: _checked_str(_js.concat(*values))
        self.js_compare = _js.compare
        self.js_iter = _js_iter

    def _install_capabilities(self, step_globals: bool, integrations: Mapping[str, str]) -> None:
        """Replace Jinja2's filters, tests and globals with the Nunjucks/Backstage set only."""
        tests = _nunjucks_tests()
        self.tests = tests  # type: ignore[assignment]
        self.filters = {
            **filters.nunjucks_filters(),
            **sequence_filters(tests),
            **text_filters(),
            **filters.backstage_filters(integrations),
        }
        if self.cookiecutter:
            self.filters["jsonify"] = self.filters["dump"]
        base: dict[str, Any] = {"range": _range, "_nj_regex": _nj_regex, "_nj_namespace": Namespace}
        if step_globals:
            base.update(always=lambda: True, failure=lambda: False)
        self.globals = base

    def _generate(self, source: Any, name: Any, filename: Any, defer_init: bool = False) -> Any:
        source = _JsSemantics().visit(share_loop_assignments(source))
        return super()._generate(source, name, filename, defer_init=defer_init)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``obj.attribute``: data keys and JS intrinsics only (never Python attributes)."""
        return _intrinsics.lookup(obj, attribute, cookiecutter=self.cookiecutter)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """``obj[argument]``: indices, slices and data keys only."""
        return _intrinsics.lookup_item(obj, argument, cookiecutter=self.cookiecutter)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a global, macro or intrinsic; calling ``undefined`` fails like Nunjucks."""
        _js.charge()
        if _js.is_undefined(__obj) or __obj is None:
            raise SecurityError("Unable to call a value which is undefined or falsey")
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Arithmetic with JavaScript semantics (``'a' * 3`` is ``NaN``, never a repeat)."""
        _js.charge()
        if operator == "+":
            result = _js.add(left, right)
            return _checked_str(result) if isinstance(result, str) else result
        return _js.arith(operator, left, right)

    def call_unop(self, context: Any, operator: str, arg: Any) -> Any:
        """Unary ``-``/``+`` as JavaScript (``-'3'`` is ``-3``)."""
        number = _js.to_number(arg) if not _js.is_undefined(arg) else math.nan
        return _js.arith("-", 0, number) if operator == "-" else number


def _iterable(value: Any) -> bool:
    if value is None or _js.is_undefined(value):
        raise FilterError("iterable test requires a value")
    return isinstance(value, (list, str))


def _nunjucks_tests() -> dict[str, Callable[..., bool]]:
    t = _js
    return {
        "defined": lambda v: not t.is_undefined(v),
        "undefined": lambda v: t.is_undefined(v),
        "null": lambda v: v is None,
        "none": lambda v: v is None,
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "mapping": lambda v: isinstance(v, dict),
        "iterable": _iterable,
        "callable": callable,
        "truthy": t.truthy,
        "falsy": lambda v: not t.truthy(v),
        "odd": lambda v: t.to_number(v) % 2 == 1,
        "even": lambda v: t.to_number(v) % 2 == 0,
        "divisibleby": lambda v, n: t.to_number(n) != 0 and t.to_number(v) % t.to_number(n) == 0,
        "lower": lambda v: isinstance(v, str) and v.lower() == v,
        "upper": lambda v: isinstance(v, str) and v.upper() == v,
        "sameas": _sameas,
        "eq": _sameas,
        "equalto": _sameas,
        "ne": lambda a, b: not _sameas(a, b),
        "gt": lambda a, b: t.compare(a, "gt", b),
        "greaterthan": lambda a, b: t.compare(a, "gt", b),
        "ge": lambda a, b: t.compare(a, "gteq", b),
        "lt": lambda a, b: t.compare(a, "lt", b),
        "lessthan": lambda a, b: t.compare(a, "lt", b),
        "le": lambda a, b: t.compare(a, "lteq", b),
    }


@functools.lru_cache(maxsize=32)
def environment_for(
    *,
    cookiecutter: bool,
    trim_blocks: bool,
    lstrip_blocks: bool,
    step: bool,
    integrations: tuple[tuple[str, str], ...],
    newline: str = "\n",
) -> NunjucksEnvironment:
    """A cached environment per option set (environments are immutable once built).

    ``newline`` is the line ending output keeps: Jinja2 normalises every line break to one
    sequence, so a CRLF-only file is rendered with ``"\r\n"`` to stay byte-identical.
    """
    return NunjucksEnvironment(
        newline=newline,
        cookiecutter=cookiecutter,
        trim_blocks=trim_blocks,
        lstrip_blocks=lstrip_blocks,
        step_globals=step,
        integrations=dict(integrations),
    )


@functools.lru_cache(maxsize=2048)
def compile_source(
    env: NunjucksEnvironment, source: str, keep_type: bool
) -> Template | TemplateExpression:
    """Compile translated ``source``; with ``keep_type``, a sole ``${{ expr }}`` compiles
    to an expression that returns the value itself (nunjitsu's ``renderValue``)."""
    tree = env.parse(source)
    for tag in _FILE_TAGS:
        if tree.find(tag) is not None:
            raise SecurityError(
                "include, import, from and extends are not supported: "
                "a template cannot read other files"
            )
    if keep_type and len(tree.body) == 1 and isinstance(tree.body[0], nodes.Output):
        children = tree.body[0].nodes
        if len(children) == 1 and not isinstance(children[0], nodes.TemplateData):
            body = [nodes.Assign(nodes.Name("result", "store"), children[0], lineno=1)]
            template = env.from_string(nodes.Template(body, lineno=1))
            return TemplateExpression(template, undefined_to_none=False)
    return env.from_string(tree)
