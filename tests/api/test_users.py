"""Users operations over HTTP: authorization matrix, shapes, rules and bad input; one class per operation."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from halolight.repositories import users
from tests.api.helpers import (
    ADMIN,
    BAD_PAGE_QUERIES,
    BAD_URLS,
    GOOD_URLS,
    MANAGER,
    USER,
    VIEWER,
    auth_headers,
    bearer,
    caller_with,
    login,
    register,
    unique_email,
)

pytestmark = pytest.mark.asyncio

MISSING_ID = "cmissing0000000000000000x"
USER_FIELDS = {
    "id", "email", "name", "username", "avatar", "phone", "status", "department", "position", "bio", "roles",
    "lastLoginAt", "created_at", "updated_at",
}  # fmt: skip


async def _role_id(client: httpx.AsyncClient, name: str) -> str:
    me = (await client.get("/api/auth/me", headers=await auth_headers(client, ADMIN))).json()
    if name == "ADMIN":
        return str(me["roles"][0]["id"])
    response = await client.get(
        "/api/users", params={"role": name, "limit": 1}, headers=await auth_headers(client, ADMIN)
    )
    return str(next(r["id"] for r in response.json()["data"][0]["roles"] if r["name"] == name))


async def create_user(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"email": unique_email(), "name": "Created User", "password": "initialPass1", **fields}
    response = await client.post(
        "/api/users", json=body, headers=headers or await auth_headers(client, ADMIN)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


class TestListUsers:
    async def test_seed_shape_with_meta(self, client: httpx.AsyncClient) -> None:
        response = await client.get(
            "/api/users?page=1&limit=10&search=admin", headers=await auth_headers(client, VIEWER)
        )
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"data", "meta"}
        assert set(body["meta"]) == {"total", "page", "limit", "totalPages"}
        assert [u["email"] for u in body["data"]] == [ADMIN]
        assert set(body["data"][0]) == USER_FIELDS
        assert body["meta"] == {"total": 1, "page": 1, "limit": 10, "totalPages": 1}

    async def test_paging(self, client: httpx.AsyncClient) -> None:
        headers = await auth_headers(client, ADMIN)
        tag = unique_email("pg").split("@")[0]
        for i in range(3):
            await create_user(client, headers, email=f"{tag}-{i}@example.com")
        first = (await client.get("/api/users", params={"search": tag, "limit": 2}, headers=headers)).json()
        second = (
            await client.get("/api/users", params={"search": tag, "limit": 2, "page": 2}, headers=headers)
        ).json()
        assert first["meta"] == {"total": 3, "page": 1, "limit": 2, "totalPages": 2}
        assert len(first["data"]) == 2 and len(second["data"]) == 1
        assert {u["id"] for u in first["data"]}.isdisjoint(u["id"] for u in second["data"])

    async def test_search_is_case_insensitive_and_wildcards_are_literal(
        self, client: httpx.AsyncClient
    ) -> None:
        headers = await auth_headers(client, ADMIN)
        assert (await client.get("/api/users?search=ADMIN@HALO", headers=headers)).json()["meta"][
            "total"
        ] == 1
        assert (await client.get("/api/users?search=%25", headers=headers)).json()["meta"]["total"] == 0
        assert (await client.get("/api/users?search=_", headers=headers)).json()["meta"]["total"] == 0

    async def test_status_and_role_filters(self, client: httpx.AsyncClient) -> None:
        headers = await auth_headers(client, ADMIN)
        suspended = (await client.get("/api/users?status=SUSPENDED&limit=100", headers=headers)).json()[
            "data"
        ]
        assert suspended and all(u["status"] == "SUSPENDED" for u in suspended)
        managers = (await client.get("/api/users?role=manager&limit=100", headers=headers)).json()["data"]
        assert MANAGER in [u["email"] for u in managers]
        assert all(any(r["name"] == "MANAGER" for r in u["roles"]) for u in managers)
        everyone = (await client.get("/api/users?status=all&role=all", headers=headers)).json()["meta"][
            "total"
        ]
        assert everyone >= 7

    async def test_the_halolight_admins_query(self, client: httpx.AsyncClient) -> None:
        """Issue 12.21: the Next.js admin's users page: empty search, `all` filters, then a role id."""
        headers = await auth_headers(client, ADMIN)
        everyone = await client.get("/api/users?page=1&limit=10", headers=headers)
        response = await client.get("/api/users?page=1&limit=10&search=&status=all&role=all", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == everyone.json()
        manager_role = await _role_id(client, "MANAGER")
        by_id = await client.get(
            "/api/users", params={"search": "", "status": "all", "role": manager_role}, headers=headers
        )
        assert by_id.status_code == 200
        assert by_id.json() == (await client.get("/api/users?role=manager", headers=headers)).json()
        # Other tests give fresh accounts MANAGER, so the demo manager may be past the first page.
        managers = await client.get(
            "/api/users", params={"search": "manager@halolight", "role": manager_role}, headers=headers
        )
        assert MANAGER in [u["email"] for u in managers.json()["data"]]
        assert all(manager_role in [r["id"] for r in u["roles"]] for u in by_id.json()["data"])

    @pytest.mark.parametrize(
        ("value", "canonical"), [("suspended", "SUSPENDED"), ("Active", "ACTIVE"), ("ALL", "all")]
    )
    async def test_status_filter_in_any_case(
        self, client: httpx.AsyncClient, value: str, canonical: str
    ) -> None:
        """The Next.js admin sends lower-case filter values: the same answer as in the spec's case."""
        headers = await auth_headers(client, ADMIN)
        response = await client.get("/api/users", params={"status": value, "limit": 100}, headers=headers)
        assert response.status_code == 200, response.text
        expected = await client.get("/api/users", params={"status": canonical, "limit": 100}, headers=headers)
        assert response.json() == expected.json()
        assert response.json()["data"]
        if canonical != "all":
            assert {u["status"] for u in response.json()["data"]} == {canonical}

    @pytest.mark.parametrize(
        "params",
        [
            *BAD_PAGE_QUERIES,
            {"status": "DELETED"},
            {"status": "deleted"},
            {"status": "suspend"},
            {"role": ""},
            {"role": "r" * 51},
        ],
    )
    async def test_bad_query_is_422(self, client: httpx.AsyncClient, params: dict[str, Any]) -> None:
        response = await client.get("/api/users", params=params, headers=await auth_headers(client, ADMIN))
        assert response.status_code == 422
        assert all(set(issue) == {"loc", "msg", "type"} for issue in response.json()["detail"])


class TestGetUser:
    async def test_without_users_view_is_403(self, client: httpx.AsyncClient) -> None:
        me = (await login(client, USER))["user"]
        response = await client.get(f"/api/users/{me['id']}", headers=await auth_headers(client, USER))
        assert response.status_code == 403

    async def test_unknown_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"/api/users/{MISSING_ID}", headers=await auth_headers(client, VIEWER))
        assert response.status_code == 404
        assert response.json() == {"detail": "User not found"}

    async def test_malformed_id_is_422(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/users/not%20an%20id", headers=await auth_headers(client, VIEWER))
        assert response.status_code == 422

    async def test_detail_with_roles_and_teams(self, client: httpx.AsyncClient) -> None:
        admin = await login(client, ADMIN)
        response = await client.get(
            f"/api/users/{admin['user']['id']}", headers=await auth_headers(client, VIEWER)
        )
        assert response.status_code == 200
        body = response.json()
        assert set(body) == USER_FIELDS | {"teams"}
        assert [r["name"] for r in body["roles"]] == ["ADMIN"]
        assert "password" not in response.text

    async def test_teams_are_listed_only_if_the_caller_could_get_them(
        self, client: httpx.AsyncClient
    ) -> None:
        """Issue 12.5: a team that GET /api/teams/{id} answers 404 to is never named here."""
        admin = await auth_headers(client, ADMIN)
        owner = await register(client)
        owner_headers = bearer(owner["accessToken"])
        secret = await client.post(
            "/api/teams", json={"name": f"Secret {unique_email('t')}"}, headers=owner_headers
        )
        assert secret.status_code == 201, secret.text
        team = {"id": secret.json()["id"], "name": secret.json()["name"], "isOwner": True}
        path = f"/api/users/{owner['user']['id']}"
        for outsider in (VIEWER, MANAGER):  # users:view and teams:view, not in the team, not teams:*
            headers = await auth_headers(client, outsider)
            assert (await client.get(f"/api/teams/{team['id']}", headers=headers)).status_code == 404
            response = await client.get(path, headers=headers)
            assert response.status_code == 200
            assert response.json()["teams"] == []
            assert team["id"] not in response.text and team["name"] not in response.text
        assert (await client.get(path, headers=admin)).json()["teams"] == [team]  # teams:* sees it
        # A member who can see the user sees the team; losing teams:view hides it again.
        manager = (await login(client, MANAGER))["user"]["id"]
        added = await client.post(f"/api/teams/{team['id']}/members", json={"userId": manager}, headers=admin)
        assert added.status_code == 201, added.text
        as_member = await client.get(path, headers=await auth_headers(client, MANAGER))
        assert as_member.json()["teams"] == [team]

    async def test_teams_need_teams_view(self, client: httpx.AsyncClient) -> None:
        admin = await auth_headers(client, ADMIN)
        headers = await caller_with(client, admin, "users:view")  # no teams:view
        me = (await client.get("/api/auth/me", headers=headers)).json()
        created = await client.post("/api/teams", json={"name": "Mine"}, headers=admin)
        added = await client.post(
            f"/api/teams/{created.json()['id']}/members", json={"userId": me["id"]}, headers=admin
        )
        assert added.status_code == 201, added.text
        response = await client.get(f"/api/users/{me['id']}", headers=headers)
        assert response.status_code == 200
        assert response.json()["teams"] == []


class TestCreateUser:
    async def test_creates_with_defaults_and_can_log_in(self, client: httpx.AsyncClient) -> None:
        email = unique_email("Mixed.Case")
        created = await create_user(client, email=email)
        assert set(created) == USER_FIELDS
        assert created["email"] == email.lower()
        assert created["username"] == email.split("@")[0].lower()
        assert created["status"] == "ACTIVE" and created["roles"] == []
        await login(client, email, "initialPass1")

    async def test_with_roles(self, client: httpx.AsyncClient) -> None:
        viewer_role = await _role_id(client, "VIEWER")
        created = await create_user(client, roleIds=[viewer_role, viewer_role])
        assert [r["name"] for r in created["roles"]] == ["VIEWER"]

    async def test_unknown_role_is_422(self, client: httpx.AsyncClient) -> None:
        body = {"email": unique_email(), "name": "X", "password": "initialPass1", "roleIds": [MISSING_ID]}
        response = await client.post("/api/users", json=body, headers=await auth_headers(client, ADMIN))
        assert response.status_code == 422
        assert response.json() == {
            "detail": [{"loc": ["body", "roleIds"], "msg": "Role not found", "type": "not_found"}]
        }

    async def test_a_manager_cannot_grant_the_admin_role(self, client: httpx.AsyncClient) -> None:
        admin_role = await _role_id(client, "ADMIN")
        body = {"email": unique_email(), "name": "X", "password": "initialPass1", "roleIds": [admin_role]}
        response = await client.post("/api/users", json=body, headers=await auth_headers(client, MANAGER))
        assert response.status_code == 403
        assert (
            await client.get(f"/api/users?search={body['email']}", headers=await auth_headers(client, ADMIN))
        ).json()["meta"]["total"] == 0

    @pytest.mark.parametrize("field", ["email", "username"])
    async def test_taken_email_or_username_is_409(self, client: httpx.AsyncClient, field: str) -> None:
        existing = await create_user(client)
        body = {
            "email": unique_email(),
            "name": "X",
            "password": "initialPass1",
            field: existing[field].upper(),
        }
        if field == "email":
            body["email"] = existing["email"].upper()
        response = await client.post("/api/users", json=body, headers=await auth_headers(client, ADMIN))
        assert response.status_code == 409

    @pytest.mark.parametrize(
        "extra",
        [{"id": "c123"}, {"quotaUsed": 5}, {"created_at": "2020-01-01T00:00:00Z"}, {"password_hash": "x"}],
    )
    async def test_mass_assignment_is_422(self, client: httpx.AsyncClient, extra: dict[str, Any]) -> None:
        body = {"email": unique_email(), "name": "X", "password": "initialPass1", **extra}
        response = await client.post("/api/users", json=body, headers=await auth_headers(client, ADMIN))
        assert response.status_code == 422

    @pytest.mark.parametrize(
        "patch",
        [{"email": "nope"}, {"name": ""}, {"name": "x" * 101}, {"password": "short"}, {"status": "DELETED"},
         {"avatar": "javascript:alert(1)"}, {"username": "a b"}, {"roleIds": ["bad id"]}, {"name": None}],
    )  # fmt: skip
    async def test_invalid_fields_are_422(self, client: httpx.AsyncClient, patch: dict[str, Any]) -> None:
        body = {"email": unique_email(), "name": "X", "password": "initialPass1", **patch}
        response = await client.post("/api/users", json=body, headers=await auth_headers(client, ADMIN))
        assert response.status_code == 422

    @pytest.mark.parametrize("avatar", BAD_URLS)
    async def test_urls_outside_rfc_3986_are_422(self, client: httpx.AsyncClient, avatar: str) -> None:
        """Issue 12.18: no raw quotes, angle brackets, spaces, backslashes… in stored URLs."""
        body = {"email": unique_email(), "name": "X", "password": "initialPass1", "avatar": avatar}
        response = await client.post("/api/users", json=body, headers=await auth_headers(client, ADMIN))
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][:2] == ["body", "avatar"]

    @pytest.mark.parametrize("avatar", GOOD_URLS)
    async def test_rfc_3986_urls_are_stored(self, client: httpx.AsyncClient, avatar: str) -> None:
        assert (await create_user(client, avatar=avatar))["avatar"] == avatar


