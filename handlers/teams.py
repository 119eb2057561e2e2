"""Operations of the Teams tag (placeholder while being written)."""

from __future__ import annotations

from generated import models
from halolight.context import AuthContext
from halolight.errors import ApiError

async def list_teams(ctx: AuthContext, *, page: int, limit: int, search: str | None) -> models.TeamList:
    raise ApiError('not implemented yet')

async def create_team(ctx: AuthContext, *, body: models.TeamCreate) -> models.TeamDetail:
    raise ApiError('not implemented yet')

async def get_team(ctx: AuthContext, *, id: str) -> models.TeamDetail:
    raise ApiError('not implemented yet')

async def delete_team(ctx: AuthContext, *, id: str) -> None:
    raise ApiError('not implemented yet')

async def update_team(ctx: AuthContext, *, id: str, body: models.TeamUpdate) -> models.TeamDetail:
    raise ApiError('not implemented yet')

async def add_team_member(ctx: AuthContext, *, id: str, body: models.TeamMemberAdd) -> models.TeamDetail:
    raise ApiError('not implemented yet')

async def remove_team_member(ctx: AuthContext, *, id: str, user_id: str) -> models.TeamMemberRemoved:
    raise ApiError('not implemented yet')
