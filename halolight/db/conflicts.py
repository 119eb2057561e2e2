"""PostgreSQL errors that mean "this transaction lost a race", as opposed to a broken database."""

from __future__ import annotations

import psycopg.errors

# psycopg raises these as subclasses of OperationalError, like a lost connection; they are not outages:
# the statement was fine, a concurrent transaction won. Retried once by `ctx.run`, then 409.
TRANSACTION_CONFLICTS: tuple[type[Exception], ...] = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.TransactionRollback,
)
