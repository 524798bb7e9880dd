"""Catalog persistence: tables, bulk sync of processing results, and queries.

The one place in ``catalog/`` that speaks SQLAlchemy. ``tables`` declares the schema on the
shared metadata (migration ``0001_catalog`` creates it), ``sync`` applies a location's
processing result in one transaction, ``queries`` serves reads, ``registry`` the locations.
"""

from goldenpath.catalog.store import bulk, queries, records, registry, search, sync, tables, writes

__all__ = ["bulk", "queries", "records", "registry", "search", "sync", "tables", "writes"]
