"""`halolight users create-admin`: the way to the first administrator of a production database."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from click.testing import CliRunner

from halolight.app import create_app
from halolight.cli import main
from halolight.settings import Settings
from tests.pg import TestServer

PASSPHRASE = "violet-Harbor-lantern-93"


@pytest.fixture
def fresh_url(pg_server: TestServer) -> str:
    return pg_server.create_database("cli")


def _invoke(url: str, *args: str, password_input: str) -> tuple[int, str]:
    env = {"DATABASE_URL": url, "BCRYPT_ROUNDS": "4", "ENVIRONMENT": "test", "SEED_DEMO_USERS": "false"}
    result = CliRunner().invoke(main, ["users", "create-admin", *args], input=password_input, env=env)
    return result.exit_code, result.output


async def _login(url: str, email: str, password: str) -> httpx.Response:
    app = create_app(Settings(environment="test", bcrypt_rounds=4), url)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            tokens = await client.post("/api/auth/login", json={"email": email, "password": password})
            assert tokens.status_code == 200, tokens.text
            headers = {"Authorization": f"Bearer {tokens.json()['accessToken']}"}
            return await client.get("/api/auth/me", headers=headers)
    finally:
        await app.state.runtime.close()


def test_creates_an_administrator_who_can_log_in(fresh_url: str) -> None:
    code, output = _invoke(fresh_url, "--email", "Ops@Example.com", password_input=f"{PASSPHRASE}\n" * 2)
    assert code == 0, output
    assert "created administrator ops@example.com" in output
    assert PASSPHRASE not in output
    me = asyncio.run(_login(fresh_url, "ops@example.com", PASSPHRASE))
    assert me.json()["permissions"] == ["*"]


def test_refuses_a_common_password_and_a_taken_address(fresh_url: str) -> None:
    code, output = _invoke(fresh_url, "--email", "ops@example.com", password_input="password\npassword\n")
    assert code == 1
    assert "too common" in output
    assert _invoke(fresh_url, "--email", "ops@example.com", password_input=f"{PASSPHRASE}\n" * 2)[0] == 0
    code, output = _invoke(fresh_url, "--email", "OPS@example.com", password_input=f"{PASSPHRASE}\n" * 2)
    assert code == 1
    assert "already" in output.lower()


def test_the_password_is_never_an_argument() -> None:
    result = CliRunner().invoke(main, ["users", "create-admin", "--help"])
    assert result.exit_code == 0
    assert "--password" not in result.output


@pytest.mark.parametrize(
    ("password", "reason"), [("abc", "at least 8 characters"), ("Zq9" * 25, "at most 72 characters")]
)
def test_refuses_a_password_outside_the_spec_s_length_bounds(
    fresh_url: str, password: str, reason: str
) -> None:
    # The same policy as the API's (halolight.security.passwords.check_new_password): nothing is created.
    code, output = _invoke(fresh_url, "--email", "ops@example.com", password_input=f"{password}\n" * 2)
    assert code == 1
    assert reason in output
    assert password not in output
    assert _invoke(fresh_url, "--email", "ops@example.com", password_input=f"{PASSPHRASE}\n" * 2)[0] == 0
