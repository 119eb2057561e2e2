"""Request bodies: multipart and raw uploads streamed to the handler, with per-operation limits and types."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from halolight import uploads
from halolight.context import PublicContext
from halolight.uploads import Upload
from tests.api.helpers import ADMIN, bearer, login

BOUNDARY = "scratch-boundary-7f3a"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
MIB = 1024 * 1024


def _seen() -> dict[str, Any]:
    seen: dict[str, Any] = importlib.import_module("scratch_files.handlers.files").SEEN
    return seen


def _part(name: str, *, filename: str | None = None, content_type: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return (head + "\r\n").encode()


async def _multipart(
    fields: dict[str, str],
    file_bytes: int,
    *,
    content_type: str = "text/plain",
    after: dict[str, str] | None = None,
    log: list[str] | None = None,
    piece_bytes: int = 256 * 1024,
) -> AsyncIterator[bytes]:
    """A multipart body produced as the app reads it (no Content-Length), in pieces of `piece_bytes`."""
    for name, value in fields.items():
        yield _part(name) + value.encode() + b"\r\n"
    yield _part("file", filename="../../notes.txt", content_type=content_type)
    piece = b"x" * piece_bytes
    sent = 0
    while sent < file_bytes:
        chunk = piece[: file_bytes - sent]
        sent += len(chunk)
        if log is not None:
            log.append("sent")
        yield chunk
    yield b"\r\n"
    for name, value in (after or {}).items():
        yield _part(name) + value.encode() + b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


async def test_a_multipart_upload_is_streamed_and_counted(scratch_client: httpx.AsyncClient) -> None:
    log: list[str] = []
    _seen()["log"] = log
    body = _multipart({"title": "Notes", "copies": "2"}, 3 * MIB, log=log)
    response = await scratch_client.post("/files", content=body, headers={"Content-Type": MULTIPART})
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/files/f1"
    stored = response.json()
    # 3 MiB passes although the global limit is 1 MiB: the operation declares 8 MiB.
    assert stored["size"] == 3 * MIB
    assert stored["name"] == "notes.txt"  # the client's path is dropped
    assert stored["title"] == "Notes"
    # The handler never had the whole body: bounded chunks, and it read the first before the client sent
    # the last.
    # The client's 256 KiB pieces arrive as they were sent (CHUNK_BYTES only cuts larger messages).
    assert stored["chunks"] >= 3 * MIB // (256 * 1024)
    assert stored["largestChunk"] <= uploads.CHUNK_BYTES
    assert log.index("got") < len(log) - 1 - log[::-1].index("sent")
    assert _seen()["upload"] == {"title": "Notes", "copies": 2, "content_type": "text/plain"}


async def test_a_message_larger_than_a_chunk_is_cut(scratch_client: httpx.AsyncClient) -> None:
    body = _multipart({"title": "Notes", "copies": "2"}, 3 * MIB, piece_bytes=3 * MIB)
    response = await scratch_client.post("/files", content=body, headers={"Content-Type": MULTIPART})
    assert response.status_code == 201, response.text
    assert response.json()["size"] == 3 * MIB
    assert response.json()["largestChunk"] <= uploads.CHUNK_BYTES < 3 * MIB


async def test_past_the_operation_limit_mid_stream_is_413(scratch_client: httpx.AsyncClient) -> None:
    body = _multipart({"title": "Big"}, 9 * MIB)
    response = await scratch_client.post("/files", content=body, headers={"Content-Type": MULTIPART})
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is too large"}


async def test_a_declared_length_past_the_limit_is_413_before_reading(
    scratch_client: httpx.AsyncClient,
) -> None:
    headers = {"Content-Type": MULTIPART, "Content-Length": str(9 * MIB)}
    response = await scratch_client.post("/files", content=b"", headers=headers)
    assert response.status_code == 413


async def test_undeclared_media_types_are_415(scratch_client: httpx.AsyncClient) -> None:
    as_json = await scratch_client.post("/files", json={"title": "x"})
    assert as_json.status_code == 415
    assert as_json.json() == {"detail": "Request body must be multipart/form-data"}
    raw = await scratch_client.put("/files/f1/content", json={})
    assert raw.status_code == 415
    assert raw.json() == {"detail": "Request body must be application/octet-stream"}


async def test_a_file_part_of_an_undeclared_type_is_415(scratch_client: httpx.AsyncClient) -> None:
    body = _multipart({"title": "Img"}, 10, content_type="image/png")
    response = await scratch_client.post("/files", content=body, headers={"Content-Type": MULTIPART})
    assert response.status_code == 415
    assert "text/plain" in response.json()["detail"]


async def test_form_fields_are_validated(scratch_client: httpx.AsyncClient) -> None:
    cases = [
        ({}, None, ["body", "title"]),  # missing
        ({"title": "x" * 21}, None, ["body", "title"]),  # maxLength
        ({"title": "ok", "copies": "9"}, None, ["body", "copies"]),  # maximum
        ({"title": "ok", "other": "1"}, None, ["body", "other"]),  # undeclared field
        ({"title": "ok"}, {"other": "1"}, ["body", "other"]),  # undeclared, after the file part
        ({}, {"title": "x" * 21}, ["body", "title"]),  # invalid, after the file part
        ({"title": "ok"}, {"title": "again"}, ["body", "title"]),  # repeated after the file part
    ]
    for fields, after, loc in cases:
        _seen().pop("stored", None)
        body = _multipart(fields, 1000, after=after)
        response = await scratch_client.post("/files", content=body, headers={"Content-Type": MULTIPART})
        assert response.status_code == 422, (fields, response.text)
        assert [issue["loc"] for issue in response.json()["detail"]] == [loc], fields
        if "stored" in _seen():  # what the handler had stored under its temporary name is gone
            assert not _seen()["stored"].exists(), fields


async def test_form_fields_in_any_order(scratch_client: httpx.AsyncClient) -> None:
    """Browsers send form order; generated clients may put the file between the fields (name, file,
    folderId): every order is one request."""
    orders = [({"title": "Before", "copies": "2"}, {}), ({}, {"title": "After", "copies": "3"})]
    orders.append(({"copies": "4"}, {"title": "Around"}))
    for before, after in orders:
        body = _multipart(before, 200_000, after=after)
        response = await scratch_client.post("/files", content=body, headers={"Content-Type": MULTIPART})
        assert response.status_code == 201, response.text
        expected = {**before, **after}
        assert response.json()["title"] == expected["title"]
        assert response.json()["size"] == 200_000
        assert _seen()["upload"]["copies"] == int(expected["copies"])
        assert _seen()["stored"].stat().st_size == 200_000


async def test_the_file_part_twice_is_422(scratch_client: httpx.AsyncClient) -> None:
    whole = b"".join([piece async for piece in _multipart({"title": "x"}, 10)])
    end = f"--{BOUNDARY}--".encode()
    second = _part("file", filename="b.txt", content_type="text/plain") + b"again\r\n"
    body = whole.replace(end, second + end)
    response = await scratch_client.post("/files", content=body, headers={"Content-Type": MULTIPART})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "file"]


async def test_a_malformed_multipart_body_is_400(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.post(
        "/files", content=b"--other\r\n\r\nnope", headers={"Content-Type": MULTIPART}
    )
    assert response.status_code == 400
    no_boundary = await scratch_client.post(
        "/files", content=b"x", headers={"Content-Type": "multipart/form-data"}
    )
    assert no_boundary.status_code == 400


async def _raw(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // (128 * 1024)):
        yield b"y" * (128 * 1024)


async def test_a_raw_upload(scratch_client: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    tokens = await login(client, ADMIN)  # through the real app, on the same database
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": 'attachment; filename="data.bin"',
        **bearer(tokens["accessToken"]),
    }
    response = await scratch_client.put("/files/f1/content", content=_raw(MIB), headers=headers)
    assert response.status_code == 204, response.text
    seen = _seen()["replace"]
    assert seen["user_id"] is not None
    assert seen["holding_a_connection"] is False
    assert seen["size"] == MIB
    assert seen["filename"] == "data.bin"
    assert seen["content_type"] == "application/octet-stream"
    assert seen["chunks"] >= MIB // (128 * 1024)
    assert seen["largest"] <= uploads.CHUNK_BYTES

    too_large = await scratch_client.put("/files/f1/content", content=_raw(2 * MIB), headers=headers)
    assert too_large.status_code == 413


async def _idle_in_transaction(app: Any) -> list[str]:
    """The database's other sessions that sit in an open transaction doing nothing."""
    async with app.state.runtime.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT pid::text || ' ' || coalesce(query, '') FROM pg_stat_activity WHERE datname = "
                "current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            )
        )
        return list(rows.scalars())


