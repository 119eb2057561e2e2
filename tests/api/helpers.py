"""Small helpers for HTTP tests through the real app."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

DEMO_PASSWORD = "123456"
ADMIN = "admin@halolight.h7ml.cn"
MANAGER = "manager@halolight.h7ml.cn"
EDITOR = "demo@halolight.h7ml.cn"
VIEWER = "viewer@halolight.h7ml.cn"
USER = "user@halolight.h7ml.cn"

_counter = itertools.count(1)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_counter)}-{id(_counter)}@example.com"


async def login(client: httpx.AsyncClient, email: str, password: str = DEMO_PASSWORD) -> dict[str, Any]:
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def auth_headers(
    client: httpx.AsyncClient, email: str, password: str = DEMO_PASSWORD
) -> dict[str, str]:
    return bearer((await login(client, email, password))["accessToken"])


async def register(
    client: httpx.AsyncClient, email: str | None = None, password: str = "securePass123"
) -> Any:
    email = email or unique_email()
    response = await client.post(
        "/api/auth/register", json={"email": email, "name": "Test User", "password": password}
    )
    assert response.status_code == 201, response.text
    return response.json()
