"""Storage: SQLAlchemy models, engines, units of work and the Alembic migration history."""
