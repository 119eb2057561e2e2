"""Permissions over HTTP: authorization matrix, shapes, rules and bad input; one class per operation."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

import httpx
import pytest

from halolight.db import types
from tests.api.helpers import (
    ADMIN,
    BAD_PAGE_QUERIES,
    LIST_PATHS,
    MANAGER,
    USER,
    VIEWER,
    auth_headers,
    caller_with,
    permission_ids,
    unique_email,
)

pytestmark = pytest.mark.asyncio

MISSING_ID = "cmissing0000000000000000x"
PERMISSION_FIELDS = {"id", "action", "resource", "description", "createdAt", "updatedAt"}


def _tag() -> str:
    """A fresh lower-case resource name, valid in an action (`[a-z][a-z0-9-]{0,39}`)."""
    return "pt" + unique_email("").split("@")[0]


async def _create_permission(
    client: httpx.AsyncClient, headers: dict[str, str], action: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post("/api/permissions", json={"action": action, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture(scope="module")
async def admin(client: httpx.AsyncClient) -> dict[str, str]:
    return await auth_headers(client, ADMIN)


class TestListPermissions:
    async def test_manager_may_list_and_defaults_are_page_1_of_10(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/permissions", headers=await auth_headers(client, MANAGER))
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"data", "meta"}
        assert body["meta"]["page"] == 1 and body["meta"]["limit"] == 10
        assert len(body["data"]) == 10
        assert all(set(p) == PERMISSION_FIELDS for p in body["data"])

    async def test_ordered_by_action_across_pages(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        first = (await client.get("/api/permissions", params={"limit": 100}, headers=admin)).json()
        total = first["meta"]["total"]
        actions = [p["action"] for p in first["data"]]
        page = 2
        while len(actions) < total:
            more = await client.get("/api/permissions", params={"limit": 100, "page": page}, headers=admin)
            actions += [p["action"] for p in more.json()["data"]]
            page += 1
        assert len(actions) == total >= 34  # the seeded vocabulary, plus what other tests created
        assert actions[0] == "*"
        assert {"users:view", "roles:edit", "permissions:delete"} <= set(actions)
        assert len(set(actions)) == len(actions)
        seeded = [a for a in actions if a.replace(":", "").replace("*", "").isalpha()]
        assert seeded == sorted(seeded)

    async def test_seeded_permission_shape(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await client.get("/api/permissions", params={"search": "users:view"}, headers=admin)
        assert response.status_code == 200
        body = response.json()
        assert body["meta"] == {"total": 1, "page": 1, "limit": 10, "totalPages": 1}
        [permission] = body["data"]
        assert set(permission) == PERMISSION_FIELDS
        assert permission["action"] == "users:view"
        assert permission["resource"] == "users"
        assert permission["description"] == "View users"
        assert permission["createdAt"].endswith("Z") and permission["updatedAt"].endswith("Z")

    async def test_search_paging_and_meta(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        tag = _tag()
        for verb in ("view", "edit", "delete"):
            await _create_permission(client, admin, f"{tag}:{verb}")
        first = await client.get("/api/permissions", params={"search": tag, "limit": 2}, headers=admin)
        second = await client.get(
            "/api/permissions", params={"search": tag, "limit": 2, "page": 2}, headers=admin
        )
        beyond = await client.get(
            "/api/permissions", params={"search": tag, "limit": 2, "page": 3}, headers=admin
        )
        assert first.json()["meta"] == {"total": 3, "page": 1, "limit": 2, "totalPages": 2}
        assert second.json()["meta"] == {"total": 3, "page": 2, "limit": 2, "totalPages": 2}
        assert [p["action"] for p in first.json()["data"] + second.json()["data"]] == [
            f"{tag}:delete",
            f"{tag}:edit",
            f"{tag}:view",
        ]
        assert beyond.json() == {"data": [], "meta": {"total": 3, "page": 3, "limit": 2, "totalPages": 2}}

    async def test_search_matches_description_case_insensitively(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        tag = _tag()
        word = f"Zebra{tag.replace('-', '')}"
        created = await _create_permission(client, admin, f"{tag}:view", description=f"Lets {word} in")
        response = await client.get("/api/permissions", params={"search": word.upper()}, headers=admin)
        assert response.json() == {
            "data": [created],
            "meta": {"total": 1, "page": 1, "limit": 10, "totalPages": 1},
        }

    async def test_search_wildcards_are_literal(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        tag = _tag()
        await _create_permission(client, admin, f"{tag}:view")
        for term in (f"{tag}%", f"{tag}_view", f"{tag[:2]}%{tag[3:]}"):
            response = await client.get("/api/permissions", params={"search": term}, headers=admin)
            assert response.json()["meta"]["total"] == 0, term

    async def test_empty_search_matches_nothing(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        response = await client.get(
            "/api/permissions", params={"search": "no-such-permission-zz"}, headers=admin
        )
        assert response.json() == {"data": [], "meta": {"total": 0, "page": 1, "limit": 10, "totalPages": 0}}

    @pytest.mark.parametrize("path", LIST_PATHS)
    async def test_an_empty_search_is_no_filter_in_every_list(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        """Issue 12.21, for every list operation (they share the Search parameter)."""
        headers = await auth_headers(client, ADMIN)
        response = await client.get(f"{path}?page=1&limit=100&search=", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == (await client.get(f"{path}?page=1&limit=100", headers=headers)).json()

    @pytest.mark.parametrize("params", BAD_PAGE_QUERIES)
    async def test_bad_query_is_422(
        self, client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, Any]
    ) -> None:
        response = await client.get("/api/permissions", params=params, headers=admin)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][0] == "query"


class TestGetPermission:
    async def test_unknown_id_is_404(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await client.get(f"/api/permissions/{MISSING_ID}", headers=admin)
        assert response.status_code == 404
        assert response.json() == {"detail": "Permission not found"}

    async def test_malformed_id_is_422(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await client.get("/api/permissions/not.an.id", headers=admin)
        assert response.status_code == 422

    async def test_returns_the_permission(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        created = await _create_permission(client, admin, f"{_tag()}:export", description="Export things")
        response = await client.get(
            f"/api/permissions/{created['id']}", headers=await auth_headers(client, MANAGER)
        )
        assert response.status_code == 200
        assert response.json() == created


class TestCreatePermission:
    @pytest.mark.parametrize("email", [MANAGER, USER])
    async def test_without_permissions_create_is_403(self, client: httpx.AsyncClient, email: str) -> None:
        response = await client.post(
            "/api/permissions", json={"action": f"{_tag()}:view"}, headers=await auth_headers(client, email)
        )
        assert response.status_code == 403
        assert response.json() == {"detail": "Missing permission: permissions:create"}

    async def test_created_with_resource_taken_from_the_action(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        tag = _tag()
        response = await client.post(
            "/api/permissions", json={"action": f"{tag}:approve", "description": "Approve it"}, headers=admin
        )
        assert response.status_code == 201
        body = response.json()
        assert set(body) == PERMISSION_FIELDS
        assert body["action"] == f"{tag}:approve"
        assert body["resource"] == tag
        assert body["description"] == "Approve it"
        assert body["createdAt"] == body["updatedAt"]
        assert datetime.fromisoformat(body["createdAt"]).tzinfo is not None
        fetched = await client.get(f"/api/permissions/{body['id']}", headers=admin)
        assert fetched.json() == body

    async def test_one_timestamp_per_insert_whatever_the_clock(
        self, client: httpx.AsyncClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Issue 12.26: createdAt and updatedAt of one insert come from one clock reading, not two."""

        class TickingClock(datetime):
            """Real time, but every reading is one millisecond later than the one before."""

            readings = 0

            @classmethod
            def now(cls, tz: tzinfo | None = None) -> TickingClock:
                cls.readings += 1
                real = datetime.now(tz) + timedelta(milliseconds=cls.readings)
                return cls.fromtimestamp(real.timestamp(), tz)

        monkeypatch.setattr(types, "datetime", TickingClock)
        created = await client.post("/api/permissions", json={"action": f"{_tag()}:view"}, headers=admin)
        assert created.status_code == 201, created.text
        assert created.json()["createdAt"] == created.json()["updatedAt"]
        # The other creations too, including those that attach rows in the same request.
        role = await client.post(
            "/api/roles",
            json={"name": "Tick" + _tag()[:20], "permissionIds": [created.json()["id"]]},
            headers=admin,
        )
        assert role.status_code == 201, role.text
        assert role.json()["createdAt"] == role.json()["updatedAt"]
        body = {
            "email": unique_email("tick"),
            "name": "T",
            "password": "tickPass123",
            "roleIds": [role.json()["id"]],
        }
        user = await client.post("/api/users", json=body, headers=admin)
        assert user.status_code == 201, user.text
        assert user.json()["created_at"] == user.json()["updated_at"]
        team = await client.post("/api/teams", json={"name": "Tick"}, headers=admin)
        assert team.status_code == 201, team.text
        assert team.json()["createdAt"] == team.json()["updatedAt"]
        assert TickingClock.readings > 0  # the patched clock was read

    async def test_wildcard_verb_and_missing_or_null_description(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        tag = _tag()
        wildcard = await _create_permission(client, admin, f"{tag}:*")
        assert (wildcard["resource"], wildcard["description"]) == (tag, None)
        explicit_null = await _create_permission(client, admin, f"{tag}:view", description=None)
        assert (explicit_null["resource"], explicit_null["description"]) == (tag, None)

    @pytest.mark.parametrize("verb", ["view", "*"])
    async def test_the_nestjs_dtos_resource_field_is_accepted(
        self, client: httpx.AsyncClient, admin: dict[str, str], verb: str
    ) -> None:
        """Issue 12.20: the NestJS DTO sends `resource` beside `action`."""
        tag = _tag()
        body = {"action": f"{tag}:{verb}", "resource": tag, "description": "From NestJS"}
        response = await client.post("/api/permissions", json=body, headers=admin)
        assert response.status_code == 201, response.text
        assert (response.json()["action"], response.json()["resource"]) == (f"{tag}:{verb}", tag)

    @pytest.mark.parametrize("resource", ["other", "*"])
    async def test_a_resource_that_disagrees_with_the_action_is_422(
        self, client: httpx.AsyncClient, admin: dict[str, str], resource: str
    ) -> None:
        action = f"{_tag()}:view"
        response = await client.post(
            "/api/permissions", json={"action": action, "resource": resource}, headers=admin
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "resource"]
        listed = await client.get("/api/permissions", params={"search": action}, headers=admin)
        assert listed.json()["meta"]["total"] == 0

    async def test_duplicate_action_is_409(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        action = f"{_tag()}:view"
        await _create_permission(client, admin, action)
        response = await client.post("/api/permissions", json={"action": action}, headers=admin)
        assert response.status_code == 409
        assert response.json() == {"detail": "Permission already exists"}

    @pytest.mark.parametrize("action", ["*", "users:view"])
    async def test_seeded_action_is_409(
        self, client: httpx.AsyncClient, admin: dict[str, str], action: str
    ) -> None:
        response = await client.post("/api/permissions", json={"action": action}, headers=admin)
        assert response.status_code == 409
        assert response.json() == {"detail": "Permission already exists"}

    @pytest.mark.parametrize(
        "action",
        [
            "Users:View",
            "users:View",
            "users",
            "users:",
            ":view",
            "users:view:extra",
            "users view",
            "users:*:*",
            "**",
            "*:view",
            "1users:view",
            "users:_view",
            "",
            "a" * 41 + ":view",
        ],
    )
    async def test_bad_action_is_422(
        self, client: httpx.AsyncClient, admin: dict[str, str], action: str
    ) -> None:
        response = await client.post("/api/permissions", json={"action": action}, headers=admin)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "action"]
        if action:
            assert action not in response.text

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"action": None},
            {"action": 5},
            {"description": "no action"},
            {"action": "zz-extra:view", "resource": "Zz-extra"},
            {"action": "zz-extra:view", "resource": None},
            {"action": "zz-extra:view", "resource": "zz-extra:view"},
            {"action": "zz-long:view", "description": "d" * 2001},
            {"action": "zz-nul:view", "description": "bad\u0000text"},
        ],
    )
    async def test_bad_body_is_422(
        self, client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]
    ) -> None:
        response = await client.post("/api/permissions", json=body, headers=admin)
        assert response.status_code == 422
        assert all(set(issue) == {"loc", "msg", "type"} for issue in response.json()["detail"])
        if "action" in body and isinstance(body["action"], str):
            listed = await client.get("/api/permissions", params={"search": body["action"]}, headers=admin)
            assert listed.json()["meta"]["total"] == 0


