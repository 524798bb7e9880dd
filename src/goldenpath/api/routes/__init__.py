"""API routers, one module per domain: ``health``, ``auth``, ``catalog_entities``,
``catalog_locations``."""
