"""Writes that a unique constraint may refuse, turned into 409s without spoiling the request's transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Text, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.errors import Conflict


async def write_or_conflict(db: AsyncSession, write: Callable[[], None], message: str) -> None:
    """Apply `write` and flush it inside a savepoint; a constraint violation becomes `Conflict(message)`.

    `write` runs inside the savepoint because `begin_nested()` first flushes what is already pending: a change
    made before it would fail outside the savepoint and leave the whole session unusable. The checks before
    such writes give the friendly answer; this catches the race two requests can still run.
    """
    try:
        async with db.begin_nested():
            write()
            await db.flush()
    except IntegrityError:
        raise Conflict(message) from None


async def add_or_conflict(db: AsyncSession, row: Any, message: str) -> None:
    await write_or_conflict(db, lambda: db.add(row), message)


async def assign_or_conflict(db: AsyncSession, row: Any, fields: dict[str, Any], message: str) -> None:
    def assign() -> None:
        for name, value in fields.items():
            setattr(row, name, value)

    await write_or_conflict(db, assign, message)


async def reserve(db: AsyncSession, kind: str, value: str) -> None:
    """Hold a transaction-scoped advisory lock on `kind`/`value` (compared case-folded).

    The shared schema's unique indexes compare case-sensitively (they are Prisma's), while this API treats
    emails, usernames and role names without regard to case. Checking for a taken value under this lock makes
    two concurrent requests for `Foo` and `foo` run one after the other, so the second sees the first's row.
    """
    await db.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"{kind}:{value.lower()}", 0))))


async def delete_owned(db: AsyncSession, model: Any, owner_id: str, ids: Sequence[str]) -> int:
    """Delete the rows of `model` (a mapped class with `id` and `owner_id`) among `ids` that `owner_id` owns,
    in one statement; how many went. Ids that name nothing, or someone else's rows, are left as they are: a
    batch delete reports its count, never which ids belong to others."""
    gone = await db.execute(
        delete(model)
        .where(
            model.owner_id == owner_id, model.id == func.any(bindparam("ids", list(ids), type_=ARRAY(Text)))
        )
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return len(gone.all())
