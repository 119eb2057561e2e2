"""Operations of the Roles tag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import MISSING

from generated import models
from halolight import authz
from halolight.context import AuthContext
from halolight.db.models import Permission, Role
from halolight.errors import Conflict, NotFound
from halolight.repositories import roles

from . import presenters
from .permissions import present as present_permission


async def list_roles(ctx: AuthContext, *, page: int, limit: int, search: str | None) -> models.RoleList:
    result = await roles.list_page(ctx.reads, page=page, limit=limit, search=search)
    return models.RoleList(data=await _present(ctx, result.items), meta=presenters.page_meta(result))


async def get_role(ctx: AuthContext, *, id: str) -> models.Role:
    return (await _present(ctx, [await _get(ctx, id)]))[0]


async def create_role(ctx: AuthContext, *, body: models.RoleCreate) -> models.Role:
    permission_ids = await _grantable_permission_ids(
        ctx, body.permissionIds if body.permissionIds is not MISSING else []
    )
    if await roles.name_taken(ctx.db, body.name):
        raise Conflict(roles.NAME_TAKEN)
    fields = body.model_dump(exclude={"permissionIds"})  # unsent fields are left out
    fields.setdefault("label", body.name)
    role = await roles.add(ctx.db, **fields)
    await roles.set_permissions(ctx.db, role.id, permission_ids, touch=False)
    return (await _present(ctx, [role]))[0]


async def update_role(ctx: AuthContext, *, id: str, body: models.RoleUpdate) -> models.Role:
    role = await _get(ctx, id)
    await _ensure_holds_role(ctx, id, "You cannot change a role with permissions you do not hold")
    changes = body.model_dump()  # only the fields sent; an empty object changes nothing
    if "name" in changes and await roles.name_taken(ctx.db, changes["name"], exclude_id=id):
        raise Conflict(roles.NAME_TAKEN)
    await roles.update_fields(ctx.db, role, changes)
    return (await _present(ctx, [role]))[0]


async def set_role_permissions(
    ctx: AuthContext, *, id: str, body: models.RolePermissionsUpdate
) -> models.Role:
    role = await _get(ctx, id)
    await _ensure_holds_role(ctx, id, "You cannot change a role with permissions you do not hold")
    await authz.ensure_not_own_role(ctx, id, "change the permissions of")
    permission_ids = await _grantable_permission_ids(ctx, body.permissionIds)
    await roles.set_permissions(ctx.db, id, permission_ids)
    return (await _present(ctx, [role]))[0]


async def delete_role(ctx: AuthContext, *, id: str, force: bool) -> None:
    await _get(ctx, id)
    await _ensure_holds_role(ctx, id, "You cannot delete a role with permissions you do not hold")
    await authz.ensure_not_own_role(ctx, id, "delete")
    if not force and (await roles.user_counts(ctx.reads, [id]))[id] > 0:
        raise Conflict("Role is assigned to users; use force=true to delete it anyway")
    await roles.remove(ctx.db, id)  # the database takes it from its users (user_roles cascade)


async def _get(ctx: AuthContext, role_id: str) -> Role:
    role = await roles.get(ctx.db, role_id)
    if role is None:
        raise NotFound("Role not found")
    return role


async def _ensure_holds_role(ctx: AuthContext, role_id: str, message: str) -> None:
    authz.ensure_holds_all(ctx, await roles.permission_actions_of_roles(ctx.db, [role_id]), message)


async def _grantable_permission_ids(ctx: AuthContext, wanted: list[str]) -> list[str]:
    """The distinct permission ids; 422 if one does not exist, 403 if the caller does not hold one."""
    found = await authz.referenced(ctx, Permission, "permissionIds", wanted)
    authz.ensure_holds_all(ctx, [p.action for p in found], "You cannot grant permissions you do not hold")
    return [p.id for p in found]


async def _present(ctx: AuthContext, rows: Sequence[Any]) -> list[models.Role]:
    """Roles with their permissions and user counts: two queries for any number of roles."""
    ids = [r.id for r in rows]
    granted = await roles.permissions_of_roles(ctx.reads, ids)
    counts = await roles.user_counts(ctx.reads, ids)
    return [
        models.Role(
            id=r.id,
            name=r.name,
            label=r.label,
            description=r.description,
            permissions=[present_permission(p) for p in granted[r.id]],
            userCount=counts[r.id],
            createdAt=r.created_at,
            updatedAt=r.updated_at,
        )
        for r in rows
    ]