class TestUpdateUser:
    async def test_unknown_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.patch(
            f"/api/users/{MISSING_ID}", json={"name": "X"}, headers=await auth_headers(client, ADMIN)
        )
        assert response.status_code == 404

    async def test_changes_only_the_fields_sent(self, client: httpx.AsyncClient) -> None:
        target = await create_user(client, department="Sales", phone="+86 138 0000 0000")
        response = await client.patch(
            f"/api/users/{target['id']}",
            json={"name": "Renamed", "phone": None},
            headers=await auth_headers(client, MANAGER),
        )
        assert response.status_code == 200
        body = response.json()
        assert body["name"] == "Renamed" and body["phone"] is None and body["department"] == "Sales"
        assert body["updated_at"] >= target["updated_at"]

    async def test_empty_patch_changes_nothing(self, client: httpx.AsyncClient) -> None:
        target = await create_user(client)
        response = await client.patch(
            f"/api/users/{target['id']}", json={}, headers=await auth_headers(client, ADMIN)
        )
        assert response.status_code == 200
        assert response.json()["name"] == target["name"]

    async def test_password_change_signs_the_user_out(self, client: httpx.AsyncClient) -> None:
        target = await create_user(client)
        session = await login(client, target["email"], "initialPass1")
        response = await client.patch(
            f"/api/users/{target['id']}",
            json={"password": "changedPass1"},
            headers=await auth_headers(client, ADMIN),
        )
        assert response.status_code == 200
        assert (await client.get("/api/auth/me", headers=bearer(session["accessToken"]))).status_code == 401
        await login(client, target["email"], "changedPass1")

    async def test_a_manager_cannot_take_over_an_admin(self, client: httpx.AsyncClient) -> None:
        admin = await login(client, ADMIN)
        for patch in ({"password": "takenOver1"}, {"email": unique_email()}, {"name": "Pwned"}):
            response = await client.patch(
                f"/api/users/{admin['user']['id']}", json=patch, headers=await auth_headers(client, MANAGER)
            )
            assert response.status_code == 403, patch
        await login(client, ADMIN)

    async def test_roles_are_replaced_within_the_callers_power(self, client: httpx.AsyncClient) -> None:
        target = await create_user(client)
        viewer_role, admin_role = await _role_id(client, "VIEWER"), await _role_id(client, "ADMIN")
        manager = await auth_headers(client, MANAGER)
        ok = await client.patch(
            f"/api/users/{target['id']}", json={"roleIds": [viewer_role]}, headers=manager
        )
        assert [r["name"] for r in ok.json()["roles"]] == ["VIEWER"]
        escalate = await client.patch(
            f"/api/users/{target['id']}", json={"roleIds": [admin_role]}, headers=manager
        )
        assert escalate.status_code == 403

    async def test_own_status_cannot_be_changed(self, client: httpx.AsyncClient) -> None:
        admin = await login(client, ADMIN)
        response = await client.patch(
            f"/api/users/{admin['user']['id']}",
            json={"status": "INACTIVE"},
            headers=bearer(admin["accessToken"]),
        )
        assert response.status_code == 403

    @pytest.mark.parametrize(
        "patch",
        [{"password": "selfChange1"}, {"email": "self@example.com"}, {"status": "ACTIVE"}, {"roleIds": []}],
    )
    async def test_own_credentials_and_roles_cannot_be_changed_here(
        self, client: httpx.AsyncClient, patch: dict[str, Any]
    ) -> None:
        admin = await login(client, ADMIN)
        response = await client.patch(
            f"/api/users/{admin['user']['id']}", json=patch, headers=bearer(admin["accessToken"])
        )
        assert response.status_code == 403
        assert response.json() == {
            "detail": "You cannot change the email, password, status or roles of your own account"
        }
        await login(client, ADMIN)

    async def test_own_profile_fields_can_be_changed(self, client: httpx.AsyncClient) -> None:
        admin = await login(client, ADMIN)
        response = await client.patch(
            f"/api/users/{admin['user']['id']}",
            json={"position": "CTO"},
            headers=bearer(admin["accessToken"]),
        )
        assert response.status_code == 200 and response.json()["position"] == "CTO"

    async def test_email_taken_by_another_is_409(self, client: httpx.AsyncClient) -> None:
        first, second = await create_user(client), await create_user(client)
        response = await client.patch(
            f"/api/users/{second['id']}",
            json={"email": first["email"]},
            headers=await auth_headers(client, ADMIN),
        )
        assert response.status_code == 409

    @pytest.mark.parametrize(
        "patch",
        [{"id": "x"}, {"quotaUsed": 1}, {"password_hash": "x"}, {"updated_at": "2020-01-01T00:00:00Z"}],
    )
    async def test_mass_assignment_is_422(self, client: httpx.AsyncClient, patch: dict[str, Any]) -> None:
        target = await create_user(client)
        response = await client.patch(
            f"/api/users/{target['id']}", json=patch, headers=await auth_headers(client, ADMIN)
        )
        assert response.status_code == 422


