"""Teams operations over HTTP, through the real app and a real PostgreSQL.

Every team here is owned by a freshly registered user (role USER: teams:view/create/edit/delete, not
`teams:*`), so the tests do not depend on each other nor on what other test modules create.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from halolight.repositories import roles
from tests.api.helpers import (
    ADMIN,
    BAD_PAGE_QUERIES,
    BAD_URLS,
    EDITOR,
    MANAGER,
    VIEWER,
    auth_headers,
    bearer,
    register,
)

pytestmark = pytest.mark.asyncio

TEAM_KEYS = {"id", "name", "description", "avatar", "owner", "memberCount", "createdAt", "updatedAt"}
DETAIL_KEYS = TEAM_KEYS | {"members"}
MEMBER_KEYS = {"id", "name", "email", "avatar", "role", "joinedAt"}
NOT_OWNER = {"detail": "Only the team owner can change this team"}
TEAM_NOT_FOUND = {"detail": "Team not found"}
MISSING_ID = "no-such-team-0000000000000"


@dataclass(frozen=True)
class Caller:
    id: str
    email: str
    headers: dict[str, str]

    @property
    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": "Test User", "email": self.email, "avatar": None}


async def new_user(client: httpx.AsyncClient) -> Caller:
    body = await register(client)
    return Caller(body["user"]["id"], body["user"]["email"], bearer(body["accessToken"]))


async def grant_users_view(app: FastAPI, caller: Caller) -> Caller:
    """Give `caller` the VIEWER role too (`users:view`): they may then name any user and see emails."""
    async with app.state.runtime.sessionmaker() as db:
        viewer = await roles.find_by_name(db, "VIEWER")
        assert viewer is not None
        await roles.assign_to_user(db, caller.id, viewer.id)
        await db.commit()
    return caller


async def create_team(client: httpx.AsyncClient, owner: Caller, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/teams", json={"name": "Team", **fields}, headers=owner.headers)
    assert response.status_code == 201, response.text
    team: dict[str, Any] = response.json()
    return team


async def add_member(
    client: httpx.AsyncClient, team_id: str, by: Caller, user_id: str, role_id: str | None = None
) -> dict[str, Any]:
    response = await client.post(
        f"/api/teams/{team_id}/members", json={"userId": user_id, "roleId": role_id}, headers=by.headers
    )
    assert response.status_code == 201, response.text
    team: dict[str, Any] = response.json()
    return team


async def get_team(client: httpx.AsyncClient, team_id: str, by: Caller | dict[str, str]) -> httpx.Response:
    return await client.get(f"/api/teams/{team_id}", headers=by.headers if isinstance(by, Caller) else by)


async def list_names(client: httpx.AsyncClient, headers: dict[str, str], search: str) -> list[str]:
    response = await client.get("/api/teams", params={"search": search, "limit": 100}, headers=headers)
    assert response.status_code == 200, response.text
    return [team["name"] for team in response.json()["data"]]


def unique(prefix: str) -> str:
    import uuid

    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
async def demo(client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    """Headers of the seeded accounts, by role: ADMIN holds `*` (so `teams:*`), the others do not."""
    accounts = {"admin": ADMIN, "manager": MANAGER, "editor": EDITOR, "viewer": VIEWER}
    return {role: await auth_headers(client, email) for role, email in accounts.items()}


@pytest.fixture
def admin(demo: dict[str, dict[str, str]]) -> dict[str, str]:
    return demo["admin"]


@pytest.fixture
def viewer(demo: dict[str, dict[str, str]]) -> dict[str, str]:
    return demo["viewer"]


@pytest.fixture(scope="module")
async def editor_role_id(app: FastAPI) -> str:
    async with app.state.runtime.sessionmaker() as db:
        role = await roles.find_by_name(db, "EDITOR")
    assert role is not None
    return role.id


@pytest.fixture
async def owner(client: httpx.AsyncClient, app: FastAPI) -> Caller:
    """A USER who also holds `users:view` (VIEWER), so that they may add anyone to their teams."""
    return await grant_users_view(app, await new_user(client))


@pytest.fixture
async def member(client: httpx.AsyncClient) -> Caller:
    return await new_user(client)


@pytest.fixture
async def stranger(client: httpx.AsyncClient, app: FastAPI) -> Caller:
    return await grant_users_view(app, await new_user(client))


@pytest.fixture
async def team(client: httpx.AsyncClient, owner: Caller, member: Caller) -> dict[str, Any]:
    """A team of `owner` with `member` as a second, plain member (`stranger` is in no relation to it)."""
    created = await create_team(client, owner, name=unique("fixture"), description="The fixture team")
    return await add_member(client, created["id"], owner, member.id)


class TestListTeams:
    async def test_lists_owned_and_joined_teams_newest_first_never_others(
        self, client: httpx.AsyncClient, owner: Caller, member: Caller, stranger: Caller
    ) -> None:
        prefix = unique("scope")
        mine = await create_team(client, owner, name=f"{prefix} mine")
        joined = await create_team(client, stranger, name=f"{prefix} joined", description="Joined")
        await add_member(client, joined["id"], stranger, owner.id)
        await create_team(client, stranger, name=f"{prefix} other")
        await create_team(client, member, name=f"{prefix} unrelated")

        response = await client.get("/api/teams", params={"search": prefix}, headers=owner.headers)

        assert response.status_code == 200
        body = response.json()
        assert body["meta"] == {"total": 2, "page": 1, "limit": 10, "totalPages": 1}
        assert [t["id"] for t in body["data"]] == [joined["id"], mine["id"]]
        first = body["data"][0]
        assert set(first) == TEAM_KEYS
        assert first == {key: value for key, value in joined.items() if key != "members"} | {
            "memberCount": 2,
            "updatedAt": first["updatedAt"],
        }
        assert first["owner"] == stranger.summary
        assert body["data"][1]["memberCount"] == 1
        assert body["data"][1]["owner"] == owner.summary

    async def test_a_new_user_sees_no_teams(self, client: httpx.AsyncClient, stranger: Caller) -> None:
        response = await client.get("/api/teams", headers=stranger.headers)
        assert response.status_code == 200
        assert response.json() == {"data": [], "meta": {"total": 0, "page": 1, "limit": 10, "totalPages": 0}}

    async def test_teams_star_sees_every_team(
        self, client: httpx.AsyncClient, admin: dict[str, str], team: dict[str, Any]
    ) -> None:
        assert await list_names(client, admin, team["name"]) == [team["name"]]

    @pytest.mark.parametrize("role", ["manager", "viewer"])
    async def test_other_roles_see_only_their_own_teams(
        self, client: httpx.AsyncClient, team: dict[str, Any], role: str, demo: dict[str, dict[str, str]]
    ) -> None:
        assert await list_names(client, demo[role], team["name"]) == []

    async def test_search_matches_name_and_description_ignoring_case(
        self, client: httpx.AsyncClient, owner: Caller
    ) -> None:
        word = unique("Needle")
        await create_team(client, owner, name=f"{word} by name")
        await create_team(client, owner, name="By description", description=f"has the {word.upper()}")
        await create_team(client, owner, name="Unrelated", description="nothing here")
        names = await list_names(client, owner.headers, word.lower())
        assert names == ["By description", f"{word} by name"]

    async def test_search_wildcards_match_literally(self, client: httpx.AsyncClient, owner: Caller) -> None:
        prefix = unique("wild")
        await create_team(client, owner, name=f"{prefix} 100%_done")
        await create_team(client, owner, name=f"{prefix} 100 percent done")
        assert await list_names(client, owner.headers, f"{prefix} 100%_") == [f"{prefix} 100%_done"]

    async def test_paging(self, client: httpx.AsyncClient, owner: Caller) -> None:
        created = [(await create_team(client, owner, name=f"Paged {n}"))["id"] for n in range(3)]
        newest_first = created[::-1]

        async def page(number: int) -> dict[str, Any]:
            response = await client.get(
                "/api/teams", params={"page": number, "limit": 2}, headers=owner.headers
            )
            assert response.status_code == 200
            body: dict[str, Any] = response.json()
            return body

        first, second, beyond = await page(1), await page(2), await page(3)
        assert first["meta"] == {"total": 3, "page": 1, "limit": 2, "totalPages": 2}
        assert [t["id"] for t in first["data"]] == newest_first[:2]
        assert second["meta"] == {"total": 3, "page": 2, "limit": 2, "totalPages": 2}
        assert [t["id"] for t in second["data"]] == newest_first[2:]
        assert beyond == {"data": [], "meta": {"total": 3, "page": 3, "limit": 2, "totalPages": 2}}

    @pytest.mark.parametrize("params", BAD_PAGE_QUERIES)
    async def test_bad_query_is_422(
        self, client: httpx.AsyncClient, owner: Caller, params: dict[str, Any]
    ) -> None:
        response = await client.get("/api/teams", params=params, headers=owner.headers)
        assert response.status_code == 422


class TestCreateTeam:
    async def test_without_teams_create_is_403(
        self, client: httpx.AsyncClient, viewer: dict[str, str]
    ) -> None:
        name = unique("viewer")
        response = await client.post("/api/teams", json={"name": name}, headers=viewer)
        assert response.status_code == 403
        assert response.json() == {"detail": "Missing permission: teams:create"}
        assert await list_names(client, viewer, name) == []

    async def test_caller_becomes_owner_and_first_member(
        self, client: httpx.AsyncClient, owner: Caller
    ) -> None:
        response = await client.post("/api/teams", json={"name": "Core"}, headers=owner.headers)

        assert response.status_code == 201
        body = response.json()
        assert set(body) == DETAIL_KEYS
        assert body["name"] == "Core"
        assert body["description"] is None and body["avatar"] is None
        assert body["owner"] == owner.summary
        assert body["memberCount"] == 1
        assert body["createdAt"].endswith("Z") and body["updatedAt"].endswith("Z")
        [first] = body["members"]
        assert set(first) == MEMBER_KEYS
        assert first == owner.summary | {"role": None, "joinedAt": first["joinedAt"]}
        assert (await get_team(client, body["id"], owner)).json() == body

    async def test_optional_fields_are_stored(self, client: httpx.AsyncClient, owner: Caller) -> None:
        fields = {"name": "Design", "description": "Pixels", "avatar": "https://example.com/a.png"}
        body = await create_team(client, owner, **fields)
        assert {key: body[key] for key in fields} == fields

    @pytest.mark.parametrize(
        "extra",
        [
            {"ownerId": "someone-else"},
            {"id": "chosen-id"},
            {"memberCount": 99},
            {"members": []},
            {"createdAt": "2020-01-01T00:00:00Z"},
        ],
    )
    async def test_mass_assignment_is_422(
        self, client: httpx.AsyncClient, owner: Caller, extra: dict[str, Any]
    ) -> None:
        name = unique("mass")
        response = await client.post("/api/teams", json={"name": name, **extra}, headers=owner.headers)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", next(iter(extra))]
        assert await list_names(client, owner.headers, name) == []

    async def test_owner_id_of_another_user_is_refused(
        self, client: httpx.AsyncClient, owner: Caller, stranger: Caller
    ) -> None:
        response = await client.post(
            "/api/teams", json={"name": "Hijack", "ownerId": stranger.id}, headers=owner.headers
        )
        assert response.status_code == 422
        assert (await client.get("/api/teams", headers=stranger.headers)).json()["data"] == []

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"name": ""},
            {"name": None},
            {"name": "x" * 101},
            {"name": "ok", "avatar": "not-a-url"},
            {"name": "ok", "description": "x" * 2001},
            {"name": "nul\u0000"},
        ],
    )
    async def test_invalid_bodies_are_422(
        self, client: httpx.AsyncClient, owner: Caller, body: dict[str, Any]
    ) -> None:
        response = await client.post("/api/teams", json=body, headers=owner.headers)
        assert response.status_code == 422
        assert all(set(issue) == {"loc", "msg", "type"} for issue in response.json()["detail"])

    @pytest.mark.parametrize("avatar", BAD_URLS)
    async def test_urls_outside_rfc_3986_are_422(
        self, client: httpx.AsyncClient, owner: Caller, avatar: str
    ) -> None:
        response = await client.post(
            "/api/teams", json={"name": "X", "avatar": avatar}, headers=owner.headers
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][:2] == ["body", "avatar"]


class TestGetTeam:
    async def test_owner_gets_the_team_with_members_by_join_date(
        self,
        client: httpx.AsyncClient,
        owner: Caller,
        member: Caller,
        stranger: Caller,
        team: dict[str, Any],
        editor_role_id: str,
    ) -> None:
        await add_member(client, team["id"], owner, stranger.id, editor_role_id)

        response = await get_team(client, team["id"], owner)

        assert response.status_code == 200
        body = response.json()
        assert set(body) == DETAIL_KEYS
        assert body["id"] == team["id"]
        assert body["description"] == "The fixture team"
        assert body["owner"] == owner.summary
        assert body["memberCount"] == 3
        assert [m["id"] for m in body["members"]] == [owner.id, member.id, stranger.id]
        assert [m["joinedAt"] for m in body["members"]] == sorted(m["joinedAt"] for m in body["members"])
        assert body["members"][1] == member.summary | {
            "role": None,
            "joinedAt": body["members"][1]["joinedAt"],
        }
        assert body["members"][2]["role"] == {"id": editor_role_id, "name": "EDITOR", "label": "编辑员"}

    async def test_a_member_who_is_not_the_owner_can_read(
        self, client: httpx.AsyncClient, owner: Caller, member: Caller, team: dict[str, Any]
    ) -> None:
        as_member = await get_team(client, team["id"], member)
        assert as_member.status_code == 200
        as_owner = (await get_team(client, team["id"], owner)).json()
        # Without `users:view` the member sees the people of the team, but no email except their own.
        hidden: dict[str, Any] = {"owner": owner.summary | {"email": None}}
        hidden["members"] = [m | {"email": None} if m["id"] != member.id else m for m in as_owner["members"]]
        assert as_member.json() == as_owner | hidden

    async def test_teams_star_reads_any_team(
        self, client: httpx.AsyncClient, admin: dict[str, str], team: dict[str, Any]
    ) -> None:
        response = await get_team(client, team["id"], admin)
        assert response.status_code == 200
        assert response.json()["id"] == team["id"]

    @pytest.mark.parametrize("caller", ["stranger", "manager", "editor", "viewer"])
    async def test_a_team_the_caller_cannot_see_is_404(
        self,
        client: httpx.AsyncClient,
        team: dict[str, Any],
        stranger: Caller,
        caller: str,
        demo: dict[str, dict[str, str]],
    ) -> None:
        response = await get_team(client, team["id"], stranger if caller == "stranger" else demo[caller])
        assert response.status_code == 404
        assert response.json() == TEAM_NOT_FOUND

    async def test_a_missing_team_is_the_same_404(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        response = await get_team(client, MISSING_ID, admin)
        assert response.status_code == 404
        assert response.json() == TEAM_NOT_FOUND

    async def test_malformed_id_is_422(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await get_team(client, "bad%20id", admin)
        assert response.status_code == 422


class TestUpdateTeam:
    async def test_without_teams_edit_is_403(
        self, client: httpx.AsyncClient, viewer: dict[str, str], team: dict[str, Any], owner: Caller
    ) -> None:
        response = await client.patch(f"/api/teams/{team['id']}", json={"name": "X"}, headers=viewer)
        assert response.status_code == 403
        assert response.json() == {"detail": "Missing permission: teams:edit"}
        assert (await get_team(client, team["id"], owner)).json()["name"] == team["name"]

    async def test_another_users_team_is_404(
        self, client: httpx.AsyncClient, stranger: Caller, owner: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.patch(
            f"/api/teams/{team['id']}", json={"name": "X"}, headers=stranger.headers
        )
        assert response.status_code == 404
        assert response.json() == TEAM_NOT_FOUND
        assert (await get_team(client, team["id"], owner)).json()["name"] == team["name"]

    async def test_a_member_who_is_not_the_owner_is_403(
        self, client: httpx.AsyncClient, member: Caller, owner: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.patch(f"/api/teams/{team['id']}", json={"name": "X"}, headers=member.headers)
        assert response.status_code == 403
        assert response.json() == NOT_OWNER
        assert (await get_team(client, team["id"], owner)).json()["name"] == team["name"]

    async def test_owner_changes_only_the_fields_sent(
        self, client: httpx.AsyncClient, owner: Caller, member: Caller
    ) -> None:
        created = await create_team(
            client, owner, name="Before", description="Kept", avatar="https://example.com/a.png"
        )
        response = await client.patch(
            f"/api/teams/{created['id']}", json={"name": "After"}, headers=owner.headers
        )
        assert response.status_code == 200
        body = response.json()
        assert set(body) == DETAIL_KEYS
        assert body == created | {"name": "After", "updatedAt": body["updatedAt"]}
        assert body["updatedAt"] >= created["updatedAt"]
        assert (await get_team(client, created["id"], owner)).json() == body

    async def test_null_clears_nullable_fields(self, client: httpx.AsyncClient, owner: Caller) -> None:
        created = await create_team(
            client, owner, name="Clear", description="Gone", avatar="https://example.com/a.png"
        )
        response = await client.patch(
            f"/api/teams/{created['id']}", json={"description": None, "avatar": None}, headers=owner.headers
        )
        assert response.status_code == 200
        assert (response.json()["name"], response.json()["description"], response.json()["avatar"]) == (
            "Clear",
            None,
            None,
        )

    async def test_empty_body_changes_nothing(
        self, client: httpx.AsyncClient, owner: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.patch(f"/api/teams/{team['id']}", json={}, headers=owner.headers)
        assert response.status_code == 200
        assert response.json() == team

    async def test_teams_star_updates_any_team(
        self, client: httpx.AsyncClient, admin: dict[str, str], owner: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.patch(
            f"/api/teams/{team['id']}", json={"description": "By admin"}, headers=admin
        )
        assert response.status_code == 200
        assert response.json()["description"] == "By admin"
        assert response.json()["owner"] == owner.summary

    @pytest.mark.parametrize(
        "extra", [{"ownerId": "x"}, {"id": "x"}, {"memberCount": 5}, {"members": []}, {"owner": {}}]
    )
    async def test_mass_assignment_is_422(
        self,
        client: httpx.AsyncClient,
        owner: Caller,
        stranger: Caller,
        team: dict[str, Any],
        extra: dict[str, Any],
    ) -> None:
        if "ownerId" in extra:
            extra = {"ownerId": stranger.id}
        response = await client.patch(
            f"/api/teams/{team['id']}", json={"name": "Mass", **extra}, headers=owner.headers
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", next(iter(extra))]
        assert (await get_team(client, team["id"], owner)).json() == team

    @pytest.mark.parametrize("body", [{"name": None}, {"name": ""}, {"avatar": "ftp://x"}])
    async def test_invalid_bodies_are_422(
        self, client: httpx.AsyncClient, owner: Caller, team: dict[str, Any], body: dict[str, Any]
    ) -> None:
        response = await client.patch(f"/api/teams/{team['id']}", json=body, headers=owner.headers)
        assert response.status_code == 422

    async def test_a_missing_team_is_404(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await client.patch(f"/api/teams/{MISSING_ID}", json={"name": "X"}, headers=admin)
        assert response.status_code == 404
        assert response.json() == TEAM_NOT_FOUND


class TestDeleteTeam:
    @pytest.mark.parametrize("role", ["viewer"])
    async def test_without_teams_delete_is_403(
        self,
        client: httpx.AsyncClient,
        team: dict[str, Any],
        owner: Caller,
        role: str,
        demo: dict[str, dict[str, str]],
    ) -> None:
        response = await client.delete(f"/api/teams/{team['id']}", headers=demo[role])
        assert response.status_code == 403
        assert response.json() == {"detail": "Missing permission: teams:delete"}
        assert (await get_team(client, team["id"], owner)).status_code == 200

    async def test_another_users_team_is_404(
        self, client: httpx.AsyncClient, stranger: Caller, owner: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.delete(f"/api/teams/{team['id']}", headers=stranger.headers)
        assert response.status_code == 404
        assert response.json() == TEAM_NOT_FOUND
        assert (await get_team(client, team["id"], owner)).status_code == 200

    async def test_a_member_who_is_not_the_owner_is_403(
        self, client: httpx.AsyncClient, member: Caller, owner: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.delete(f"/api/teams/{team['id']}", headers=member.headers)
        assert response.status_code == 403
        assert response.json() == NOT_OWNER
        assert (await get_team(client, team["id"], owner)).status_code == 200

    async def test_owner_deletes_the_team_and_its_memberships(
        self, client: httpx.AsyncClient, owner: Caller, member: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.delete(f"/api/teams/{team['id']}", headers=owner.headers)
        assert response.status_code == 204
        assert response.content == b""
        for caller in (owner, member):
            assert (await get_team(client, team["id"], caller)).status_code == 404
            assert await list_names(client, caller.headers, team["name"]) == []
        again = await client.delete(f"/api/teams/{team['id']}", headers=owner.headers)
        assert again.status_code == 404
        assert again.json() == TEAM_NOT_FOUND

    async def test_teams_star_deletes_any_team(
        self, client: httpx.AsyncClient, admin: dict[str, str], owner: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.delete(f"/api/teams/{team['id']}", headers=admin)
        assert response.status_code == 204
        assert (await get_team(client, team["id"], owner)).status_code == 404

    async def test_a_missing_team_is_404(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await client.delete(f"/api/teams/{MISSING_ID}", headers=admin)
        assert response.status_code == 404
        assert response.json() == TEAM_NOT_FOUND


class TestAddTeamMember:
    async def test_another_users_team_is_404_whatever_the_body(
        self, client: httpx.AsyncClient, stranger: Caller, owner: Caller, team: dict[str, Any]
    ) -> None:
        for user_id in (stranger.id, "no-such-user"):
            response = await client.post(
                f"/api/teams/{team['id']}/members", json={"userId": user_id}, headers=stranger.headers
            )
            assert response.status_code == 404
            assert response.json() == TEAM_NOT_FOUND
        assert (await get_team(client, team["id"], owner)).json()["memberCount"] == 2

    async def test_a_member_who_is_not_the_owner_is_403_whatever_the_body(
        self, client: httpx.AsyncClient, member: Caller, stranger: Caller, owner: Caller, team: dict[str, Any]
    ) -> None:
        for user_id in (stranger.id, "no-such-user"):
            response = await client.post(
                f"/api/teams/{team['id']}/members", json={"userId": user_id}, headers=member.headers
            )
            assert response.status_code == 403
            assert response.json() == NOT_OWNER
        assert (await get_team(client, team["id"], owner)).json()["memberCount"] == 2

    async def test_owner_adds_a_member_with_a_team_role(
        self,
        client: httpx.AsyncClient,
        owner: Caller,
        stranger: Caller,
        team: dict[str, Any],
        editor_role_id: str,
    ) -> None:
        response = await client.post(
            f"/api/teams/{team['id']}/members",
            json={"userId": stranger.id, "roleId": editor_role_id},
            headers=owner.headers,
        )
        assert response.status_code == 201
        body = response.json()
        assert set(body) == DETAIL_KEYS
        assert body["memberCount"] == 3
        added = body["members"][-1]
        assert set(added) == MEMBER_KEYS
        assert added == stranger.summary | {
            "role": {"id": editor_role_id, "name": "EDITOR", "label": "编辑员"},
            "joinedAt": added["joinedAt"],
        }
        # The new member now sees the team, but the role grants nothing: still not a writer.
        assert (await get_team(client, team["id"], stranger)).json() == body
        assert await list_names(client, stranger.headers, team["name"]) == [team["name"]]
        patch = await client.patch(f"/api/teams/{team['id']}", json={"name": "X"}, headers=stranger.headers)
        assert patch.status_code == 403

    @pytest.mark.parametrize("role_field", [{}, {"roleId": None}])
    async def test_without_a_role_the_member_has_none(
        self,
        client: httpx.AsyncClient,
        owner: Caller,
        stranger: Caller,
        team: dict[str, Any],
        role_field: dict[str, Any],
    ) -> None:
        response = await client.post(
            f"/api/teams/{team['id']}/members",
            json={"userId": stranger.id, **role_field},
            headers=owner.headers,
        )
        assert response.status_code == 201
        assert [m["role"] for m in response.json()["members"] if m["id"] == stranger.id] == [None]

    async def test_teams_star_adds_to_any_team(
        self, client: httpx.AsyncClient, admin: dict[str, str], stranger: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.post(
            f"/api/teams/{team['id']}/members", json={"userId": stranger.id}, headers=admin
        )
        assert response.status_code == 201
        assert stranger.id in [m["id"] for m in response.json()["members"]]

    async def test_a_user_the_owner_may_not_see_is_the_same_422(
        self, client: httpx.AsyncClient, member: Caller, stranger: Caller
    ) -> None:
        """Issue 12.6: without `users:view` an owner cannot name arbitrary users, then read their details."""
        plain_owner = member  # a USER: teams:edit, not users:view
        own = await create_team(client, plain_owner, name=unique("plain"))
        for user_id in (stranger.id, "no-such-user"):
            response = await client.post(
                f"/api/teams/{own['id']}/members", json={"userId": user_id}, headers=plain_owner.headers
            )
            assert response.status_code == 422
            assert response.json() == {
                "detail": [{"loc": ["body", "userId"], "msg": "User not found", "type": "not_found"}]
            }
        assert (await get_team(client, own["id"], plain_owner)).json()["memberCount"] == 1

    async def test_without_users_view_the_people_of_visible_teams_can_be_added_without_emails(
        self, client: httpx.AsyncClient, owner: Caller, member: Caller, team: dict[str, Any]
    ) -> None:
        """`member` sees `owner` through `team`: naming them reveals nothing new; their email stays hidden."""
        own = await create_team(client, member, name=unique("plain"))
        added = await add_member(client, own["id"], member, owner.id)
        assert [m["id"] for m in added["members"]] == [member.id, owner.id]
        assert added["members"][1] == owner.summary | {
            "email": None, "role": None, "joinedAt": added["members"][1]["joinedAt"]
        }  # fmt: skip
        assert added["owner"] == member.summary  # one's own email is shown
        as_owner = (await get_team(client, own["id"], owner)).json()  # owner holds users:view
        assert as_owner["members"][0]["email"] == member.email

    async def test_unknown_user_is_422(
        self, client: httpx.AsyncClient, owner: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.post(
            f"/api/teams/{team['id']}/members", json={"userId": "no-such-user"}, headers=owner.headers
        )
        assert response.status_code == 422
        assert response.json() == {
            "detail": [{"loc": ["body", "userId"], "msg": "User not found", "type": "not_found"}]
        }

    async def test_unknown_role_is_422(
        self, client: httpx.AsyncClient, owner: Caller, stranger: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.post(
            f"/api/teams/{team['id']}/members",
            json={"userId": stranger.id, "roleId": "no-such-role"},
            headers=owner.headers,
        )
        assert response.status_code == 422
        assert response.json() == {
            "detail": [{"loc": ["body", "roleId"], "msg": "Role not found", "type": "not_found"}]
        }
        assert (await get_team(client, team["id"], stranger)).status_code == 404

    @pytest.mark.parametrize("who", ["owner", "member"])
    async def test_an_existing_member_is_409(
        self,
        client: httpx.AsyncClient,
        owner: Caller,
        member: Caller,
        team: dict[str, Any],
        who: str,
    ) -> None:
        user = owner if who == "owner" else member
        response = await client.post(
            f"/api/teams/{team['id']}/members", json={"userId": user.id}, headers=owner.headers
        )
        assert response.status_code == 409
        assert response.json() == {"detail": "The user is already a member of this team"}
        assert (await get_team(client, team["id"], owner)).json() == team

    async def test_a_missing_team_is_404(
        self, client: httpx.AsyncClient, admin: dict[str, str], stranger: Caller
    ) -> None:
        response = await client.post(
            f"/api/teams/{MISSING_ID}/members", json={"userId": stranger.id}, headers=admin
        )
        assert response.status_code == 404
        assert response.json() == TEAM_NOT_FOUND

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"userId": "bad id"},
            {"userId": None},
            {"userId": "ok", "teamId": "other"},
            {"userId": "ok", "joinedAt": "2020-01-01T00:00:00Z"},
            {"userId": "ok", "roleId": "bad id"},
        ],
    )
    async def test_invalid_bodies_are_422(
        self, client: httpx.AsyncClient, owner: Caller, team: dict[str, Any], body: dict[str, Any]
    ) -> None:
        response = await client.post(f"/api/teams/{team['id']}/members", json=body, headers=owner.headers)
        assert response.status_code == 422


class TestRemoveTeamMember:
    async def test_another_users_team_is_404(
        self, client: httpx.AsyncClient, stranger: Caller, member: Caller, owner: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.delete(
            f"/api/teams/{team['id']}/members/{member.id}", headers=stranger.headers
        )
        assert response.status_code == 404
        assert response.json() == TEAM_NOT_FOUND
        assert (await get_team(client, team["id"], owner)).json()["memberCount"] == 2

    async def test_a_member_who_is_not_the_owner_is_403(
        self, client: httpx.AsyncClient, member: Caller, owner: Caller, team: dict[str, Any]
    ) -> None:
        for user_id in (owner.id, member.id):
            response = await client.delete(
                f"/api/teams/{team['id']}/members/{user_id}", headers=member.headers
            )
            assert response.status_code == 403
            assert response.json() == NOT_OWNER
        assert (await get_team(client, team["id"], owner)).json()["memberCount"] == 2

    async def test_a_non_member_is_404_before_write_rights_are_checked(
        self, client: httpx.AsyncClient, member: Caller, stranger: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.delete(
            f"/api/teams/{team['id']}/members/{stranger.id}", headers=member.headers
        )
        assert response.status_code == 404
        assert response.json() == {"detail": "Member not found"}

    async def test_owner_removes_a_member(
        self, client: httpx.AsyncClient, owner: Caller, member: Caller, team: dict[str, Any]
    ) -> None:
        response = await client.delete(f"/api/teams/{team['id']}/members/{member.id}", headers=owner.headers)
        assert response.status_code == 200
        assert response.json() == {"message": "Member removed", "teamId": team["id"], "userId": member.id}
        remaining = (await get_team(client, team["id"], owner)).json()
        assert [m["id"] for m in remaining["members"]] == [owner.id]
        assert remaining["memberCount"] == 1
        # The former member no longer sees the team.
        assert (await get_team(client, team["id"], member)).status_code == 404
        assert await list_names(client, member.headers, team["name"]) == []

    async def test_teams_star_removes_from_any_team(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        owner: Caller,
        member: Caller,
        team: dict[str, Any],
    ) -> None:
        response = await client.delete(f"/api/teams/{team['id']}/members/{member.id}", headers=admin)
        assert response.status_code == 200
        assert response.json() == {"message": "Member removed", "teamId": team["id"], "userId": member.id}
        assert (await get_team(client, team["id"], owner)).json()["memberCount"] == 1

    @pytest.mark.parametrize("by", ["owner", "admin"])
    async def test_the_owner_cannot_be_removed(
        self,
        client: httpx.AsyncClient,
        owner: Caller,
        team: dict[str, Any],
        by: str,
        admin: dict[str, str],
    ) -> None:
        headers = owner.headers if by == "owner" else admin
        response = await client.delete(f"/api/teams/{team['id']}/members/{owner.id}", headers=headers)
        assert response.status_code == 409
        assert response.json() == {"detail": "The team owner cannot be removed"}
        assert (await get_team(client, team["id"], owner)).json() == team

    @pytest.mark.parametrize("user_id", ["stranger", "no-such-user"])
    async def test_a_user_who_is_not_a_member_is_404(
        self,
        client: httpx.AsyncClient,
        owner: Caller,
        team: dict[str, Any],
        stranger: Caller,
        user_id: str,
    ) -> None:
        target = stranger.id if user_id == "stranger" else user_id
        response = await client.delete(f"/api/teams/{team['id']}/members/{target}", headers=owner.headers)
        assert response.status_code == 404
        assert response.json() == {"detail": "Member not found"}

    async def test_a_missing_team_is_404(
        self, client: httpx.AsyncClient, admin: dict[str, str], member: Caller
    ) -> None:
        response = await client.delete(f"/api/teams/{MISSING_ID}/members/{member.id}", headers=admin)
        assert response.status_code == 404
        assert response.json() == TEAM_NOT_FOUND


async def test_editor_role_runs_teams_of_its_own(
    client: httpx.AsyncClient, stranger: Caller, demo: dict[str, dict[str, str]]
) -> None:
    """The seeded EDITOR (teams:create/edit/delete, not teams:*) owns what it creates and nothing else."""
    editor = demo["editor"]
    created = (await client.post("/api/teams", json={"name": unique("editor")}, headers=editor)).json()
    others = await create_team(client, stranger, name=unique("not-editors"))
    assert (
        await client.patch(f"/api/teams/{created['id']}", json={"name": "Renamed"}, headers=editor)
    ).status_code == 200
    assert (
        await client.patch(f"/api/teams/{others['id']}", json={"name": "X"}, headers=editor)
    ).status_code == 404
    assert (await client.delete(f"/api/teams/{created['id']}", headers=editor)).status_code == 204
