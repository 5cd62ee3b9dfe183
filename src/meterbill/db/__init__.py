"""Storage: the only package that imports SQLAlchemy and Alembic.

Services receive a :class:`Session` (re-exported here so they never import SQLAlchemy) and
call the repository modules; the CLI or the HTTP request owns the transaction.
"""

from sqlalchemy.orm import Session

from meterbill.db.session import savepoint

__all__ = ["Session", "savepoint"]
