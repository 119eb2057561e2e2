"""Production start-up on a real database: no demo accounts, no demo password, no docs by default."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from halolight.app import create_app
from halolight.db.engine import create_sessionmaker
from halolight.db.models import Permission, Role, RolePermission, User, UserRole, UserStatus
from halolight.seed import DEMO_PASSWORD, DEMO_USERS, PERMISSIONS, ROLES
from halolight.serve import StartupRefused, prepare
from halolight.settings import Settings
from tests.pg import TestServer


def production_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "jwt_secret_key": secrets.token_urlsafe(48),
        "jwt_refresh_secret_key": secrets.token_urlsafe(48),
        "mail_backend": "smtp",
        "smtp_host": "127.0.0.1",
        "password_reset_url": "https://admin.example.org/reset-password",
        "files_share_url": "https://admin.example.org/share",
        "bcrypt_max_concurrency": 8,
    }
    return Settings(_env_file=None, **{**values, **overrides})


def development_settings(url: str) -> Settings:
    return Settings(_env_file=None, environment="test", bcrypt_rounds=4, database_url=url)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _counts(url: str) -> tuple[int, set[str], int]:
    engine = create_async_engine(url)
    try:
        async with create_sessionmaker(engine)() as db:
            users = await db.scalar(select(func.count()).select_from(User))
            roles = set((await db.scalars(select(Role.name))).all())
            permissions = await db.scalar(select(func.count()).select_from(Permission))
    finally:
        await engine.dispose()
    return users or 0, roles, permissions or 0


async def _add_user(url: str, email: str, password: str, *, permission: str | None = None) -> None:
    """An account with its own role holding `permission` (or none), hashed cheaply."""
    engine = create_async_engine(url)
    try:
        async with create_sessionmaker(engine)() as db:
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
            local = email.split("@")[0]
            user = User(email=email, username=local, name=local, password=hashed, status=UserStatus.ACTIVE)
            db.add(user)
            await db.flush()
            if permission is not None:
                role = Role(name=f"ROLE_{local}", label=local)
                db.add(role)
                await db.flush()
                permission_id = await db.scalar(select(Permission.id).where(Permission.action == permission))
                if permission_id is None:
                    row = Permission(action=permission, resource=permission.split(":")[0])
                    db.add(row)
                    await db.flush()
                    permission_id = row.id
                db.add(RolePermission(role_id=role.id, permission_id=permission_id))
                db.add(UserRole(user_id=user.id, role_id=role.id))
            await db.commit()
    finally:
        await engine.dispose()


async def _set_password(url: str, email: str, password: str) -> None:
    engine = create_async_engine(url)
    try:
        async with create_sessionmaker(engine)() as db:
            user = (await db.scalars(select(User).where(User.email == email))).one()
            user.password = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
            await db.commit()
    finally:
        await engine.dispose()


class TestProductionSeed:
    def test_fresh_database_gets_roles_and_permissions_but_no_demo_accounts(
        self, pg_server: TestServer
    ) -> None:
        url = pg_server.create_database("prod")
        settings = production_settings(database_url=url)
        prepared, server = prepare(settings)
        assert server is None
        prepare(settings)  # and again: still nothing to refuse
        users, roles, permissions = run(_counts(prepared))
        assert users == 0
        assert {name for name, *_ in ROLES} <= roles
        assert permissions == len(PERMISSIONS)

    def test_development_still_seeds_the_demo_accounts(self, pg_server: TestServer) -> None:
        url = pg_server.create_database("dev")
        prepare(development_settings(url))
        users, _, _ = run(_counts(url))
        assert users == len(DEMO_USERS)

    def test_development_without_demo_accounts(self, pg_server: TestServer) -> None:
        url = pg_server.create_database("dev")
        settings = Settings(_env_file=None, environment="test", database_url=url, seed_demo_users=False)
        prepare(settings)
        assert run(_counts(url))[0] == 0


class TestDemoPasswordRefusal:
    def test_a_database_seeded_for_development_is_refused(self, pg_server: TestServer) -> None:
        url = pg_server.create_database("prod")
        prepare(development_settings(url))
        with pytest.raises(StartupRefused) as caught:
            prepare(production_settings(database_url=url))
        lines = str(caught.value).splitlines()
        assert sorted(line.split(":", 1)[0] for line in lines) == sorted(email for email, *_ in DEMO_USERS)
        assert all(line.endswith("still accepts the demo password; change it or delete the account "
                                 "before starting in production") for line in lines)  # fmt: skip
        assert DEMO_PASSWORD not in str(caught.value)

        # Once every demo account has another password, production starts.
        for email, *_ in DEMO_USERS:
            run(_set_password(url, email, secrets.token_urlsafe(12)))
        prepare(production_settings(database_url=url))

    @pytest.mark.parametrize(
        "permission", ["*", "users:*", "users:create", "users:edit", "users:delete", "roles:edit",
                       "roles:*", "permissions:create", "permissions:delete"]
    )  # fmt: skip
    def test_a_privileged_account_with_the_demo_password_is_refused(
        self, pg_server: TestServer, permission: str
    ) -> None:
        url = pg_server.create_database("prod")
        settings = production_settings(database_url=url)
        prepare(settings)
        run(_add_user(url, "boss@corp.example", DEMO_PASSWORD, permission=permission))
        with pytest.raises(StartupRefused, match=r"^boss@corp\.example: still accepts the demo password"):
            prepare(settings)
        run(_set_password(url, "boss@corp.example", "a-better-password"))
        prepare(settings)

    def test_unprivileged_accounts_are_not_checked(self, pg_server: TestServer) -> None:
        url = pg_server.create_database("prod")
        settings = production_settings(database_url=url)
        prepare(settings)
        run(_add_user(url, "reader@corp.example", DEMO_PASSWORD, permission="users:view"))
        run(_add_user(url, "writer@corp.example", DEMO_PASSWORD, permission="documents:edit"))
        run(_add_user(url, "nobody@corp.example", DEMO_PASSWORD))
        run(_add_user(url, "root@corp.example", "not-the-demo-one", permission="*"))
        prepare(settings)

    def test_serve_exits_with_status_2_naming_the_account(
        self, pg_server: TestServer, tmp_path: Path
    ) -> None:
        url = pg_server.create_database("prod")
        prepare(production_settings(database_url=url))
        run(_add_user(url, "boss@corp.example", DEMO_PASSWORD, permission="*"))
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "ENVIRONMENT": "production",
            "DATABASE_URL": url,
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_REFRESH_SECRET_KEY": secrets.token_urlsafe(48),
            "MAIL_BACKEND": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "PASSWORD_RESET_URL": "https://admin.example.org/reset-password",
            "FILES_SHARE_URL": "https://admin.example.org/share",
            # A complete production configuration (no warning about per-process throttling; not connected
            # to by --prepare-only).
            "RATE_LIMIT_STORAGE_URL": "redis://127.0.0.1:6379/0",
        }
        result = subprocess.run(
            [sys.executable, "-m", "halolight.serve", "--prepare-only"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [
            "boss@corp.example: still accepts the demo password; change it or delete the account before "
            "starting in production"
        ]
        assert "Traceback" not in result.stderr


class TestDocs:
    PATHS = ("/api/docs", "/api/redoc", "/api/openapi.json")

    async def _statuses(self, settings: Settings, url: str) -> list[int]:
        app = create_app(settings, url)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                return [(await client.get(path)).status_code for path in self.PATHS]
        finally:
            await app.state.runtime.close()

    async def test_off_by_default_in_production(self, database_url: str) -> None:
        assert await self._statuses(production_settings(), database_url) == [404, 404, 404]

    async def test_production_may_turn_them_on(self, database_url: str) -> None:
        assert await self._statuses(production_settings(docs_enabled=True), database_url) == [200, 200, 200]

    async def test_on_by_default_in_development_and_test(self, client: httpx.AsyncClient) -> None:
        assert [(await client.get(path)).status_code for path in self.PATHS] == [200, 200, 200]