class TestUpdateUserStatus:
    async def test_unknown_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.patch(
            f"/api/users/{MISSING_ID}/status",
            json={"status": "INACTIVE"},
            headers=await auth_headers(client, ADMIN),
        )
        assert response.status_code == 404

    async def test_suspending_ends_sessions_and_login(self, client: httpx.AsyncClient) -> None:
        target = await create_user(client)
        session = await login(client, target["email"], "initialPass1")
        response = await client.patch(
            f"/api/users/{target['id']}/status",
            json={"status": "SUSPENDED"},
            headers=await auth_headers(client, ADMIN),
        )
        assert response.status_code == 200 and response.json()["status"] == "SUSPENDED"
        assert (await client.get("/api/auth/me", headers=bearer(session["accessToken"]))).status_code == 401
        relogin = await client.post(
            "/api/auth/login", json={"email": target["email"], "password": "initialPass1"}
        )
        assert relogin.status_code == 401

    async def test_an_admin_cannot_disable_themself(self, client: httpx.AsyncClient) -> None:
        admin = await login(client, ADMIN)
        response = await client.patch(
            f"/api/users/{admin['user']['id']}/status",
            json={"status": "INACTIVE"},
            headers=bearer(admin["accessToken"]),
        )
        assert response.status_code == 403
        assert response.json() == {"detail": "You cannot change the status of your own account"}

    async def test_invalid_status_is_422(self, client: httpx.AsyncClient) -> None:
        target = await create_user(client)
        response = await client.patch(
            f"/api/users/{target['id']}/status",
            json={"status": "active"},
            headers=await auth_headers(client, ADMIN),
        )
        assert response.status_code == 422