class TestDeletePermission:
    @pytest.mark.parametrize("email", [MANAGER, VIEWER])
    async def test_without_permissions_delete_is_403(
        self, client: httpx.AsyncClient, admin: dict[str, str], email: str
    ) -> None:
        created = await _create_permission(client, admin, f"{_tag()}:view")
        response = await client.delete(
            f"/api/permissions/{created['id']}", headers=await auth_headers(client, email)
        )
        assert response.status_code == 403
        assert response.json() == {"detail": "Missing permission: permissions:delete"}
        assert (await client.get(f"/api/permissions/{created['id']}", headers=admin)).status_code == 200

    async def test_unknown_id_is_404(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await client.delete(f"/api/permissions/{MISSING_ID}", headers=admin)
        assert response.status_code == 404
        assert response.json() == {"detail": "Permission not found"}

    async def test_deleted_and_removed_from_every_role(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        tag = _tag()
        doomed = await _create_permission(client, admin, f"{tag}:view")
        kept = await _create_permission(client, admin, f"{tag}:edit")
        role = await client.post(
            "/api/roles",
            json={"name": f"Holder{tag.replace('-', '')}", "permissionIds": [doomed["id"], kept["id"]]},
            headers=admin,
        )
        assert role.status_code == 201, role.text
        response = await client.delete(f"/api/permissions/{doomed['id']}", headers=admin)
        assert response.status_code == 204
        assert response.content == b""
        assert (await client.get(f"/api/permissions/{doomed['id']}", headers=admin)).status_code == 404
        after = await client.get(f"/api/roles/{role.json()['id']}", headers=admin)
        assert [p["action"] for p in after.json()["permissions"]] == [f"{tag}:edit"]
        again = await client.delete(f"/api/permissions/{doomed['id']}", headers=admin)
        assert again.status_code == 404

    async def test_star_cannot_be_deleted(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        [star] = await permission_ids(client, admin, "*")
        response = await client.delete(f"/api/permissions/{star}", headers=admin)
        assert response.status_code == 409
        assert response.json() == {"detail": "The * permission cannot be deleted"}
        assert (await client.get(f"/api/permissions/{star}", headers=admin)).status_code == 200
        me = await client.get("/api/auth/me", headers=admin)
        assert "*" in me.json()["permissions"]

    async def test_caller_must_hold_the_permission(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        tag = _tag()
        held = await _create_permission(client, admin, f"{tag}:view")
        not_held = await _create_permission(client, admin, f"{tag}:edit")
        caller = await caller_with(client, admin, "permissions:view", "permissions:delete", f"{tag}:view")

        refused = await client.delete(f"/api/permissions/{not_held['id']}", headers=caller)
        assert refused.status_code == 403
        assert refused.json() == {"detail": "You cannot delete a permission you do not hold"}
        assert (await client.get(f"/api/permissions/{not_held['id']}", headers=admin)).status_code == 200

        seeded = (await permission_ids(client, admin, "users:delete"))[0]
        assert (await client.delete(f"/api/permissions/{seeded}", headers=caller)).status_code == 403

        allowed = await client.delete(f"/api/permissions/{held['id']}", headers=caller)
        assert allowed.status_code == 204

    async def test_resource_wildcard_holder_may_delete_its_verbs(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        tag = _tag()
        await _create_permission(client, admin, f"{tag}:*")
        verb = await _create_permission(client, admin, f"{tag}:archive")
        caller = await caller_with(client, admin, "permissions:delete", f"{tag}:*")
        response = await client.delete(f"/api/permissions/{verb['id']}", headers=caller)
        assert response.status_code == 204

    async def test_verb_holder_may_not_delete_the_resource_wildcard(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        tag = _tag()
        wildcard = await _create_permission(client, admin, f"{tag}:*")
        await _create_permission(client, admin, f"{tag}:view")
        caller = await caller_with(client, admin, "permissions:delete", f"{tag}:view")
        response = await client.delete(f"/api/permissions/{wildcard['id']}", headers=caller)
        assert response.status_code == 403

    async def test_star_is_409_even_for_a_caller_without_it(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        caller = await caller_with(client, admin, "permissions:delete")
        [star] = await permission_ids(client, admin, "*")
        response = await client.delete(f"/api/permissions/{star}", headers=caller)
        assert response.status_code == 409
