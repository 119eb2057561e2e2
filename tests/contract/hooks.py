"""schemathesis hooks (SCHEMATHESIS_HOOKS=tests.contract.hooks): log in as the demo admin."""

from __future__ import annotations

import os
import uuid
from typing import Any

import httpx
import schemathesis
from hypothesis import strategies as st

from halolight.security.passwords import is_common
from tests.contract import references  # noqa: F401  (registers the spec-extension failure filter)

BASE_URL = os.environ.get("HALOLIGHT_CONTRACT_URL", "http://127.0.0.1:8000")


def _login() -> str:
    response = httpx.post(
        f"{BASE_URL}/api/auth/login",
        json={"email": "admin@halolight.h7ml.cn", "password": "123456"},
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["accessToken"]
    return token


# Every password of up to 72 characters is accepted (only its first 72 UTF-8 bytes count, as in bcryptjs).
# The one rule JSON Schema cannot state is the list of common passwords that new passwords must avoid (422,
# said in the spec's NewPassword): the fuzzer learns it here, so that its "valid" passwords are valid.
schemathesis.openapi.format(
    "password",
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=72).filter(
        lambda s: not is_common(s)
    ),
)


@schemathesis.auth(refresh_interval=60)
class AdminToken:
    def get(self, case: Any, ctx: Any) -> str:
        return _login()

    def set(self, case: Any, data: str, ctx: Any) -> None:
        # Logout (possibly of every session), ending sessions and changing the password act on the caller's
        # own account: give them a fresh account of their own, so the admin's shared session (and password)
        # keep working for every other operation.
        token = _disposable_account() if case.operation.path in OWN_ACCOUNT_PATHS else data
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


OWN_ACCOUNT_PATHS = frozenset({"/api/auth/logout", "/api/auth/change-password", "/api/auth/sessions/{id}"})


def _disposable_account() -> str:
    response = httpx.post(
        f"{BASE_URL}/api/auth/register",
        json={
            "email": f"fuzz-{uuid.uuid4().hex}@example.com",
            "name": "Fuzz",
            "password": f"fuzz-{uuid.uuid4().hex}",
        },
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["accessToken"]
    return token
