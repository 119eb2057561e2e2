"""The Python client that `make sdk` generates (openapi-python-client, sdk/python/) against a running server:
login, the current user, a token refresh, a paged list and the typed errors, as a client application would."""

from __future__ import annotations

import asyncio
import datetime
import importlib
import math
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from tests.ops.helpers import free_port, serve
from tests.pg import TestServer
from tests.sdk.helpers import SDK, make

ADMIN = "admin@halolight.h7ml.cn"
DEMO_ACCOUNTS = 7  # admin, manager, demo, viewer, user, inactive, suspended


@pytest.fixture(scope="module")
def client_package() -> Iterator[ModuleType]:
    make("sdk/python/.generated")
    sys.path.insert(0, str(SDK / "python"))
    try:
        yield importlib.import_module("halolight_api_client")
    finally:
        sys.path.remove(str(SDK / "python"))


@pytest.fixture(scope="module")
def api_url(pg_server: TestServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    tmp = tmp_path_factory.mktemp("sdk-server")
    with serve(port, tmp, DATABASE_URL=pg_server.create_database("sdk")) as server:
        server.wait_ready(port)
        yield f"http://127.0.0.1:{port}"


def test_login_me_refresh_and_paged_list(client_package: ModuleType, api_url: str) -> None:
    from halolight_api_client import AuthenticatedClient, Client
    from halolight_api_client.api.auth import get_current_user, login, refresh_tokens
    from halolight_api_client.api.users import list_users
    from halolight_api_client.models import (
        AuthResponse,
        AuthUser,
        CurrentUser,
        Error,
        LoginRequest,
        PaginationMeta,
        RefreshRequest,
        RoleSummary,
        RoleWithPermissionNames,
        TokenPair,
        User,
        UserList,
        UserStatus,
    )

    with Client(base_url=api_url, raise_on_unexpected_status=True) as anonymous:
        answer = login.sync_detailed(client=anonymous, body=LoginRequest(email=ADMIN, password="123456"))
        assert answer.status_code == 200, answer.content
        auth = answer.parsed
        assert isinstance(auth, AuthResponse)
        assert isinstance(auth.access_token, str) and auth.access_token
        assert isinstance(auth.refresh_token, str) and auth.refresh_token
        assert isinstance(auth.expires_at, datetime.datetime) and auth.expires_at.tzinfo is not None
        assert isinstance(auth.user, AuthUser)
        assert auth.user.email == ADMIN
        assert auth.user.status is UserStatus.ACTIVE
        # Every field the server sent is one the spec declares.
        assert auth.additional_properties == {} and auth.user.additional_properties == {}

    with AuthenticatedClient(base_url=api_url, token=auth.access_token, raise_on_unexpected_status=True) as c:
        me = get_current_user.sync(client=c)
        assert isinstance(me, CurrentUser)
        assert (me.id, me.email, me.status) == (auth.user.id, ADMIN, UserStatus.ACTIVE)
        assert "*" in me.permissions
        assert all(isinstance(role, RoleWithPermissionNames) for role in me.roles)
        assert "ADMIN" in {role.name for role in me.roles}
        assert isinstance(me.created_at, datetime.datetime) and me.updated_at >= me.created_at
        assert me.additional_properties == {}

        rotated = refresh_tokens.sync(client=c, body=RefreshRequest(refresh_token=auth.refresh_token))
        assert isinstance(rotated, TokenPair)
        assert rotated.refresh_token != auth.refresh_token
        assert isinstance(rotated.expires_at, datetime.datetime)

    with AuthenticatedClient(
        base_url=api_url, token=rotated.access_token, raise_on_unexpected_status=True
    ) as c:
        first = list_users.sync(client=c, page=1, limit=5)
        assert isinstance(first, UserList)
        assert isinstance(first.meta, PaginationMeta)
        assert (first.meta.page, first.meta.limit) == (1, 5)
        assert first.meta.total >= DEMO_ACCOUNTS
        assert first.meta.total_pages == math.ceil(first.meta.total / 5)
        assert len(first.data) == 5
        for user in first.data:
            assert isinstance(user, User)
            assert isinstance(user.status, UserStatus)
            assert isinstance(user.created_at, datetime.datetime)
            assert user.last_login_at is None or isinstance(user.last_login_at, datetime.datetime)
            assert all(isinstance(role, RoleSummary) for role in user.roles)
            assert user.additional_properties == {}
        # Newest first.
        assert [u.created_at for u in first.data] == sorted((u.created_at for u in first.data), reverse=True)

    # The async side of the same client: page 2 continues page 1.
    async_client = AuthenticatedClient(base_url=api_url, token=rotated.access_token)

    async def second_page() -> object:
        async with async_client as c:
            return await list_users.asyncio(client=c, page=2, limit=5)

    second = asyncio.run(second_page())
    assert isinstance(second, UserList)
    assert second.meta.page == 2 and second.meta.total == first.meta.total
    assert len(second.data) == min(5, first.meta.total - 5)
    assert not {u.id for u in first.data} & {u.id for u in second.data}

    # Presenting the rotated refresh token again revokes the session: a typed 401 for both tokens.
    with Client(base_url=api_url) as anonymous:
        reused = refresh_tokens.sync_detailed(
            client=anonymous, body=RefreshRequest(refresh_token=auth.refresh_token)
        )
    assert reused.status_code == 401
    assert isinstance(reused.parsed, Error) and isinstance(reused.parsed.detail, str)
    with AuthenticatedClient(base_url=api_url, token=rotated.access_token) as c:
        gone = get_current_user.sync_detailed(client=c)
    assert gone.status_code == 401 and isinstance(gone.parsed, Error)


def test_errors_are_typed(client_package: ModuleType, api_url: str) -> None:
    from halolight_api_client import Client
    from halolight_api_client.api.auth import login
    from halolight_api_client.models import Error, LoginRequest, ValidationError, ValidationIssue

    with Client(base_url=api_url) as anonymous:
        wrong = login.sync_detailed(client=anonymous, body=LoginRequest(email=ADMIN, password="not-it"))
        assert wrong.status_code == 401
        assert isinstance(wrong.parsed, Error) and wrong.parsed.detail

        invalid = login.sync_detailed(client=anonymous, body=LoginRequest(email="not an email", password="x"))
        assert invalid.status_code == 422
        assert isinstance(invalid.parsed, ValidationError)
        assert invalid.parsed.detail and all(isinstance(i, ValidationIssue) for i in invalid.parsed.detail)
        assert any(i.loc[-1] == "email" for i in invalid.parsed.detail)
