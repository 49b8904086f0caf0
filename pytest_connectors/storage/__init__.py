"""The database of import connectors: SQLAlchemy Core tables, migrations and scoped repositories.

Only this part of the package imports SQLAlchemy or psycopg. SQLite is the embedded default;
any SQLAlchemy URL (PostgreSQL through psycopg 3 for several workers) works the same way. Every
repository function takes the caller's :class:`~pytest_connectors.models.imports.Scope`, so a row
outside the scope behaves exactly like a missing one.
"""
