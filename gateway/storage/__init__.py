"""Persistence: SQLAlchemy tables, the engine for SQLite or PostgreSQL, Alembic migrations."""
