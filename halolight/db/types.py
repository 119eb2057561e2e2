"""Column types and value factories shared by the models and the Prisma-based backends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import cuid
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# Prisma maps `DateTime` to TIMESTAMP(3): millisecond precision, no time zone, values in UTC.
TIMESTAMP_PRECISION = 3


class UtcDateTime(TypeDecorator[datetime]):
    """`timestamp(3) without time zone` holding UTC, exposed to Python as aware UTC datetimes.

    Naive datetimes are refused on the way in: their zone is unknown, and a wrong guess would silently shift
    the rows that the NestJS/Java backends read back as UTC.
    """

    impl = TIMESTAMP
    cache_ok = True

    def __init__(self, precision: int = TIMESTAMP_PRECISION) -> None:
        super().__init__(timezone=False, precision=precision)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime (UTC is stored)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Aware UTC now, cut to the millisecond the column keeps, so an object equals its row after a flush."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


_STATEMENT_TIME = "_halolight_statement_time"


def statement_time(context: Any) -> datetime:
    """Column default: one `utcnow()` per statement, shared by every column that uses it.

    `createdAt` and `updatedAt` of one insert are then the same instant (two calls of `utcnow()` can fall on
    both sides of a millisecond). `context` is SQLAlchemy's execution context of the statement.
    """
    now: datetime | None = getattr(context, _STATEMENT_TIME, None)
    if now is None:
        now = utcnow()
        setattr(context, _STATEMENT_TIME, now)
    return now


def new_id() -> str:
    """A cuid v1 (25 characters, leading 'c'), the same format as Prisma's `@default(cuid())`."""
    value: str = cuid.cuid()
    return value
