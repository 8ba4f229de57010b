"""PostgreSQL adapter: SQLAlchemy 2 (async, asyncpg) + pgvector + Alembic."""
