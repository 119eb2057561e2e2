"""Auth operations over HTTP, through the real app and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jose import jwt

from halolight.app import create_app
from halolight.mail import OutboxMailSender
from halolight.settings import Settings
from tests.api.helpers import (
    ADMIN,
    DEMO_PASSWORD,
    EDITOR,
    MANAGER,
    USER,
    VIEWER,
    auth_headers,
    bearer,
    login,
    register,
    unique_email,
)

pytestmark = pytest.mark.asyncio


class TestLogin:
    async def test_seed_curl_example_works_verbatim(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/auth/login",
            content=b'{\n    "email": "admin@halolight.h7ml.cn",\n    "password": "123456"\n  }',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"accessToken", "refreshToken", "expiresAt", "user"}
        assert body["user"]["email"] == ADMIN
        assert body["user"]["status"] == "ACTIVE"
        # The seed's fields, plus the roles and permissions the admin reads (as `GET /api/auth/me` has them).
        assert set(body["user"]) == {"id", "email", "name", "avatar", "status", "roles", "permissions"}
        assert body["user"]["permissions"] == ["*"]
        assert body["expiresAt"].endswith("Z")

    @pytest.mark.parametrize("email", [ADMIN, MANAGER, EDITOR, VIEWER, USER])
    async def test_the_user_has_the_roles_and_permissions_of_me(
        self, client: httpx.AsyncClient, email: str
    ) -> None:
        body = await login(client, email)
        me = (await client.get("/api/auth/me", headers=bearer(body["accessToken"]))).json()
        assert (body["user"]["roles"], body["user"]["permissions"]) == (me["roles"], me["permissions"])
        assert me["permissions"]  # every demo account holds some: the comparison is not vacuous

    async def test_several_roles_union_of_their_permissions(self, client: httpx.AsyncClient) -> None:
        admin = await auth_headers(client, ADMIN)
        roles = {}
        for name in ("MANAGER", "VIEWER"):
            listed = await client.get("/api/roles", params={"search": name, "limit": 100}, headers=admin)
            roles[name] = next(r for r in listed.json()["data"] if r["name"] == name)
        email = unique_email()
        created = await client.post(
            "/api/users",
            json={
                "email": email, "name": "Two Roles", "password": "initialPass1",
                "roleIds": [r["id"] for r in roles.values()],
            },
            headers=admin,
        )  # fmt: skip
        assert created.status_code == 201, created.text
        body = await login(client, email, "initialPass1")
        me = (await client.get("/api/auth/me", headers=bearer(body["accessToken"]))).json()
        user = body["user"]
        assert [r["name"] for r in user["roles"]] == ["MANAGER", "VIEWER"]
        assert (user["roles"], user["permissions"]) == (me["roles"], me["permissions"])
        union = {p for r in user["roles"] for p in r["permissions"]}
        assert user["permissions"] == sorted(union)
        assert len(union) < sum(len(r["permissions"]) for r in user["roles"])  # shared ones appear once

    async def test_email_is_case_insensitive(self, client: httpx.AsyncClient) -> None:
        await login(client, "Admin@HaloLight.h7ml.cn")

    async def test_wrong_password_and_unknown_email_get_the_same_401(self, client: httpx.AsyncClient) -> None:
        wrong = await client.post("/api/auth/login", json={"email": ADMIN, "password": "nope-nope"})
        unknown = await client.post(
            "/api/auth/login", json={"email": "ghost@example.com", "password": "nope-nope"}
        )
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json() == {"detail": "Invalid email or password"}

    @pytest.mark.parametrize("email", ["inactive@halolight.h7ml.cn", "suspended@halolight.h7ml.cn"])
    async def test_inactive_accounts_cannot_log_in(self, client: httpx.AsyncClient, email: str) -> None:
        response = await client.post("/api/auth/login", json={"email": email, "password": DEMO_PASSWORD})
        assert response.status_code == 401
        # No password oracle: the right password gets exactly what a wrong one gets.
        wrong = await client.post("/api/auth/login", json={"email": email, "password": "wrong-password"})
        assert wrong.status_code == 401
        assert response.json() == wrong.json() == {"detail": "Invalid email or password"}

    async def test_password_over_72_bytes_is_checked_like_any_other(self, client: httpx.AsyncClient) -> None:
        password = "é" * 40  # 40 characters, 80 bytes: allowed by the spec
        response = await client.post("/api/auth/login", json={"email": ADMIN, "password": password})
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid email or password"}

    async def test_validation_errors_have_the_seed_shape_and_echo_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/api/auth/login", json={"email": "not-an-email", "password": "s3cret-value"}
        )
        assert response.status_code == 422
        issues = response.json()["detail"]
        assert all(set(issue) == {"loc", "msg", "type"} for issue in issues)
        assert "s3cret-value" not in response.text and "not-an-email" not in response.text

    @pytest.mark.parametrize(
        ("content", "content_type", "status"),
        [
            (b'{"email": "a@b.co", "password": "x\\u0000"}', "application/json", 422),
            (b'{"email": "a@b.co", "password": "\\ud800"}', "application/json", 422),
            (b'{"email": "a@b.co", "password": 5}', "application/json", 422),
            (b'{"email": ', "application/json", 422),
            (b"\xff\xfe\xfd", "application/json", 400),
            (b'{"email": "a@b.co", "password": "x"}', "text/plain", 415),
            (b'{"email": "a@b.co", "password": "x", "role": "ADMIN"}', "application/json", 422),
        ],
    )
    async def test_bad_bodies_get_a_4xx(
        self, client: httpx.AsyncClient, content: bytes, content_type: str, status: int
    ) -> None:
        response = await client.post(
            "/api/auth/login", content=content, headers={"Content-Type": content_type}
        )
        assert response.status_code == status
        assert "detail" in response.json()

    async def test_oversized_body_is_413(self, client: httpx.AsyncClient) -> None:
        big = b'{"email": "a@b.co", "password": "' + b"x" * 2_000_000 + b'"}'
        response = await client.post(
            "/api/auth/login", content=big, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json() == {"detail": "Request body is too large"}

    async def test_a_strangers_failures_never_lock_the_owner_out(
        self, settings: Settings, database_url: str
    ) -> None:
        strict = create_app(settings.model_copy(update={"auth_rate_limit": "3/minute"}), database_url)
        async with _client(strict, "198.51.100.1") as stranger, _client(strict, "198.51.100.2") as owner:
            statuses = [
                (
                    await stranger.post("/api/auth/login", json={"email": VIEWER, "password": "wrong-pass"})
                ).status_code
                for _ in range(4)
            ]
            response = await owner.post("/api/auth/login", json={"email": VIEWER, "password": DEMO_PASSWORD})
        # The stranger's address is throttled (every attempt counts there), with Retry-After ...
        assert statuses == [401, 401, 401, 429]
        # ... the owner, from another address, is not.
        assert response.status_code == 200

    async def test_successful_logins_do_not_count_against_the_account(
        self, settings: Settings, database_url: str
    ) -> None:
        strict = create_app(settings.model_copy(update={"auth_rate_limit": "3/minute"}), database_url)
        statuses = []
        for n in range(6):  # six successes from six addresses: twice the limit, never refused
            async with _client(strict, f"198.51.100.{20 + n}") as c:
                statuses.append(
                    (
                        await c.post("/api/auth/login", json={"email": ADMIN, "password": DEMO_PASSWORD})
                    ).status_code
                )
        assert statuses == [200] * 6

    async def test_guessing_spread_over_addresses_backs_off_only_the_failing_ones(
        self, settings: Settings, database_url: str
    ) -> None:
        strict = create_app(settings.model_copy(update={"auth_rate_limit": "3/minute"}), database_url)
        email = unique_email()
        async with _client(strict, "198.51.100.40") as c:
            await register(c, email)
        attackers = [_client(strict, f"198.51.100.{41 + n}") for n in range(4)]
        statuses = []
        for attacker in attackers:  # one failure per address: the account's failure budget (3) runs out
            statuses.append(
                (
                    await attacker.post("/api/auth/login", json={"email": email, "password": "guess-one"})
                ).status_code
            )
        assert statuses == [401, 401, 401, 401]
        # Under attack, an address that has failed on this account is refused, even with the right password.
        again = await attackers[0].post("/api/auth/login", json={"email": email, "password": "securePass123"})
        assert again.status_code == 429
        assert 1 <= int(again.headers["Retry-After"]) <= 60
        # An address that has not failed on it (the owner's) logs in at once.
        async with _client(strict, "198.51.100.60") as owner:
            ok = await owner.post("/api/auth/login", json={"email": email, "password": "securePass123"})
        assert ok.status_code == 200
        # An unknown email is treated alike, so the 429 tells nothing about which accounts exist.
        ghost = unique_email("ghost")
        for attacker in attackers:
            await attacker.post("/api/auth/login", json={"email": ghost, "password": "guess-two"})
        replay = await attackers[1].post("/api/auth/login", json={"email": ghost, "password": "guess-three"})
        assert replay.status_code == 429
        for attacker in attackers:
            await attacker.aclose()

    async def test_throttled_per_client_address(self, settings: Settings, database_url: str) -> None:
        strict = create_app(settings.model_copy(update={"auth_rate_limit": "3/minute"}), database_url)
        async with _client(strict, "198.51.100.3") as c:
            statuses = [
                (await c.post("/api/auth/login", json={"email": unique_email(), "password": "x"})).status_code
                for _ in range(4)
            ]
        assert statuses == [401, 401, 401, 429]


def _client(app: FastAPI, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 1234)), base_url="http://t")


class TestRegister:
    async def test_seed_example_registers_and_logs_in(self, client: httpx.AsyncClient) -> None:
        email = unique_email("newuser")
        body = await register(client, email)
        assert body["user"]["email"] == email
        assert body["user"]["status"] == "ACTIVE"
        me = await client.get("/api/auth/me", headers=bearer(body["accessToken"]))
        assert me.status_code == 200
        assert [r["name"] for r in me.json()["roles"]] == ["USER"]
        assert "users:view" not in me.json()["permissions"]
        # The answer's user has the roles and permissions `me` has.
        assert (body["user"]["roles"], body["user"]["permissions"]) == (
            me.json()["roles"],
            me.json()["permissions"],
        )

    async def test_duplicate_email_is_409_whatever_the_case(self, client: httpx.AsyncClient) -> None:
        email = unique_email()
        await register(client, email)
        again = await client.post(
            "/api/auth/register", json={"email": email.upper(), "name": "X", "password": "securePass123"}
        )
        assert again.status_code == 409
        assert again.json() == {"detail": "Email is already registered"}

    async def test_short_password_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/auth/register", json={"email": unique_email(), "name": "X", "password": "short"}
        )
        assert response.status_code == 422

    async def test_40_chinese_characters_register_and_log_in(self, client: httpx.AsyncClient) -> None:
        # 40 characters (the spec allows up to 72), 120 bytes: bcrypt uses the first 72, as bcryptjs does.
        password = "密码安全" * 10
        email = unique_email()
        response = await client.post(
            "/api/auth/register", json={"email": email, "name": "X", "password": password}
        )
        assert response.status_code == 201, response.text
        await login(client, email, password)
        wrong = await client.post("/api/auth/login", json={"email": email, "password": "密码安全" * 5})
        assert wrong.status_code == 401

    async def test_72_multibyte_characters_reset_the_password(
        self, client: httpx.AsyncClient, outbox: OutboxMailSender
    ) -> None:
        email = unique_email()
        await register(client, email)
        token = await TestPasswordReset()._reset_token(client, outbox, email)
        password = "🔑" * 72  # 72 characters, 288 bytes
        response = await client.post("/api/auth/reset-password", json={"token": token, "password": password})
        assert response.status_code == 200, response.text
        await login(client, email, password)

    async def test_hash_is_bcrypt_that_the_nestjs_backend_can_verify(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        from sqlalchemy import select

        from halolight.db.models import User

        email = unique_email()
        await register(client, email)
        async with app.state.runtime.sessionmaker() as db:
            stored = (await db.scalars(select(User.password).where(User.email == email))).one()
        assert re.fullmatch(r"\$2[aby]\$04\$[./A-Za-z0-9]{53}", stored)


def _assert_common_password_422(response: httpx.Response, field: str = "password") -> None:
    assert response.status_code == 422, response.text
    [issue] = response.json()["detail"]
    assert issue["loc"] == ["body", field]
    assert "common" in issue["msg"]
    assert issue["type"] == "password_too_common"


class TestCommonPasswords:
    @pytest.mark.parametrize(
        "password", ["12345678", "password", "Password", "qwertyuiop", "ＰＡＳＳＷＯＲＤ"]
    )
    async def test_register_refuses_common_passwords(self, client: httpx.AsyncClient, password: str) -> None:
        email = unique_email()
        response = await client.post(
            "/api/auth/register", json={"email": email, "name": "X", "password": password}
        )
        _assert_common_password_422(response)
        # Nothing was created: the address is still free.
        await register(client, email)

    async def test_reset_password_refuses_them_and_keeps_the_token(
        self, client: httpx.AsyncClient, outbox: OutboxMailSender
    ) -> None:
        email = unique_email()
        await register(client, email)
        token = await TestPasswordReset()._reset_token(client, outbox, email)
        response = await client.post(
            "/api/auth/reset-password", json={"token": token, "password": "password1"}
        )
        _assert_common_password_422(response)
        ok = await client.post("/api/auth/reset-password", json={"token": token, "password": "newPassword1"})
        assert ok.status_code == 200

    async def test_change_password_refuses_them(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        response = await client.post(
            "/api/auth/change-password",
            json={"currentPassword": "securePass123", "newPassword": "12345678"},
            headers=bearer(user["accessToken"]),
        )
        _assert_common_password_422(response, "newPassword")

    async def test_user_administration_refuses_them(self, client: httpx.AsyncClient) -> None:
        from tests.api.helpers import auth_headers

        admin = await auth_headers(client, ADMIN)
        created = await client.post(
            "/api/users", json={"email": unique_email(), "name": "X", "password": "password"}, headers=admin
        )
        _assert_common_password_422(created)
        user = await register(client)
        updated = await client.patch(
            f"/api/users/{user['user']['id']}", json={"password": "12345678"}, headers=admin
        )
        _assert_common_password_422(updated)

    async def test_login_still_accepts_an_existing_common_password(self, client: httpx.AsyncClient) -> None:
        await login(client, ADMIN, DEMO_PASSWORD)  # the demo seed's 123456, written by the seed directly


class TestRefresh:
    async def test_rotates_and_the_old_refresh_token_stops_working(self, client: httpx.AsyncClient) -> None:
        tokens = await login(client, ADMIN)
        first = await client.post("/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
        assert first.status_code == 200
        assert set(first.json()) == {"accessToken", "refreshToken", "expiresAt"}
        assert first.json()["refreshToken"] != tokens["refreshToken"]
        second = await client.post("/api/auth/refresh", json={"refreshToken": first.json()["refreshToken"]})
        assert second.status_code == 200

    async def test_reuse_of_a_rotated_token_revokes_the_whole_family(self, client: httpx.AsyncClient) -> None:
        tokens = await login(client, ADMIN)
        rotated = (
            await client.post("/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
        ).json()
        replay = await client.post("/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
        assert replay.status_code == 401
        # The legitimate holder's newer tokens are dead too.
        assert (
            await client.post("/api/auth/refresh", json={"refreshToken": rotated["refreshToken"]})
        ).status_code == 401
        assert (await client.get("/api/auth/me", headers=bearer(rotated["accessToken"]))).status_code == 401

    async def test_concurrent_refreshes_of_one_token_one_wins_and_the_family_dies(
        self, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        user = await register(client)
        for _ in range(3):  # the two UPDATEs do not overlap every time: try a few families
            tokens = await login(client, user["user"]["email"], "securePass123")
            body = {"refreshToken": tokens["refreshToken"]}
            with caplog.at_level(logging.WARNING, logger="halolight.security"):
                started = time.monotonic()
                first, second = await asyncio.wait_for(
                    asyncio.gather(
                        client.post("/api/auth/refresh", json=body),
                        client.post("/api/auth/refresh", json=body),
                    ),
                    timeout=8,
                )
            assert time.monotonic() - started < 5
            assert sorted([first.status_code, second.status_code]) == [200, 401]
            winner = first if first.status_code == 200 else second
            # The race is a reuse: the whole family is revoked, the winner's new tokens included.
            again = await client.post(
                "/api/auth/refresh", json={"refreshToken": winner.json()["refreshToken"]}
            )
            assert again.status_code == 401
            session_id = jwt.get_unverified_claims(tokens["refreshToken"])["sid"]
            events = [r.getMessage() for r in caplog.records if r.name == "halolight.security"]
            assert any(user["user"]["id"] in e and session_id in e for e in events), events

    async def test_many_users_racing_refreshes_never_exhaust_the_pool(
        self, client: httpx.AsyncClient
    ) -> None:
        users = [await register(client) for _ in range(6)]
        started = time.monotonic()
        responses = await asyncio.wait_for(
            asyncio.gather(
                *(
                    client.post("/api/auth/refresh", json={"refreshToken": u["refreshToken"]})
                    for u in users
                    for _ in range(8)
                )
            ),
            timeout=20,
        )
        assert time.monotonic() - started < 10
        statuses = [r.status_code for r in responses]
        assert 503 not in statuses
        assert statuses.count(200) == 6 and statuses.count(401) == 42
        # Other users are served meanwhile and afterwards.
        assert (await client.get("/health")).status_code == 200

    async def test_an_access_token_is_not_a_refresh_token(self, client: httpx.AsyncClient) -> None:
        tokens = await login(client, ADMIN)
        response = await client.post("/api/auth/refresh", json={"refreshToken": tokens["accessToken"]})
        assert response.status_code == 401

    async def test_garbage_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/api/auth/refresh", json={"refreshToken": "not.a.jwt"})
        assert response.status_code == 401


class TestMe:
    async def test_seed_shape_with_roles_and_permissions(self, client: httpx.AsyncClient) -> None:
        tokens = await login(client, ADMIN)
        response = await client.get("/api/auth/me", headers=bearer(tokens["accessToken"]))
        assert response.status_code == 200
        me = response.json()
        assert me["email"] == ADMIN
        assert me["roles"][0]["name"] == "ADMIN"
        assert me["roles"][0]["permissions"] == ["*"]
        assert {"created_at", "updated_at"} <= set(me)

    @pytest.mark.parametrize(
        "authorization",
        [None, "Bearer", "Bearer garbage", "Basic YWRtaW46MTIzNDU2", "Token abc"],
    )
    async def test_without_a_valid_token_is_401(
        self, client: httpx.AsyncClient, authorization: str | None
    ) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        response = await client.get("/api/auth/me", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert set(response.json()) == {"detail"}

    async def test_a_refresh_token_is_not_an_access_token(self, client: httpx.AsyncClient) -> None:
        tokens = await login(client, ADMIN)
        response = await client.get("/api/auth/me", headers=bearer(tokens["refreshToken"]))
        assert response.status_code == 401

    async def test_forged_and_unsigned_tokens_are_refused(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        tokens = await login(client, ADMIN)
        claims = jwt.get_unverified_claims(tokens["accessToken"])
        forged = jwt.encode(claims, "another-secret-of-at-least-32-bytes!!", algorithm="HS256")
        payload = tokens["accessToken"].split(".")[1]
        unsigned = jwt.encode(claims, "", algorithm="HS256").split(".")
        none_alg = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + payload + "."
        with_kid = jwt.encode(claims, settings.jwt_secret_key, algorithm="HS256", headers={"kid": "x"})
        no_exp = jwt.encode({k: v for k, v in claims.items() if k != "exp"}, settings.jwt_secret_key)
        for token in (forged, ".".join(unsigned[:2]) + ".", none_alg, with_kid, no_exp):
            assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 401, token

    async def test_a_disabled_users_tokens_stop_working(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        email = unique_email()
        tokens = await register(client, email)
        await _set_status(app, email, "SUSPENDED")
        assert (await client.get("/api/auth/me", headers=bearer(tokens["accessToken"]))).status_code == 401
        refresh = await client.post("/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
        assert refresh.status_code == 401


async def _set_status(app: FastAPI, email: str, status: str) -> None:
    from sqlalchemy import update

    from halolight.db.models import User, UserStatus

    async with app.state.runtime.sessionmaker() as db:
        await db.execute(update(User).where(User.email == email).values(status=UserStatus(status)))
        await db.commit()


class TestLogout:
    async def test_revokes_both_tokens_of_the_session_only(self, client: httpx.AsyncClient) -> None:
        session_a = await login(client, ADMIN)
        session_b = await login(client, ADMIN)
        response = await client.post("/api/auth/logout", headers=bearer(session_a["accessToken"]))
        assert response.status_code == 200
        assert response.json() == {"message": "Successfully logged out"}
        assert (await client.get("/api/auth/me", headers=bearer(session_a["accessToken"]))).status_code == 401
        refresh = await client.post("/api/auth/refresh", json={"refreshToken": session_a["refreshToken"]})
        assert refresh.status_code == 401
        assert (await client.get("/api/auth/me", headers=bearer(session_b["accessToken"]))).status_code == 200

    async def test_all_sessions_ends_every_session_of_the_user_only(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        email = user["user"]["email"]
        other = await login(client, email, "securePass123")
        bystander = await login(client, VIEWER)
        response = await client.post(
            "/api/auth/logout", json={"allSessions": True}, headers=bearer(user["accessToken"])
        )
        assert response.status_code == 200
        for tokens in (user, other):
            assert (
                await client.get("/api/auth/me", headers=bearer(tokens["accessToken"]))
            ).status_code == 401
            refresh = await client.post("/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
            assert refresh.status_code == 401
        assert (await client.get("/api/auth/me", headers=bearer(bystander["accessToken"]))).status_code == 200

    async def test_all_sessions_false_or_empty_body_ends_only_this_one(
        self, client: httpx.AsyncClient
    ) -> None:
        user = await register(client)
        other = await login(client, user["user"]["email"], "securePass123")
        response = await client.post(
            "/api/auth/logout", json={"allSessions": False}, headers=bearer(user["accessToken"])
        )
        assert response.status_code == 200
        assert (await client.get("/api/auth/me", headers=bearer(other["accessToken"]))).status_code == 200
        third = await login(client, user["user"]["email"], "securePass123")
        assert (
            await client.post("/api/auth/logout", json={}, headers=bearer(third["accessToken"]))
        ).status_code == 200
        assert (await client.get("/api/auth/me", headers=bearer(other["accessToken"]))).status_code == 200
        fourth = await login(client, user["user"]["email"], "securePass123")
        null_body = await client.post(
            "/api/auth/logout",
            content=b"null",
            headers={**bearer(fourth["accessToken"]), "Content-Type": "application/json"},
        )
        assert null_body.status_code == 200  # the spec's `null`: the same as no body
        assert (await client.get("/api/auth/me", headers=bearer(other["accessToken"]))).status_code == 200
        for not_a_boolean in ("maybe", "true", 1):
            bad = await client.post(
                "/api/auth/logout", json={"allSessions": not_a_boolean}, headers=bearer(other["accessToken"])
            )
            assert bad.status_code == 422


async def _session_row(app: FastAPI, session_id: str) -> Any:
    from sqlalchemy import select

    from halolight.db.models import AuthSession

    async with app.state.runtime.sessionmaker() as db:
        return (await db.scalars(select(AuthSession).where(AuthSession.id == session_id))).one()


def _sid(tokens: dict[str, Any]) -> str:
    return str(jwt.get_unverified_claims(tokens["refreshToken"])["sid"])


class TestSessionLifetime:
    async def test_a_new_session_has_an_absolute_end_from_the_setting(
        self, client: httpx.AsyncClient, app: FastAPI, settings: Settings
    ) -> None:
        from datetime import timedelta

        from halolight.db.types import utcnow

        tokens = await register(client)
        row = await _session_row(app, _sid(tokens))
        expected = utcnow() + timedelta(days=settings.jwt_session_max_days)
        assert abs((row.absolute_expires_at - expected).total_seconds()) < 60
        assert row.expires_at <= row.absolute_expires_at

    async def test_rotation_never_extends_past_the_absolute_end(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        from datetime import timedelta

        from sqlalchemy import update

        from halolight.db.models import AuthSession
        from halolight.db.types import utcnow

        tokens = await register(client)
        end = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
        async with app.state.runtime.sessionmaker() as db:
            await db.execute(
                update(AuthSession).where(AuthSession.id == _sid(tokens)).values(absolute_expires_at=end)
            )
            await db.commit()
        rotated = await client.post("/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
        assert rotated.status_code == 200
        assert (await _session_row(app, _sid(tokens))).expires_at == end

    async def test_a_family_past_its_absolute_end_is_dead(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        from datetime import timedelta

        from sqlalchemy import update

        from halolight.db.models import AuthSession
        from halolight.db.types import utcnow

        tokens = await register(client)
        async with app.state.runtime.sessionmaker() as db:
            await db.execute(
                update(AuthSession)
                .where(AuthSession.id == _sid(tokens))
                .values(absolute_expires_at=utcnow() - timedelta(seconds=1))
            )
            await db.commit()
        response = await client.post("/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
        assert response.status_code == 401


class TestListSessions:
    async def test_lists_own_live_sessions_and_marks_the_current_one(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        email = user["user"]["email"]
        second = await login(client, email, "securePass123")
        ended = await login(client, email, "securePass123")
        await client.post("/api/auth/logout", headers=bearer(ended["accessToken"]))
        await login(client, VIEWER)  # someone else's session
        response = await client.get(
            "/api/auth/sessions", headers={**bearer(second["accessToken"]), "User-Agent": "TestBrowser/1.0"}
        )
        assert response.status_code == 200
        sessions = response.json()["data"]
        assert {s["id"] for s in sessions} == {_sid(user), _sid(second)}
        assert [s["id"] for s in sessions if s["current"]] == [_sid(second)]
        for item in sessions:
            assert set(item) == {
                "id",
                "createdAt",
                "lastUsedAt",
                "expiresAt",
                "current",
                "userAgent",
                "ipAddress",
            }
            assert item["ipAddress"] == "203.0.113.10"
        assert sessions[0]["expiresAt"].endswith("Z")

    async def test_records_the_user_agent_and_the_last_use(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        opened = await client.post(
            "/api/auth/login",
            json={"email": user["user"]["email"], "password": "securePass123"},
            headers={"User-Agent": "HaloLightTest/2.0"},
        )
        rotated = (
            await client.post("/api/auth/refresh", json={"refreshToken": opened.json()["refreshToken"]})
        ).json()
        sessions = (await client.get("/api/auth/sessions", headers=bearer(rotated["accessToken"]))).json()[
            "data"
        ]
        mine = next(s for s in sessions if s["current"])
        assert mine["userAgent"] == "HaloLightTest/2.0"
        assert mine["lastUsedAt"] >= mine["createdAt"]


class TestRevokeSession:
    async def test_revokes_one_own_session(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        other = await login(client, user["user"]["email"], "securePass123")
        response = await client.delete(
            f"/api/auth/sessions/{_sid(other)}", headers=bearer(user["accessToken"])
        )
        assert response.status_code == 204
        assert (await client.get("/api/auth/me", headers=bearer(other["accessToken"]))).status_code == 401
        refresh = await client.post("/api/auth/refresh", json={"refreshToken": other["refreshToken"]})
        assert refresh.status_code == 401
        assert (await client.get("/api/auth/me", headers=bearer(user["accessToken"]))).status_code == 200
        again = await client.delete(f"/api/auth/sessions/{_sid(other)}", headers=bearer(user["accessToken"]))
        assert again.status_code == 404

    async def test_someone_elses_session_is_404_and_stays_alive(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        victim = await login(client, VIEWER)
        response = await client.delete(
            f"/api/auth/sessions/{_sid(victim)}", headers=bearer(user["accessToken"])
        )
        assert response.status_code == 404
        assert response.json() == {"detail": "Session not found"}
        assert (await client.get("/api/auth/me", headers=bearer(victim["accessToken"]))).status_code == 200

    async def test_the_current_session_can_be_ended(self, client: httpx.AsyncClient) -> None:
        user = await register(client)
        response = await client.delete(
            f"/api/auth/sessions/{_sid(user)}", headers=bearer(user["accessToken"])
        )
        assert response.status_code == 204
        assert (await client.get("/api/auth/me", headers=bearer(user["accessToken"]))).status_code == 401


class TestChangePassword:
    async def test_changes_the_password_ends_other_sessions_keeps_this_one_and_mails(
        self, client: httpx.AsyncClient, app: FastAPI, outbox: OutboxMailSender
    ) -> None:
        user = await register(client)
        email = user["user"]["email"]
        other = await login(client, email, "securePass123")
        response = await client.post(
            "/api/auth/change-password",
            json={"currentPassword": "securePass123", "newPassword": "brandNewSecret42"},
            headers=bearer(user["accessToken"]),
        )
        assert response.status_code == 200, response.text
        assert (await client.get("/api/auth/me", headers=bearer(user["accessToken"]))).status_code == 200
        assert (
            await client.post("/api/auth/refresh", json={"refreshToken": user["refreshToken"]})
        ).status_code == 200
        assert (await client.get("/api/auth/me", headers=bearer(other["accessToken"]))).status_code == 401
        old = await client.post("/api/auth/login", json={"email": email, "password": "securePass123"})
        assert old.status_code == 401
        await login(client, email, "brandNewSecret42")
        await app.state.runtime.drain()
        assert [m["subject"] for m in outbox.messages(to=email)] == ["Your HaloLight password was changed"]

    async def test_wrong_current_password_is_400_and_changes_nothing(
        self, client: httpx.AsyncClient, app: FastAPI, outbox: OutboxMailSender
    ) -> None:
        user = await register(client)
        email = user["user"]["email"]
        other = await login(client, email, "securePass123")
        response = await client.post(
            "/api/auth/change-password",
            json={"currentPassword": "not-my-password", "newPassword": "brandNewSecret42"},
            headers=bearer(user["accessToken"]),
        )
        assert response.status_code == 400
        assert response.json() == {"detail": "Current password is incorrect"}
        assert (await client.get("/api/auth/me", headers=bearer(other["accessToken"]))).status_code == 200
        await login(client, email, "securePass123")
        await app.state.runtime.drain()
        assert outbox.messages(to=email) == []

    async def test_throttled_per_account(self, settings: Settings, database_url: str) -> None:
        strict = create_app(settings.model_copy(update={"auth_rate_limit": "3/minute"}), database_url)
        async with _client(strict, "198.51.100.77") as c:
            user = await register(c)
            statuses = [
                (
                    await c.post(
                        "/api/auth/change-password",
                        json={"currentPassword": "wrong-one", "newPassword": "brandNewSecret42"},
                        headers=bearer(user["accessToken"]),
                    )
                ).status_code
                for _ in range(4)
            ]
        assert statuses == [400, 400, 400, 429]


class TestPasswordPolicy:
    """The API refuses what `check_new_password` (also the command line's policy) refuses, the same way."""

    @pytest.mark.parametrize("password", ["abc", "Zq9-vL2", "Zq9" * 24 + "x"])
    async def test_every_way_in_refuses_what_the_policy_refuses(
        self, client: httpx.AsyncClient, password: str
    ) -> None:
        from halolight.errors import ValidationFailed
        from halolight.security.passwords import check_new_password
        from tests.api.helpers import auth_headers

        with pytest.raises(ValidationFailed) as policy:
            check_new_password(password)
        expected_type = policy.value.issues[0]["type"]
        user = await register(client)
        admin = await auth_headers(client, ADMIN)
        answers = [
            (
                await client.post(
                    "/api/auth/register", json={"email": unique_email(), "name": "X", "password": password}
                ),
                "password",
            ),
            (
                await client.post(
                    "/api/auth/change-password",
                    json={"currentPassword": "securePass123", "newPassword": password},
                    headers=bearer(user["accessToken"]),
                ),
                "newPassword",
            ),
            (
                await client.post(
                    "/api/users",
                    json={"email": unique_email(), "name": "X", "password": password},
                    headers=admin,
                ),
                "password",
            ),
            (
                await client.post("/api/auth/reset-password", json={"token": "t", "password": password}),
                "password",
            ),
        ]
        for response, field in answers:
            assert response.status_code == 422, response.text
            issue = response.json()["detail"][0]
            assert (issue["loc"], issue["type"]) == (["body", field], expected_type)


class TestPasswordReset:
    async def _reset_token(self, client: httpx.AsyncClient, outbox: OutboxMailSender, email: str) -> str:
        response = await client.post("/api/auth/forgot-password", json={"email": email})
        assert response.status_code == 200
        await client._transport.app.state.runtime.drain()  # type: ignore[attr-defined]  # mail is sent in the background
        body = outbox.messages(to=email)[-1]["body"]
        match = re.search(r"token=([A-Za-z0-9_-]+)", body)
        assert match
        return match.group(1)

    async def test_full_flow_single_use_and_signs_out_everywhere(
        self, client: httpx.AsyncClient, outbox: OutboxMailSender
    ) -> None:
        email = unique_email()
        old = await register(client, email, password="oldPassword1")
        token = await self._reset_token(client, outbox, email)
        response = await client.post(
            "/api/auth/reset-password", json={"token": token, "password": "newPassword1"}
        )
        assert response.status_code == 200
        assert (await client.get("/api/auth/me", headers=bearer(old["accessToken"]))).status_code == 401
        again = await client.post("/api/auth/reset-password", json={"token": token, "password": "otherPass1"})
        assert again.status_code == 400
        assert again.json() == {"detail": "Invalid or expired reset token"}
        await login(client, email, "newPassword1")
        bad = await client.post("/api/auth/login", json={"email": email, "password": "oldPassword1"})
        assert bad.status_code == 401

    async def test_mails_per_address_are_capped_with_the_same_answer(
        self, client: httpx.AsyncClient, outbox: OutboxMailSender, app: FastAPI
    ) -> None:
        known_email = unique_email()
        await register(client, known_email)
        unknown_email = unique_email("ghost")
        answers = []
        for email in (known_email, unknown_email):
            # The cap is per normalized address: case (and NFKC) variants count as the same address.
            for variant in (email, email.upper(), email, email.title(), email, email):
                response = await client.post("/api/auth/forgot-password", json={"email": variant})
                answers.append((response.status_code, response.json()))
        await app.state.runtime.drain()
        assert len(set(map(str, answers))) == 1
        assert answers[0][0] == 200
        assert len(outbox.messages(to=known_email)) == 3  # PASSWORD_RESET_MAIL_LIMIT, 3 per 15 minutes
        assert outbox.messages(to=unknown_email) == []

    async def test_only_the_newest_reset_token_works(
        self, client: httpx.AsyncClient, outbox: OutboxMailSender
    ) -> None:
        email = unique_email()
        await register(client, email)
        older = await self._reset_token(client, outbox, email)
        newer = await self._reset_token(client, outbox, email)
        assert older != newer
        stale = await client.post(
            "/api/auth/reset-password", json={"token": older, "password": "newPassword1"}
        )
        assert stale.status_code == 400
        fresh = await client.post(
            "/api/auth/reset-password", json={"token": newer, "password": "newPassword1"}
        )
        assert fresh.status_code == 200
        await login(client, email, "newPassword1")

    async def test_a_reset_mails_a_password_changed_notice(
        self, client: httpx.AsyncClient, outbox: OutboxMailSender, app: FastAPI
    ) -> None:
        email = unique_email()
        await register(client, email)
        token = await self._reset_token(client, outbox, email)
        response = await client.post(
            "/api/auth/reset-password", json={"token": token, "password": "newPassword1"}
        )
        assert response.status_code == 200
        await app.state.runtime.drain()
        subjects = [m["subject"] for m in outbox.messages(to=email)]
        assert subjects == ["Reset your HaloLight password", "Your HaloLight password was changed"]

    async def test_same_answer_for_unknown_email_and_no_mail(
        self, client: httpx.AsyncClient, outbox: OutboxMailSender
    ) -> None:
        known_email = unique_email()
        await register(client, known_email)
        unknown_email = unique_email("ghost")
        known = await client.post("/api/auth/forgot-password", json={"email": known_email})
        unknown = await client.post("/api/auth/forgot-password", json={"email": unknown_email})
        assert known.status_code == unknown.status_code == 200
        assert known.json() == unknown.json()
        assert outbox.messages(to=unknown_email) == []
        assert len(outbox.messages(to=known_email)) == 1

    async def test_token_is_stored_hashed(
        self, client: httpx.AsyncClient, outbox: OutboxMailSender, app: FastAPI
    ) -> None:
        from sqlalchemy import select

        from halolight.db.models import PasswordResetToken

        email = unique_email()
        await register(client, email)
        token = await self._reset_token(client, outbox, email)
        async with app.state.runtime.sessionmaker() as db:
            stored = (await db.scalars(select(PasswordResetToken.token_hash))).all()
        assert token not in stored
        assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in stored)

    async def test_guessing_tokens_is_throttled_per_client_address(
        self, settings: Settings, database_url: str, outbox: OutboxMailSender
    ) -> None:
        strict = create_app(settings.model_copy(update={"auth_rate_limit": "3/minute"}), database_url)
        email = unique_email()
        async with _client(strict, "198.51.100.90") as guesser, _client(strict, "198.51.100.91") as owner:
            await register(owner, email)
            response = await owner.post("/api/auth/forgot-password", json={"email": email})
            assert response.status_code == 200
            await strict.state.runtime.drain()
            match = re.search(r"token=([A-Za-z0-9_-]+)", outbox.messages(to=email)[-1]["body"])
            assert match
            guesses = [
                await guesser.post(
                    "/api/auth/reset-password", json={"token": f"guess-{n}", "password": "newPassword1"}
                )
                for n in range(5)
            ]
            assert [g.status_code for g in guesses] == [400, 400, 400, 429, 429]
            refused = guesses[3]
            assert list(refused.json()) == ["detail"]  # the seed's error shape
            assert refused.json()["detail"].startswith("Too many attempts")
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            # The real token is refused from the throttled address too, and not consumed by that ...
            blocked = await guesser.post(
                "/api/auth/reset-password", json={"token": match.group(1), "password": "newPassword1"}
            )
            assert blocked.status_code == 429
            # ... while from another address it works.
            ok = await owner.post(
                "/api/auth/reset-password", json={"token": match.group(1), "password": "newPassword1"}
            )
            assert ok.status_code == 200, ok.text
            await login(owner, email, "newPassword1")
        await strict.state.runtime.close()

    async def test_expired_token_is_refused(
        self, client: httpx.AsyncClient, outbox: OutboxMailSender, app: FastAPI
    ) -> None:
        from datetime import timedelta

        from sqlalchemy import update

        from halolight.db.models import PasswordResetToken
        from halolight.db.types import utcnow

        email = unique_email()
        await register(client, email)
        token = await self._reset_token(client, outbox, email)
        async with app.state.runtime.sessionmaker() as db:
            await db.execute(update(PasswordResetToken).values(expires_at=utcnow() - timedelta(seconds=1)))
            await db.commit()
        response = await client.post(
            "/api/auth/reset-password", json={"token": token, "password": "newPassword1"}
        )
        assert response.status_code == 400


