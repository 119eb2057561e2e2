"""Handlers called directly, with a context on a real PostgreSQL session rolled back after each test."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

import handlers.auth
import handlers.users
from generated import models
from halolight.context import PublicContext
from halolight.errors import Conflict, Forbidden, NotFound, Unauthorized
from halolight.repositories import roles
from tests.conftest import MakeCtx


def _new_user(email: str, **extra: object) -> models.UserCreate:
    return models.UserCreate.model_validate(
        {"email": email, "name": "Unit", "password": "unitPass123", **extra}
    )


class TestRegisterHandler:
    async def test_new_accounts_get_the_user_role(self, public_ctx: PublicContext) -> None:
        body = models.RegisterRequest(
            email="unit-register@example.com", name="Unit", password=SecretStr("unitPass1")
        )
        response = await handlers.auth.register(public_ctx, body=body)
        held = await roles.permission_actions_of_users(public_ctx.db, [response.user.id])
        assert "teams:create" in held and "users:view" not in held

    async def test_username_gets_a_free_suffix(self, public_ctx: PublicContext, make_ctx: MakeCtx) -> None:
        await handlers.users.create_user(make_ctx("*"), body=_new_user("twin@example.com"))
        body = models.RegisterRequest(email="twin@example.org", name="Unit", password=SecretStr("unitPass1"))
        response = await handlers.auth.register(public_ctx, body=body)
        me = await handlers.auth.get_current_user(make_ctx("*", user_id=response.user.id))
        assert me.username == "twin2"


class TestLoginHandler:
    async def test_unknown_email(self, public_ctx: PublicContext) -> None:
        body = models.LoginRequest(email="nobody@example.com", password=SecretStr("whatever"))
        with pytest.raises(Unauthorized, match="Invalid email or password"):
            await handlers.auth.login(public_ctx, body=body)


class TestUserHandlers:
    async def test_create_then_conflict(self, make_ctx: MakeCtx) -> None:
        ctx = make_ctx("users:create")
        created = await handlers.users.create_user(ctx, body=_new_user("unit-dup@example.com"))
        assert created.email == "unit-dup@example.com"
        with pytest.raises(Conflict):
            await handlers.users.create_user(ctx, body=_new_user("UNIT-DUP@example.com"))

    async def test_cannot_grant_a_role_beyond_own_permissions(
        self, make_ctx: MakeCtx, db: AsyncSession
    ) -> None:
        admin_role = await roles.find_by_name(db, "ADMIN")
        assert admin_role is not None
        with pytest.raises(Forbidden):
            await handlers.users.create_user(
                make_ctx("users:create", "users:view"),
                body=_new_user("unit-esc@example.com", roleIds=[admin_role.id]),
            )

    async def test_unknown_user(self, make_ctx: MakeCtx) -> None:
        with pytest.raises(NotFound):
            await handlers.users.get_user(make_ctx("users:view"), id="c-unknown")

    async def test_batch_delete_counts_only_existing(self, make_ctx: MakeCtx) -> None:
        created = await handlers.users.create_user(make_ctx("*"), body=_new_user("unit-del@example.com"))
        result = await handlers.users.delete_users(
            make_ctx("users:delete"),
            body=models.BatchDeleteRequest(ids=[created.id, created.id, "c-unknown"]),
        )
        assert result.deleted_count == 1
