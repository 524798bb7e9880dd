"""Query-parameter parsing shared by the catalog routes (Backstage's encodings).

- ``fields``: repeated and/or comma-separated simplified JSON paths (``kind,metadata.name``).
- ``orderField`` (by-query): ``<field>,asc|desc``; ``order`` (/entities): ``asc|desc:<field>``.
"""

from __future__ import annotations

from goldenpath.errors import InvalidInput

__all__ = ["fields_param", "legacy_order_param", "order_field_param"]

_DIRECTIONS = ("asc", "desc")


def fields_param(values: list[str] | None) -> list[str] | None:
    """Flatten ``?fields=a,b&fields=c`` into ``["a", "b", "c"]``; None when absent."""
    if not values:
        return None
    fields = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return fields or None


def order_field_param(values: list[str] | None) -> list[tuple[str, str]]:
    """Parse ``?orderField=metadata.name,asc`` (repeatable) into ``[(field, direction)]``.

    Raises:
        InvalidInput: a value is not ``<field>[,asc|desc]``.
    """
    order: list[tuple[str, str]] = []
    for value in values or []:
        field, _, direction = value.partition(",")
        direction = (direction or "asc").strip().lower()
        if not field.strip() or direction not in _DIRECTIONS:
            raise InvalidInput(
                f"orderField: {value!r} is not on the form <field>,asc|desc "
                "(e.g. orderField=metadata.name,asc)",
                details={
                    "errors": [{"path": "orderField", "message": "expected <field>,asc|desc"}]
                },
            )
        order.append((field.strip(), direction))
    return order


def legacy_order_param(values: list[str] | None) -> list[tuple[str, str]]:
    """Parse ``/entities``' ``?order=asc:metadata.name`` (repeatable) into ``[(field, direction)]``.

    Raises:
        InvalidInput: a value is not ``asc|desc:<field>``.
    """
    order: list[tuple[str, str]] = []
    for value in values or []:
        direction, _, field = value.partition(":")
        if direction.lower() not in _DIRECTIONS or not field.strip():
            raise InvalidInput(
                f"order: {value!r} is not on the form asc|desc:<field> "
                "(e.g. order=asc:metadata.name)",
                details={"errors": [{"path": "order", "message": "expected asc|desc:<field>"}]},
            )
        order.append((field.strip(), direction.lower()))
    return order
