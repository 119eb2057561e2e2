"""Files over HTTP, through the real app, a real PostgreSQL and the app's real storage (a local folder here;
tests/storage runs the same storage suite against SeaweedFS, and tests/server the round trip over S3).

Every file belongs to a freshly registered user (role USER: `files:view` and `files:upload`, not
`files:delete`; `person(client, app, role="MANAGER")` grants it), so tests depend neither on each other nor
on other modules.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from halolight.storage import links
from tests.api.helpers import ADMIN, Person, auth_headers, person
from tests.api.test_folders import create as create_folder
from tests.conftest import CountStatements

pytestmark = pytest.mark.asyncio

FILE_KEYS = {
    "id", "name", "path", "mimeType", "type", "size", "thumbnail", "folderId", "isFavorite", "owner",
    "createdAt", "updatedAt",
}  # fmt: skip
NOT_FOUND = {"detail": "File not found"}
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
ELF = Path(sys.executable).resolve().read_bytes()[: 256 * 1024]  # this Python: an ELF executable
QUOTA = 10 * 1024 * 1024 * 1024  # the default FILES_QUOTA_MB


def random_bytes(size: int) -> bytes:
    """Bytes libmagic calls data (pure random ones pass for a DOS executable about once in 140: refused)."""
    head = b"\0halolight-test\0"
    return (head + os.urandom(size))[:size]


async def upload(
    client: httpx.AsyncClient,
    owner: Person,
    content: bytes = b"hello, world\n",
    *,
    filename: str = "hello.txt",
    content_type: str = "text/plain",
    expect: int = 201,
    **fields: str,
) -> dict[str, Any]:
    response = await client.post(
        "/api/files/upload",
        files={"file": (filename, content, content_type)},
        data=fields,
        headers=owner.headers,
    )
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


async def download(client: httpx.AsyncClient, owner: Person, file_id: str, **headers: str) -> httpx.Response:
    link = await client.get(f"/api/files/{file_id}/download-url", headers=owner.headers)
    assert link.status_code == 200, link.text
    return await client.get(link.json()["url"], headers=headers)


async def stored_keys(app: FastAPI) -> set[str]:
    await app.state.runtime.drain()
    return {info.key async for info in app.state.runtime.storage.keys()}  # noqa: SIM118 (not a dict)


async def row(app: FastAPI, file_id: str) -> Any:
    async with app.state.runtime.sessionmaker() as db:
        return (
            (await db.execute(text("SELECT * FROM files WHERE id = :id"), {"id": file_id})).mappings().first()
        )


async def quota_used(app: FastAPI, owner: Person) -> int:
    async with app.state.runtime.sessionmaker() as db:
        used = await db.scalar(text('SELECT "quotaUsed" FROM users WHERE id = :id'), {"id": owner.id})
        return int(used)


async def set_quota_used(app: FastAPI, owner: Person, used: int) -> None:
    async with app.state.runtime.sessionmaker() as db:
        await db.execute(
            text('UPDATE users SET "quotaUsed" = :u WHERE id = :id'), {"u": used, "id": owner.id}
        )
        await db.commit()


class TestUpload:
    async def test_stores_the_bytes_and_the_row_and_charges_the_quota(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client)
        body = await upload(client, owner, b"hello, world\n")
        assert set(body) == FILE_KEYS
        assert body["name"] == "hello.txt"
        assert body["path"] == "/hello.txt"
        assert (body["mimeType"], body["type"], body["size"]) == ("text/plain", "document", 13)
        assert body["folderId"] is None and body["isFavorite"] is False and body["thumbnail"] is None
        assert body["owner"]["id"] == owner.id
        stored = await row(app, body["id"])
        assert stored["path"].startswith("files/")  # a server-made key, never the client's name
        assert stored["path"] in await stored_keys(app)
        assert await quota_used(app, owner) == 13
        response = await download(client, owner, body["id"])
        assert response.content == b"hello, world\n"

    async def test_the_answer_is_the_row_as_get_shows_it(self, client: httpx.AsyncClient) -> None:
        # The upload's answer comes from its one charge-and-insert statement, not from a read of the row:
        # it must say exactly what reading the file says, at the top level and in a folder.
        owner = await person(client)
        folder = await create_folder(client, owner, "Projects")
        for fields in ({}, {"folderId": folder["id"], "name": "报告 1.txt"}):
            body = await upload(client, owner, **fields)
            got = await client.get(f"/api/files/{body['id']}", headers=owner.headers)
            assert got.status_code == 200 and got.json() == body
        assert body["path"] == "/Projects/报告 1.txt" and body["folderId"] == folder["id"]

    async def test_the_media_type_comes_from_the_bytes(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        png = await upload(client, owner, PNG, filename="pixel.txt", content_type="text/plain")
        assert (png["mimeType"], png["type"]) == ("image/png", "image")
        pdf = await upload(client, owner, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", content_type="image/png")
        assert (pdf["mimeType"], pdf["type"]) == ("application/pdf", "document")
        csv = await upload(client, owner, b"a,b\n1,2\n", filename="t.csv", content_type="text/csv")
        assert csv["mimeType"] == "text/csv"  # plain text may be refined into CSV, nothing else
        fake = await upload(client, owner, b"just text", filename="x.png", content_type="image/png")
        assert fake["mimeType"] == "text/plain"

    async def test_executables_are_415_and_store_nothing(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client)
        before = await stored_keys(app)
        response = await client.post(
            "/api/files/upload",
            files={"file": ("notes.txt", ELF, "text/plain")},
            headers=owner.headers,
        )
        assert response.status_code == 415, response.text
        assert "detail" in response.json()
        assert await stored_keys(app) - before == set()
        assert await quota_used(app, owner) == 0

    async def test_name_and_folder_fields_in_any_order(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        folder = await create_folder(client, owner, "Projects")
        inner = await create_folder(client, owner, "2026", folder["id"])
        boundary = "b0undary"
        parts = [
            ("file", b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
             b"Content-Type: text/plain\r\n\r\nabc"),
            ("name", 'Content-Disposition: form-data; name="name"\r\n\r\n报告 2026.txt'.encode()),
            ("folderId", f'Content-Disposition: form-data; name="folderId"\r\n\r\n{inner["id"]}'.encode()),
        ]  # fmt: skip
        payload = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for _, part in parts)
        payload += b"--" + boundary.encode() + b"--\r\n"
        response = await client.post(
            "/api/files/upload",
            content=payload,
            headers={**owner.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["name"], body["folderId"]) == ("报告 2026.txt", inner["id"])
        assert body["path"] == "/Projects/2026/报告 2026.txt"

    async def test_a_folder_not_yours_is_422_and_keeps_no_bytes(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, other = await person(client), await person(client)
        theirs = await create_folder(client, other, "theirs")
        before = await stored_keys(app)
        response = await client.post(
            "/api/files/upload",
            files={"file": ("a.txt", b"abc", "text/plain")},
            data={"folderId": theirs["id"]},
            headers=owner.headers,
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", "folderId"]
        assert await stored_keys(app) - before == set()  # removed when the transaction rolled back

    @pytest.mark.parametrize(
        ("fields", "loc"),
        [({"name": "a/b"}, "name"), ({"name": ""}, "name"), ({"folderId": "x" * 65}, "folderId")],
    )
    async def test_bad_fields_are_422(
        self, client: httpx.AsyncClient, fields: dict[str, str], loc: str
    ) -> None:
        owner = await person(client)
        response = await client.post(
            "/api/files/upload",
            files={"file": ("a.txt", b"x", "text/plain")},
            data=fields,
            headers=owner.headers,
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][-1] == loc

    async def test_without_a_file_part_is_422(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        response = await client.post(
            "/api/files/upload", files={"name": (None, "a.txt")}, headers=owner.headers
        )
        assert response.status_code == 422, response.text

    async def test_over_quota_is_413_and_keeps_nothing(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner = await person(client)
        await set_quota_used(app, owner, QUOTA - 10)
        before = await stored_keys(app)
        response = await client.post(
            "/api/files/upload", files={"file": ("a.txt", b"x" * 11, "text/plain")}, headers=owner.headers
        )
        assert response.status_code == 413, response.text
        assert response.json() == {"detail": "Storage quota exceeded"}
        assert await quota_used(app, owner) == QUOTA - 10
        assert await stored_keys(app) - before == set()
        await upload(client, owner, b"x" * 10)  # exactly what is left fits
        assert await quota_used(app, owner) == QUOTA

    async def test_concurrent_uploads_never_exceed_the_quota(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client)
        await set_quota_used(app, owner, QUOTA - 1000)
        before = await stored_keys(app)

        async def one() -> int:
            response = await client.post(
                "/api/files/upload",
                files={"file": ("a.txt", b"y" * 300, "text/plain")},
                headers=owner.headers,
            )
            return response.status_code

        statuses = await asyncio.gather(*(one() for _ in range(8)))
        assert sorted(statuses) == [201] * 3 + [413] * 5
        assert await quota_used(app, owner) == QUOTA - 100
        assert len(await stored_keys(app) - before) == 3  # the refused uploads' bytes are gone


class TestDownload:
    async def test_headers_ranges_and_revalidation(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        content = random_bytes(1000)
        body = await upload(
            client, owner, content, filename="données é.bin", content_type="application/x-foo"
        )
        whole = await download(client, owner, body["id"])
        assert whole.status_code == 200
        assert whole.content == content
        assert whole.headers["content-length"] == "1000"
        assert whole.headers["content-type"] == "application/octet-stream"
        assert whole.headers["x-content-type-options"] == "nosniff"
        assert whole.headers["accept-ranges"] == "bytes"
        disposition = whole.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="donn_es _.bin"')
        assert "filename*=UTF-8''donn%C3%A9es%20%C3%A9.bin" in disposition
        etag = whole.headers["etag"]
        part = await download(client, owner, body["id"], Range="bytes=10-19")
        assert part.status_code == 206
        assert part.content == content[10:20]
        assert part.headers["content-range"] == "bytes 10-19/1000"
        suffix = await download(client, owner, body["id"], Range="bytes=-5")
        assert suffix.content == content[-5:]
        stale = await download(client, owner, body["id"], Range="bytes=0-1", **{"If-Range": '"other"'})
        assert (stale.status_code, stale.content) == (200, content)
        beyond = await download(client, owner, body["id"], Range="bytes=5000-")
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == "bytes */1000"
        cached = await download(client, owner, body["id"], **{"If-None-Match": etag})
        assert (cached.status_code, cached.content) == (304, b"")

    async def test_head_answers_the_headers_only(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        body = await upload(client, owner, b"z" * 300)
        link = (await client.get(f"/api/files/{body['id']}/download-url", headers=owner.headers)).json()
        response = await client.head(link["url"])
        assert response.status_code == 200
        assert response.headers["content-length"] == "300"
        assert response.content == b""

    async def test_tampered_expired_or_deleted_links_are_403(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client, app, role="MANAGER")
        mine = await upload(client, owner, b"mine")
        other = await upload(client, owner, b"other")
        link = (await client.get(f"/api/files/{mine['id']}/download-url", headers=owner.headers)).json()
        url = urlsplit(link["url"])
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert url.path == f"/api/files/{mine['id']}/download"
        later = {**query, "expires": str(int(query["expires"]) + 1000)}
        assert (await client.get(url.path, params=later)).status_code == 403
        swapped = f"/api/files/{other['id']}/download"
        assert (await client.get(swapped, params=query)).status_code == 403
        forged = {**query, "signature": "A" * 22}
        assert (await client.get(url.path, params=forged)).status_code == 403
        key = links.link_key(app.state.runtime.settings.jwt_secret_key)
        stored = await row(app, mine["id"])
        past = {"expires": "1000", "signature": links.sign(key, mine["id"], stored["path"], 1000)}
        expired = await client.get(url.path, params=past)
        assert expired.status_code == 403
        assert expired.json() == {"detail": "This download link is invalid or has expired"}
        assert (await client.get(url.path, params=query)).status_code == 200
        assert (await client.delete(f"/api/files/{mine['id']}", headers=owner.headers)).status_code == 204
        assert (await client.get(url.path, params=query)).status_code == 403

    async def test_bad_link_parameters_are_422(self, client: httpx.AsyncClient) -> None:
        for params in ({}, {"expires": "x", "signature": "A" * 22}, {"expires": "1", "signature": "short"}):
            response = await client.get("/api/files/abc/download", params=params)
            assert response.status_code == 422, response.text

    async def test_someone_elses_file_gets_no_link(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        body = await upload(client, owner)
        response = await client.get(f"/api/files/{body['id']}/download-url", headers=other.headers)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)

    async def test_a_large_file_streams_whole(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        content = random_bytes(5 * 1024 * 1024 + 123)
        body = await upload(client, owner, content, filename="big.bin")
        response = await download(client, owner, body["id"])
        assert hashlib.sha256(response.content).digest() == hashlib.sha256(content).digest()


class TestGetAndList:
    async def test_only_the_owner_sees_a_file(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        body = await upload(client, owner)
        mine = await client.get(f"/api/files/{body['id']}", headers=owner.headers)
        assert mine.json() == body
        theirs = await client.get(f"/api/files/{body['id']}", headers=other.headers)
        assert (theirs.status_code, theirs.json()) == (404, NOT_FOUND)
        listed = await client.get("/api/files", headers=other.headers)
        assert listed.json()["data"] == []

    async def test_filters_and_pages(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        folder = await create_folder(client, owner, "pics")
        png = await upload(client, owner, PNG, filename="Pixel.png", folderId=folder["id"])
        text_file = await upload(client, owner, b"notes", filename="notes.txt")
        zipped = await upload(client, owner, b"PK\x05\x06" + b"\0" * 18, filename="a.zip")
        await client.patch(f"/api/files/{text_file['id']}/favorite", headers=owner.headers)

        async def ids(**params: Any) -> list[str]:
            response = await client.get("/api/files", params=params, headers=owner.headers)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["data"]]

        assert await ids() == [zipped["id"], text_file["id"], png["id"]]  # newest first
        assert await ids(folderId=folder["id"]) == [png["id"]]
        assert await ids(type="IMAGE") == [png["id"]]
        assert await ids(type="document") == [text_file["id"]]
        assert await ids(type="archive") == [zipped["id"]]
        assert await ids(type="other") == []
        assert await ids(search="PIX") == [png["id"]]
        assert await ids(search="%") == []
        assert await ids(favorite="true") == [text_file["id"]]
        page = await client.get("/api/files", params={"limit": 2, "page": 2}, headers=owner.headers)
        assert [item["id"] for item in page.json()["data"]] == [png["id"]]
        assert page.json()["meta"] == {"total": 3, "page": 2, "limit": 2, "totalPages": 2}

    async def test_a_folder_filter_not_yours_is_404(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        theirs = await create_folder(client, other, "theirs")
        response = await client.get("/api/files", params={"folderId": theirs["id"]}, headers=owner.headers)
        assert response.status_code == 404

    async def test_storage_info(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner = await person(client)
        await upload(client, owner, b"x" * 1000)
        for path in ("/api/files/storage", "/api/files/storage-info"):
            response = await client.get(path, headers=owner.headers)
            assert response.json() == {"used": 1000, "total": QUOTA, "percentage": 0.0}
        await set_quota_used(app, owner, QUOTA // 4)
        response = await client.get("/api/files/storage", headers=owner.headers)
        assert response.json()["percentage"] == 25.0


class TestChanges:
    async def test_rename_move_and_favorite(self, client: httpx.AsyncClient) -> None:
        owner, other = await person(client), await person(client)
        folder = await create_folder(client, owner, "docs")
        body = await upload(client, owner)
        renamed = await client.patch(
            f"/api/files/{body['id']}/rename", json={"name": "新名字.txt"}, headers=owner.headers
        )
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["name"] == "新名字.txt"
        moved = await client.post(
            f"/api/files/{body['id']}/move", json={"folderId": folder["id"]}, headers=owner.headers
        )
        assert (moved.json()["folderId"], moved.json()["path"]) == (folder["id"], "/docs/新名字.txt")
        back = await client.post(
            f"/api/files/{body['id']}/move", json={"folderId": None}, headers=owner.headers
        )
        assert back.json()["folderId"] is None
        theirs = await create_folder(client, other, "theirs")
        refused = await client.post(
            f"/api/files/{body['id']}/move", json={"folderId": theirs["id"]}, headers=owner.headers
        )
        assert refused.status_code == 422
        on = await client.patch(f"/api/files/{body['id']}/favorite", headers=owner.headers)
        off = await client.patch(f"/api/files/{body['id']}/favorite", headers=owner.headers)
        assert (on.json()["isFavorite"], off.json()["isFavorite"]) == (True, False)
        attempts: list[tuple[str, str, Any]] = [
            ("PATCH", "rename", {"name": "x"}),
            ("POST", "move", {"folderId": None}),
            ("PATCH", "favorite", None),
            ("POST", "copy", {}),
        ]
        for method, path, payload in attempts:
            response = await client.request(
                method, f"/api/files/{body['id']}/{path}", headers=other.headers, json=payload
            )
            assert (response.status_code, response.json()) == (404, NOT_FOUND), path

    async def test_bad_names_are_422(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        body = await upload(client, owner)
        for name in ("", "a/b", "a\\b", "x" * 256, "a\x00b"):
            response = await client.patch(
                f"/api/files/{body['id']}/rename", json={"name": name}, headers=owner.headers
            )
            assert response.status_code == 422, name

    async def test_copy_copies_the_bytes_and_charges_the_quota(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client, app, role="MANAGER")
        folder = await create_folder(client, owner, "copies")
        body = await upload(client, owner, b"original bytes", folderId=folder["id"])
        copy = await client.post(
            f"/api/files/{body['id']}/copy", json={"name": "copy.txt"}, headers=owner.headers
        )
        assert copy.status_code == 201, copy.text
        assert (copy.json()["name"], copy.json()["folderId"]) == ("copy.txt", folder["id"])
        top = await client.post(
            f"/api/files/{body['id']}/copy", json={"folderId": None}, headers=owner.headers
        )
        assert (top.json()["name"], top.json()["folderId"]) == (body["name"], None)
        assert await quota_used(app, owner) == 3 * 14
        assert (await row(app, copy.json()["id"]))["path"] != (await row(app, body["id"]))["path"]
        await client.delete(f"/api/files/{body['id']}", headers=owner.headers)
        response = await download(client, owner, copy.json()["id"])
        assert response.content == b"original bytes"  # a copy of the bytes, not of the key

    async def test_a_copy_over_quota_is_413(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner = await person(client)
        body = await upload(client, owner, b"x" * 100)
        await set_quota_used(app, owner, QUOTA - 50)
        before = await stored_keys(app)
        response = await client.post(f"/api/files/{body['id']}/copy", json={}, headers=owner.headers)
        assert response.status_code == 413
        assert await stored_keys(app) == before
        assert await quota_used(app, owner) == QUOTA - 50


class TestDelete:
    async def test_needs_files_delete(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        body = await upload(client, owner)
        response = await client.delete(f"/api/files/{body['id']}", headers=owner.headers)
        assert response.status_code == 403

    async def test_delete_frees_the_quota_and_the_bytes(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client, app, role="MANAGER")
        other = await person(client, app, role="MANAGER")
        body = await upload(client, owner, b"x" * 50)
        key = (await row(app, body["id"]))["path"]
        assert (await client.delete(f"/api/files/{body['id']}", headers=other.headers)).status_code == 404
        assert (await client.delete(f"/api/files/{body['id']}", headers=owner.headers)).status_code == 204
        assert await quota_used(app, owner) == 0
        assert key not in await stored_keys(app)
        assert (await client.get(f"/api/files/{body['id']}", headers=owner.headers)).status_code == 404

    async def test_batch_delete_takes_only_your_own(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner = await person(client, app, role="MANAGER")
        other = await person(client, app, role="MANAGER")
        mine = [await upload(client, owner, b"x" * 10) for _ in range(3)]
        theirs = await upload(client, other, b"y")
        ids = [mine[0]["id"], mine[1]["id"], mine[0]["id"], theirs["id"], "nope"]
        response = await client.post("/api/files/batch-delete", json={"ids": ids}, headers=owner.headers)
        assert response.status_code == 200, response.text
        assert response.json()["deleted_count"] == 2
        assert await quota_used(app, owner) == 10
        assert (await client.get(f"/api/files/{theirs['id']}", headers=other.headers)).status_code == 200
        too_many = await client.post(
            "/api/files/batch-delete", json={"ids": ["a"] * 101}, headers=owner.headers
        )
        assert too_many.status_code == 422


class TestRowsOfOtherBackends:
    async def test_a_row_without_bytes_here_is_listed_but_has_no_content(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client, app, role="MANAGER")
        async with app.state.runtime.sessionmaker() as db:
            await db.execute(
                text(
                    'INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "updatedAt") '
                    "VALUES (:id, 'legacy.png', '/uploads/2024/legacy.png', 'image/png', 10, :owner, now())"
                ),
                {"id": f"{owner.id}-legacy", "owner": owner.id},
            )
            await db.commit()
        file_id = f"{owner.id}-legacy"
        listed = await client.get(f"/api/files/{file_id}", headers=owner.headers)
        assert listed.json()["path"] == "/legacy.png"
        missing = {"detail": "The file's content is not in this API's storage"}
        attempts: list[tuple[str, str, Any]] = [("GET", "download-url", None), ("POST", "copy", {})]
        for method, path, payload in attempts:
            response = await client.request(
                method, f"/api/files/{file_id}/{path}", headers=owner.headers, json=payload
            )
            assert (response.status_code, response.json()) == (404, missing), path
        assert (await client.delete(f"/api/files/{file_id}", headers=owner.headers)).status_code == 204


class TestStatementCounts:
    async def test_an_upload_charges_inserts_and_reads_its_row_in_one_statement(
        self, client: httpx.AsyncClient, app: FastAPI, count_statements: CountStatements
    ) -> None:
        owner = await person(client)
        with count_statements(app.state.runtime.engine) as statements:
            await upload(client, owner)
        touching_files = [sql for sql in statements if "files" in sql]
        assert len(touching_files) == 1, statements
        assert "UPDATE users" in touching_files[0] and "INSERT INTO files" in touching_files[0]
        assert not any(sql.lstrip().startswith("SELECT") and "FROM files" in sql for sql in statements)

    async def test_the_list_sends_as_many_statements_for_100_files_as_for_1(
        self, client: httpx.AsyncClient, app: FastAPI, count_statements: CountStatements
    ) -> None:
        owner = await person(client)
        async with app.state.runtime.sessionmaker() as db:
            await db.execute(
                text(
                    'INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "updatedAt") '
                    "SELECT :owner || '-' || i, 'f' || i, 'files/00/x' || i, 'text/plain', 1, :owner, now() "
                    "FROM generate_series(1, 101) i"
                ),
                {"owner": owner.id},
            )
            await db.commit()
        counts = []
        for limit in (1, 100):
            with count_statements(app.state.runtime.engine) as statements:
                response = await client.get("/api/files", params={"limit": limit}, headers=owner.headers)
            assert response.status_code == 200
            assert len(response.json()["data"]) == limit
            counts.append(len(statements))
        assert counts[0] == counts[1]


async def test_the_demo_seed_gives_the_admin_files_with_real_bytes(client: httpx.AsyncClient) -> None:
    admin = Person("", ADMIN, await auth_headers(client, ADMIN))
    listed = await client.get("/api/files", params={"limit": 100}, headers=admin.headers)
    by_name = {item["name"]: item for item in listed.json()["data"]}
    assert {"README.txt", "logo.png", "首页.svg", "sales-2026.csv"} <= set(by_name)
    logo = by_name["logo.png"]
    assert (logo["mimeType"], logo["path"]) == ("image/png", "/项目/HaloLight 2.0/设计稿/logo.png")
    response = await download(client, admin, logo["id"])
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(response.content) == logo["size"]
    assert by_name["sales-2026.csv"]["mimeType"] == "text/csv"


async def test_a_page_is_read_by_its_index(app: FastAPI) -> None:
    """The list's key query on an owner with many files (statistics included, all rolled back): the
    owner-newest index serves it in order, with no sort. An owner with no rows would not prove it: a sort of
    nothing costs the planner nothing."""
    async with app.state.runtime.engine.connect() as connection:
        owner = await connection.scalar(text("SELECT id FROM users ORDER BY id LIMIT 1"))
        await connection.execute(
            text(
                'INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "updatedAt") '
                "SELECT 'plan-' || i, 'f' || i, 'files/00/p' || i, 'text/plain', 1, :owner, "
                "now() - i * interval '1 second' FROM generate_series(1, 5000) i"
            ),
            {"owner": owner},
        )
        # Other owners' files too, as on any real platform: with one owner only, a platform-wide index
        # (the dashboard's newest files, 0013) filtered by owner would look as good.
        await connection.execute(
            text(
                'INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "updatedAt") '
                "SELECT 'plan-other-' || i, 'f' || i, 'files/00/q' || i, 'text/plain', 1, others[1 + i % "
                "cardinality(others)], now() - i * interval '1 second' FROM generate_series(1, 20000) i, "
                "(SELECT array_agg(id) AS others FROM users WHERE id <> :owner) o"
            ),
            {"owner": owner},
        )
        await connection.execute(text("ANALYZE files"))
        plan = (
            await connection.execute(
                text(
                    'EXPLAIN SELECT id FROM files WHERE "ownerId" = :owner '
                    'ORDER BY "createdAt" DESC, id DESC LIMIT 10 OFFSET 20'
                ),
                {"owner": owner},
            )
        ).scalars()
        text_plan = "\n".join(plan)
        await connection.rollback()
    assert "halolight_files_owner_newest" in text_plan
    assert "Sort" not in text_plan
