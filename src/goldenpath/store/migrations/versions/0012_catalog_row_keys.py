"""Catalog: search and relation rows point at their entity by its integer row id.

``catalog_search.entity_id`` and ``catalog_relations.originating_entity_id`` held the entity's
36-character ``metadata.uid``; they become ``entity_row_id`` and ``originating_row_id``, the
entity's ``catalog_entities.id`` (same cascade on delete). At 100,000 entities that is 1.5M
search rows and 0.7M relation rows, each with one key repeated in its indexes: on SQLite the
search table and its indexes went from 511 to 359 MB, the relation table and its indexes
from 270 to 223 MB (``dbstat``), and a bulk load writes and sorts that much less.

Each table is rebuilt (new table, rows copied through a join on the entity, old table
dropped, new one renamed, indexes created), the same way on SQLite and PostgreSQL; rows whose
entity is gone cannot exist (the foreign keys cascade), so the join keeps every row.

Revision ID: 0012_catalog_row_keys
Revises: 0011_catalog_stitched_relations
"""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa
from alembic import op

revision = "0012_catalog_row_keys"
down_revision = "0011_catalog_stitched_relations"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class _Shape(NamedTuple):
    """One derived table: its entity column, the other columns, its indexes (name → columns;
    ``{key}`` stands for the entity column). A named tuple: Alembic loads this file outside
    ``sys.modules``, where a dataclass's annotations cannot be resolved."""

    table: str
    others: tuple[sa.Column[str], ...]
    indexes: dict[str, tuple[str, ...]]


def _search() -> _Shape:
    return _Shape(
        "catalog_search",
        (
            sa.Column("key", sa.String(200), nullable=False),
            sa.Column("value", sa.String(200), nullable=True),
            sa.Column("original_value", sa.String(200), nullable=True),
        ),
        {
            "ix_catalog_search_key_value": ("key", "value", "original_value", "{key}"),
            "ix_catalog_search_{key}": ("{key}", "key", "value"),
        },
    )


def _relations() -> _Shape:
    return _Shape(
        "catalog_relations",
        (
            sa.Column("source_entity_ref", sa.String(700), nullable=False),
            sa.Column("type", sa.String(100), nullable=False),
            sa.Column("target_entity_ref", sa.String(700), nullable=False),
        ),
        {
            "ix_catalog_relations_source_type_target": (
                "source_entity_ref",
                "type",
                "target_entity_ref",
            ),
            "ix_catalog_relations_target_type_source": (
                "target_entity_ref",
                "type",
                "source_entity_ref",
            ),
            "ix_catalog_relations_originating": ("{key}",),
        },
    )


def _rebuild(shape: _Shape, *, old: str, new: str, to_row_id: bool) -> None:
    """Rebuild ``shape.table`` with its entity column ``old`` replaced by ``new`` (the row id
    when ``to_row_id``, else the uid), rows copied through ``catalog_entities``."""
    staging = f"{shape.table}_next"
    column: sa.Column[Any]
    if to_row_id:
        column = sa.Column(new, _ID, nullable=False)
        referred, joined = "catalog_entities.id", "entity_id"
        picked = "e.id"
    else:
        column = sa.Column(new, sa.String(36), nullable=False)
        referred, joined = "catalog_entities.entity_id", "id"
        picked = "e.entity_id"
    op.create_table(
        staging,
        column,
        *shape.others,
        sa.ForeignKeyConstraint(
            [new],
            [referred],
            ondelete="CASCADE",
            name=f"fk_{shape.table}_{new}_catalog_entities",
        ),
    )
    names = ", ".join(c.name for c in shape.others)
    op.execute(
        f"INSERT INTO {staging} ({new}, {names}) "
        f"SELECT {picked}, {', '.join(f't.{c.name}' for c in shape.others)} "
        f"FROM {shape.table} t JOIN catalog_entities e ON e.{joined} = t.{old}"
    )
    op.drop_table(shape.table)
    op.rename_table(staging, shape.table)
    for name, columns in shape.indexes.items():
        op.create_index(name.format(key=new), shape.table, [c.format(key=new) for c in columns])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA analysis_limit=1000")
    op.execute(f"ANALYZE {shape.table}")


def upgrade() -> None:
    """Key both derived tables by the entity's row id."""
    _rebuild(_search(), old="entity_id", new="entity_row_id", to_row_id=True)
    _rebuild(_relations(), old="originating_entity_id", new="originating_row_id", to_row_id=True)


def downgrade() -> None:
    """Key both derived tables by the entity's uid again."""
    _rebuild(_search(), old="entity_row_id", new="entity_id", to_row_id=False)
    _rebuild(_relations(), old="originating_row_id", new="originating_entity_id", to_row_id=False)
