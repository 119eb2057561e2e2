"""schemathesis hooks (SCHEMATHESIS_HOOKS=tests.contract.hooks): log in as the demo admin."""

from __future__ import annotations

import os
from typing import Any

import httpx
import schemathesis
from hypothesis import strategies as st

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


# The spec's `format: password` means at most 72 bytes in UTF-8 (bcrypt's limit); JSON Schema can only
# bound characters, so the fuzzer learns the byte bound here. Longer inputs must get 422: see the HTTP tests.
schemathesis.openapi.format(
    "password",
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=72).filter(
        lambda s: len(s.encode("utf-8")) <= 72
    ),
)


@schemathesis.auth(refresh_interval=60)
class AdminToken:
    def get(self, case: Any, ctx: Any) -> str:
        return _login()

    def set(self, case: Any, data: str, ctx: Any) -> None:
        # Logout revokes the session its token belongs to: give it a session of its own, so the shared one
        # keeps working for every other operation.
        token = _login() if case.operation.path == "/api/auth/logout" else data
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