async def test_no_transaction_is_open_while_the_bytes_arrive(
    scratch_client: httpx.AsyncClient, scratch_app: Any, client: httpx.AsyncClient
) -> None:
    """The 60 s idle_in_transaction_session_timeout would kill a slow upload that opened its transaction
    first; and a connection held for the length of an upload is one fewer for everyone else."""
    tokens = await login(client, ADMIN)
    seen: list[list[str]] = []

    async def slow_multipart() -> AsyncIterator[bytes]:
        yield _part("title") + b"Slow\r\n"
        yield _part("file", filename="slow.txt", content_type="text/plain") + b"a" * 100_000
        for _ in range(3):
            await asyncio.sleep(0.2)  # the client is slow; the handler waits for bytes
            seen.append(await _idle_in_transaction(scratch_app))
            yield b"b" * 100_000
        yield b"\r\n" + _part("copies") + b"2\r\n" + f"--{BOUNDARY}--\r\n".encode()

    headers = {"Content-Type": MULTIPART, **bearer(tokens["accessToken"])}
    response = await scratch_client.post("/files", content=slow_multipart(), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["size"] == 400_000
    assert seen == [[], [], []]

    async def slow_raw() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"c" * 100_000
            await asyncio.sleep(0.2)
            seen.append(await _idle_in_transaction(scratch_app))

    raw_headers = {"Content-Type": "application/octet-stream", **bearer(tokens["accessToken"])}
    raw = await scratch_client.put("/files/f1/content", content=slow_raw(), headers=raw_headers)
    assert raw.status_code == 204, raw.text
    assert seen == [[]] * 6


async def test_the_transaction_cannot_begin_before_the_upload_is_read(scratch_app: Any) -> None:
    """The one way that is right, enforced: a handler that queries before reading the upload fails loudly
    (in its tests), instead of holding a connection idle in transaction in production."""
    runtime = scratch_app.state.runtime

    async def chunks() -> AsyncIterator[bytes]:
        yield b"data"

    async def query_first(ctx: PublicContext, upload: Upload) -> None:
        await ctx.db.execute(text("SELECT 1"))

    async def read_first(ctx: PublicContext, upload: Upload) -> int:
        size = sum([len(chunk) async for chunk in upload])
        await ctx.db.execute(text("SELECT 1"))
        return size

    async def ignore_it(ctx: PublicContext, upload: Upload) -> None:
        return None

    for handler in (query_first, read_first, ignore_it):
        async with runtime.sessionmaker() as session:
            ctx = PublicContext(db=session, runtime=runtime, client_ip="192.0.2.1")
            upload = Upload(chunks(), filename=None, content_type="application/octet-stream")
            if handler is query_first:
                with pytest.raises(RuntimeError, match="before its upload was read"):
                    await ctx.run_upload(upload, handler, ctx, upload)
            else:
                await ctx.run_upload(upload, handler, ctx, upload)
                # Read to its end before the commit, whether or not the handler read it.
                assert upload.complete
                assert upload.size == 4
