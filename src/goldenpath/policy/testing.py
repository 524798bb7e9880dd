"""``platform policy test``: run a bundle against example inputs with expectations.

Case files are YAML named ``*_test.yaml`` next to the ``.rego`` files (the built-in bundle
ships its own; a policy directory adds more, and a case file with a built-in's name
replaces it, as ``.rego`` files do)::

    base:                       # optional: every case's input is deep-merged onto this
      action: deploy
      environment: {name: production, production: true}
      service: {name: hello, replicas: 2, cpu: 500m, memory: 256Mi}
    cases:
      - name: one replica in production is refused
        input: {service: {replicas: 1}}
        expect: {deny: [production-replicas]}
      - name: a latest tag in dev only warns
        input: {environment: {name: dev, production: false}, service: {images: [x:latest]}}
        expect: {warn: [image-tag]}

``expect.deny`` and ``expect.warn`` list rule ids; a case passes when the bundle yields
exactly those rule ids (order and repeats do not matter; an omitted list means none).
Merging: mappings merge key by key, anything else (lists included) replaces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import yaml

from goldenpath.errors import InvalidInput
from goldenpath.policy.model import CaseResult, Violation
from goldenpath.policy.sources import PolicySource

__all__ = ["Evaluate", "deep_merge", "load_cases", "run_cases"]

#: evaluates one input document → (denials, warnings)
Evaluate = Callable[[Mapping[str, Any]], tuple[Sequence[Violation], Sequence[Violation]]]


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` merged onto ``base``: mappings key by key, anything else replaces."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return override


def _rule_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{where}: must be a list of rule ids, e.g. [production-replicas]")
    return sorted(set(value))


def load_cases(source: PolicySource) -> Iterator[tuple[str, dict[str, Any], dict[str, list[str]]]]:
    """``(name, input, expected)`` for each case of a ``*_test.yaml`` file.

    Raises:
        InvalidInput: the file is not YAML or a case is malformed (naming file and case).
    """
    try:
        doc = yaml.safe_load(source.text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source.name}:{mark.line + 1}:{mark.column + 1}" if mark else source.name
        raise InvalidInput(f"{where}: not valid YAML: {e}", details={"file": source.name}) from e
    if isinstance(doc, list):
        doc = {"cases": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
        raise InvalidInput(
            f"{source.name}: a case file is a mapping with `cases: [{{name, input, expect}}]`",
            details={"file": source.name},
        )
    base = doc.get("base") or {}
    if not isinstance(base, dict):
        raise InvalidInput(f"{source.name}: `base` must be a mapping (an input document)")
    for index, case in enumerate(doc["cases"]):
        where = f"{source.name}: cases[{index}]"
        if not isinstance(case, dict):
            raise InvalidInput(f"{where}: must be a mapping {{name, input, expect}}")
        name = str(case.get("name") or f"case {index + 1}")
        expect = case.get("expect") or {}
        if not isinstance(expect, dict) or set(expect) - {"deny", "warn"}:
            raise InvalidInput(f"{where} ({name}): `expect` takes `deny` and `warn` lists only")
        document = deep_merge(base, case.get("input") or {})
        if not isinstance(document, dict):
            raise InvalidInput(f"{where} ({name}): `input` must be a mapping")
        expected = {
            "deny": _rule_list(expect.get("deny"), f"{where} ({name}): expect.deny"),
            "warn": _rule_list(expect.get("warn"), f"{where} ({name}): expect.warn"),
        }
        yield name, document, expected


def run_cases(sources: Sequence[PolicySource], evaluate: Evaluate) -> list[CaseResult]:
    """Run every case of the ``cases`` sources through ``evaluate``; a malformed case file
    becomes one failing result naming the problem (the other files still run)."""
    results: list[CaseResult] = []
    for source in sources:
        if source.kind != "cases":
            continue
        try:
            cases = list(load_cases(source))
        except InvalidInput as e:
            results.append(_failed(source.name, "(case file)", e.message))
            continue
        for name, document, expected in cases:
            try:
                denials, warnings = evaluate(document)
            except InvalidInput as e:
                results.append(_failed(source.name, name, e.message, expected))
                continue
            actual = {
                "deny": sorted({v.rule for v in denials}),
                "warn": sorted({v.rule for v in warnings}),
            }
            results.append(
                CaseResult(
                    file=source.name,
                    name=name,
                    passed=actual == expected,
                    expected=expected,
                    actual=actual,
                )
            )
    return results


def _failed(
    file: str, name: str, error: str, expected: dict[str, list[str]] | None = None
) -> CaseResult:
    return CaseResult(
        file=file,
        name=name,
        passed=False,
        expected=expected or {"deny": [], "warn": []},
        actual={"deny": [], "warn": []},
        error=error,
    )
