"""The store of record: SQLAlchemy models, engine/session factory and Alembic migrations."""
