"""Paged queries and safe substring search, shared by every list endpoint."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    limit: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.limit)


async def paginate(db: AsyncSession, query: Select[T], *, page: int, limit: int) -> Page[T]:
    """One COUNT over the filtered query, then the requested slice of it (ORDER BY must be on `query`)."""
    total = await db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list((await db.scalars(query.offset((page - 1) * limit).limit(limit))).all())
    return Page(items, total, page, limit)


def contains_any(term: str, *columns: Any) -> ColumnElement[bool]:
    """Case-insensitive substring match on any of `columns`; `%`, `_` and `\\` in `term` match literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(*(column.ilike(f"%{escaped}%", escape="\\") for column in columns))
