"""Roles and their permissions (tables `roles`, `role_permissions`, `permissions`, `user_roles`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ARRAY, Text, any_, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import Permission, Role, RolePermission, RowCount, UserRole
from halolight.db.reads import Reads, fetch_all
from halolight.db.types import utcnow
from halolight.repositories import permissions
from halolight.repositories.paging import Page, contains_any, fetch_page
from halolight.repositories.writes import add_or_conflict, assign_or_conflict, reserve

NAME_TAKEN = "Role name is already taken"
_HOLDERS = "role_users:"  # key prefix of the holder counts in `halolight_row_counts`


async def roles_of_user(db: AsyncSession, user_id: str) -> list[tuple[Role, list[str]]]:
    """The user's roles, each with its permission actions, in two queries."""
    role_rows: Sequence[Role] = (
        await db.scalars(
            select(Role)
            .join(UserRole, UserRole.role_id == Role.id)
            .where(UserRole.user_id == user_id)
            .order_by(Role.name)
        )
    ).all()
    if not role_rows:
        return []
    pairs = (
        await db.execute(
            select(RolePermission.role_id, Permission.action)
            .join(Permission, Permission.id == RolePermission.permission_id)
            .where(RolePermission.role_id.in_([r.id for r in role_rows]))
            .order_by(Permission.action)
        )
    ).all()
    actions: dict[str, list[str]] = {r.id: [] for r in role_rows}
    for role_id, action in pairs:
        actions[role_id].append(action)
    return [(role, actions[role.id]) for role in role_rows]


async def find_by_name(db: AsyncSession, name: str) -> Role | None:
    # Role names are compared without regard to case: the NestJS seed spells them `admin`, ours `ADMIN`.
    return (await db.scalars(select(Role).where(func.lower(Role.name) == name.lower()).limit(1))).first()


async def assign_to_user(db: AsyncSession, user_id: str, role_id: str) -> None:
    db.add(UserRole(user_id=user_id, role_id=role_id))
    await db.flush()


async def get_many(db: AsyncSession, role_ids: Collection[str]) -> list[Role]:
    return list((await db.scalars(select(Role).where(Role.id.in_(role_ids)))).all())


async def permission_actions_of_roles(db: AsyncSession, role_ids: Collection[str]) -> set[str]:
    query = (
        select(Permission.action)
        .join(RolePermission, RolePermission.permission_id == Permission.id)
        .where(RolePermission.role_id.in_(role_ids))
    )
    return set((await db.scalars(query)).all())


async def permission_actions_of_users(db: AsyncSession, user_ids: Collection[str]) -> set[str]:
    """The union of the permissions of every listed user (what deleting or editing them all would touch)."""
    query = (
        select(Permission.action)
        .join(RolePermission, RolePermission.permission_id == Permission.id)
        .join(UserRole, UserRole.role_id == RolePermission.role_id)
        .where(UserRole.user_id.in_(user_ids))
    )
    return set((await db.scalars(query)).all())


async def get(db: AsyncSession, role_id: str) -> Role | None:
    return await db.get(Role, role_id)


_ROLE_COLUMNS = (
    Role.id,
    Role.name,
    Role.label,
    Role.description,
    Role.created_at.label("created_at"),
    Role.updated_at.label("updated_at"),
)
_BY_NAME = (Role.name, Role.id)


async def list_page(reads: Reads, *, page: int, limit: int, search: str | None = None) -> Page[Any]:
    """Roles by name, as rows of `_ROLE_COLUMNS` (fast read path, see `fetch_page`)."""
    keys = select(Role.id).order_by(*_BY_NAME)
    if search:
        keys = keys.where(contains_any(search, Role.name, Role.label, Role.description))

    def page_rows(role_ids: Any) -> Any:
        return select(*_ROLE_COLUMNS).where(Role.id.in_(role_ids)).order_by(*_BY_NAME)

    return await fetch_page(reads, keys, page=page, limit=limit, rows=page_rows)


def _any_of(ids: Collection[str]) -> Any:
    """`= ANY(:ids)`: one parameter whatever the number of ids (the fast path has no expanding IN)."""
    return any_(bindparam("ids", list(ids), type_=ARRAY(Text)))


async def permissions_of_roles(reads: Reads, role_ids: Collection[str]) -> dict[str, list[Any]]:
    """Each role's permissions ordered by action, in one query; every listed id gets a (maybe empty) list.
    The permissions are rows of `permissions.COLUMNS`."""
    result: dict[str, list[Any]] = {role_id: [] for role_id in role_ids}
    if not result:
        return result
    query = (
        select(RolePermission.role_id.label("role_id"), *permissions.COLUMNS)
        .join(Permission, Permission.id == RolePermission.permission_id)
        .where(RolePermission.role_id == _any_of(result))
        .order_by(Permission.action, Permission.id)
    )
    for row in await fetch_all(reads, query):
        result[row.role_id].append(row)
    return result


async def user_counts(reads: Reads, role_ids: Collection[str]) -> dict[str, int]:
    """How many users hold each role, from the counters kept by triggers (migration 0005): one primary-key
    read per role instead of counting its holders; every listed id gets a count (maybe 0)."""
    result: dict[str, int] = dict.fromkeys(role_ids, 0)
    if not result:
        return result
    keys = {f"{_HOLDERS}{role_id}": role_id for role_id in result}
    for key, count in await fetch_all(
        reads, select(RowCount.key, RowCount.n).where(RowCount.key == _any_of(keys))
    ):
        result[keys[key]] = count
    return result


async def name_taken(db: AsyncSession, name: str, exclude_id: str | None = None) -> bool:
    await reserve(db, "roles.name", name)  # until the transaction ends, so a concurrent claim waits for ours
    query = select(Role.id).where(func.lower(Role.name) == name.lower())
    if exclude_id is not None:
        query = query.where(Role.id != exclude_id)
    return (await db.scalars(query.limit(1))).first() is not None


async def add(db: AsyncSession, **fields: Any) -> Role:
    role = Role(**fields)
    await add_or_conflict(db, role, NAME_TAKEN)
    return role


async def update_fields(db: AsyncSession, role: Role, fields: dict[str, Any]) -> None:
    await assign_or_conflict(db, role, fields, NAME_TAKEN)


async def set_permissions(
    db: AsyncSession, role_id: str, permission_ids: Collection[str], *, touch: bool = True
) -> None:
    """Replace the role's permissions with `permission_ids` (distinct, existing ids) and, with `touch`, its
    `updatedAt` (not for a role created by this request: its timestamps stay those of its insert)."""
    await db.execute(delete(RolePermission).where(RolePermission.role_id == role_id))
    if permission_ids:
        await db.execute(
            insert(RolePermission), [{"role_id": role_id, "permission_id": p} for p in permission_ids]
        )
    if touch:
        await db.execute(update(Role).where(Role.id == role_id).values(updated_at=utcnow()))


async def remove(db: AsyncSession, role_id: str) -> None:
    """Delete the role; the database cascades to `role_permissions` and `user_roles`."""
    await db.execute(delete(Role).where(Role.id == role_id))


async def held_by(db: AsyncSession, role_id: str, user_id: str) -> bool:
    query = select(UserRole.role_id).where(UserRole.role_id == role_id, UserRole.user_id == user_id)
    return (await db.scalars(query.limit(1))).first() is not None
