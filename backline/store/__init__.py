"""Everything that touches storage.

* ``schema``    the tables (SQLAlchemy Core), the single description Alembic migrates from.
* ``database``  lean DB-API connections for the answer path (sqlite3 / psycopg2, no SQLAlchemy).
* ``calls``     the answer path's SQL: load the snapshot, record calls and legs idempotently.
* ``snapshot``  the in-memory table of numbers, its refresh and its local copy.
* ``journal``   the local durable journal used while the database is unreachable.
* ``recorder``  group commit to the database, falling back to the journal, and replay.
* ``admin``     SQLAlchemy queries for the CLI (never imported by the answer path).
"""
