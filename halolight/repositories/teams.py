"""Teams and their members (tables `teams`, `team_members`)."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import Team, TeamMember


async def teams_of_user(db: AsyncSession, user_id: str) -> list[tuple[Team, bool]]:
    """The teams a user owns or belongs to, by name, each with whether the user owns it."""
    member_of = select(TeamMember.team_id).where(TeamMember.user_id == user_id)
    query = select(Team).where(or_(Team.owner_id == user_id, Team.id.in_(member_of))).order_by(Team.name, Team.id)
    return [(team, team.owner_id == user_id) for team in (await db.scalars(query)).all()]
