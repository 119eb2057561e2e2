"""Small helpers for HTTP tests through the real app."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from halolight.repositories import roles

DEMO_PASSWORD = "123456"
ADMIN = "admin@halolight.h7ml.cn"
MANAGER = "manager@halolight.h7ml.cn"
EDITOR = "demo@halolight.h7ml.cn"
VIEWER = "viewer@halolight.h7ml.cn"
USER = "user@halolight.h7ml.cn"

# Out-of-contract paging and search parameters, shared by every list operation (Page, Limit, Search).
BAD_PAGE_QUERIES: list[dict[str, Any]] = [
    {"page": 0}, {"page": 100001}, {"page": "x"}, {"limit": 0}, {"limit": 101},
    {"search": "s" * 101},
]  # fmt: skip

# URLs (the spec's `Url`): RFC 3986 characters only, http(s) only.
BAD_URLS = [
    'https://e.co/"><script>', "https://e.co/<x>", "https://e.co/a b", "https://e.co\\evil", "https://e.co/'x'",
    "https://e.co/{x}", "https://e.co/a|b", "https://e.co/^", "https://e.co/`", "https://e.co/%zz",
    "https://e.co/é", "https://[::1]/", "javascript:alert(1)", "ftp://e.co/", "https://", "//e.co/x",
]  # fmt: skip
GOOD_URLS = [
    "https://example.com/a.png", "http://cdn.example.com:8080/p/a%20b.png?x=1&y=(2)#top",
    "https://user@example.com/~me/;v=1,2*3+4!$",
]  # fmt: skip

# Every list operation (`Search`): an empty search is no filter, as front ends send an empty search box.
LIST_PATHS = ["/api/users", "/api/roles", "/api/permissions", "/api/teams", "/api/documents"]

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


@dataclass(frozen=True)
class Person:
    """A user of a test: id, email and the headers of their session."""

    id: str
    email: str
    headers: dict[str, str]


async def person(client: httpx.AsyncClient, app: FastAPI | None = None, *, role: str | None = None) -> Person:
    """A newly registered user (the USER role), holding `role` as well when one is named (through the
    repository, as an administrator would grant it): e.g. MANAGER for `documents:delete` and `files:delete`,
    VIEWER or EDITOR for `users:view`."""
    body = await register(client)
    who = Person(body["user"]["id"], body["user"]["email"], bearer(body["accessToken"]))
    if role is not None:
        assert app is not None, "granting a role needs the app"
        async with app.state.runtime.sessionmaker() as db:
            found = await roles.find_by_name(db, role)
            assert found is not None, role
            await roles.assign_to_user(db, who.id, found.id)
            await db.commit()
    return who


async def permission_ids(client: httpx.AsyncClient, headers: dict[str, str], *actions: str) -> list[str]:
    """The ids of the named permissions, looked up through the API."""
    ids = []
    for action in actions:
        response = await client.get(
            "/api/permissions", params={"search": action, "limit": 100}, headers=headers
        )
        assert response.status_code == 200, response.text
        ids.append(next(p["id"] for p in response.json()["data"] if p["action"] == action))
    return ids


async def caller_with(client: httpx.AsyncClient, admin: dict[str, str], *actions: str) -> dict[str, str]:
    """Log in as a new user whose only role (created through the API) grants exactly `actions`."""
    role = await client.post(
        "/api/roles",
        json={
            "name": "Caller" + unique_email("").split("@")[0],
            "permissionIds": await permission_ids(client, admin, *actions),
        },
        headers=admin,
    )
    assert role.status_code == 201, role.text
    email = unique_email("caller")
    body = {"email": email, "name": "Caller", "password": "callerPass1", "roleIds": [role.json()["id"]]}
    user = await client.post("/api/users", json=body, headers=admin)
    assert user.status_code == 201, user.text
    return await auth_headers(client, email, "callerPass1")
