"""Documents over HTTP, through the real app and a real PostgreSQL.

Every document here belongs to a freshly registered user (role USER: `documents:view`, `:create` and `:edit`,
not `:delete`), so the tests depend neither on each other nor on other modules' rows.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from halolight.repositories import documents
from tests.api.helpers import ADMIN, Person, auth_headers, person

pytestmark = pytest.mark.asyncio

DOCUMENT_KEYS = {
    "id", "title", "content", "folderId", "tags", "author", "type", "size", "views", "permission",
    "createdAt", "updatedAt",
}  # fmt: skip
NOT_FOUND = {"detail": "Document not found"}


async def create(
    client: httpx.AsyncClient, owner: Person, title: str = "Notes", content: str = "Hello", **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/documents", json={"title": title, "content": content, **fields}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def share(
    client: httpx.AsyncClient, owner: Person, document_id: str, permission: str = "READ", **target: str
) -> httpx.Response:
    return await client.post(
        f"/api/documents/{document_id}/share",
        json={**target, "permission": permission},
        headers=owner.headers,
    )


async def team_with(client: httpx.AsyncClient, owner: Person, *members: Person) -> str:
    team = await client.post("/api/teams", json={"name": "Docs team"}, headers=owner.headers)
    assert team.status_code == 201, team.text
    team_id: str = team.json()["id"]
    admin = await auth_headers(client, ADMIN)
    for member in members:
        added = await client.post(f"/api/teams/{team_id}/members", json={"userId": member.id}, headers=admin)
        assert added.status_code == 201, added.text
    return team_id


async def folder_of(client: httpx.AsyncClient, owner: Person, name: str = "Docs") -> str:
    response = await client.post("/api/folders", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.text
    folder_id: str = response.json()["id"]
    return folder_id


def _assert_422(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


class TestCreateDocument:
    async def test_creates_with_tags_in_a_folder(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        folder = await folder_of(client, owner)
        doc = await create(client, owner, "计划", "项目管理 plan", folderId=folder, tags=["Design", " 2026 "])
        assert set(doc) == DOCUMENT_KEYS
        assert doc["folderId"] == folder
        assert doc["tags"] == ["2026", "Design"]
        assert doc["author"] == {"id": owner.id, "name": "Test User", "email": owner.email, "avatar": None}
        assert (doc["type"], doc["size"], doc["views"], doc["permission"]) == (
            "doc",
            len("项目管理 plan".encode()),
            0,
            "OWNER",
        )

    async def test_someone_elses_folder_is_422(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        folder = await folder_of(client, other)
        response = await client.post(
            "/api/documents", json={"title": "x", "content": "", "folderId": folder}, headers=owner.headers
        )
        _assert_422(response)
        assert response.json()["detail"][0]["loc"] == ["body", "folderId"]

    @pytest.mark.parametrize(
        "body",
        [
            {"title": "", "content": "x"},
            {"title": "t" * 256, "content": "x"},
            {"title": "t"},
            {"title": "t", "content": "x", "tags": ["a"] * 21},
            {"title": "t", "content": "x", "tags": ["a" * 51]},
            {"title": "t", "content": "x", "tags": [""]},
            {"title": "t", "content": "x", "ownerId": "someone"},
            {"title": "t", "content": "x" * 65_537},
            {"title": "t\x00", "content": "x"},
        ],
    )
    async def test_bad_input_is_422(self, client: httpx.AsyncClient, body: dict[str, Any]) -> None:
        owner = await person(client)
        _assert_422(await client.post("/api/documents", json=body, headers=owner.headers))

    async def test_content_one_past_its_bound_is_422_however_escaped(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        # 65,537 emoji as JSON escapes (12 bytes each): still under the body limit, so the bound answers.
        body = '{"title": "t", "content": "' + "\\ud83d\\ude00" * 65_537 + '"}'
        headers = {**owner.headers, "Content-Type": "application/json"}
        _assert_422(await client.post("/api/documents", content=body.encode(), headers=headers))

    async def test_blank_tags_are_dropped_and_case_repeats_merged(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        doc = await create(client, owner, tags=["  ", "Alpha-x9", "alpha-X9", "beta"])
        assert doc["tags"] == ["Alpha-x9", "beta"]


class TestGetDocument:
    async def test_someone_elses_is_404(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        doc = await create(client, owner)
        response = await client.get(f"/api/documents/{doc['id']}", headers=other.headers)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)

    async def test_counts_views_but_keeps_the_etag(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        doc = await create(client, owner)
        first = await client.get(f"/api/documents/{doc['id']}", headers=owner.headers)
        second = await client.get(f"/api/documents/{doc['id']}", headers=owner.headers)
        assert (first.json()["views"], second.json()["views"]) == (1, 2)
        assert first.headers["etag"] == second.headers["etag"]
        assert first.headers["etag"].startswith('"')
        cached = await client.get(
            f"/api/documents/{doc['id']}", headers={**owner.headers, "If-None-Match": first.headers["etag"]}
        )
        assert cached.status_code == 304
        assert cached.headers["etag"] == first.headers["etag"]
        renamed = await client.patch(
            f"/api/documents/{doc['id']}/rename", json={"title": "New"}, headers=owner.headers
        )
        assert renamed.headers["etag"] != first.headers["etag"]
        fresh = await client.get(
            f"/api/documents/{doc['id']}", headers={**owner.headers, "If-None-Match": first.headers["etag"]}
        )
        assert fresh.status_code == 200
        assert fresh.headers["etag"] == renamed.headers["etag"]
        assert fresh.json()["views"] == 4  # the 304 counted too

    async def test_concurrent_views_all_count(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        doc = await create(client, owner)
        n = 20
        answers = await asyncio.gather(
            *(client.get(f"/api/documents/{doc['id']}", headers=owner.headers) for _ in range(n))
        )
        assert all(a.status_code == 200 for a in answers)
        assert sorted(a.json()["views"] for a in answers) == list(range(1, n + 1))
        again = await client.get(f"/api/documents/{doc['id']}", headers=owner.headers)
        assert again.json()["views"] == n + 1

    async def test_author_email_is_hidden_from_those_without_users_view(
        self, client: httpx.AsyncClient
    ) -> None:
        owner, reader = await person(client), await person(client)
        doc = await create(client, owner)
        await team_with(client, owner, reader)
        assert (await share(client, owner, doc["id"], userId=reader.id)).status_code == 200
        seen = (await client.get(f"/api/documents/{doc['id']}", headers=reader.headers)).json()
        assert seen["author"]["email"] is None
        assert seen["permission"] == "READ"
        admin_view = await client.get(
            f"/api/documents/{doc['id']}", headers=await auth_headers(client, ADMIN)
        )
        assert admin_view.status_code == 404  # documents are not the admin's to see


class TestVisibility:
    async def test_team_share_reaches_members_only_while_live(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, member, outsider = await person(client), await person(client), await person(client)
        doc = await create(client, owner)
        team_id = await team_with(client, owner, member)
        assert (await share(client, owner, doc["id"], "COMMENT", teamId=team_id)).status_code == 200
        seen = await client.get(f"/api/documents/{doc['id']}", headers=member.headers)
        assert (seen.status_code, seen.json()["permission"]) == (200, "COMMENT")
        assert (await client.get(f"/api/documents/{doc['id']}", headers=outsider.headers)).status_code == 404
        listed = await client.get("/api/documents", headers=member.headers)
        assert [d["id"] for d in listed.json()["data"]] == [doc["id"]]
        async with app.state.runtime.engine.begin() as conn:
            await conn.execute(
                text(
                    """UPDATE document_shares SET "expiresAt" = now() AT TIME ZONE 'UTC' - interval '1 minute'
                    WHERE "documentId" = :id"""
                ),
                {"id": doc["id"]},
            )
        assert (await client.get(f"/api/documents/{doc['id']}", headers=member.headers)).status_code == 404
        assert (await client.get("/api/documents", headers=member.headers)).json()["data"] == []


class TestListDocuments:
    async def test_lists_own_and_shared_newest_first_with_filters(self, client: httpx.AsyncClient) -> None:
        owner, friend = await person(client), await person(client)
        await team_with(client, friend, owner)
        folder = await folder_of(client, owner)
        first = await create(client, owner, "One", tags=["red"])
        second = await create(client, owner, "Two", folderId=folder, tags=["Red", "blue"])
        theirs = await create(client, friend, "Theirs", tags=["RED"])
        assert (await share(client, friend, theirs["id"], userId=owner.id)).status_code == 200
        body = (await client.get("/api/documents", headers=owner.headers)).json()
        assert [d["id"] for d in body["data"]] == [theirs["id"], second["id"], first["id"]]
        assert body["meta"] == {"total": 3, "page": 1, "limit": 10, "totalPages": 1}
        in_folder = await client.get("/api/documents", params={"folderId": folder}, headers=owner.headers)
        assert [d["id"] for d in in_folder.json()["data"]] == [second["id"]]
        tagged = await client.get("/api/documents", params={"tags": ["RED", " Blue "]}, headers=owner.headers)
        assert [d["id"] for d in tagged.json()["data"]] == [second["id"]]
        red = await client.get("/api/documents", params={"tags": "red", "limit": 2}, headers=owner.headers)
        assert red.json()["meta"] == {"total": 3, "page": 1, "limit": 2, "totalPages": 2}

    async def test_pages_merge_own_and_shared_documents_in_order(self, client: httpx.AsyncClient) -> None:
        owner, friend = await person(client), await person(client)
        team_id = await team_with(client, friend, owner)
        made = []
        for n in range(6):  # alternately the owner's and the friend's (shared by user or by team)
            if n % 2 == 0:
                made.append(await create(client, owner, f"Own {n}"))
            else:
                doc = await create(client, friend, f"Shared {n}")
                target = {"userId": owner.id} if n % 4 == 1 else {"teamId": team_id}
                assert (await share(client, friend, doc["id"], **target)).status_code == 200
                made.append(doc)
        newest_first = [d["id"] for d in reversed(made)]
        seen = []
        for page in (1, 2, 3, 4):
            body = (
                await client.get("/api/documents", params={"page": page, "limit": 2}, headers=owner.headers)
            ).json()
            assert body["meta"] == {"total": 6, "page": page, "limit": 2, "totalPages": 3}
            seen += [d["id"] for d in body["data"]]
        assert seen == newest_first

    async def test_someone_elses_folder_is_404(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        folder = await folder_of(client, other)
        response = await client.get("/api/documents", params={"folderId": folder}, headers=owner.headers)
        assert response.status_code == 404

    @pytest.mark.parametrize(
        "params",
        [
            {"page": 0},
            {"limit": 101},
            {"search": "s" * 101},
            {"tags": ["a"] * 11},
            {"tags": "a" * 51},
            {"folderId": "a/b"},
        ],
    )
    async def test_bad_queries_are_422(self, client: httpx.AsyncClient, params: dict[str, Any]) -> None:
        owner = await person(client)
        _assert_422(await client.get("/api/documents", params=params, headers=owner.headers))


class TestSearch:
    async def test_finds_a_chinese_word_inside_a_text_and_english_words(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await person(client)
        chinese = await create(client, owner, "周会", "今天我们讨论项目管理的进度")
        english = await create(client, owner, "Weekly", "The Deployment REPORT is ready.")
        await create(client, owner, "Other", "无关的内容 nothing here")

        async def found(term: str) -> list[str]:
            response = await client.get("/api/documents", params={"search": term}, headers=owner.headers)
            assert response.status_code == 200, response.text
            return [d["id"] for d in response.json()["data"]]

        assert await found("管理") == [chinese["id"]]
        assert await found("项目管理") == [chinese["id"]]
        assert await found("进") == [chinese["id"]]  # one character alone
        assert await found("report") == [english["id"]]
        assert await found("deployment report") == [english["id"]]
        assert await found("report 管理") == []  # every word must match
        assert await found("理项") == []  # not a run of the text
        assert await found("!!!") == []  # no word to look for
        assert len(await found("  ")) == 3  # blank: no filter

    async def test_title_hits_rank_first(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        in_title = await create(client, owner, "Roadmap 路线图", "plans")
        in_content = await create(client, owner, "Plans", "the roadmap and the 路线图")
        response = await client.get("/api/documents", params={"search": "roadmap"}, headers=owner.headers)
        assert [d["id"] for d in response.json()["data"]] == [in_title["id"], in_content["id"]]
        response = await client.get("/api/documents", params={"search": "路线"}, headers=owner.headers)
        assert [d["id"] for d in response.json()["data"]] == [in_title["id"], in_content["id"]]
        assert response.json()["meta"]["total"] == 2

    async def test_only_the_newest_matches_are_ranked(
        self, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        owner = await person(client)
        in_title = await create(client, owner, "Budget 预算", "plans")
        in_content = await create(client, owner, "Plans", "the budget and the 预算")
        monkeypatch.setattr(documents, "RANKED_MATCHES", 1)
        response = await client.get("/api/documents", params={"search": "budget"}, headers=owner.headers)
        # Only the newest match is ranked; the older title match follows it.
        assert [d["id"] for d in response.json()["data"]] == [in_content["id"], in_title["id"]]
        assert response.json()["meta"]["total"] == 2

    async def test_search_sees_only_visible_documents(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        await create(client, other, "Secret 机密", "机密")
        response = await client.get("/api/documents", params={"search": "机密"}, headers=owner.headers)
        assert response.json()["data"] == []

    async def test_list_and_search_count_each_visible_document_once(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, friend = await person(client), await person(client)
        team_id = await team_with(client, friend, owner)
        own = await create(client, owner, "Own 星云", "星云")
        # The owner's own document shared with a team the owner is in: still one document, the owner's.
        own_team = await team_with(client, owner, friend)
        assert (await share(client, owner, own["id"], teamId=own_team)).status_code == 200
        by_user = await create(client, friend, "By user 星云", "星云")
        assert (await share(client, friend, by_user["id"], userId=owner.id)).status_code == 200
        twice = await create(client, friend, "Twice 星云", "星云")  # by user and by team
        assert (await share(client, friend, twice["id"], userId=owner.id)).status_code == 200
        assert (await share(client, friend, twice["id"], teamId=team_id)).status_code == 200
        by_team = await create(client, friend, "By team 星云", "星云")
        assert (await share(client, friend, by_team["id"], teamId=team_id)).status_code == 200
        expired = await create(client, friend, "Expired 星云", "星云")
        assert (await share(client, friend, expired["id"], userId=owner.id)).status_code == 200
        await create(client, friend, "Not shared 星云", "星云")
        async with app.state.runtime.engine.begin() as conn:
            await conn.execute(
                text(
                    """UPDATE document_shares SET "expiresAt" = now() AT TIME ZONE 'UTC' - interval '1 minute'
                    WHERE "documentId" = :id"""
                ),
                {"id": expired["id"]},
            )
        visible = {own["id"], by_user["id"], twice["id"], by_team["id"]}
        for params in ({}, {"search": "星云"}):
            body = (await client.get("/api/documents", params=params, headers=owner.headers)).json()
            assert {d["id"] for d in body["data"]} == visible, params
            assert body["meta"]["total"] == 4, params
            past = await client.get(
                "/api/documents", params={**params, "page": 3, "limit": 2}, headers=owner.headers
            )
            assert (past.json()["data"], past.json()["meta"]["total"]) == ([], 4), params

    async def test_the_list_follows_writes_made_by_another_backend(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        """Migration 0018's copies follow plain SQL writes to the shared tables, as the NestJS and Java
        backends make them: a share added, a document changed or given away, a share's expiry, a share or
        its user removed."""
        owner, friend = await person(client), await person(client)
        mine = await create(client, owner, "Mine")
        older = await create(client, friend, "Older")
        newer = await create(client, friend, "Newer")

        async def listed() -> tuple[list[str], int]:
            body = (await client.get("/api/documents", headers=owner.headers)).json()
            return [d["id"] for d in body["data"]], body["meta"]["total"]

        async def run(sql: str, **params: Any) -> None:
            async with app.state.runtime.engine.begin() as conn:
                await conn.execute(text(sql), params)

        for doc, share_id in ((older, "cshareorder0000000000001"), (newer, "cshareorder0000000000002")):
            await run(
                """INSERT INTO document_shares (id, "documentId", "sharedWithId", permission)
                VALUES (:id, :doc, :user, 'READ')""",
                id=share_id + owner.id[-4:],
                doc=doc["id"],
                user=owner.id,
            )
        assert await listed() == ([newer["id"], older["id"], mine["id"]], 3)
        # The older one changes: first now.
        await run(
            """UPDATE documents SET "updatedAt" = now() AT TIME ZONE 'UTC' + interval '1 minute'
            WHERE id = :id""",
            id=older["id"],
        )
        assert await listed() == ([older["id"], newer["id"], mine["id"]], 3)
        # Given to the caller: theirs now, counted once.
        await run('UPDATE documents SET "ownerId" = :me WHERE id = :id', me=owner.id, id=older["id"])
        assert await listed() == ([older["id"], newer["id"], mine["id"]], 3)
        # Its share expires, then is removed; the friend's account goes (the share's user is set to NULL).
        await run(
            """UPDATE document_shares SET "expiresAt" = now() AT TIME ZONE 'UTC' - interval '1 minute'
            WHERE "documentId" = :id""",
            id=newer["id"],
        )
        assert await listed() == ([older["id"], mine["id"]], 2)
        await run('UPDATE document_shares SET "expiresAt" = NULL WHERE "documentId" = :id', id=newer["id"])
        assert await listed() == ([older["id"], newer["id"], mine["id"]], 3)
        await run('UPDATE document_shares SET "sharedWithId" = NULL WHERE "documentId" = :id', id=newer["id"])
        assert await listed() == ([older["id"], mine["id"]], 2)
        await run('DELETE FROM document_shares WHERE "documentId" = :id', id=newer["id"])
        async with app.state.runtime.engine.connect() as conn:
            copies = await conn.scalar(
                text('SELECT count(*) FROM halolight_document_share_order WHERE "documentId" = :id'),
                {"id": newer["id"]},
            )
        assert copies == 0

    async def test_a_long_text_of_distinct_characters_is_stored_and_found(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await person(client)
        # 60,000 characters of distinct n-grams: past what a tsvector may hold, were it all indexed.
        content = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(60_000))
        doc = await create(client, owner, "Big", content)
        response = await client.get(
            "/api/documents", params={"search": content[100:104]}, headers=owner.headers
        )
        assert [d["id"] for d in response.json()["data"]] == [doc["id"]]

    async def test_the_search_uses_the_gin_index(self, app: FastAPI) -> None:
        async with app.state.runtime.engine.connect() as connection:
            await connection.execute(text("SET LOCAL enable_seqscan = off"))
            plan = (
                await connection.execute(
                    text(
                        "EXPLAIN SELECT id FROM documents "
                        "WHERE halolight_document_search(title, content) @@ halolight_search_query('管理')"
                    )
                )
            ).scalars()
            text_plan = "\n".join(plan)
        assert "halolight_documents_search" in text_plan, text_plan
        assert "Bitmap Index Scan" in text_plan, text_plan


class TestUpdateDocument:
    async def test_owner_updates_and_size_follows(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        doc = await create(client, owner)
        response = await client.put(
            f"/api/documents/{doc['id']}", json={"content": "你好"}, headers=owner.headers
        )
        assert response.status_code == 200, response.text
        assert (response.json()["content"], response.json()["size"], response.json()["title"]) == (
            "你好",
            6,
            "Notes",
        )

    async def test_read_share_is_403_edit_share_may(self, client: httpx.AsyncClient) -> None:
        owner, reader, editor, stranger = [await person(client) for _ in range(4)]
        await team_with(client, owner, reader, editor)
        doc = await create(client, owner)
        assert (await share(client, owner, doc["id"], "READ", userId=reader.id)).status_code == 200
        assert (await share(client, owner, doc["id"], "EDIT", userId=editor.id)).status_code == 200
        url = f"/api/documents/{doc['id']}"
        assert (await client.put(url, json={"title": "x"}, headers=stranger.headers)).status_code == 404
        assert (await client.put(url, json={"title": "x"}, headers=reader.headers)).status_code == 403
        edited = await client.put(url, json={"title": "By editor"}, headers=editor.headers)
        assert (edited.status_code, edited.json()["permission"]) == (200, "EDIT")
        tags = await client.post(f"{url}/tags", json={"tags": ["t"]}, headers=editor.headers)
        assert tags.status_code == 200
        # Owner-only operations stay the owner's.
        assert (
            await client.post(f"{url}/move", json={"folderId": None}, headers=editor.headers)
        ).status_code == 403
        assert (await share(client, editor, doc["id"], userId=reader.id)).status_code == 403

    async def test_stale_if_match_is_412(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        doc = await create(client, owner)
        url = f"/api/documents/{doc['id']}"
        etag = (await client.get(url, headers=owner.headers)).headers["etag"]
        first = await client.put(url, json={"content": "v2"}, headers={**owner.headers, "If-Match": etag})
        assert first.status_code == 200, first.text
        for method, path, body in [
            ("PUT", "", {"content": "v3"}),
            ("PATCH", "/rename", {"title": "v3"}),
            ("POST", "/move", {"folderId": None}),
            ("POST", "/tags", {"tags": ["x"]}),
        ]:
            stale = await client.request(
                method, url + path, json=body, headers={**owner.headers, "If-Match": etag}
            )
            assert stale.status_code == 412, (path, stale.text)
            assert "detail" in stale.json()
        current = first.headers["etag"]
        ok = await client.patch(
            f"{url}/rename", json={"title": "v3"}, headers={**owner.headers, "If-Match": current}
        )
        assert ok.status_code == 200
        assert (await client.get(url, headers=owner.headers)).json()["title"] == "v3"

    async def test_bad_input_is_422(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        doc = await create(client, owner)
        for body in ({"title": ""}, {"content": 5}, {"views": 3}):
            _assert_422(await client.put(f"/api/documents/{doc['id']}", json=body, headers=owner.headers))


class TestRenameDocument:
    async def test_renames(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        doc = await create(client, owner)
        url = f"/api/documents/{doc['id']}/rename"
        assert (await client.patch(url, json={"title": "x"}, headers=other.headers)).status_code == 404
        response = await client.patch(url, json={"title": "Renamed 改名"}, headers=owner.headers)
        assert (response.status_code, response.json()["title"]) == (200, "Renamed 改名")
        _assert_422(await client.patch(url, json={}, headers=owner.headers))


class TestMoveDocument:
    async def test_moves_into_own_folders_only(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        doc = await create(client, owner)
        mine, theirs = await folder_of(client, owner), await folder_of(client, other)
        url = f"/api/documents/{doc['id']}/move"
        moved = await client.post(url, json={"folderId": mine}, headers=owner.headers)
        assert (moved.status_code, moved.json()["folderId"]) == (200, mine)
        refused = await client.post(url, json={"folderId": theirs}, headers=owner.headers)
        _assert_422(refused)
        assert refused.json()["detail"][0]["loc"] == ["body", "folderId"]
        top = await client.post(url, json={"folderId": None}, headers=owner.headers)
        assert top.json()["folderId"] is None
        _assert_422(await client.post(url, json={}, headers=owner.headers))
        assert (await client.post(url, json={"folderId": None}, headers=other.headers)).status_code == 404


class TestSetDocumentTags:
    async def test_replaces_tags_case_insensitively(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        tag = f"Design{owner.id[-8:]}"
        doc = await create(client, owner, tags=[tag, "old"])
        theirs = await create(client, other, tags=[tag.lower()])
        assert theirs["tags"] == [tag]  # the existing spelling
        url = f"/api/documents/{doc['id']}/tags"
        response = await client.post(url, json={"tags": [tag.upper(), "new"]}, headers=owner.headers)
        assert response.json()["tags"] == [tag, "new"]
        cleared = await client.post(url, json={"tags": []}, headers=owner.headers)
        assert cleared.json()["tags"] == []
        assert (await client.post(url, json={"tags": ["x"]}, headers=other.headers)).status_code == 404
        _assert_422(await client.post(url, json={"tags": ["x"] * 21}, headers=owner.headers))

    async def test_concurrent_creation_of_one_new_tag(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner = await person(client)
        docs = [await create(client, owner) for _ in range(6)]
        name = f"Fresh{owner.id[-10:]}"
        spellings = [name, name.lower(), name.upper()]
        answers = await asyncio.gather(
            *(
                client.post(
                    f"/api/documents/{doc['id']}/tags",
                    json={"tags": [spellings[i % 3], "shared-x"]},
                    headers=owner.headers,
                )
                for i, doc in enumerate(docs)
            )
        )
        assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
        async with app.state.runtime.engine.connect() as conn:
            count = (
                await conn.execute(
                    text("SELECT count(*) FROM tags WHERE lower(name) = lower(:n)"), {"n": name}
                )
            ).scalar_one()
        assert count == 1
        assert len({a.json()["tags"][0] for a in answers}) == 1


class TestShareDocument:
    async def test_share_rules(self, client: httpx.AsyncClient) -> None:
        owner, friend, stranger = await person(client), await person(client), await person(client)
        team_id = await team_with(client, owner, friend)
        doc = await create(client, owner)
        assert (await share(client, stranger, doc["id"], userId=friend.id)).status_code == 404
        for body in (
            {},
            {"userId": friend.id, "teamId": team_id},
            {"userId": friend.id, "permission": "OWNER"},
        ):
            _assert_422(
                await client.post(f"/api/documents/{doc['id']}/share", json=body, headers=owner.headers)
            )
        _assert_422(await share(client, owner, doc["id"], userId=owner.id))
        _assert_422(await share(client, owner, doc["id"], userId="no-such-user"))
        _assert_422(await share(client, owner, doc["id"], userId=stranger.id))  # not someone the owner sees
        _assert_422(await share(client, owner, doc["id"], teamId="no-such-team"))
        assert (await share(client, owner, doc["id"], "READ", userId=friend.id)).json()["message"]
        assert (await share(client, owner, doc["id"], "EDIT", userId=friend.id)).status_code == 200
        seen = await client.get(f"/api/documents/{doc['id']}", headers=friend.headers)
        assert seen.json()["permission"] == "EDIT"  # replaced, not added


class TestUnshareDocument:
    async def test_unshare(self, client: httpx.AsyncClient) -> None:
        owner, friend = await person(client), await person(client)
        team_id = await team_with(client, owner, friend)
        doc = await create(client, owner)
        await share(client, owner, doc["id"], userId=friend.id)
        await share(client, owner, doc["id"], teamId=team_id)
        url = f"/api/documents/{doc['id']}/unshare"
        assert (await client.post(url, json={"userId": owner.id}, headers=friend.headers)).status_code == 403
        assert (await client.post(url, json={"userId": friend.id}, headers=owner.headers)).status_code == 200
        assert (await client.get(f"/api/documents/{doc['id']}", headers=friend.headers)).status_code == 200
        assert (await client.post(url, json={"teamId": team_id}, headers=owner.headers)).status_code == 200
        assert (await client.get(f"/api/documents/{doc['id']}", headers=friend.headers)).status_code == 404
        again = await client.post(url, json={"teamId": team_id}, headers=owner.headers)
        assert again.status_code == 200  # idempotent
        _assert_422(await client.post(url, json={}, headers=owner.headers))


class TestDeleteDocument:
    async def test_owner_only(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner, editor = await person(client, app, role="MANAGER"), await person(client, app, role="MANAGER")
        await team_with(client, owner, editor)
        doc = await create(client, owner, tags=["gone"])
        await share(client, owner, doc["id"], "EDIT", userId=editor.id)
        url = f"/api/documents/{doc['id']}"
        assert (await client.delete(url, headers=editor.headers)).status_code == 403
        assert (await client.delete(url, headers=owner.headers)).status_code == 204
        assert (await client.get(url, headers=owner.headers)).status_code == 404
        assert (await client.delete(url, headers=owner.headers)).status_code == 404


class TestDeleteDocuments:
    async def test_deletes_only_the_callers_own(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner, friend = await person(client, app, role="MANAGER"), await person(client, app, role="MANAGER")
        await team_with(client, friend, owner)
        mine = [await create(client, owner) for _ in range(2)]
        theirs = await create(client, friend)
        await share(client, friend, theirs["id"], "EDIT", userId=owner.id)
        ids = [mine[0]["id"], mine[1]["id"], mine[0]["id"], theirs["id"], "no-such-doc"]
        response = await client.post("/api/documents/batch-delete", json={"ids": ids}, headers=owner.headers)
        assert response.status_code == 200, response.text
        assert response.json()["deleted_count"] == 2
        assert (await client.get(f"/api/documents/{theirs['id']}", headers=friend.headers)).status_code == 200
        bad: list[list[str]] = [[], ["x"] * 101, ["a/b"]]
        for ids in bad:
            response = await client.post(
                "/api/documents/batch-delete", json={"ids": ids}, headers=owner.headers
            )
            _assert_422(response)


async def test_the_demo_seed_gives_living_documents(client: httpx.AsyncClient) -> None:
    admin = await auth_headers(client, ADMIN)
    found = await client.get("/api/documents", params={"search": "项目管理"}, headers=admin)
    titles = [d["title"] for d in found.json()["data"]]
    assert titles[0] == "项目周会纪要"
    mine = (await client.get("/api/documents", params={"limit": 100}, headers=admin)).json()["data"]
    by_title = {d["title"]: d for d in mine}
    assert {"Release checklist", "设计规范 Design guidelines", "市场推广计划"} <= set(by_title)
    assert by_title["市场推广计划"]["permission"] == "READ"  # the demo account's, shared with the admin
    assert by_title["项目周会纪要"]["folderId"] is not None
    demo = await auth_headers(client, "demo@halolight.h7ml.cn")
    shared = (await client.get("/api/documents", params={"tags": "PROJECT"}, headers=demo)).json()["data"]
    permissions = {d["title"]: d["permission"] for d in shared}
    assert permissions.items() >= {("项目周会纪要", "EDIT"), ("市场推广计划", "OWNER")}


async def test_the_stored_vectors_follow_every_writer(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Another backend's writes (plain SQL here) keep the ranking vectors current through the trigger."""
    owner = await person(client)
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            text(
                """INSERT INTO documents (id, title, content, type, size, "ownerId", "updatedAt")
                VALUES (:id, 'Nest 文档', '由其他后端写入', 'doc', 0, :owner, now())"""
            ),
            {"id": f"nest-{owner.id}", "owner": owner.id},
        )
        await conn.execute(
            text("UPDATE documents SET title = '后端 vector' WHERE id = :id"), {"id": f"nest-{owner.id}"}
        )
        stored = (
            await conn.execute(
                text('SELECT search::text FROM halolight_document_vectors WHERE "documentId" = :id'),
                {"id": f"nest-{owner.id}"},
            )
        ).scalar_one()
    assert "'vector':" in stored and "'后端':" in stored and "'文档'" not in stored
    found = await client.get("/api/documents", params={"search": "其他后端"}, headers=owner.headers)
    assert [d["id"] for d in found.json()["data"]] == [f"nest-{owner.id}"]
