"""Operations of the Roles tag (placeholder while being written)."""

from __future__ import annotations

from generated import models
from halolight.context import AuthContext
from halolight.errors import ApiError

async def list_roles(ctx: AuthContext, *, page: int, limit: int, search: str | None) -> models.RoleList:
    raise ApiError('not implemented yet')

async def create_role(ctx: AuthContext, *, body: models.RoleCreate) -> models.Role:
    raise ApiError('not implemented yet')

async def get_role(ctx: AuthContext, *, id: str) -> models.Role:
    raise ApiError('not implemented yet')

async def delete_role(ctx: AuthContext, *, id: str, force: bool) -> None:
    raise ApiError('not implemented yet')

async def update_role(ctx: AuthContext, *, id: str, body: models.RoleUpdate) -> models.Role:
    raise ApiError('not implemented yet')

async def set_role_permissions(ctx: AuthContext, *, id: str, body: models.RolePermissionsUpdate) -> models.Role:
    raise ApiError('not implemented yet')
