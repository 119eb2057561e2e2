"""Database liveness."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def ping(db: AsyncSession) -> None:
    await db.execute(text("SELECT 1"))
