"""Catalog persistence: tables, bulk sync of processing results, and queries.

The one place in ``catalog/`` that speaks SQLAlchemy. ``tables`` declares the schema on the
shared metadata (migration ``0001_catalog`` creates it), ``sync`` applies a location's
processing result in one transaction, ``queries`` serves reads, ``registry`` the locations.
"""

from goldenpath.catalog.store import queries, registry, search, sync, tables

__all__ = ["queries", "registry", "search", "sync", "tables"]
