"""The secrets table (Alembic revision ``0006_secrets``); private to :mod:`~.store`.

One row per version of a secret. The scope columns hold ``''`` for "all" (``None`` in
:class:`~goldenpath.secrets.model.SecretScope`) so the unique key works on both backends
(NULLs never collide in a unique index). Values are stored only sealed: ``ciphertext`` and
``wrapped_key`` are ``nonce || AES-GCM output``; ``key_id`` names the master key.
"""

from __future__ import annotations

import sqlalchemy as sa

from goldenpath.store.metadata import metadata

__all__ = ["versions"]

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

versions = sa.Table(
    "secrets_versions",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("service", sa.String(63), nullable=False),
    sa.Column("environment", sa.String(40), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.UniqueConstraint("name", "service", "environment", "version"),
    sa.Index("ix_secrets_versions_scope", "service", "environment", "name", "version"),
    sa.Index("ix_secrets_versions_key_id", "key_id"),
)
