"""Alembic migrations for the CivicCRM schema."""
