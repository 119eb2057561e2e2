"""Operations of the Users tag."""

from __future__ import annotations

from typing import Any

from pydantic import MISSING, SecretStr

from generated import models
from halolight import authz
from halolight.context import AuthContext
from halolight.db.models import Role, User, UserStatus
from halolight.errors import NotFound
from halolight.repositories import auth_sessions, roles, users
from halolight.security.passwords import check_new_password

from . import presenters

SELF_PROTECTED = {"email", "password", "status", "roleIds"}


async def list_users(
    ctx: AuthContext,
    *,
    page: int,
    limit: int,
    search: str | None,
    status: models.UserStatusFilter | None,
    role: str | None,
) -> models.UserList:
    result = await users.list_page(
        ctx.reads,
        page=page,
        limit=limit,
        search=search,
        status=None if status in (None, models.UserStatusFilter.all) else UserStatus(status),
        role=None if role is None or role.lower() == "all" else role,
    )
    return models.UserList(
        data=[presenters.user_of_list(row) for row in result.items], meta=presenters.page_meta(result)
    )


async def get_user(ctx: AuthContext, *, id: str) -> models.UserDetail:
    shown = authz.teams_shown_to_caller(ctx)
    row = await users.detail_row(ctx.reads, id, viewer_id=ctx.user_id, teams_shown=shown)
    if row is None:
        raise NotFound("User not found")
    return presenters.user_detail(row)


async def create_user(ctx: AuthContext, *, body: models.UserCreate) -> models.User:
    role_ids = await _grantable_role_ids(ctx, body.roleIds if body.roleIds is not MISSING else [])
    fields = _columns(body.model_dump(exclude={"roleIds", "password"}))
    await users.ensure_available(ctx.db, fields)
    if "username" not in fields:  # after the checks above: their locks come first (see free_username)
        fields["username"] = await users.free_username(ctx.db, fields["email"].split("@", 1)[0])
    check_new_password(body.password.get_secret_value())
    fields["password"] = await ctx.runtime.passwords.hash(body.password.get_secret_value())
    user = await users.add(ctx.db, **fields)
    await users.set_roles(ctx.db, user.id, role_ids, touch=False)
    return presenters.user(await _get(ctx, user.id))


async def update_user(ctx: AuthContext, *, id: str, body: models.UserUpdate) -> models.User:
    user = await _get(ctx, id)
    await authz.ensure_can_manage_users(ctx, [id])
    changes = _columns(body.model_dump())  # MISSING (unsent) fields are left out
    if SELF_PROTECTED & changes.keys():
        # Credentials and power of one's own account do not change through the admin endpoint: a stolen
        # access token must not be able to lock the real owner out, nor can an admin lock themself out.
        authz.ensure_not_self(ctx, [id], "change the email, password, status or roles of")
    role_ids = changes.pop("roleIds", None)
    if role_ids is not None:
        role_ids = await _grantable_role_ids(ctx, role_ids)
    await users.ensure_available(ctx.db, changes, exclude_id=id)
    password = changes.pop("password", None)
    if isinstance(password, SecretStr):  # hashed last: every check that can refuse the request has run
        check_new_password(password.get_secret_value())
        changes["password"] = await ctx.runtime.passwords.hash(password.get_secret_value())
    if role_ids is not None:
        await users.set_roles(ctx.db, id, role_ids)
    await users.update_fields(ctx.db, user, changes)
    if "password" in changes or changes.get("status", UserStatus.ACTIVE) != UserStatus.ACTIVE:
        await auth_sessions.revoke_all_of_user(ctx.db, id, "changed by an administrator")
    return presenters.user(await _get(ctx, id, refresh=True))


async def update_user_status(ctx: AuthContext, *, id: str, body: models.UserStatusUpdate) -> models.User:
    user = await _get(ctx, id)
    authz.ensure_not_self(ctx, [id], "change the status of")
    await authz.ensure_can_manage_users(ctx, [id])
    await users.update_fields(ctx.db, user, {"status": UserStatus(body.status)})
    if body.status != models.UserStatus.ACTIVE:
        await auth_sessions.revoke_all_of_user(ctx.db, id, "deactivated")
    return presenters.user(user)


async def delete_user(ctx: AuthContext, *, id: str) -> None:
    await _get(ctx, id)
    authz.ensure_not_self(ctx, [id], "delete")
    await authz.ensure_can_manage_users(ctx, [id])
    await users.delete_many(ctx.db, [id])


async def delete_users(ctx: AuthContext, *, body: models.BatchDeleteRequest) -> models.BatchDeleteResult:
    ids = list(dict.fromkeys(body.ids))
    authz.ensure_not_self(ctx, ids, "delete")
    await authz.ensure_can_manage_users(ctx, ids)
    deleted = await users.delete_many(ctx.db, ids)
    return models.BatchDeleteResult(message=f"Deleted {deleted} user(s)", deleted_count=deleted)


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """API field values as the ORM stores them: normalized emails, the database's status enum."""
    if "email" in fields:
        fields["email"] = users.normalize_email(fields["email"])
    if "status" in fields:
        fields["status"] = UserStatus(fields["status"])
    return fields


async def _get(ctx: AuthContext, user_id: str, *, refresh: bool = False) -> User:
    user = await users.get_with_roles(ctx.db, user_id, refresh=refresh)
    if user is None:
        raise NotFound("User not found")
    return user


async def _grantable_role_ids(ctx: AuthContext, wanted: list[str]) -> list[str]:
    """The distinct role ids; 422 if one does not exist, 403 if one grants more than the caller holds."""
    role_ids = [role.id for role in await authz.referenced(ctx, Role, "roleIds", wanted)]
    actions = await roles.permission_actions_of_roles(ctx.db, role_ids)
    authz.ensure_holds_all(ctx, actions, "You cannot grant a role with permissions you do not hold")
    return role_ids
