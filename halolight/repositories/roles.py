"""Roles and their permissions (tables `roles`, `role_permissions`, `permissions`, `user_roles`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import Permission, Role, RolePermission, UserRole
from halolight.db.types import utcnow
from halolight.repositories.paging import Page, contains_any, paginate
from halolight.repositories.writes import add_or_conflict, assign_or_conflict, reserve

NAME_TAKEN = "Role name is already taken"


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


async def list_page(db: AsyncSession, *, page: int, limit: int, search: str | None = None) -> Page[Role]:
    query = select(Role).order_by(Role.name, Role.id)
    if search:
        query = query.where(contains_any(search, Role.name, Role.label, Role.description))
    return await paginate(db, query, page=page, limit=limit)


async def permissions_of_roles(db: AsyncSession, role_ids: Collection[str]) -> dict[str, list[Permission]]:
    """Each role's permissions ordered by action, in one query; every listed id gets a (maybe empty) list."""
    result: dict[str, list[Permission]] = {role_id: [] for role_id in role_ids}
    if not result:
        return result
    rows = (
        await db.execute(
            select(RolePermission.role_id, Permission)
            .join(Permission, Permission.id == RolePermission.permission_id)
            .where(RolePermission.role_id.in_(result))
            .order_by(Permission.action, Permission.id)
        )
    ).all()
    for role_id, permission in rows:
        result[role_id].append(permission)
    return result


async def user_counts(db: AsyncSession, role_ids: Collection[str]) -> dict[str, int]:
    """How many users hold each role, in one grouped COUNT; every listed id gets a count (maybe 0)."""
    result: dict[str, int] = dict.fromkeys(role_ids, 0)
    if not result:
        return result
    rows = (
        await db.execute(
            select(UserRole.role_id, func.count())
            .where(UserRole.role_id.in_(result))
            .group_by(UserRole.role_id)
        )
    ).all()
    for role_id, count in rows:
        result[role_id] = count
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
