"""File share links over HTTP, through the real app and a real PostgreSQL.

The Files module (upload) is built elsewhere, so files are rows inserted here, each owned by a freshly
registered user (role USER: `files:view` and `files:upload`), with real bytes in the app's storage. Links are
opened from a client address of their own per test (`visitor`), so the per-address throttle of one test never
meets another's requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from halolight.repositories.file_shares import MAX_LINKS
from halolight.storage import links
from tests.api.helpers import ADMIN, Person, auth_headers, person
from tests.api.test_operations import _api_routes as api_routes
from tests.conftest import CountStatements

pytestmark = pytest.mark.asyncio

SHARE_KEYS = {
    "id", "fileId", "shareToken", "shareUrl", "permission", "userId", "teamId", "expiresAt", "accessCount",
    "maxAccessCount", "isRevoked", "createdAt",
}  # fmt: skip
SHARED_KEYS = {
    "id", "name", "mimeType", "size", "createdAt", "updatedAt", "owner", "permission", "expiresAt",
    "downloadUrl", "downloadUrlExpiresAt",
}  # fmt: skip
FILE_NOT_FOUND = {"detail": "File not found"}
LINK_NOT_FOUND = {"detail": "Share link not found"}
UNKNOWN_TOKEN = "A" * 43

_addresses = itertools.count(1)
_files = itertools.count(1)


async def new_file(app: FastAPI, owner: Person, name: str = "report.pdf", data: bytes = b"%PDF-1.7 x") -> str:
    """A `files` row of `owner` whose bytes are in the app's storage; its id."""
    storage = app.state.runtime.storage

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    key = storage.new_key()
    await storage.put(key, chunks(), content_type="application/pdf")
    file_id = f"{owner.id}-file{next(_files)}"
    async with app.state.runtime.sessionmaker() as db:
        await db.execute(
            text(
                'INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "updatedAt") '
                "VALUES (:id, :name, :path, 'application/pdf', :size, :owner, now())"
            ),
            {"id": file_id, "name": name, "path": key, "size": len(data), "owner": owner.id},
        )
        await db.commit()
    return file_id


async def share(
    client: httpx.AsyncClient, owner: Person, file_id: str, expect: int = 201, **body: Any
) -> dict[str, Any]:
    response = await client.post(f"/api/files/{file_id}/share", json=body, headers=owner.headers)
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


async def sql(app: FastAPI, statement: str, **params: Any) -> list[Any]:
    async with app.state.runtime.sessionmaker() as db:
        result = await db.execute(text(statement), params)
        rows = list(result.all()) if result.returns_rows else []
        await db.commit()
    return rows


