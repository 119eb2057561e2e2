"""Paged queries and safe substring search, shared by every list endpoint."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.base import ExecutableOption

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


async def paginate(
    db: AsyncSession,
    query: Select[T],
    *,
    page: int,
    limit: int,
    key: Any = None,
    options: Sequence[ExecutableOption] = (),
) -> Page[T]:
    """One COUNT over the filtered query, then the requested slice of it (ORDER BY must be on `query`).

    The count is exact: the response's `total` and `totalPages` promise it, and the shape has no room to
    flag an estimate. It is an index-only count where an index covers the filter.

    With `key` (the primary key column), the slice is a deferred join: the page's keys are found first by
    the ORDER BY alone, which an index matching it answers with an index-only scan (OFFSET then skips index
    entries, not table rows), and only those rows are read. `options` (loader options) apply to the rows.
    """
    total = await db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    offset = (page - 1) * limit
    if key is None:
        rows = query.options(*options).offset(offset).limit(limit)
    else:
        keys = query.with_only_columns(key).offset(offset).limit(limit).scalar_subquery()
        rows = query.where(key.in_(keys)).options(*options)
    return Page(list((await db.scalars(rows)).all()), total, page, limit)


def contains_any(term: str, *columns: Any) -> ColumnElement[bool]:
    """Case-insensitive substring match on any of `columns`; `%`, `_` and `\\` in `term` match literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(*(column.ilike(f"%{escaped}%", escape="\\") for column in columns))
