"""Operations of the Permissions tag (placeholder while being written)."""

from __future__ import annotations

from generated import models
from halolight.context import AuthContext
from halolight.errors import ApiError

async def list_permissions(ctx: AuthContext, *, page: int, limit: int, search: str | None) -> models.PermissionList:
    raise ApiError('not implemented yet')

async def create_permission(ctx: AuthContext, *, body: models.PermissionCreate) -> models.Permission:
    raise ApiError('not implemented yet')

async def get_permission(ctx: AuthContext, *, id: str) -> models.Permission:
    raise ApiError('not implemented yet')

async def delete_permission(ctx: AuthContext, *, id: str) -> None:
    raise ApiError('not implemented yet')
