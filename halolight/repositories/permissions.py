"""The permission vocabulary (table `permissions`; `role_permissions` rows go with it in the database)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import Permission
from halolight.db.reads import Reads
from halolight.repositories.paging import Page, contains_any, fetch_page
from halolight.repositories.writes import add_or_conflict

ACTION_TAKEN = "Permission already exists"


async def get(db: AsyncSession, permission_id: str) -> Permission | None:
    return await db.get(Permission, permission_id)


async def get_many(db: AsyncSession, permission_ids: Collection[str]) -> list[Permission]:
    if not permission_ids:
        return []
    query = select(Permission).where(Permission.id.in_(permission_ids)).order_by(Permission.action)
    return list((await db.scalars(query)).all())


# A permission as a row (the fast read path), with the ORM entity's attribute names.
COLUMNS = (
    Permission.id,
    Permission.action,
    Permission.resource,
    Permission.description,
    Permission.created_at.label("created_at"),
    Permission.updated_at.label("updated_at"),
)
_BY_ACTION = (Permission.action, Permission.id)


async def list_page(reads: Reads, *, page: int, limit: int, search: str | None = None) -> Page[Any]:
    """Permissions by action, as rows of `COLUMNS` (fast read path, see `fetch_page`)."""
    keys = select(Permission.id).order_by(*_BY_ACTION)
    if search:
        keys = keys.where(contains_any(search, Permission.action, Permission.description))

    def page_rows(permission_ids: Any) -> Any:
        return select(*COLUMNS).where(Permission.id.in_(permission_ids)).order_by(*_BY_ACTION)

    return await fetch_page(reads, keys, page=page, limit=limit, rows=page_rows)


async def action_taken(db: AsyncSession, action: str) -> bool:
    query = select(Permission.id).where(Permission.action == action).limit(1)
    return (await db.scalars(query)).first() is not None


async def add(db: AsyncSession, **fields: Any) -> Permission:
    permission = Permission(**fields)
    await add_or_conflict(db, permission, ACTION_TAKEN)
    return permission


async def remove(db: AsyncSession, permission_id: str) -> None:
    """Delete the permission; the database cascades to `role_permissions`."""
    await db.execute(delete(Permission).where(Permission.id == permission_id))
