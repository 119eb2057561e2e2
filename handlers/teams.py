"""Operations of the Teams tag."""

from __future__ import annotations

from typing import Any

from pydantic import MISSING

from generated import models
from halolight import authz
from halolight.context import AuthContext
from halolight.db.models import Role, Team, TeamMember, User
from halolight.errors import Conflict, NotFound
from halolight.repositories import notifications, teams

from . import presenters


async def list_teams(ctx: AuthContext, *, page: int, limit: int, search: str | None) -> models.TeamList:
    result = await teams.list_visible_page(
        ctx.reads,
        user_id=ctx.user_id,
        sees_all=authz.sees_all_teams(ctx),
        page=page,
        limit=limit,
        search=search,
    )
    return models.TeamList(
        data=[_team_of_list(ctx, row) for row in result.items], meta=presenters.page_meta(result)
    )


async def create_team(ctx: AuthContext, *, body: models.TeamCreate) -> models.TeamDetail:
    team = await teams.create(ctx.db, owner_id=ctx.user_id, **body.model_dump())
    return _team_detail(ctx, await teams.reload_detail(ctx.db, team.id))


async def get_team(ctx: AuthContext, *, id: str) -> models.TeamDetail:
    return _team_detail(ctx, await authz.visible_team_or_404(ctx, id))


async def update_team(ctx: AuthContext, *, id: str, body: models.TeamUpdate) -> models.TeamDetail:
    team = await authz.visible_team_or_404(ctx, id)
    authz.ensure_team_writer(ctx, team)
    await teams.update_fields(ctx.db, team, body.model_dump())  # MISSING (unsent) fields are left out
    return _team_detail(ctx, team)


async def delete_team(ctx: AuthContext, *, id: str) -> None:
    team = await authz.visible_team_or_404(ctx, id, with_members=False)
    authz.ensure_team_writer(ctx, team)
    await teams.delete(ctx.db, team)


async def add_team_member(ctx: AuthContext, *, id: str, body: models.TeamMemberAdd) -> models.TeamDetail:
    team = await authz.visible_team_or_404(ctx, id)
    authz.ensure_team_writer(ctx, team)
    await authz.referenced(ctx, User, "userId", [body.userId])
    role_id = None if body.roleId is MISSING else body.roleId
    if role_id is not None:
        await authz.referenced(ctx, Role, "roleId", [role_id])
    if any(member.user_id == body.userId for member in team.members):
        raise Conflict("The user is already a member of this team")
    await teams.add_member(ctx.db, team.id, body.userId, role_id)
    await notifications.notify(
        ctx.db,
        [body.userId] if body.userId != ctx.user_id else [],
        type="team_member_added",
        title="You were added to a team",
        content=team.name,
        link=f"/teams/{team.id}",
        payload={"teamId": team.id, "by": ctx.user_id},
    )
    ctx.activity(userId=body.userId)
    return _team_detail(ctx, await teams.reload_detail(ctx.db, team.id))


async def remove_team_member(ctx: AuthContext, *, id: str, user_id: str) -> models.TeamMemberRemoved:
    team = await authz.visible_team_or_404(ctx, id, with_members=False)
    member = await teams.get_member(ctx.db, team.id, user_id)
    if member is None:
        raise NotFound("Member not found")
    authz.ensure_team_writer(ctx, team)
    if user_id == team.owner_id:
        raise Conflict("The team owner cannot be removed")
    await teams.remove_member(ctx.db, member)
    return models.TeamMemberRemoved(message="Member removed", teamId=team.id, userId=user_id)


def _email(ctx: AuthContext, user_id: str, email: str) -> str | None:
    """People of a visible team are part of it; their email is contact data that needs `users:view`."""
    return email if authz.sees_email_of(ctx, user_id) else None


def _user_summary(ctx: AuthContext, user: User) -> models.UserSummary:
    return models.UserSummary(
        id=user.id, name=user.name, email=_email(ctx, user.id, user.email), avatar=user.avatar
    )


def _team_fields(team: Any, owner: models.UserSummary, member_count: int) -> dict[str, Any]:
    """The fields of `models.Team` from an ORM `Team` or a row with the same attribute names."""
    return {
        "id": team.id,
        "name": team.name,
        "description": team.description,
        "avatar": team.avatar,
        "owner": owner,
        "memberCount": member_count,
        "createdAt": team.created_at,
        "updatedAt": team.updated_at,
    }


def _team_of_list(ctx: AuthContext, row: Any) -> models.Team:
    """A row of `repositories.teams.list_visible_page` (the owner's columns as `owner_*`)."""
    owner = models.UserSummary(
        id=row.owner_id,
        name=row.owner_name,
        email=_email(ctx, row.owner_id, row.owner_email),
        avatar=row.owner_avatar,
    )
    return models.Team(**_team_fields(row, owner, row.member_count))


def _member(ctx: AuthContext, member: TeamMember) -> models.TeamMember:
    return models.TeamMember(
        id=member.user_id,
        name=member.user.name,
        email=_email(ctx, member.user_id, member.user.email),
        avatar=member.user.avatar,
        role=None if member.role is None else presenters.role_summary(member.role),
        joinedAt=member.joined_at,
    )


def _team_detail(ctx: AuthContext, team: Team) -> models.TeamDetail:
    """`team.owner` and `team.members` (with their users and roles) must have been loaded with the query."""
    members = sorted(team.members, key=lambda m: (m.joined_at, m.user_id))
    return models.TeamDetail(
        **_team_fields(team, _user_summary(ctx, team.owner), len(members)),
        members=[_member(ctx, m) for m in members],
    )