@pytest.fixture
async def visitor(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client from an address of its own (the throttle counts per address)."""
    transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{next(_addresses) % 250 + 1}", 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"User-Agent": "share-test/1.0"}
    ) as c:
        yield c


def opened(visitor: httpx.AsyncClient) -> Callable[..., Any]:
    async def open_link(token: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await visitor.get(f"/api/files/shared/{token}", headers=headers or {})

    return open_link


class TestShareFile:
    async def test_makes_a_link_whose_token_is_shown_once_and_stored_hashed(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client)
        file_id = await new_file(app, owner)
        made = await share(client, owner, file_id)
        assert set(made) == SHARE_KEYS
        token = made["shareToken"]
        assert len(token) == 43
        assert made["shareUrl"] == f"{app.state.runtime.settings.files_share_url}/{token}"
        assert (made["fileId"], made["permission"], made["accessCount"], made["isRevoked"]) == (
            file_id,
            "VIEW",
            0,
            False,
        )
        assert (made["expiresAt"], made["maxAccessCount"], made["userId"], made["teamId"]) == (None,) * 4
        rows = await sql(app, "SELECT * FROM halolight_file_shares WHERE id = :id", id=made["id"])
        stored = rows[0]._asdict()
        assert stored["tokenHash"] == hashlib.sha256(token.encode()).hexdigest()
        assert all(token not in str(value) for value in stored.values())  # never in clear
        listed = await client.get(f"/api/files/{file_id}/shares", headers=owner.headers)
        assert [(s["shareToken"], s["shareUrl"]) for s in listed.json()] == [(None, None)]

    async def test_expiry_uses_and_permission(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner = await person(client)
        file_id = await new_file(app, owner)
        before = datetime.now(UTC)
        made = await share(client, owner, file_id, permission="DOWNLOAD", expiresInDays=7, maxAccessCount=3)
        expires = datetime.fromisoformat(made["expiresAt"])
        assert before + timedelta(days=7) - timedelta(seconds=1) <= expires
        assert expires <= datetime.now(UTC) + timedelta(days=7)
        assert (made["permission"], made["maxAccessCount"]) == ("DOWNLOAD", 3)
        nulls = await share(client, owner, file_id, expiresInDays=None, maxAccessCount=None, userId=None)
        assert (nulls["expiresAt"], nulls["maxAccessCount"]) == (None, None)

    async def test_someone_elses_file_or_none_is_404(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner, other = await person(client), await person(client)
        theirs = await new_file(app, other)
        for file_id in (theirs, "no-such-file"):
            response = await client.post(f"/api/files/{file_id}/share", json={}, headers=owner.headers)
            assert (response.status_code, response.json()) == (404, FILE_NOT_FOUND)
        admin = await auth_headers(client, ADMIN)  # whatever one holds: links are the owner's business
        response = await client.post(f"/api/files/{theirs}/share", json={}, headers=admin)
        assert (response.status_code, response.json()) == (404, FILE_NOT_FOUND)

    @pytest.mark.parametrize(
        "body",
        [
            {"permission": "OWN"}, {"permission": "view"}, {"expiresInDays": 0}, {"expiresInDays": 366},
            {"maxAccessCount": 0}, {"maxAccessCount": 1_000_001}, {"extra": 1}, {"userId": "bad id!"},
            {"teamId": "x" * 65}, {"expiresInDays": 1.5},
        ],
    )  # fmt: skip
    async def test_bad_input_is_422(self, client: httpx.AsyncClient, app: FastAPI, body: Any) -> None:
        owner = await person(client)
        file_id = await new_file(app, owner)
        response = await client.post(f"/api/files/{file_id}/share", json=body, headers=owner.headers)
        assert response.status_code == 422, response.text

    async def test_the_audience_must_exist_and_be_visible(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, stranger = await person(client), await person(client)
        file_id = await new_file(app, owner)
        admin = await auth_headers(client, ADMIN)
        foreign_team = await client.post("/api/teams", json={"name": "Not yours"}, headers=admin)
        cases = [
            ({"userId": "no-such-user"}, "userId"),
            ({"userId": stranger.id}, "userId"),  # a USER sees only themself and their teams' people
            ({"teamId": "no-such-team"}, "teamId"),
            ({"teamId": foreign_team.json()["id"]}, "teamId"),
        ]
        for body, field in cases:
            response = await client.post(f"/api/files/{file_id}/share", json=body, headers=owner.headers)
            assert response.status_code == 422, response.text
            assert response.json()["detail"][0]["loc"] == ["body", field]
            assert response.json()["detail"][0]["type"] == "not_found"
        both = await client.post(
            f"/api/files/{file_id}/share",
            json={"userId": owner.id, "teamId": foreign_team.json()["id"]},
            headers=owner.headers,
        )
        assert both.status_code == 422
        assert both.json()["detail"][0]["loc"] == ["body", "teamId"]
        assert (await share(client, owner, file_id, userId=owner.id))["userId"] == owner.id

    async def test_a_file_has_at_most_100_links_not_revoked(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client)
        file_id = await new_file(app, owner)
        await sql(
            app,
            'INSERT INTO halolight_file_shares (id, "fileId", "tokenHash", "expiresAt") '
            "SELECT :file || '-s' || i, :file, md5(:file || i) || md5(i::text || :file), "
            "now() - interval '1 day' FROM generate_series(1, :n) i",
            file=file_id,
            n=MAX_LINKS,
        )
        refused = await client.post(f"/api/files/{file_id}/share", json={}, headers=owner.headers)
        assert refused.status_code == 409
        assert "at most 100 links" in refused.json()["detail"]
        revoked = await client.post(
            f"/api/files/{file_id}/revoke-share", json={"shareId": f"{file_id}-s1"}, headers=owner.headers
        )
        assert revoked.status_code == 204
        await share(client, owner, file_id)

    async def test_concurrent_creations_keep_the_cap(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner = await person(client)
        file_id = await new_file(app, owner)
        await sql(
            app,
            'INSERT INTO halolight_file_shares (id, "fileId", "tokenHash") '
            "SELECT :file || '-s' || i, :file, md5(:file || i) || md5(i::text || :file) "
            "FROM generate_series(1, :n) i",
            file=file_id,
            n=MAX_LINKS - 2,
        )
        answers = await asyncio.gather(
            *(client.post(f"/api/files/{file_id}/share", json={}, headers=owner.headers) for _ in range(6))
        )
        assert sorted(r.status_code for r in answers) == [201, 201, 409, 409, 409, 409]


class TestGetSharedFile:
    async def test_anyone_opens_a_view_link_and_it_is_counted_and_logged(
        self, client: httpx.AsyncClient, app: FastAPI, visitor: httpx.AsyncClient
    ) -> None:
        owner = await person(client)
        file_id = await new_file(app, owner, name="季度报告.pdf")
        made = await share(client, owner, file_id)
        response = await opened(visitor)(made["shareToken"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == SHARED_KEYS
        assert (body["id"], body["name"], body["mimeType"], body["size"]) == (
            file_id,
            "季度报告.pdf",
            "application/pdf",
            10,
        )
        assert body["owner"] == {"id": owner.id, "name": "Test User", "avatar": None}  # no email
        assert (body["permission"], body["downloadUrl"], body["downloadUrlExpiresAt"]) == ("VIEW", None, None)
        listed = (await client.get(f"/api/files/{file_id}/shares", headers=owner.headers)).json()
        assert listed[0]["accessCount"] == 1
        logs = (await client.get(f"/api/files/{file_id}/access-logs", headers=owner.headers)).json()
        assert logs["meta"] == {"total": 1, "page": 1, "limit": 20, "totalPages": 1}
        entry = logs["data"][0]
        assert entry["shareId"] == made["id"]
        assert entry["ipAddress"].startswith("198.51.100.")
        assert (entry["userAgent"], entry["user"]) == ("share-test/1.0", None)

    @pytest.mark.parametrize("permission", ["READ", "DOWNLOAD", "EDIT"])
    async def test_other_permissions_give_a_signed_download_url(
        self, client: httpx.AsyncClient, app: FastAPI, visitor: httpx.AsyncClient, permission: str
    ) -> None:
        owner = await person(client)
        file_id = await new_file(app, owner)
        made = await share(client, owner, file_id, permission=permission)
        body = (await opened(visitor)(made["shareToken"])).json()
        assert body["permission"] == permission
        url = urlsplit(body["downloadUrl"])
        assert url.path == f"/api/files/{file_id}/download"
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        key = (await sql(app, "SELECT path FROM files WHERE id = :id", id=file_id))[0].path
        settings = app.state.runtime.settings
        assert links.verify(
            links.link_key(settings.jwt_secret_key),
            file_id,
            key,
            int(query["expires"]),
            query["signature"],
            now=datetime.now(UTC),
        )
        assert datetime.fromisoformat(body["downloadUrlExpiresAt"]) > datetime.now(UTC)

    async def test_revoked_expired_and_used_up_links_are_404(
        self, client: httpx.AsyncClient, app: FastAPI, visitor: httpx.AsyncClient
    ) -> None:
        owner = await person(client)
        file_id = await new_file(app, owner)
        open_link = opened(visitor)
        revoked, expired, once = [await share(client, owner, file_id, maxAccessCount=1) for _ in range(3)]
        await client.post(
            f"/api/files/{file_id}/revoke-share", json={"shareId": revoked["id"]}, headers=owner.headers
        )
        await sql(
            app,
            "UPDATE halolight_file_shares SET \"expiresAt\" = now() - interval '1 second' WHERE id = :id",
            id=expired["id"],
        )
        assert (await open_link(once["shareToken"])).status_code == 200
        for token in (revoked["shareToken"], expired["shareToken"], once["shareToken"], UNKNOWN_TOKEN):
            response = await open_link(token)
            assert (response.status_code, response.json()) == (404, LINK_NOT_FOUND)
        counts = await sql(
            app, 'SELECT "accessCount" FROM halolight_file_shares WHERE "fileId" = :f ORDER BY id', f=file_id
        )
        assert sorted(row[0] for row in counts) == [0, 0, 1]

    async def test_exactly_the_uses_left_succeed_under_concurrency(
        self, client: httpx.AsyncClient, app: FastAPI, visitor: httpx.AsyncClient
    ) -> None:
        owner = await person(client)
        file_id = await new_file(app, owner)
        made = await share(client, owner, file_id, maxAccessCount=7)
        open_link = opened(visitor)
        answers = await asyncio.gather(*(open_link(made["shareToken"]) for _ in range(20)))
        assert sorted(r.status_code for r in answers) == [200] * 7 + [404] * 13
        count = await sql(
            app, 'SELECT "accessCount" FROM halolight_file_shares WHERE id = :id', id=made["id"]
        )
        assert count[0][0] == 7
        logged = await sql(
            app, 'SELECT count(*) FROM halolight_file_access_logs WHERE "shareId" = :id', id=made["id"]
        )
        assert logged[0][0] == 7

    async def test_a_link_for_one_user(
        self, client: httpx.AsyncClient, app: FastAPI, visitor: httpx.AsyncClient
    ) -> None:
        owner, other = await person(client), await person(client)
        admin = await auth_headers(client, ADMIN)
        admin_id = (await client.get("/api/auth/me", headers=admin)).json()["id"]
        file_id = await new_file(app, owner)
        # The owner can see the admin once both are in a team of the owner's.
        team = (await client.post("/api/teams", json={"name": "Person's"}, headers=admin)).json()
        await client.post(f"/api/teams/{team['id']}/members", json={"userId": owner.id}, headers=admin)
        made = await share(client, owner, file_id, userId=admin_id, permission="READ")
        open_link = opened(visitor)
        anonymous = await open_link(made["shareToken"])
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        wrong = await open_link(made["shareToken"], other.headers)
        assert (wrong.status_code, wrong.json()) == (404, LINK_NOT_FOUND)
        right = await open_link(made["shareToken"], admin)
        assert right.status_code == 200, right.text
        logs = (await client.get(f"/api/files/{file_id}/access-logs", headers=owner.headers)).json()
        assert [entry["user"]["id"] for entry in logs["data"]] == [admin_id]
        assert logs["data"][0]["user"] == {
            "id": admin_id,
            "name": logs["data"][0]["user"]["name"],
            "avatar": None,
        }

    async def test_a_link_for_one_team(
        self, client: httpx.AsyncClient, app: FastAPI, visitor: httpx.AsyncClient
    ) -> None:
        owner, member, outsider = await person(client), await person(client), await person(client)
        file_id = await new_file(app, owner)
        admin = await auth_headers(client, ADMIN)
        team = (await client.post("/api/teams", json={"name": "Readers"}, headers=admin)).json()
        for user in (owner, member):
            added = await client.post(
                f"/api/teams/{team['id']}/members", json={"userId": user.id}, headers=admin
            )
            assert added.status_code == 201, added.text
        made = await share(client, owner, file_id, teamId=team["id"])
        open_link = opened(visitor)
        assert (await open_link(made["shareToken"])).status_code == 401
        assert (await open_link(made["shareToken"], outsider.headers)).status_code == 404
        assert (await open_link(made["shareToken"], member.headers)).status_code == 200
        assert (await open_link(made["shareToken"], admin)).status_code == 200  # the team's owner
        assert (await open_link(made["shareToken"], owner.headers)).status_code == 200  # a member too
        count = await sql(
            app, 'SELECT "accessCount" FROM halolight_file_shares WHERE id = :id', id=made["id"]
        )
        assert count[0][0] == 3

    @pytest.mark.parametrize(
        ("token", "status"),
        [
            ("short", 422), ("A" * 42, 422), ("A" * 44, 422), ("A" * 42 + "!", 422), ("A" * 42 + "%00", 422),
            ("A" * 42 + "é", 422), (UNKNOWN_TOKEN, 404), ("-" * 43, 404), ("shares", 422),
        ],
    )  # fmt: skip
    async def test_junk_tokens_are_refused_never_500(
        self, visitor: httpx.AsyncClient, token: str, status: int
    ) -> None:
        response = await opened(visitor)(token)
        assert response.status_code == status, response.text

    async def test_a_bad_token_header_is_401_even_on_a_public_link(
        self, client: httpx.AsyncClient, app: FastAPI, visitor: httpx.AsyncClient
    ) -> None:
        owner = await person(client)
        made = await share(client, owner, await new_file(app, owner))
        response = await opened(visitor)(made["shareToken"], {"Authorization": "Bearer nonsense"})
        assert response.status_code == 401

    async def test_resolutions_are_throttled_per_address(
        self, client: httpx.AsyncClient, app: FastAPI, visitor: httpx.AsyncClient
    ) -> None:
        owner = await person(client)
        made = await share(client, owner, await new_file(app, owner))
        rate = app.state.runtime.settings.files_share_rate_limit
        allowed = int(rate.split("/")[0])
        open_link = opened(visitor)
        statuses = [(await open_link(made["shareToken"])).status_code for _ in range(allowed)]
        assert statuses == [200] * allowed
        refused = await open_link(made["shareToken"])
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        # Another address is not affected.
        assert (await client.get(f"/api/files/shared/{made['shareToken']}")).status_code == 200


class TestListFileShares:
    async def test_the_owners_links_not_revoked_newest_first(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client)
        file_id, other_file = await new_file(app, owner), await new_file(app, owner)
        first = await share(client, owner, file_id)
        second = await share(client, owner, file_id, permission="READ")
        gone = await share(client, owner, file_id)
        await share(client, owner, other_file)
        await client.post(
            f"/api/files/{file_id}/revoke-share", json={"shareId": gone["id"]}, headers=owner.headers
        )
        response = await client.get(f"/api/files/{file_id}/shares", headers=owner.headers)
        assert response.status_code == 200
        listed = response.json()
        assert [s["id"] for s in listed] == [second["id"], first["id"]]
        assert listed[1] == {**first, "shareToken": None, "shareUrl": None}

    async def test_someone_elses_file_is_404(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner, other = await person(client), await person(client)
        theirs = await new_file(app, other)
        await share(client, other, theirs)
        for file_id in (theirs, "no-such-file"):
            response = await client.get(f"/api/files/{file_id}/shares", headers=owner.headers)
            assert (response.status_code, response.json()) == (404, FILE_NOT_FOUND)


class TestRevokeFileShare:
    async def test_revokes_at_once_and_twice_is_fine(
        self, client: httpx.AsyncClient, app: FastAPI, visitor: httpx.AsyncClient
    ) -> None:
        owner = await person(client)
        file_id = await new_file(app, owner)
        made = await share(client, owner, file_id)
        assert (await opened(visitor)(made["shareToken"])).status_code == 200
        for _ in range(2):
            response = await client.post(
                f"/api/files/{file_id}/revoke-share", json={"shareId": made["id"]}, headers=owner.headers
            )
            assert response.status_code == 204, response.text
        assert (await opened(visitor)(made["shareToken"])).status_code == 404
        rows = await sql(app, 'SELECT "revokedAt" FROM halolight_file_shares WHERE id = :id', id=made["id"])
        assert rows[0][0] is not None

    async def test_refusals(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner, other = await person(client), await person(client)
        file_id, sibling = await new_file(app, owner), await new_file(app, owner)
        theirs = await new_file(app, other)
        of_sibling = await share(client, owner, sibling)
        of_theirs = await share(client, other, theirs)
        for share_id in (of_sibling["id"], of_theirs["id"], "no-such-link"):
            response = await client.post(
                f"/api/files/{file_id}/revoke-share", json={"shareId": share_id}, headers=owner.headers
            )
            assert response.status_code == 422, response.text
            assert response.json()["detail"] == [
                {"loc": ["body", "shareId"], "msg": "Share link not found", "type": "not_found"}
            ]
        not_mine = await client.post(
            f"/api/files/{theirs}/revoke-share", json={"shareId": of_theirs["id"]}, headers=owner.headers
        )
        assert (not_mine.status_code, not_mine.json()) == (404, FILE_NOT_FOUND)
        for body in ({}, {"shareId": "bad id!"}, {"shareId": of_sibling["id"], "x": 1}):
            bad = await client.post(f"/api/files/{file_id}/revoke-share", json=body, headers=owner.headers)
            assert bad.status_code == 422
        still = await sql(
            app,
            'SELECT count(*) FROM halolight_file_shares WHERE "revokedAt" IS NOT NULL AND id IN (:a, :b)',
            a=of_sibling["id"],
            b=of_theirs["id"],
        )
        assert still[0][0] == 0


class TestListFileAccessLogs:
    async def test_pages_newest_first_and_keeps_revoked_links_entries(
        self, client: httpx.AsyncClient, app: FastAPI, visitor: httpx.AsyncClient
    ) -> None:
        owner, reader = await person(client), await person(client)
        file_id = await new_file(app, owner)
        a, b = await share(client, owner, file_id), await share(client, owner, file_id)
        open_link = opened(visitor)
        for token, headers in (
            (a["shareToken"], None),
            (b["shareToken"], reader.headers),
            (a["shareToken"], None),
        ):
            assert (await open_link(token, headers)).status_code == 200
        await client.post(
            f"/api/files/{file_id}/revoke-share", json={"shareId": a["id"]}, headers=owner.headers
        )
        first = await client.get(f"/api/files/{file_id}/access-logs?limit=2", headers=owner.headers)
        assert first.status_code == 200
        body = first.json()
        assert body["meta"] == {"total": 3, "page": 1, "limit": 2, "totalPages": 2}
        second = (
            await client.get(f"/api/files/{file_id}/access-logs?limit=2&page=2", headers=owner.headers)
        ).json()
        entries = body["data"] + second["data"]
        assert [e["shareId"] for e in entries] == [a["id"], b["id"], a["id"]]
        assert [e["user"] and e["user"]["id"] for e in entries] == [None, reader.id, None]
        assert entries == sorted(entries, key=lambda e: e["accessedAt"], reverse=True)

    async def test_someone_elses_file_is_404_and_bounds_are_422(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, other = await person(client), await person(client)
        theirs, mine = await new_file(app, other), await new_file(app, owner)
        for file_id in (theirs, "no-such-file"):
            response = await client.get(f"/api/files/{file_id}/access-logs", headers=owner.headers)
            assert (response.status_code, response.json()) == (404, FILE_NOT_FOUND)
        for query in ("limit=0", "limit=101", "page=0", "page=100001", "limit=x"):
            bad = await client.get(f"/api/files/{mine}/access-logs?{query}", headers=owner.headers)
            assert bad.status_code == 422
        empty = (await client.get(f"/api/files/{mine}/access-logs", headers=owner.headers)).json()
        assert empty == {"data": [], "meta": {"total": 0, "page": 1, "limit": 20, "totalPages": 0}}


class TestStatementCounts:
    async def test_the_lists_send_as_many_statements_for_100_rows_as_for_1(
        self, client: httpx.AsyncClient, app: FastAPI, count_statements: CountStatements
    ) -> None:
        small, large = await person(client), await person(client)
        one, hundred = await new_file(app, small), await new_file(app, large)
        made = await share(client, small, one)
        await sql(
            app,
            'INSERT INTO halolight_file_shares (id, "fileId", "tokenHash", "createdAt") '
            "SELECT :file || '-s' || i, :file, md5(:file || i) || md5(i::text || :file), "
            "now() - i * interval '1 second' FROM generate_series(1, 100) i",
            file=hundred,
        )
        for file_id, share_id in ((one, made["id"]), (hundred, f"{hundred}-s1")):
            await sql(
                app,
                'INSERT INTO halolight_file_access_logs (id, "shareId", "fileId", "userId", "ipAddress", '
                "\"accessedAt\") SELECT :file || '-l' || i, :share, :file, :user, '192.0.2.1', "
                "now() - i * interval '1 second' FROM generate_series(1, 120) i",
                file=file_id,
                share=share_id,
                user=small.id,
            )
        urls = [
            (f"/api/files/{one}/shares", f"/api/files/{hundred}/shares", 1, 100),
            (f"/api/files/{one}/access-logs?limit=1", f"/api/files/{hundred}/access-logs?limit=100", 1, 100),
        ]
        for url_few, url_many, few_items, many_items in urls:
            with count_statements(app.state.runtime.engine) as few:
                answer = await client.get(url_few, headers=small.headers)
            assert answer.status_code == 200
            with count_statements(app.state.runtime.engine) as many:
                answer_many = await client.get(url_many, headers=large.headers)
            assert answer_many.status_code == 200

            def size(body: Any) -> int:
                return len(body if isinstance(body, list) else body["data"])

            assert (size(answer.json()), size(answer_many.json())) == (few_items, many_items)
            assert len(many) == len(few), (few, many)


async def test_the_shared_path_is_routed_before_every_file_id_path(app: FastAPI) -> None:
    """`/api/files/shared/{token}` must win over `/api/files/{id}/…` (the Files tag's paths included): its
    route comes first in the app (this tag's router is built before the Files one, its paths sorted)."""
    paths = [route.path for route in api_routes(app)]
    shared = paths.index("/api/files/shared/{token}")
    by_id = [i for i, path in enumerate(paths) if path.startswith("/api/files/{id}")]
    assert by_id
    assert shared < min(by_id)


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (
            "SELECT id FROM halolight_file_access_logs WHERE \"fileId\" = 'f' "
            'ORDER BY "accessedAt" DESC, id DESC',
            "halolight_file_access_logs_fileId_accessedAt_id_idx",
        ),
        (
            'SELECT id FROM halolight_file_shares WHERE "fileId" = \'f\' AND "revokedAt" IS NULL '
            'ORDER BY "createdAt" DESC, id DESC LIMIT 100',
            "halolight_file_shares_fileId_createdAt_id_idx",
        ),
    ],
)
async def test_the_lists_are_read_by_their_index_in_order(app: FastAPI, query: str, index: str) -> None:
    async with app.state.runtime.engine.connect() as connection:
        # The test tables hold a few rows, which a bitmap scan and a sort read as cheaply: what is checked is
        # that the index yields the list's order by itself.
        await connection.execute(text("SET LOCAL enable_seqscan = off"))
        await connection.execute(text("SET LOCAL enable_bitmapscan = off"))
        plan = "\n".join((await connection.execute(text(f"EXPLAIN {query}"))).scalars())
    assert index in plan, plan
    assert "Sort" not in plan, plan
