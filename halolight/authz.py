"""Fine-grained authorization, on top of the coarse per-operation permission the generated routes check.

The rule for identity objects: nobody grants, edits or removes more power than they hold. A caller may only
manage a user, or edit a role, whose every permission the caller's own permissions grant (so a manager with
`users:edit` cannot reset an administrator's password, or hand out the `*` role).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import overload

from halolight.context import AuthContext
from halolight.db.models import Permission, Role, Team, User
from halolight.errors import Forbidden, NotFound, UnknownReference
from halolight.repositories import folders, permissions, roles, teams, users
from halolight.repositories.users import TeamsShown


def ensure_holds_all(ctx: AuthContext, actions: Iterable[str], message: str) -> None:
    if not all(ctx.principal.can(action) for action in actions):
        raise Forbidden(message)


async def ensure_can_manage_users(ctx: AuthContext, user_ids: Iterable[str]) -> None:
    held = await roles.permission_actions_of_users(ctx.db, list(user_ids))
    ensure_holds_all(ctx, held, "You cannot manage a user who holds permissions you do not hold")


def ensure_not_self(ctx: AuthContext, user_ids: Iterable[str], action: str) -> None:
    if ctx.user_id in user_ids:
        raise Forbidden(f"You cannot {action} your own account")


async def ensure_not_own_role(ctx: AuthContext, role_id: str, action: str) -> None:
    """Nobody changes the permissions of, or deletes, a role they hold: no one can lock themselves out."""
    if await roles.held_by(ctx.db, role_id, ctx.user_id):
        raise Forbidden(f"You cannot {action} a role you hold")


# Teams. A caller sees the teams they own or belong to, or every team with `teams:*`; only the owner
# and holders of `teams:*` change a team. A team the caller cannot see is fetched as absent (404), so
# nobody learns what exists; write rights are checked only on a visible team (403).


def sees_all_teams(ctx: AuthContext) -> bool:
    return ctx.principal.can("teams:*")


async def visible_team_or_404(ctx: AuthContext, team_id: str, *, with_members: bool = True) -> Team:
    team = await teams.get_visible(
        ctx.db, team_id, user_id=ctx.user_id, sees_all=sees_all_teams(ctx), with_members=with_members
    )
    if team is None:
        raise NotFound("Team not found")
    return team


def ensure_team_writer(ctx: AuthContext, team: Team) -> None:
    if team.owner_id != ctx.user_id and not sees_all_teams(ctx):
        raise Forbidden("Only the team owner can change this team")


def teams_shown_to_caller(ctx: AuthContext) -> TeamsShown:
    """Which teams of a user the caller may see embedded in the user: none without `teams:view`, all with
    `teams:*`, else the visible ones.

    Embedded objects follow the rules of the resource itself: a team that `GET /api/teams/{id}` answers 404
    to is never named in another response.
    """
    if not ctx.principal.can("teams:view"):
        return "none"
    return "all" if sees_all_teams(ctx) else "visible"


# Users. Holders of `users:view` see every user; everyone sees themself and, as a summary without the
# email, the owners and members of the teams they can see. Contact details (the email) need `users:view`.


def sees_all_users(ctx: AuthContext) -> bool:
    return ctx.principal.can("users:view")


def sees_email_of(ctx: AuthContext, user_id: str) -> bool:
    return user_id == ctx.user_id or sees_all_users(ctx)


# Ids in bodies. One helper resolves them all: an id that names nothing the caller may use is 422 with the
# field in `loc`, whether the row is absent or merely invisible, so the answer tells nothing about what
# exists. Roles and permissions are unscoped vocabularies (every existing one may be named; the grant rules
# then decide 403); users must be visible to the caller (see above).


@overload
async def referenced(ctx: AuthContext, kind: type[User], field: str, ids: Iterable[str]) -> list[User]: ...
@overload
async def referenced(ctx: AuthContext, kind: type[Role], field: str, ids: Iterable[str]) -> list[Role]: ...
@overload
async def referenced(
    ctx: AuthContext, kind: type[Permission], field: str, ids: Iterable[str]
) -> list[Permission]: ...
async def referenced(
    ctx: AuthContext, kind: type[User] | type[Role] | type[Permission], field: str, ids: Iterable[str]
) -> Sequence[User | Role | Permission]:
    """The rows the distinct `ids` name, in the order first named; `UnknownReference` unless all usable."""
    wanted: Collection[str] = list(dict.fromkeys(ids))
    found: Sequence[User | Role | Permission]
    if kind is User:
        found = await users.visible_many(
            ctx.db,
            wanted,
            viewer_id=ctx.user_id,
            sees_all=sees_all_users(ctx),
            sees_all_teams=sees_all_teams(ctx),
        )
    elif kind is Role:
        found = await roles.get_many(ctx.db, wanted)
    else:
        found = await permissions.get_many(ctx.db, wanted)
    by_id = {row.id: row for row in found}
    if len(by_id) != len(wanted):
        raise UnknownReference(field, kind.__name__)
    return [by_id[row_id] for row_id in wanted]


async def referenced_team(ctx: AuthContext, field: str, team_id: str) -> Team:
    """A team named in a body: one the caller can see (as `GET /api/teams/{id}`), else `UnknownReference`."""
    team = await teams.get_visible(
        ctx.db, team_id, user_id=ctx.user_id, sees_all=sees_all_teams(ctx), with_members=False
    )
    if team is None:
        raise UnknownReference(field, "Team")
    return team


async def referenced_folder(ctx: AuthContext, field: str, folder_id: str | None) -> None:
    """A folder named in a body (`None`: the top level) must be one of the caller's, else `UnknownReference`.

    Takes the owner's folder lock first: a concurrent recursive delete of that folder then either runs before
    (the folder is gone: 422) or after this request's commit (and finds what it put there), never between.
    """
    if folder_id is None:
        return
    await folders.lock_owner(ctx.db, ctx.user_id)
    if await folders.placed(ctx.db, ctx.user_id, folder_id) is None:
        raise UnknownReference(field, "Folder")
