"""SQL for the shared `files` table (`path` holds the storage key). For now what `halolight storage gc`
needs; the Files module extends it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Text, any_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import File

# Rows come from the server in batches this size (a server-side cursor): the table is never in memory.
STREAM_BATCH = 1000


async def referenced_paths(db: AsyncSession, paths: Collection[str]) -> set[str]:
    """Which of `paths` at least one row names: one statement, `= ANY(:paths)` (index-free but one scan
    per batch of keys; gc is an operator's command, not a request)."""
    if not paths:
        return set()
    found = await db.scalars(
        select(File.path).where(File.path == any_(bindparam("paths", list(paths), type_=ARRAY(Text))))
    )
    return set(found)


async def created_before(db: AsyncSession, instant: datetime) -> AsyncIterator[Any]:
    """Rows (`id`, `name`, `path`, `owner_id`, `size`) created before `instant`, streamed."""
    result = await db.stream(
        select(File.id, File.name, File.path, File.owner_id, File.size)
        .where(File.created_at < instant)
        .order_by(File.created_at, File.id)
        .execution_options(yield_per=STREAM_BATCH)
    )
    async for row in result:
        yield row