class TestHealthAndDocs:
    async def test_health(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health")
        assert response.json() == {"status": "ok", "database": "ok"}

    async def test_openapi_is_the_hand_written_spec(self, client: httpx.AsyncClient) -> None:
        import yaml

        from halolight.app import SPEC_PATH

        served: dict[str, Any] = (await client.get("/api/openapi.json")).json()
        assert served == yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))

    @pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
    async def test_docs_pages(self, client: httpx.AsyncClient, path: str) -> None:
        response = await client.get(path)
        assert response.status_code == 200
        assert "/api/openapi.json" in response.text

    async def test_unknown_route_and_method_use_the_error_shape(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/api/nope")).json() == {"detail": "Not Found"}
        response = await client.delete("/api/auth/login")
        assert response.status_code == 405
        assert response.json() == {"detail": "Method Not Allowed"}

    async def test_nul_in_query_string_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health?x=%00")
        assert response.status_code == 422


class TestDatabaseOutage:
    async def test_unreachable_database_is_503_with_retry_after(self, settings: Settings) -> None:
        down = create_app(
            settings.model_copy(update={"database_connect_timeout_s": 1}),
            "postgresql+psycopg://nobody@/halolight?host=/nonexistent-socket-dir",
        )
        token = down.state.runtime.tokens.issue("access", "some-user", "some-session").token
        async with _client(down, "192.0.2.50") as c:
            health = await c.get("/health")
            login_response = await c.post("/api/auth/login", json={"email": ADMIN, "password": DEMO_PASSWORD})
            # Authentication on the read pool (psycopg directly): the same answer, within the connect timeout.
            started = time.monotonic()
            me = await c.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            waited = time.monotonic() - started
        await down.state.runtime.close()
        assert health.status_code == login_response.status_code == me.status_code == 503
        assert (
            me.json() == {"detail": "Database temporarily unavailable"} and me.headers["Retry-After"] == "5"
        )
        assert waited < 5  # not the 10 s a busy pool would be waited for
        assert health.json() == {"detail": "Database temporarily unavailable"}
        assert health.headers["Retry-After"] == "5"
