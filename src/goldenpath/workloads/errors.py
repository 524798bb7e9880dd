"""The one error of the workloads package: a spec file that cannot be used, with where and why."""

from __future__ import annotations

from goldenpath.errors import InvalidInput

__all__ = ["WorkloadError"]


class WorkloadError(InvalidInput):
    """A ``platform.yaml`` or Score file is invalid (HTTP 400).

    Attributes:
        source: the file, as named by the caller (``"<repo>/platform.yaml"``).
        line: 1-based line of the offending node, or ``None`` when unknown (e.g. an override
            applied after loading).
        field: dotted path of the field (``spec.runtime.replicas``, ``containers.web.image``;
            list items as ``steps.2``), ``""`` for the whole document.
        reason: the problem and fix alone, without the location prefix.

    The message reads ``<source>:<line>: <field>: <reason>``; it never contains env values.
    """

    def __init__(
        self, reason: str, *, source: str, line: int | None = None, field: str = ""
    ) -> None:
        where = f"{source}:{line}" if line is not None else source
        prefix = f"{where}: {field}: " if field else f"{where}: "
        super().__init__(
            prefix + reason,
            details={"source": source, "line": line, "field": field, "reason": reason},
        )
        self.source = source
        self.line = line
        self.field = field
        self.reason = reason