class TestDeleteUser:
    async def test_without_users_delete_is_403(self, client: httpx.AsyncClient) -> None:
        target = await create_user(client)
        response = await client.delete(
            f"/api/users/{target['id']}", headers=await auth_headers(client, MANAGER)
        )
        assert response.status_code == 403

    async def test_unknown_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.delete(f"/api/users/{MISSING_ID}", headers=await auth_headers(client, ADMIN))
        assert response.status_code == 404

    async def test_deletes(self, client: httpx.AsyncClient) -> None:
        target = await create_user(client)
        headers = await auth_headers(client, ADMIN)
        response = await client.delete(f"/api/users/{target['id']}", headers=headers)
        assert response.status_code == 204 and response.content == b""
        assert (await client.get(f"/api/users/{target['id']}", headers=headers)).status_code == 404

    async def test_an_admin_cannot_delete_themself(self, client: httpx.AsyncClient) -> None:
        admin = await login(client, ADMIN)
        response = await client.delete(
            f"/api/users/{admin['user']['id']}", headers=bearer(admin["accessToken"])
        )
        assert response.status_code == 403


class TestDeleteUsers:
    async def test_without_users_delete_is_403(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/users/batch-delete", json={"ids": [MISSING_ID]}, headers=await auth_headers(client, MANAGER)
        )
        assert response.status_code == 403

    async def test_reports_how_many_it_deleted(self, client: httpx.AsyncClient) -> None:
        a, b = await create_user(client), await create_user(client)
        response = await client.post(
            "/api/users/batch-delete",
            json={"ids": [a["id"], b["id"], a["id"], MISSING_ID]},
            headers=await auth_headers(client, ADMIN),
        )
        assert response.status_code == 200
        assert response.json() == {"message": "Deleted 2 user(s)", "deleted_count": 2}

    async def test_list_with_self_deletes_nothing(self, client: httpx.AsyncClient) -> None:
        admin = await login(client, ADMIN)
        other = await create_user(client)
        response = await client.post(
            "/api/users/batch-delete",
            json={"ids": [other["id"], admin["user"]["id"]]},
            headers=bearer(admin["accessToken"]),
        )
        assert response.status_code == 403
        assert (
            await client.get(f"/api/users/{other['id']}", headers=bearer(admin["accessToken"]))
        ).status_code == 200

    @pytest.mark.parametrize("ids", [[], ["bad id"], [f"c{i:024d}" for i in range(101)]])
    async def test_unbounded_or_bad_lists_are_422(self, client: httpx.AsyncClient, ids: list[str]) -> None:
        response = await client.post(
            "/api/users/batch-delete", json={"ids": ids}, headers=await auth_headers(client, ADMIN)
        )
        assert response.status_code == 422


