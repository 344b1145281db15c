"""Storage: SQLModel tables, engine and sessions, mappers, Alembic migrations."""
