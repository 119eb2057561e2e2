"""Fine-grained authorization, on top of the coarse per-operation permission the generated routes check.

The rule for identity objects: nobody grants, edits or removes more power than they hold. A caller may only
manage a user, or edit a role, whose every permission the caller's own permissions grant (so a manager with
`users:edit` cannot reset an administrator's password, or hand out the `*` role).
"""

from __future__ import annotations

from collections.abc import Iterable

from halolight.context import AuthContext
from halolight.db.models import Team
from halolight.errors import Forbidden, NotFound
from halolight.repositories import roles, teams


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
