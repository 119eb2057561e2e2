"""Teams and their members (tables `teams`, `team_members`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    ScalarSelect,
    Select,
    func,
    literal_column,
    select,
    true,
    union,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from halolight.db.models import Team, TeamMember, User
from halolight.db.reads import Reads
from halolight.repositories.paging import Page, contains_any, fetch_page
from halolight.repositories.writes import add_or_conflict

_NO_ROWS: ColumnElement[Any] = literal_column("'[]'::json")


def teams_of_user_json(user_id: Any, *, viewer_id: Any, sees_all: bool) -> ScalarSelect[Any]:
    """The teams a user owns or belongs to that the viewer may see, by name, as one JSON array
    `[{id, name, isOwner}]` (a scalar subquery, to embed in the statement that reads the user). The ids may
    be values or bound parameters."""
    item = func.json_build_object("id", Team.id, "name", Team.name, "isOwner", Team.owner_id == user_id)
    return (
        select(func.coalesce(func.json_agg(aggregate_order_by(item, Team.name, Team.id)), _NO_ROWS))
        .where(Team.id.in_(_teams_of(user_id)), visible_to(viewer_id, sees_all=sees_all))
        .scalar_subquery()
    )


def _teams_of(user_id: Any) -> CompoundSelect[tuple[str]]:
    """The ids of the teams `user_id` owns or belongs to. A UNION of two index lookups: `ownerId = :u OR id
    IN (…)` would make PostgreSQL scan every team."""
    return union(
        select(TeamMember.team_id).where(TeamMember.user_id == user_id),
        select(Team.id).where(Team.owner_id == user_id),
    )


def people_of_visible_teams(user_id: str, *, sees_all: bool) -> CompoundSelect[tuple[str]]:
    """The ids of the owners and members of the teams `visible_to` the caller (for an IN subquery)."""
    visible = visible_to(user_id, sees_all=sees_all)
    members = select(TeamMember.user_id).join(Team, Team.id == TeamMember.team_id).where(visible)
    return union(members, select(Team.owner_id).where(visible))


def visible_to(user_id: Any, *, sees_all: bool) -> ColumnElement[bool]:
    """The teams a caller may see: all of them with `sees_all`, else those the caller owns or belongs to."""
    if sees_all:
        return true()
    return Team.id.in_(_teams_of(user_id))


# A list row: the team, its owner's summary columns and its member count, in one Core statement.
_MEMBER_COUNT = select(func.count()).where(TeamMember.team_id == Team.id).scalar_subquery()
_LIST_COLUMNS = (
    Team.id,
    Team.name,
    Team.description,
    Team.avatar,
    Team.owner_id.label("owner_id"),
    User.name.label("owner_name"),
    User.email.label("owner_email"),
    User.avatar.label("owner_avatar"),
    _MEMBER_COUNT.label("member_count"),
    Team.created_at.label("created_at"),
    Team.updated_at.label("updated_at"),
)
_NEWEST_FIRST = (Team.created_at.desc(), Team.id.desc())


async def list_visible_page(
    reads: Reads,
    *,
    user_id: str,
    sees_all: bool,
    page: int,
    limit: int,
    search: str | None = None,
) -> Page[Any]:
    """One page of the visible teams, newest first, as rows of `_LIST_COLUMNS` (fast read path; deferred
    join on `halolight_teams_created_at_id`, see `fetch_page`)."""
    keys = select(Team.id).where(visible_to(user_id, sees_all=sees_all)).order_by(*_NEWEST_FIRST)
    if search:
        keys = keys.where(contains_any(search, Team.name, Team.description))

    def page_rows(team_ids: Any) -> Select[Any]:
        return (
            select(*_LIST_COLUMNS)
            .join(User, User.id == Team.owner_id)
            .where(Team.id.in_(team_ids))
            .order_by(*_NEWEST_FIRST)
        )

    return await fetch_page(reads, keys, page=page, limit=limit, rows=page_rows)


def _with_owner(query: Select[Team], with_members: bool) -> Select[Team]:
    query = query.options(selectinload(Team.owner))
    if with_members:
        query = query.options(
            selectinload(Team.members).options(selectinload(TeamMember.user), selectinload(TeamMember.role))
        )
    # A team already in the session (changed and flushed by this request) is read back as it now is.
    return query.execution_options(populate_existing=True)


async def get_visible(
    db: AsyncSession, team_id: str, *, user_id: str, sees_all: bool, with_members: bool = True
) -> Team | None:
    """The team if the caller may see it, with its owner and (unless told not to) members, users and roles."""
    query = select(Team).where(Team.id == team_id, visible_to(user_id, sees_all=sees_all))
    return (await db.scalars(_with_owner(query, with_members))).first()


async def reload_detail(db: AsyncSession, team_id: str) -> Team:
    """The team as it now is, with owner, members, users and roles: the answer after a write."""
    return (await db.scalars(_with_owner(select(Team).where(Team.id == team_id), True))).one()


async def get_member(db: AsyncSession, team_id: str, user_id: str) -> TeamMember | None:
    return await db.get(TeamMember, (team_id, user_id))


async def create(db: AsyncSession, *, owner_id: str, **fields: Any) -> Team:
    """A new team owned by `owner_id`, who is also its first member (without a team role)."""
    team = Team(owner_id=owner_id, **fields)
    db.add(team)
    await db.flush()
    db.add(TeamMember(team_id=team.id, user_id=owner_id))
    await db.flush()
    return team


async def update_fields(db: AsyncSession, team: Team, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        setattr(team, name, value)
    await db.flush()


async def add_member(db: AsyncSession, team_id: str, user_id: str, role_id: str | None) -> None:
    member = TeamMember(team_id=team_id, user_id=user_id, role_id=role_id)
    await add_or_conflict(db, member, "The user is already a member of this team")


async def remove_member(db: AsyncSession, member: TeamMember) -> None:
    await db.delete(member)
    await db.flush()


async def delete(db: AsyncSession, team: Team) -> None:
    """Delete the team; the database cascades to its members (and unlinks its documents, files, folders)."""
    await db.delete(team)
    await db.flush()
