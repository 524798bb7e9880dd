"""Infrastructure: the one relational store (SQLAlchemy 2 + Alembic).

``store.engine`` builds engines (SQLite WAL by default, PostgreSQL for scale);
``store.metadata`` holds the shared ``MetaData`` every domain's ``store.py`` declares its
tables on; ``store.migrate`` brings a database to the newest Alembic revision.
"""