class TestConcurrentEmails:
    async def test_emails_differing_only_in_case_cannot_both_register(
        self, client: httpx.AsyncClient
    ) -> None:
        email = unique_email("Race")
        bodies = [{"email": e, "name": "Race", "password": "racePass123"} for e in (email, email.upper())]
        responses = await asyncio.gather(*(client.post("/api/auth/register", json=b) for b in bodies))
        assert sorted(r.status_code for r in responses) == [201, 409]

    async def test_usernames_differing_only_in_case_cannot_both_be_created(
        self, client: httpx.AsyncClient
    ) -> None:
        headers = await auth_headers(client, ADMIN)
        username = "Race" + unique_email("").split("@")[0].replace("-", "")
        bodies = [
            {"email": unique_email(), "name": "Race", "password": "racePass123", "username": u}
            for u in (username, username.lower())
        ]
        responses = await asyncio.gather(
            *(client.post("/api/users", json=b, headers=headers) for b in bodies)
        )
        assert sorted(r.status_code for r in responses) == [201, 409]

    @pytest.mark.parametrize("via", ["register", "createUser"])
    async def test_concurrent_accounts_sharing_a_local_part_get_distinct_usernames(
        self, client: httpx.AsyncClient, via: str
    ) -> None:
        """Issue 12.23: the derived username is allocated under a lock, not read and then written."""
        local = unique_email("same").split("@")[0].replace("-", "")
        bodies = [
            {"email": f"{local}@{domain}.example.com", "name": "Same", "password": "samePass123"}
            for domain in ("a", "b", "c", "d")
        ]
        headers = await auth_headers(client, ADMIN)
        if via == "register":
            posts = (client.post("/api/auth/register", json=b) for b in bodies)
        else:
            posts = (client.post("/api/users", json=b, headers=headers) for b in bodies)
        responses = await asyncio.gather(*posts)
        assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
        ids = [r.json().get("user", r.json())["id"] for r in responses]
        found = [(await client.get(f"/api/users/{i}", headers=headers)).json()["username"] for i in ids]
        assert sorted(found) == [local, f"{local}2", f"{local}3", f"{local}4"]


