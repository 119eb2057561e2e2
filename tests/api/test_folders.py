"""Folders over HTTP, through the real app and a real PostgreSQL.

Every folder here belongs to a freshly registered user (role USER: `files:view` and `files:upload`, not
`files:delete`), so the tests depend neither on each other nor on other modules' rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from halolight.db.models import Folder
from halolight.repositories.folders import MAX_DEPTH
from halolight.storage import Storage
from tests.api.helpers import ADMIN, Person, auth_headers, person
from tests.conftest import CountStatements

pytestmark = pytest.mark.asyncio

FOLDER_KEYS = {"id", "name", "parentId", "owner", "createdAt", "updatedAt"}
NOT_FOUND = {"detail": "Folder not found"}
NAME_TAKEN = {"detail": "A folder with this name already exists here"}


async def create(
    client: httpx.AsyncClient, owner: Person, name: str, parent_id: str | None = None, expect: int = 201
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if parent_id is not None:
        body["parentId"] = parent_id
    response = await client.post("/api/folders", json=body, headers=owner.headers)
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


async def paths(app: FastAPI, owner: Person) -> dict[str, str]:
    """name → path of every folder of `owner`, as stored."""
    async with app.state.runtime.sessionmaker() as db:
        rows = (await db.execute(select(Folder.name, Folder.path).where(Folder.owner_id == owner.id))).all()
    return {row.name: row.path for row in rows}


class TestCreateFolder:
    async def test_creates_at_the_top_level_and_inside(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner = await person(client)
        top = await create(client, owner, "Projects")
        assert set(top) == FOLDER_KEYS
        assert top["parentId"] is None
        assert top["owner"] == {"id": owner.id, "name": "Test User", "email": owner.email, "avatar": None}
        inner = await create(client, owner, "2026", top["id"])
        assert inner["parentId"] == top["id"]
        assert await paths(app, owner) == {
            "Projects": f"/{owner.id}/Projects",
            "2026": f"/{owner.id}/Projects/2026",
        }

    async def test_two_users_each_have_a_projects_folder(self, client: httpx.AsyncClient) -> None:
        first, second = await person(client), await person(client)
        await create(client, first, "Projects")
        await create(client, second, "Projects")

    async def test_a_name_is_unique_among_siblings(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        a = await create(client, owner, "A")
        await create(client, owner, "Same")
        await create(client, owner, "Same", a["id"])  # another parent: fine
        await create(client, owner, "same")  # names are case-sensitive
        response = await client.post("/api/folders", json={"name": "Same"}, headers=owner.headers)
        assert response.status_code == 409
        assert response.json() == NAME_TAKEN

    @pytest.mark.parametrize("name", ["", "a/b", "/", "x" * 101, "nul\x00"])
    async def test_bad_names_are_422(self, client: httpx.AsyncClient, name: str) -> None:
        owner = await person(client)
        response = await client.post("/api/folders", json={"name": name}, headers=owner.headers)
        assert response.status_code == 422, response.text
        # NUL is refused for the whole body (ApiModel), the rest at the field.
        assert response.json()["detail"][0]["loc"] == (["body"] if "\x00" in name else ["body", "name"])

    async def test_the_parent_must_be_the_callers(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        theirs = await create(client, other, "Theirs")
        for parent_id in (theirs["id"], "no-such-folder"):
            response = await client.post(
                "/api/folders", json={"name": "Mine", "parentId": parent_id}, headers=owner.headers
            )
            assert response.status_code == 422
            assert response.json()["detail"] == [
                {"loc": ["body", "parentId"], "msg": "Folder not found", "type": "not_found"}
            ]

    async def test_folders_nest_at_most_32_deep(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        parent = None
        for level in range(MAX_DEPTH):
            parent = (await create(client, owner, f"L{level + 1}", parent))["id"]
        response = await client.post(
            "/api/folders", json={"name": "too deep", "parentId": parent}, headers=owner.headers
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["msg"] == f"Folders nest at most {MAX_DEPTH} deep"


class TestGetAndList:
    async def test_only_the_owner_sees_a_folder(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        folder = await create(client, owner, "Private")
        mine = await client.get(f"/api/folders/{folder['id']}", headers=owner.headers)
        assert mine.status_code == 200
        assert mine.json() == folder
        for headers in (other.headers,):
            response = await client.get(f"/api/folders/{folder['id']}", headers=headers)
            assert (response.status_code, response.json()) == (404, NOT_FOUND)
        missing = await client.get("/api/folders/no-such-folder", headers=owner.headers)
        assert (missing.status_code, missing.json()) == (404, NOT_FOUND)

    async def test_lists_one_level_by_name(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        b = await create(client, owner, "b")
        a = await create(client, owner, "a")
        inner = await create(client, owner, "inner", a["id"])
        await create(client, other, "theirs")
        top = await client.get("/api/folders", headers=owner.headers)
        assert top.status_code == 200
        assert [f["id"] for f in top.json()["data"]] == [a["id"], b["id"]]
        children = await client.get("/api/folders", params={"parentId": a["id"]}, headers=owner.headers)
        assert [f["id"] for f in children.json()["data"]] == [inner["id"]]
        assert (
            await client.get("/api/folders", params={"parentId": b["id"]}, headers=owner.headers)
        ).json() == {"data": []}

    async def test_listing_a_folder_of_someone_else_is_404(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        theirs = await create(client, other, "theirs")
        response = await client.get("/api/folders", params={"parentId": theirs["id"]}, headers=owner.headers)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
        bad = await client.get("/api/folders", params={"parentId": "bad id!"}, headers=owner.headers)
        assert bad.status_code == 422

    async def test_the_tree(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        work = await create(client, owner, "Work")
        home = await create(client, owner, "Home")
        beta = await create(client, owner, "beta", work["id"])
        alpha = await create(client, owner, "alpha", work["id"])
        deep = await create(client, owner, "deep", alpha["id"])
        await create(client, other, "Theirs")
        response = await client.get("/api/folders/tree", headers=owner.headers)
        assert response.status_code == 200
        assert response.json() == {
            "data": [
                {"id": home["id"], "name": "Home", "children": []},
                {
                    "id": work["id"],
                    "name": "Work",
                    "children": [
                        {
                            "id": alpha["id"],
                            "name": "alpha",
                            "children": [{"id": deep["id"], "name": "deep", "children": []}],
                        },
                        {"id": beta["id"], "name": "beta", "children": []},
                    ],
                },
            ]
        }
        empty = await person(client)
        assert (await client.get("/api/folders/tree", headers=empty.headers)).json() == {"data": []}


class TestUpdateFolder:
    async def test_a_rename_rewrites_the_subtree_paths(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner = await person(client)
        top = await create(client, owner, "Old")
        mid = await create(client, owner, "mid", top["id"])
        await create(client, owner, "leaf", mid["id"])
        await create(client, owner, "Old sibling")  # a prefix of the old path with more after it: untouched
        response = await client.patch(
            f"/api/folders/{top['id']}", json={"name": "New"}, headers=owner.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "New"
        assert response.json()["updatedAt"] >= top["updatedAt"]
        root = f"/{owner.id}"
        assert await paths(app, owner) == {
            "New": f"{root}/New",
            "mid": f"{root}/New/mid",
            "leaf": f"{root}/New/mid/leaf",
            "Old sibling": f"{root}/Old sibling",
        }

    async def test_a_move_carries_the_subtree(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner = await person(client)
        source = await create(client, owner, "source")
        moving = await create(client, owner, "moving", source["id"])
        await create(client, owner, "child", moving["id"])
        target = await create(client, owner, "target")
        moved = await client.patch(
            f"/api/folders/{moving['id']}", json={"parentId": target["id"]}, headers=owner.headers
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["parentId"] == target["id"]
        root = f"/{owner.id}"
        stored = await paths(app, owner)
        assert (stored["moving"], stored["child"]) == (f"{root}/target/moving", f"{root}/target/moving/child")
        to_top = await client.patch(
            f"/api/folders/{moving['id']}", json={"parentId": None, "name": "top"}, headers=owner.headers
        )
        assert to_top.status_code == 200
        assert (to_top.json()["parentId"], to_top.json()["name"]) == (None, "top")
        stored = await paths(app, owner)
        assert (stored["top"], stored["child"]) == (f"{root}/top", f"{root}/top/child")

    async def test_not_into_itself_or_inside_it(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        top = await create(client, owner, "top")
        inner = await create(client, owner, "inner", top["id"])
        for target in (top["id"], inner["id"]):
            response = await client.patch(
                f"/api/folders/{top['id']}", json={"parentId": target}, headers=owner.headers
            )
            assert response.status_code == 422, response.text
            issue = response.json()["detail"][0]
            assert (issue["loc"], issue["type"]) == (["body", "parentId"], "self_reference")

    async def test_refusals(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        a = await create(client, owner, "a")
        await create(client, owner, "b")
        theirs = await create(client, other, "theirs")
        taken = await client.patch(f"/api/folders/{a['id']}", json={"name": "b"}, headers=owner.headers)
        assert (taken.status_code, taken.json()) == (409, NAME_TAKEN)
        foreign = await client.patch(
            f"/api/folders/{a['id']}", json={"parentId": theirs["id"]}, headers=owner.headers
        )
        assert foreign.status_code == 422
        not_mine = await client.patch(
            f"/api/folders/{theirs['id']}", json={"name": "x"}, headers=owner.headers
        )
        assert (not_mine.status_code, not_mine.json()) == (404, NOT_FOUND)
        bad = await client.patch(f"/api/folders/{a['id']}", json={"name": "x/y"}, headers=owner.headers)
        assert bad.status_code == 422
        unchanged = await client.patch(f"/api/folders/{a['id']}", json={}, headers=owner.headers)
        assert unchanged.status_code == 200
        assert unchanged.json() == a

    async def test_a_move_that_would_nest_too_deep_is_422(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        chain = None
        for level in range(MAX_DEPTH - 1):
            chain = (await create(client, owner, f"L{level + 1}", chain))["id"]
        pair = await create(client, owner, "pair")
        await create(client, owner, "inside", pair["id"])
        response = await client.patch(
            f"/api/folders/{pair['id']}", json={"parentId": chain}, headers=owner.headers
        )
        assert response.status_code == 422, response.text

    async def test_opposite_concurrent_moves_leave_no_cycle(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client)
        a = await create(client, owner, "a")
        b = await create(client, owner, "b")
        answers = await asyncio.gather(
            client.patch(f"/api/folders/{a['id']}", json={"parentId": b["id"]}, headers=owner.headers),
            client.patch(f"/api/folders/{b['id']}", json={"parentId": a["id"]}, headers=owner.headers),
        )
        assert sorted(r.status_code for r in answers) == [200, 422]
        stored = await paths(app, owner)
        root = f"/{owner.id}"
        assert stored in ({"a": f"{root}/b/a", "b": f"{root}/b"}, {"a": f"{root}/a", "b": f"{root}/a/b"})


class TestDeleteFolder:
    async def test_needs_files_delete(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        folder = await create(client, owner, "x")
        response = await client.delete(f"/api/folders/{folder['id']}", headers=owner.headers)
        assert response.status_code == 403

    async def test_an_empty_folder_goes_a_full_one_needs_recursive(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client, app, role="MANAGER")
        empty = await create(client, owner, "empty")
        full = await create(client, owner, "full")
        await create(client, owner, "inner", full["id"])
        gone = await client.delete(f"/api/folders/{empty['id']}", headers=owner.headers)
        assert gone.status_code == 204
        refused = await client.delete(f"/api/folders/{full['id']}", headers=owner.headers)
        assert refused.status_code == 409
        assert "recursive=true" in refused.json()["detail"]
        assert set(await paths(app, owner)) == {"full", "inner"}

    async def test_recursive_takes_the_subtree_and_its_files(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client, app, role="MANAGER")
        top = await create(client, owner, "top")
        inner = await create(client, owner, "inner", top["id"])
        keep = await create(client, owner, "keep")
        storage = app.state.runtime.storage
        k1, k2, k3 = [await _stored(storage, b"x" * size) for size in (100, 20, 7)]
        async with app.state.runtime.sessionmaker() as db:
            await db.execute(
                text(
                    'INSERT INTO files (id, name, path, "mimeType", size, "folderId", "ownerId", '
                    "\"updatedAt\") VALUES (:id, :name, :path, 'text/plain', :size, :folder, :owner, now())"
                ),
                [
                    {
                        "id": f"{owner.id}-f1",
                        "name": "a",
                        "path": k1,
                        "size": 100,
                        "folder": inner["id"],
                        "owner": owner.id,
                    },
                    {
                        "id": f"{owner.id}-f2",
                        "name": "b",
                        "path": k2,
                        "size": 20,
                        "folder": top["id"],
                        "owner": owner.id,
                    },
                    {
                        "id": f"{owner.id}-f3",
                        "name": "c",
                        "path": k3,
                        "size": 7,
                        "folder": keep["id"],
                        "owner": owner.id,
                    },
                ],
            )
            await db.execute(
                text(
                    'INSERT INTO documents (id, title, content, type, folder, "ownerId", "updatedAt") '
                    "VALUES (:id, 'doc', '', 'doc', :folder, :owner, now())"
                ),
                {"id": f"{owner.id}-d1", "folder": inner["id"], "owner": owner.id},
            )
            await db.execute(text('UPDATE users SET "quotaUsed" = 127 WHERE id = :id'), {"id": owner.id})
            await db.commit()
        refused = await client.delete(f"/api/folders/{inner['id']}", headers=owner.headers)
        assert refused.status_code == 409  # a file and a document are in it
        response = await client.delete(
            f"/api/folders/{top['id']}", params={"recursive": "true"}, headers=owner.headers
        )
        assert response.status_code == 204, response.text
        assert set(await paths(app, owner)) == {"keep"}
        async with app.state.runtime.sessionmaker() as db:
            files = (
                await db.execute(text('SELECT id FROM files WHERE "ownerId" = :o'), {"o": owner.id})
            ).scalars()
            assert list(files) == [f"{owner.id}-f3"]
            folder = await db.scalar(
                text("SELECT folder FROM documents WHERE id = :id"), {"id": f"{owner.id}-d1"}
            )
            assert folder is None  # the document stays, at the top level
            used = await db.scalar(text('SELECT "quotaUsed" FROM users WHERE id = :id'), {"id": owner.id})
            assert used == 7
        await app.state.runtime.drain()  # the bytes go after the commit, in the background
        remaining = {info.key async for info in storage.keys()}  # noqa: SIM118 (not a dict)
        assert (k1 in remaining, k2 in remaining, k3 in remaining) == (False, False, True)

    async def test_someone_elses_folder_is_404(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner = await person(client, app, role="MANAGER")
        other = await person(client)
        theirs = await create(client, other, "theirs")
        response = await client.delete(f"/api/folders/{theirs['id']}", headers=owner.headers)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)


async def _stored(storage: Storage, data: bytes) -> str:
    async def chunks() -> AsyncIterator[bytes]:
        yield data

    key = storage.new_key()
    await storage.put(key, chunks(), content_type="text/plain")
    return key


class TestStatementCounts:
    async def test_lists_and_tree_send_as_many_statements_for_100_folders_as_for_1(
        self, client: httpx.AsyncClient, app: FastAPI, count_statements: CountStatements
    ) -> None:
        small, large = await person(client), await person(client)
        await create(client, small, "only")
        parent = await create(client, large, "parent")
        async with app.state.runtime.sessionmaker() as db:
            await db.execute(
                text(
                    'INSERT INTO folders (id, name, path, "parentId", "ownerId", "updatedAt") '
                    "SELECT :owner || '-' || i, 'f' || i, '/' || :owner || '/parent/f' || i, :parent, "
                    ":owner, now() FROM generate_series(1, 100) i"
                ),
                {"owner": large.id, "parent": parent["id"]},
            )
            await db.commit()
        small_parent = await create(client, small, "one", (await create(client, small, "p"))["id"])

        def tree_size(body: Any) -> int:
            return len(body["data"][0]["children"])

        def list_size(body: Any) -> int:
            return len(body["data"])

        cases = [
            ("/api/folders/tree", "/api/folders/tree", tree_size),
            (
                f"/api/folders?parentId={small_parent['parentId']}",
                f"/api/folders?parentId={parent['id']}",
                list_size,
            ),
        ]
        for url_small, url_large, count in cases:
            with count_statements(app.state.runtime.engine) as few:
                assert (await client.get(url_small, headers=small.headers)).status_code == 200
            with count_statements(app.state.runtime.engine) as many:
                answer = await client.get(url_large, headers=large.headers)
            assert answer.status_code == 200
            assert count(answer.json()) == 100  # the rows exist: the comparison is not vacuous
            assert len(many) == len(few), (few, many)


async def test_the_demo_seed_gives_the_admin_a_tree(client: httpx.AsyncClient) -> None:
    tree = (await client.get("/api/folders/tree", headers=await auth_headers(client, ADMIN))).json()["data"]
    names = {node["name"]: node for node in tree}
    assert {"项目", "Reports"} <= set(names)
    assert names["项目"]["children"][0]["name"] == "HaloLight 2.0"
    assert names["项目"]["children"][0]["children"][0]["name"] == "设计稿"


async def test_a_level_is_read_by_its_index(app: FastAPI) -> None:
    """The list's query, planned without sequential scans: the owner/parent/name index serves it in order."""
    async with app.state.runtime.engine.connect() as connection:
        await connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = (
            await connection.execute(
                text(
                    "EXPLAIN SELECT id FROM folders WHERE \"ownerId\" = 'o' AND \"parentId\" = 'p' "
                    "ORDER BY name, id"
                )
            )
        ).scalars()
        text_plan = "\n".join(plan)
    assert "halolight_folders_owner_parent_name" in text_plan
    assert "Sort" not in text_plan
