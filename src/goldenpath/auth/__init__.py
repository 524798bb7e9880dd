"""Authentication and audit: API tokens (stored as SHA-256 hashes), roles, the audit log.

``models`` holds the data shapes, ``store`` the tables and queries, ``service.AuthService``
the use cases the API calls. Users and Groups themselves are catalog entities; a token only
names its owner's entity ref (``user:default/admin``).
"""
