"""Operations of the Permissions tag."""

from __future__ import annotations

from typing import Any

from pydantic import MISSING

from generated import models
from halolight import authz
from halolight.context import AuthContext
from halolight.db.models import Permission
from halolight.errors import Conflict, NotFound, ValidationFailed
from halolight.repositories import permissions

from . import presenters

EVERYTHING = "*"


async def list_permissions(
    ctx: AuthContext, *, page: int, limit: int, search: str | None
) -> models.PermissionList:
    result = await permissions.list_page(ctx.reads, page=page, limit=limit, search=search)
    return models.PermissionList(data=[present(p) for p in result.items], meta=presenters.page_meta(result))


async def get_permission(ctx: AuthContext, *, id: str) -> models.Permission:
    return present(await _get(ctx, id))


async def create_permission(ctx: AuthContext, *, body: models.PermissionCreate) -> models.Permission:
    resource = body.action.split(":", 1)[0]  # `*` has no colon: its resource is `*`
    if body.resource is not MISSING and body.resource != resource:
        raise ValidationFailed(("body", "resource"), "resource must be the part of action before the colon")
    if await permissions.action_taken(ctx.db, body.action):
        raise Conflict(permissions.ACTION_TAKEN)
    fields = body.model_dump()  # an unsent description is left out and stored as NULL
    fields["resource"] = resource
    return present(await permissions.add(ctx.db, **fields))


async def delete_permission(ctx: AuthContext, *, id: str) -> None:
    permission = await _get(ctx, id)
    if permission.action == EVERYTHING:
        raise Conflict("The * permission cannot be deleted")
    authz.ensure_holds_all(ctx, [permission.action], "You cannot delete a permission you do not hold")
    await permissions.remove(ctx.db, id)


def present(row: Any) -> models.Permission:
    """An ORM `Permission` or a row of `repositories.permissions.COLUMNS` -> API; also used by the Roles tag,
    whose roles embed their permissions."""
    return models.Permission(
        id=row.id,
        action=row.action,
        resource=row.resource,
        description=row.description,
        createdAt=row.created_at,
        updatedAt=row.updated_at,
    )


async def _get(ctx: AuthContext, permission_id: str) -> Permission:
    permission = await permissions.get(ctx.db, permission_id)
    if permission is None:
        raise NotFound("Permission not found")
    return permission
