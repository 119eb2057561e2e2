"""Fine-grained authorization, on top of the coarse per-operation permission the generated routes check.

The rule for identity objects: nobody grants, edits or removes more power than they hold. A caller may only
manage a user, or edit a role, whose every permission the caller's own permissions grant (so a manager with
`users:edit` cannot reset an administrator's password, or hand out the `*` role).
"""

from __future__ import annotations

from collections.abc import Iterable

from halolight.context import AuthContext
from halolight.errors import Forbidden
from halolight.repositories import roles


def ensure_holds_all(ctx: AuthContext, actions: Iterable[str], message: str) -> None:
    if not all(ctx.principal.can(action) for action in actions):
        raise Forbidden(message)


async def ensure_can_manage_users(ctx: AuthContext, user_ids: Iterable[str]) -> None:
    held = await roles.permission_actions_of_users(ctx.db, list(user_ids))
    ensure_holds_all(ctx, held, "You cannot manage a user who holds permissions you do not hold")


def ensure_not_self(ctx: AuthContext, user_ids: Iterable[str], action: str) -> None:
    if ctx.user_id in user_ids:
        raise Forbidden(f"You cannot {action} your own account")
