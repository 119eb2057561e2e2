"""Auth operations over HTTP, through the real app and a real PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jose import jwt

from halolight.app import create_app
from halolight.mail import OutboxMailSender
from halolight.settings import Settings
from tests.api.helpers import ADMIN, DEMO_PASSWORD, VIEWER, bearer, login, register, unique_email

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
        assert set(body["user"]) == {"id", "email", "name", "avatar", "status"}
        assert body["expiresAt"].endswith("Z")

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

    async def test_password_over_72_bytes_is_422_and_not_echoed(self, client: httpx.AsyncClient) -> None:
        password = "é" * 40  # 40 characters, 80 bytes
        response = await client.post("/api/auth/login", json={"email": ADMIN, "password": password})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "password"]
        assert password not in response.text

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

    async def test_throttled_per_account_with_retry_after(
        self, settings: Settings, database_url: str
    ) -> None:
        strict = create_app(settings.model_copy(update={"auth_rate_limit": "3/minute"}), database_url)
        async with _client(strict, "198.51.100.1") as first, _client(strict, "198.51.100.2") as second:
            for _ in range(3):
                await first.post("/api/auth/login", json={"email": VIEWER, "password": "wrong-password"})
            # The same account from another address is still throttled (per-account key).
            response = await second.post("/api/auth/login", json={"email": VIEWER, "password": DEMO_PASSWORD})
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) >= 1

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

    async def test_new_password_over_72_bytes_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/auth/register", json={"email": unique_email(), "name": "X", "password": "密" * 30}
        )
        assert response.status_code == 422

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

    async def test_anonymous_is_401(self, client: httpx.AsyncClient) -> None:
        assert (await client.post("/api/auth/logout")).status_code == 401


class TestPasswordReset:
    async def _reset_token(self, client: httpx.AsyncClient, outbox: OutboxMailSender, email: str) -> str:
        response = await client.post("/api/auth/forgot-password", json={"email": email})
        assert response.status_code == 200
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
        async with _client(down, "192.0.2.50") as c:
            health = await c.get("/health")
            login_response = await c.post("/api/auth/login", json={"email": ADMIN, "password": DEMO_PASSWORD})
        assert health.status_code == login_response.status_code == 503
        assert health.json() == {"detail": "Database temporarily unavailable"}
        assert health.headers["Retry-After"] == "5"
