"""Roles and their permissions (tables `roles`, `role_permissions`, `permissions`, `user_roles`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import Permission, Role, RolePermission, UserRole


async def permission_actions_of_user(db: AsyncSession, user_id: str) -> list[str]:
    query = (
        select(Permission.action)
        .join(RolePermission, RolePermission.permission_id == Permission.id)
        .join(UserRole, UserRole.role_id == RolePermission.role_id)
        .where(UserRole.user_id == user_id)
        .distinct()
        .order_by(Permission.action)
    )
    return list((await db.scalars(query)).all())


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