def fullwidth(text: str) -> str:
    """ASCII letters and digits as their fullwidth compatibility forms (NFKC maps them back)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


class TestEmailNormalization:
    """Issue 12.12: emails are NFKC-normalized and lower-cased before uniqueness checks, storage and login."""

    async def test_a_fullwidth_variant_of_the_admin_cannot_register(self, client: httpx.AsyncClient) -> None:
        email = fullwidth("admin") + "@halolight.h7ml.cn"
        response = await client.post(
            "/api/auth/register", json={"email": email, "name": "Spoof", "password": "spoofPass123"}
        )
        assert response.status_code == 409
        assert response.json() == {"detail": "Email is already registered"}

    async def test_a_fullwidth_variant_cannot_be_created_by_an_administrator(
        self, client: httpx.AsyncClient
    ) -> None:
        body = {"email": fullwidth("VIEWER") + "@halolight.h7ml.cn", "name": "X", "password": "spoofPass123"}
        response = await client.post("/api/users", json=body, headers=await auth_headers(client, ADMIN))
        assert response.status_code == 409

    async def test_emails_are_stored_normalized_and_log_in_in_any_form(
        self, client: httpx.AsyncClient
    ) -> None:
        local = unique_email("Wide").split("@")[0]
        registered = await client.post(
            "/api/auth/register",
            json={"email": f"{fullwidth(local)}@Example.COM", "name": "Wide", "password": "widePass123"},
        )
        assert registered.status_code == 201, registered.text
        assert registered.json()["user"]["email"] == f"{local.lower()}@example.com"
        body = await login(client, f"{local.upper()}@example.com", "widePass123")
        assert body["user"]["id"] == registered.json()["user"]["id"]
        created = await create_user(client, email=f"{fullwidth('Made')}{local}@example.com")
        assert created["email"] == f"made{local.lower()}@example.com"

    async def test_rows_written_by_the_other_backends_match_too(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        """A row stored as typed (not normalized) by the NestJS backend still blocks its NFKC twin."""
        local = unique_email("nest").split("@")[0]
        async with app.state.runtime.sessionmaker() as db:
            await users.add(
                db,
                email=f"{fullwidth(local).upper()}@example.com",
                name="Nest",
                username=local,
                password=await app.state.runtime.passwords.hash("nestPass123"),
            )
            await db.commit()
        response = await client.post(
            "/api/auth/register",
            json={"email": f"{local}@example.com", "name": "N", "password": "nestPass123"},
        )
        assert response.status_code == 409
        assert (await login(client, f"{local}@example.com", "nestPass123"))["user"]["name"] == "Nest"
