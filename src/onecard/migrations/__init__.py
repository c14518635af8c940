"""Alembic migrations, shipped inside the package so ``onecard db upgrade`` works anywhere."""
