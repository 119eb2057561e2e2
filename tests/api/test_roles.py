"""Roles over HTTP: authorization matrix, shapes, rules and bad input; one class per operation."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    ADMIN,
    BAD_PAGE_QUERIES,
    EDITOR,
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
ROLE_FIELDS = {"id", "name", "label", "description", "permissions", "userCount", "createdAt", "updatedAt"}
PERMISSION_FIELDS = {"id", "action", "resource", "description", "createdAt", "updatedAt"}
# What a role administrator without `*` holds: enough to run roles, not enough to touch ADMIN.
ROLE_ADMIN = (
    "roles:view", "roles:create", "roles:edit", "roles:delete", "permissions:view", "users:view",
)  # fmt: skip
CANNOT_CHANGE = {"detail": "You cannot change a role with permissions you do not hold"}
CANNOT_GRANT = {"detail": "You cannot grant permissions you do not hold"}
CANNOT_DELETE = {"detail": "You cannot delete a role with permissions you do not hold"}


def _name(prefix: str = "Rt") -> str:
    """A fresh role name (`^[A-Za-z][A-Za-z0-9_-]{1,49}$`)."""
    return prefix + unique_email("").split("@")[0]


async def _role_named(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> dict[str, Any]:
    response = await client.get("/api/roles", params={"search": name, "limit": 100}, headers=headers)
    role: dict[str, Any] = next(r for r in response.json()["data"] if r["name"] == name)
    return role


async def _create_role(
    client: httpx.AsyncClient, headers: dict[str, str], *actions: str, **fields: Any
) -> dict[str, Any]:
    body = {"name": _name(), "permissionIds": await permission_ids(client, headers, *actions), **fields}
    response = await client.post("/api/roles", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _create_user(client: httpx.AsyncClient, admin: dict[str, str], *role_ids: str) -> tuple[str, str]:
    """A new user holding `role_ids`: (user id, email); the password is `callerPass1`."""
    email = unique_email("rolecaller")
    response = await client.post(
        "/api/users",
        json={"email": email, "name": "Role Caller", "password": "callerPass1", "roleIds": list(role_ids)},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"], email


@pytest.fixture(scope="module")
async def admin(client: httpx.AsyncClient) -> dict[str, str]:
    return await auth_headers(client, ADMIN)


@pytest.fixture(scope="module")
async def role_admin(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, str]:
    """A caller holding roles:* verbs (one by one) but not `*`."""
    return await caller_with(client, admin, *ROLE_ADMIN)


@pytest.fixture(scope="module")
async def admin_role(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    return await _role_named(client, admin, "ADMIN")


class TestListRoles:
    @pytest.mark.parametrize("email", [USER, VIEWER, EDITOR])
    async def test_without_roles_view_is_403(self, client: httpx.AsyncClient, email: str) -> None:
        response = await client.get("/api/roles", headers=await auth_headers(client, email))
        assert response.status_code == 403
        assert response.json() == {"detail": "Missing permission: roles:view"}

    async def test_seeded_roles_shape(self, client: httpx.AsyncClient) -> None:
        response = await client.get(
            "/api/roles", params={"search": "超级"}, headers=await auth_headers(client, MANAGER)
        )
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"data", "meta"}
        assert body["meta"] == {"total": 1, "page": 1, "limit": 10, "totalPages": 1}
        [role] = body["data"]
        assert set(role) == ROLE_FIELDS
        assert (role["name"], role["label"]) == ("ADMIN", "超级管理员")
        assert role["description"] == "Everything, through the `*` permission"
        assert [p["action"] for p in role["permissions"]] == ["*"]
        assert set(role["permissions"][0]) == PERMISSION_FIELDS
        assert role["permissions"][0]["resource"] == "*"
        assert role["userCount"] >= 1
        assert role["createdAt"].endswith("Z") and role["updatedAt"].endswith("Z")

    async def test_ordered_by_name_with_permissions_and_user_counts(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        tag = _name("Ord")
        second = await _create_role(client, admin, "users:view", "dashboard:view", name=f"{tag}B")
        third = await _create_role(client, admin, name=f"{tag}C")
        first = await _create_role(client, admin, "files:view", name=f"{tag}A")
        await _create_user(client, admin, second["id"])
        await _create_user(client, admin, second["id"], first["id"])
        response = await client.get("/api/roles", params={"search": tag.lower()}, headers=admin)
        assert response.status_code == 200
        data = response.json()["data"]
        assert [r["name"] for r in data] == [f"{tag}A", f"{tag}B", f"{tag}C"]
        assert [r["userCount"] for r in data] == [1, 2, 0]
        assert [[p["action"] for p in r["permissions"]] for r in data] == [
            ["files:view"],
            ["dashboard:view", "users:view"],
            [],
        ]
        assert data[2] == {**third, "userCount": 0}

    async def test_all_seeded_roles_listed_in_name_order(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        names: list[str] = []
        page = 1
        while True:
            body = (await client.get("/api/roles", params={"limit": 100, "page": page}, headers=admin)).json()
            names += [r["name"] for r in body["data"]]
            if page >= body["meta"]["totalPages"]:
                break
            page += 1
        assert len(names) == body["meta"]["total"]
        seeded = [n for n in names if n in {"ADMIN", "MANAGER", "EDITOR", "VIEWER", "USER"}]
        assert seeded == ["ADMIN", "EDITOR", "MANAGER", "USER", "VIEWER"]

    async def test_search_matches_label_and_description_case_insensitively(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        word = _name("Kiwi")
        by_label = await _create_role(client, admin, label=f"The {word} label")
        by_description = await _create_role(client, admin, description=f"about {word.upper()}")
        response = await client.get("/api/roles", params={"search": word.lower()}, headers=admin)
        assert response.json() == {
            "data": sorted([by_label, by_description], key=lambda r: r["name"]),
            "meta": {"total": 2, "page": 1, "limit": 10, "totalPages": 1},
        }

    async def test_paging_meta(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        tag = _name("Pg")
        for suffix in "ABC":
            await _create_role(client, admin, name=f"{tag}{suffix}")
        pages = [
            (
                await client.get("/api/roles", params={"search": tag, "limit": 2, "page": p}, headers=admin)
            ).json()
            for p in (1, 2, 3)
        ]
        assert [p["meta"] for p in pages] == [
            {"total": 3, "page": p, "limit": 2, "totalPages": 2} for p in (1, 2, 3)
        ]
        assert [[r["name"] for r in p["data"]] for p in pages] == [[f"{tag}A", f"{tag}B"], [f"{tag}C"], []]

    async def test_wildcards_are_literal(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        tag = _name("Wc")
        await _create_role(client, admin, name=f"{tag}x1")
        for term in (f"{tag}%", f"{tag}_1", f"{tag[:2]}%"):
            response = await client.get("/api/roles", params={"search": term}, headers=admin)
            assert response.json()["meta"]["total"] == 0, term

    @pytest.mark.parametrize("params", BAD_PAGE_QUERIES)
    async def test_bad_query_is_422(
        self, client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, Any]
    ) -> None:
        response = await client.get("/api/roles", params=params, headers=admin)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][0] == "query"


class TestGetRole:
    async def test_unknown_id_is_404(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await client.get(f"/api/roles/{MISSING_ID}", headers=admin)
        assert response.status_code == 404
        assert response.json() == {"detail": "Role not found"}

    async def test_malformed_id_is_422(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        assert (await client.get("/api/roles/bad%20id", headers=admin)).status_code == 422

    async def test_returns_the_role_with_permissions_and_user_count(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin, "users:view", "analytics:view", description="Two of them")
        await _create_user(client, admin, role["id"])
        response = await client.get(f"/api/roles/{role['id']}", headers=await auth_headers(client, MANAGER))
        assert response.status_code == 200
        assert response.json() == {**role, "userCount": 1}
        assert [p["action"] for p in role["permissions"]] == ["analytics:view", "users:view"]


class TestCreateRole:
    @pytest.mark.parametrize("email", [MANAGER, VIEWER])
    async def test_without_roles_create_is_403(self, client: httpx.AsyncClient, email: str) -> None:
        response = await client.post(
            "/api/roles", json={"name": _name()}, headers=await auth_headers(client, email)
        )
        assert response.status_code == 403
        assert response.json() == {"detail": "Missing permission: roles:create"}

    async def test_created_with_exact_shape(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        name = _name()
        view, edit = await permission_ids(client, admin, "documents:view", "documents:edit")
        response = await client.post(
            "/api/roles",
            json={
                "name": name,
                "label": "Docs",
                "description": "Doc people",
                "permissionIds": [view, edit, view],
            },
            headers=admin,
        )
        assert response.status_code == 201
        body = response.json()
        assert set(body) == ROLE_FIELDS
        assert (body["name"], body["label"], body["description"], body["userCount"]) == (
            name,
            "Docs",
            "Doc people",
            0,
        )
        assert [p["id"] for p in body["permissions"]] == [edit, view]  # ordered by action, repeats once
        assert body["permissions"][0]["action"] == "documents:edit"
        assert body["createdAt"].endswith("Z")
        assert (await client.get(f"/api/roles/{body['id']}", headers=admin)).json() == body

    async def test_label_defaults_to_name_and_permissions_to_none(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        name = _name()
        response = await client.post("/api/roles", json={"name": name}, headers=admin)
        assert response.status_code == 201
        body = response.json()
        assert (body["label"], body["description"], body["permissions"], body["userCount"]) == (
            name,
            None,
            [],
            0,
        )

    @pytest.mark.parametrize("spelling", ["admin", "Admin", "ADMIN"])
    async def test_name_taken_without_regard_to_case_is_409(
        self, client: httpx.AsyncClient, admin: dict[str, str], spelling: str
    ) -> None:
        response = await client.post("/api/roles", json={"name": spelling}, headers=admin)
        assert response.status_code == 409
        assert response.json() == {"detail": "Role name is already taken"}

    async def test_created_name_taken_in_other_case_is_409(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin)
        response = await client.post("/api/roles", json={"name": role["name"].swapcase()}, headers=admin)
        assert response.status_code == 409
        assert response.json() == {"detail": "Role name is already taken"}

    async def test_unknown_permission_is_422_and_nothing_is_created(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        name = _name()
        [view] = await permission_ids(client, admin, "users:view")
        response = await client.post(
            "/api/roles", json={"name": name, "permissionIds": [view, MISSING_ID]}, headers=admin
        )
        assert response.status_code == 422
        assert response.json() == {
            "detail": [{"loc": ["body", "permissionIds"], "msg": "Permission not found", "type": "not_found"}]
        }
        listed = await client.get("/api/roles", params={"search": name}, headers=admin)
        assert listed.json()["meta"]["total"] == 0

    async def test_granting_what_the_caller_does_not_hold_is_403(
        self, client: httpx.AsyncClient, admin: dict[str, str], role_admin: dict[str, str]
    ) -> None:
        for action in ("*", "users:delete", "permissions:create"):
            name = _name()
            ids = await permission_ids(client, admin, "users:view", action)
            response = await client.post(
                "/api/roles", json={"name": name, "permissionIds": ids}, headers=role_admin
            )
            assert response.status_code == 403, action
            assert response.json() == CANNOT_GRANT
            listed = await client.get("/api/roles", params={"search": name}, headers=admin)
            assert listed.json()["meta"]["total"] == 0

    async def test_granting_what_the_caller_holds_is_allowed(
        self, client: httpx.AsyncClient, admin: dict[str, str], role_admin: dict[str, str]
    ) -> None:
        ids = await permission_ids(client, admin, "users:view", "roles:view")
        response = await client.post(
            "/api/roles", json={"name": _name(), "permissionIds": ids}, headers=role_admin
        )
        assert response.status_code == 201
        assert [p["action"] for p in response.json()["permissions"]] == ["roles:view", "users:view"]

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"name": None},
            {"name": "1role"},
            {"name": "r"},
            {"name": "has space"},
            {"name": "R" * 51},
            {"name": "Valid", "label": ""},
            {"name": "Valid", "label": None},
            {"name": "Valid", "label": "l" * 101},
            {"name": "Valid", "description": "d" * 2001},
            {"name": "Valid", "permissionIds": None},
            {"name": "Valid", "permissionIds": ["not an id"]},
            {"name": "Valid", "permissionIds": ["x"] * 201},
            {"name": "Valid", "isSystem": True},
        ],
    )
    async def test_bad_body_is_422(
        self, client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]
    ) -> None:
        response = await client.post("/api/roles", json=body, headers=admin)
        assert response.status_code == 422
        assert all(set(issue) == {"loc", "msg", "type"} for issue in response.json()["detail"])


class TestUpdateRole:
    @pytest.mark.parametrize("email", [MANAGER, VIEWER])
    async def test_without_roles_edit_is_403(
        self, client: httpx.AsyncClient, admin: dict[str, str], email: str
    ) -> None:
        role = await _create_role(client, admin)
        response = await client.patch(
            f"/api/roles/{role['id']}", json={"label": "x"}, headers=await auth_headers(client, email)
        )
        assert response.status_code == 403
        assert response.json() == {"detail": "Missing permission: roles:edit"}

    async def test_unknown_id_is_404(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await client.patch(f"/api/roles/{MISSING_ID}", json={"label": "x"}, headers=admin)
        assert response.status_code == 404
        assert response.json() == {"detail": "Role not found"}

    async def test_changes_only_the_fields_sent(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin, "users:view", label="Old", description="Old text")
        new_name = _name()
        response = await client.patch(f"/api/roles/{role['id']}", json={"name": new_name}, headers=admin)
        assert response.status_code == 200
        renamed = response.json()
        assert set(renamed) == ROLE_FIELDS
        assert {**renamed, "updatedAt": None} == {**role, "name": new_name, "updatedAt": None}
        assert renamed["updatedAt"] >= role["updatedAt"]

        response = await client.patch(
            f"/api/roles/{role['id']}", json={"label": "New", "description": None}, headers=admin
        )
        assert response.status_code == 200
        assert (response.json()["name"], response.json()["label"], response.json()["description"]) == (
            new_name,
            "New",
            None,
        )
        assert (await client.get(f"/api/roles/{role['id']}", headers=admin)).json() == response.json()

    async def test_empty_object_changes_nothing(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin, "files:view", description="Kept")
        response = await client.patch(f"/api/roles/{role['id']}", json={}, headers=admin)
        assert response.status_code == 200
        assert response.json() == role

    async def test_name_of_another_role_is_409(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin)
        other = await _create_role(client, admin)
        for taken in (other["name"].lower(), "Manager"):
            response = await client.patch(f"/api/roles/{role['id']}", json={"name": taken}, headers=admin)
            assert response.status_code == 409
            assert response.json() == {"detail": "Role name is already taken"}
        assert (await client.get(f"/api/roles/{role['id']}", headers=admin)).json()["name"] == role["name"]

    async def test_own_name_in_another_case_is_allowed(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin)
        response = await client.patch(
            f"/api/roles/{role['id']}", json={"name": role["name"].upper()}, headers=admin
        )
        assert response.status_code == 200
        assert response.json()["name"] == role["name"].upper()

    async def test_role_with_permissions_the_caller_lacks_is_403(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        role_admin: dict[str, str],
        admin_role: dict[str, Any],
    ) -> None:
        response = await client.patch(
            f"/api/roles/{admin_role['id']}", json={"label": "Pwned"}, headers=role_admin
        )
        assert response.status_code == 403
        assert response.json() == CANNOT_CHANGE
        assert (await client.get(f"/api/roles/{admin_role['id']}", headers=admin)).json()[
            "label"
        ] == "超级管理员"

        stronger = await _create_role(client, admin, "users:view", "users:delete")
        response = await client.patch(
            f"/api/roles/{stronger['id']}", json={"label": "Mine"}, headers=role_admin
        )
        assert response.status_code == 403
        assert response.json() == CANNOT_CHANGE

    async def test_role_within_the_callers_permissions_is_allowed(
        self, client: httpx.AsyncClient, admin: dict[str, str], role_admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin, "users:view", "roles:view")
        response = await client.patch(
            f"/api/roles/{role['id']}", json={"label": "Mine now"}, headers=role_admin
        )
        assert response.status_code == 200
        assert response.json()["label"] == "Mine now"

    @pytest.mark.parametrize(
        "body",
        [
            {"name": None},
            {"name": "9lives"},
            {"label": None},
            {"label": ""},
            {"description": "d" * 2001},
            {"permissionIds": []},
            {"userCount": 3},
        ],
    )
    async def test_bad_body_is_422(
        self, client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]
    ) -> None:
        role = await _create_role(client, admin)
        response = await client.patch(f"/api/roles/{role['id']}", json=body, headers=admin)
        assert response.status_code == 422
        assert (await client.get(f"/api/roles/{role['id']}", headers=admin)).json() == role


class TestSetRolePermissions:
    @pytest.mark.parametrize("email", [MANAGER, USER])
    async def test_without_roles_edit_is_403(
        self, client: httpx.AsyncClient, admin: dict[str, str], email: str
    ) -> None:
        role = await _create_role(client, admin)
        response = await client.post(
            f"/api/roles/{role['id']}/permissions",
            json={"permissionIds": []},
            headers=await auth_headers(client, email),
        )
        assert response.status_code == 403
        assert response.json() == {"detail": "Missing permission: roles:edit"}

    async def test_unknown_role_is_404(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await client.post(
            f"/api/roles/{MISSING_ID}/permissions", json={"permissionIds": []}, headers=admin
        )
        assert response.status_code == 404
        assert response.json() == {"detail": "Role not found"}

    async def test_unknown_permission_is_422_and_nothing_changes(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin, "users:view")
        [edit] = await permission_ids(client, admin, "users:edit")
        response = await client.post(
            f"/api/roles/{role['id']}/permissions", json={"permissionIds": [edit, MISSING_ID]}, headers=admin
        )
        assert response.status_code == 422
        assert response.json() == {
            "detail": [{"loc": ["body", "permissionIds"], "msg": "Permission not found", "type": "not_found"}]
        }
        assert (await client.get(f"/api/roles/{role['id']}", headers=admin)).json() == role

    async def test_replaces_the_set_exactly(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        role = await _create_role(client, admin, "users:view", "files:view")
        await _create_user(client, admin, role["id"])
        files, calendar = await permission_ids(client, admin, "files:view", "calendar:view")
        response = await client.post(
            f"/api/roles/{role['id']}/permissions",
            json={"permissionIds": [files, calendar, files]},
            headers=admin,
        )
        assert response.status_code == 200
        body = response.json()
        assert set(body) == ROLE_FIELDS
        assert [p["action"] for p in body["permissions"]] == ["calendar:view", "files:view"]
        assert {**body, "permissions": None, "updatedAt": None} == {
            **role,
            "permissions": None,
            "updatedAt": None,
            "userCount": 1,
        }
        assert body["updatedAt"] >= role["updatedAt"]
        assert (await client.get(f"/api/roles/{role['id']}", headers=admin)).json() == body

        cleared = await client.post(
            f"/api/roles/{role['id']}/permissions", json={"permissionIds": []}, headers=admin
        )
        assert cleared.status_code == 200
        assert cleared.json()["permissions"] == []

    async def test_takes_effect_for_holders_at_once(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin, "users:view")
        _, email = await _create_user(client, admin, role["id"])
        holder = await auth_headers(client, email, "callerPass1")
        assert (await client.get("/api/users", headers=holder)).status_code == 200
        response = await client.post(
            f"/api/roles/{role['id']}/permissions", json={"permissionIds": []}, headers=admin
        )
        assert response.status_code == 200
        assert (await client.get("/api/users", headers=holder)).status_code == 403

    async def test_granting_what_the_caller_does_not_hold_is_403(
        self, client: httpx.AsyncClient, admin: dict[str, str], role_admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin, "users:view")
        for action in ("*", "users:edit", "permissions:delete"):
            ids = await permission_ids(client, admin, "users:view", action)
            response = await client.post(
                f"/api/roles/{role['id']}/permissions", json={"permissionIds": ids}, headers=role_admin
            )
            assert response.status_code == 403, action
            assert response.json() == CANNOT_GRANT
        assert (await client.get(f"/api/roles/{role['id']}", headers=admin)).json() == role

    async def test_role_with_permissions_the_caller_lacks_is_403(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        role_admin: dict[str, str],
        admin_role: dict[str, Any],
    ) -> None:
        # Removing `*` from ADMIN would need `*`: the permissions before count too.
        response = await client.post(
            f"/api/roles/{admin_role['id']}/permissions", json={"permissionIds": []}, headers=role_admin
        )
        assert response.status_code == 403
        assert response.json() == CANNOT_CHANGE
        after = (await client.get(f"/api/roles/{admin_role['id']}", headers=admin)).json()
        assert [p["action"] for p in after["permissions"]] == ["*"]

    async def test_within_the_callers_permissions_is_allowed(
        self, client: httpx.AsyncClient, admin: dict[str, str], role_admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin, "users:view")
        ids = await permission_ids(client, admin, "roles:view", "permissions:view")
        response = await client.post(
            f"/api/roles/{role['id']}/permissions", json={"permissionIds": ids}, headers=role_admin
        )
        assert response.status_code == 200
        assert [p["action"] for p in response.json()["permissions"]] == ["permissions:view", "roles:view"]

    async def test_resource_wildcard_covers_its_verbs_but_a_verb_not_the_wildcard(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        resource = "rw" + unique_email("").split("@")[0]
        for verb in ("*", "view", "archive"):
            created = await client.post(
                "/api/permissions", json={"action": f"{resource}:{verb}"}, headers=admin
            )
            assert created.status_code == 201, created.text
        wildcard, view, archive = await permission_ids(
            client, admin, f"{resource}:*", f"{resource}:view", f"{resource}:archive"
        )
        broad = await caller_with(client, admin, "roles:create", "roles:edit", f"{resource}:*")
        narrow = await caller_with(client, admin, "roles:create", "roles:edit", f"{resource}:view")
        role = await client.post("/api/roles", json={"name": _name()}, headers=broad)
        assert role.status_code == 201
        url = f"/api/roles/{role.json()['id']}/permissions"

        response = await client.post(url, json={"permissionIds": [wildcard, view, archive]}, headers=broad)
        assert response.status_code == 200
        assert len(response.json()["permissions"]) == 3
        # The narrow caller holds `view` only: it may neither edit this role nor grant the wildcard.
        response = await client.post(url, json={"permissionIds": [view]}, headers=narrow)
        assert response.status_code == 403
        assert response.json() == CANNOT_CHANGE
        mine = await client.post(
            "/api/roles", json={"name": _name(), "permissionIds": [view]}, headers=narrow
        )
        assert mine.status_code == 201
        response = await client.post(
            f"/api/roles/{mine.json()['id']}/permissions", json={"permissionIds": [wildcard]}, headers=narrow
        )
        assert response.status_code == 403
        assert response.json() == CANNOT_GRANT
        [star] = await permission_ids(client, admin, "*")
        response = await client.post(url, json={"permissionIds": [star]}, headers=broad)
        assert response.status_code == 403
        assert response.json() == CANNOT_GRANT

    @pytest.mark.parametrize(
        "body",
        [{}, {"permissionIds": None}, {"permissionIds": ["bad id"]}, {"permissionIds": [], "name": "X1"}],
    )
    async def test_bad_body_is_422(
        self, client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]
    ) -> None:
        role = await _create_role(client, admin, "users:view")
        response = await client.post(f"/api/roles/{role['id']}/permissions", json=body, headers=admin)
        assert response.status_code == 422
        assert (await client.get(f"/api/roles/{role['id']}", headers=admin)).json() == role


class TestNoSelfLockout:
    async def test_an_admin_cannot_strip_or_delete_the_role_they_hold(
        self, client: httpx.AsyncClient, admin: dict[str, str], admin_role: dict[str, Any]
    ) -> None:
        stripped = await client.post(
            f"/api/roles/{admin_role['id']}/permissions", json={"permissionIds": []}, headers=admin
        )
        assert stripped.status_code == 403
        assert stripped.json() == {"detail": "You cannot change the permissions of a role you hold"}
        deleted = await client.delete(f"/api/roles/{admin_role['id']}?force=true", headers=admin)
        assert deleted.status_code == 403
        assert deleted.json() == {"detail": "You cannot delete a role you hold"}
        assert (await client.get("/api/auth/me", headers=admin)).json()["permissions"] == ["*"]

    async def test_a_role_held_by_the_caller_through_a_custom_role(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin, "roles:edit", "roles:delete", "roles:view")
        _, email = await _create_user(client, admin, role["id"])
        caller = await auth_headers(client, email, "callerPass1")
        response = await client.post(
            f"/api/roles/{role['id']}/permissions", json={"permissionIds": []}, headers=caller
        )
        assert response.status_code == 403


class TestDeleteRole:
    @pytest.mark.parametrize("email", [MANAGER, EDITOR])
    async def test_without_roles_delete_is_403(
        self, client: httpx.AsyncClient, admin: dict[str, str], email: str
    ) -> None:
        role = await _create_role(client, admin)
        response = await client.delete(f"/api/roles/{role['id']}", headers=await auth_headers(client, email))
        assert response.status_code == 403
        assert response.json() == {"detail": "Missing permission: roles:delete"}
        assert (await client.get(f"/api/roles/{role['id']}", headers=admin)).status_code == 200

    async def test_unknown_id_is_404(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await client.delete(f"/api/roles/{MISSING_ID}", headers=admin)
        assert response.status_code == 404
        assert response.json() == {"detail": "Role not found"}

    async def test_unused_role_is_deleted(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        role = await _create_role(client, admin, "users:view")
        response = await client.delete(f"/api/roles/{role['id']}", headers=admin)
        assert response.status_code == 204
        assert response.content == b""
        assert (await client.get(f"/api/roles/{role['id']}", headers=admin)).status_code == 404
        assert (await client.delete(f"/api/roles/{role['id']}", headers=admin)).status_code == 404
        # The permissions themselves stay.
        assert (
            await client.get(f"/api/permissions/{role['permissions'][0]['id']}", headers=admin)
        ).status_code == 200

    async def test_role_held_by_users_is_409_unless_forced(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin, "users:view")
        user_id, email = await _create_user(client, admin, role["id"])
        holder = await auth_headers(client, email, "callerPass1")
        for query in ("", "?force=false"):
            response = await client.delete(f"/api/roles/{role['id']}{query}", headers=admin)
            assert response.status_code == 409
            assert response.json() == {
                "detail": "Role is assigned to users; use force=true to delete it anyway"
            }
        assert (await client.get(f"/api/roles/{role['id']}", headers=admin)).json()["userCount"] == 1

        response = await client.delete(f"/api/roles/{role['id']}", params={"force": "true"}, headers=admin)
        assert response.status_code == 204
        assert (await client.get(f"/api/roles/{role['id']}", headers=admin)).status_code == 404
        user = await client.get(f"/api/users/{user_id}", headers=admin)
        assert user.status_code == 200
        assert user.json()["roles"] == []
        assert (await client.get("/api/users", headers=holder)).status_code == 403

    async def test_role_with_permissions_the_caller_lacks_is_403(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        role_admin: dict[str, str],
        admin_role: dict[str, Any],
    ) -> None:
        for query in ("", "?force=true"):
            response = await client.delete(f"/api/roles/{admin_role['id']}{query}", headers=role_admin)
            assert response.status_code == 403
            assert response.json() == CANNOT_DELETE
        assert (await client.get(f"/api/roles/{admin_role['id']}", headers=admin)).status_code == 200

        stronger = await _create_role(client, admin, "users:view", "settings:edit")
        response = await client.delete(f"/api/roles/{stronger['id']}", headers=role_admin)
        assert response.status_code == 403
        assert response.json() == CANNOT_DELETE

    async def test_role_within_the_callers_permissions_is_deleted(
        self, client: httpx.AsyncClient, admin: dict[str, str], role_admin: dict[str, str]
    ) -> None:
        role = await _create_role(client, admin, "users:view", "roles:view")
        response = await client.delete(f"/api/roles/{role['id']}", headers=role_admin)
        assert response.status_code == 204
        assert (await client.get(f"/api/roles/{role['id']}", headers=admin)).status_code == 404

    async def test_bad_force_is_422(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        role = await _create_role(client, admin)
        response = await client.delete(f"/api/roles/{role['id']}", params={"force": "maybe"}, headers=admin)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "force"]
        assert (await client.get(f"/api/roles/{role['id']}", headers=admin)).status_code == 200


class TestConcurrentNames:
    async def test_names_differing_only_in_case_cannot_both_be_created(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        name = _name("Race")
        responses = await asyncio.gather(
            *(
                client.post("/api/roles", json={"name": n}, headers=admin)
                for n in (name, name.lower(), name.upper())
            )
        )
        assert sorted(r.status_code for r in responses) == [201, 409, 409]
