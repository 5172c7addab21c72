"""Alembic migrations, hand-written (no autogenerate) and expand/contract."""
