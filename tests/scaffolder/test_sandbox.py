"""No template reaches Python internals, reads files, leaks secrets or hangs the renderer.

Payloads are the classic Jinja2/SSTI escapes (``__class__``/``__mro__``/``__subclasses__``,
``__globals__`` through the Jinja globals ``cycler``/``joiner``/``lipsum``/``namespace``,
``self._TemplateReference__context``, format strings), resource bombs (``range(10**9)``,
``'a' * 10**9``, nested loops, string doubling, ReDoS) and file access (``include``,
``import``, ``extends``). Each must either be refused with a :class:`TemplateError` or
render something harmless, within the render bounds. Backstage's own published advisory
class here is the scaffolder sandbox escape (CVE-2023-25578 / GHSA-hw5h-q5hx-9rvx for the
older vm2 sandbox); nunjitsu and this renderer both answer with a closed interpreter.
"""

from __future__ import annotations

import time

import pytest

from goldenpath.scaffolder import TemplateError, render_string, render_value

pytestmark = pytest.mark.timeout(120)

#: Substrings that would show a Python object, a module or a file leaked into the output.
LEAK_MARKERS = (
    "<class",
    "<function",
    "<module",
    "<built-in",
    "object at 0x",
    "root:",
    "os.",
    "Template",
)

ESCAPES = [
    "${{ ''.__class__.__mro__[1].__subclasses__() }}",
    "${{ ''.__class__.__mro__ }}",
    "${{ ''.__class__ }}",
    "${{ (1).__class__.__base__ }}",
    "${{ values.__class__.__init__.__globals__ }}",
    "${{ values['__class__'] }}",
    "${{ values.name.__class__ }}",
    "${{ cycler.__init__.__globals__ }}",
    "${{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "${{ joiner.__init__.__globals__ }}",
    "${{ lipsum.__globals__['os'].popen('id').read() }}",
    "${{ lipsum() }}",
    "${{ namespace.__init__.__globals__ }}",
    "${{ namespace(a=1) }}",
    "${{ dict(a=1) }}",
    "${{ self }}",
    "${{ self._TemplateReference__context }}",
    "${{ self.__init__.__globals__ }}",
    "${{ range.__self__ }}",
    "${{ range.__call__ }}",
    "${{ 'x'.split.__self__ }}",
    "${{ 'x'.split.__globals__ }}",
    "${{ values.items }}",
    "${{ ''.join }}",
    "${{ '{0.__class__}'.format(values) }}",
    "${{ '{0.__init__.__globals__}'.format(cycler) }}",
    "${{ '%s' % values }}",
    "${{ values | attr('__class__') }}",
    "${{ values | map('upper') | list }}",
    "${{ config }}",
    "${{ request }}",
    "${{ caller }}",
    "${{ loop }}",
    "{% for x in values.tags %}${{ loop.__class__ }}${{ loop._iterator }}{% endfor %}",
    "${{ values.name.constructor }}",
    "${{ values.__proto__ }}",
    "${{ values['constructor'] }}",
    "{% set x = values.__class__ %}${{ x }}",
    # the renderer's own helper globals
    "${{ _nj_namespace.__init__.__globals__ }}",
    "${{ _nj_namespace(a=values)._Namespace__attrs }}",
    "{% set n = 0 %}{% for i in [1] %}{% set n = i %}{% endfor %}${{ _nj_frame.__class__ }}",
    "${{ _nj_regex.__globals__ }}",
    "${{ _nj_regex('a', 'g').compile }}",
    "${{ _nj_regex('(', 'g') }}",
]

FILE_ACCESS = [
    "{% include '/etc/passwd' %}",
    "{% include 'skeleton/../../etc/passwd' %}",
    "{% import 'os' as os %}${{ os }}",
    "{% from '/etc/passwd' import root %}",
    "{% extends '/etc/passwd' %}",
]

BOMBS = [
    "${{ range(10**9) }}",
    "${{ range(10**9) | length }}",
    "{% for i in range(10**9) %}{% endfor %}",
    "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    "${{ 'a' * 10**9 }}",
    "${{ [1, 2] * 10**9 }}",
    "${{ 10 ** 10 ** 10 }}",
    "${{ 'x' | center(1000000000) }}",
    "${{ 'x' | indent(1000000000) }}",
    "${{ 'ab' | replace('', 'x' * 10) }}",
    "{% macro m() %}${{ m() }}{% endmacro %}${{ m() }}",
    "{% macro m(s, n) %}{% if n %}${{ m(s ~ s, n - 1) }}{% else %}${{ s | length }}{% endif %}"
    "{% endmacro %}${{ m('a', 64) }}",
    "${{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
    "${{ values.s.replace(r/(x+x+)+y/, 'z') }}",
    "${{ values.s | replace(r/(x+x+)+y/, 'z') }}",
    "${{ values.s.split(r/(x+x+)+y/) }}",
]

CONTEXT = {"name": "svc", "tags": ["a", "b"], "s": "x" * 5000}


def _render_or_refuse(template: str) -> str | None:
    try:
        return render_string(template, CONTEXT, location="skeleton/evil.txt")
    except TemplateError as e:
        assert e.location == "skeleton/evil.txt"
        assert "skeleton/evil.txt" in e.message
        return None


@pytest.mark.parametrize("template", ESCAPES)
def test_python_internals_are_unreachable(template: str) -> None:
    output = _render_or_refuse(template)
    if output is not None:
        assert not any(marker in output for marker in LEAK_MARKERS), output[:200]
        assert "__" not in output


@pytest.mark.parametrize("template", FILE_ACCESS)
def test_templates_cannot_read_files(template: str) -> None:
    with pytest.raises(TemplateError, match="cannot read other files"):
        render_string(template, CONTEXT)


@pytest.mark.parametrize("template", BOMBS)
def test_resource_bombs_are_bounded(template: str) -> None:
    started = time.monotonic()
    output = _render_or_refuse(template)
    assert time.monotonic() - started < 15
    assert output is None or len(output) <= 16 * 1024 * 1024


def test_string_repetition_is_javascript_multiplication_not_a_repeat() -> None:
    assert render_string("${{ 'a' * 10**9 }}", {}) == "NaN"
    assert render_string("${{ '3' * 2 }}", {}) == "6"


def test_step_mode_returns_a_refused_payload_unchanged() -> None:
    payload = "${{ cycler.__init__.__globals__.os.popen('id').read() }}"
    errors: list[TemplateError] = []
    assert render_value({"cmd": payload}, {}, errors=errors) == {"cmd": payload}
    assert len(errors) == 1 and "undefined" in errors[0].problem


def test_secret_values_never_appear_in_error_messages() -> None:
    errors: list[TemplateError] = []
    template = "${{ secrets.token | parseEntityRef }}"
    render_value(template, {}, secrets={"token": "group:"}, errors=errors)
    assert errors, "a bad entity ref must fail"
    assert "group:" not in errors[0].message
    assert "***" in errors[0].message


def test_a_secret_renders_only_where_it_is_asked_for() -> None:
    rendered = render_value(
        {"auth": "Bearer ${{ secrets.token }}", "name": "${{ parameters.name }}"},
        {"parameters": {"name": "svc"}},
        secrets={"token": "s3cr3t"},
    )
    assert rendered == {"auth": "Bearer s3cr3t", "name": "svc"}
    # fetch:template renders skeleton files with `values` only: secrets are not in scope.
    assert render_string("[${{ secrets.token }}]", {"name": "svc"}) == "[]"


def test_oversized_source_is_refused() -> None:
    with pytest.raises(TemplateError, match="over the"):
        render_string("x" * (1024 * 1024 + 1), {})
