"""What only the S3 backend does: multipart uploads, presigned download URLs checked by the store itself, and
the answer when the store cannot be reached."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from halolight.app import create_app
from halolight.errors import StorageUnavailable
from halolight.storage import Storage, build_storage, content_disposition
from halolight.storage.s3 import S3Storage
from tests.storage.conftest import drop_bucket, new_bucket, s3_settings
from tests.storage.seaweed import SeaweedServer, free_port
from tests.storage.test_storage import MIB, body, expected, put, read


@pytest.fixture
async def s3(seaweed: SeaweedServer) -> AsyncIterator[S3Storage]:
    store = S3Storage(s3_settings(seaweed, await new_bucket(seaweed)))
    try:
        yield store
    finally:
        await store.close()
        await drop_bucket(seaweed, store.bucket)


async def test_a_large_upload_is_a_multipart_upload(s3: S3Storage) -> None:
    size = 12 * MIB  # 5 + 5 + 2 MiB
    key = s3.new_key()
    stored = await s3.put(key, body(size, chunk=100_000), content_type="video/mp4")
    assert stored.etag.endswith("-3")  # S3's tag of a three-part upload: md5-of-md5s, dash, part count
    assert (await s3.stat(key)).etag == stored.etag
    assert await read(s3, key) == expected(size)
    small = await s3.put(s3.new_key(), body(MIB), content_type="text/plain")
    assert "-" not in small.etag  # one PutObject


FILENAME = '年度报告 "final" 2026.pdf'


class TestDownloadUrl:
    async def test_the_store_serves_the_bytes_as_an_attachment(self, s3: S3Storage) -> None:
        key = await put(s3, 3 * MIB)
        url = await s3.download_url(key, filename=FILENAME, content_type="application/pdf", expires_s=60)
        assert url is not None and "X-Amz-Signature=" in url
        async with httpx.AsyncClient() as client:
            answer = await client.get(url)
            ranged = await client.get(url, headers={"Range": "bytes=10-19"})
        assert answer.status_code == 200
        assert answer.content == expected(3 * MIB)
        assert answer.headers["content-type"] == "application/pdf"
        disposition = answer.headers["content-disposition"]
        assert disposition == content_disposition(FILENAME)
        assert disposition == (
            f"attachment; filename=\"____ _final_ 2026.pdf\"; filename*=UTF-8''{quote(FILENAME, safe='')}"
        )
        assert (ranged.status_code, ranged.content) == (206, expected(3 * MIB, start=10, stop=20))

    async def test_a_tampered_url_is_refused_by_the_store(self, s3: S3Storage) -> None:
        key, other = await put(s3, 100, seed=1), await put(s3, 100, seed=2)
        url = await s3.download_url(key, filename="a.txt", content_type="text/plain", expires_s=60)
        assert url is not None
        signature = url.rsplit("X-Amz-Signature=", 1)[1]
        flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
        tampered = [
            url.replace(key, other),  # another object
            url.replace("a.txt", "a.exe"),  # another file name
            url.replace("X-Amz-Expires=60", "X-Amz-Expires=86400"),  # a longer life
            url.replace(signature, flipped),
            url.split("?", 1)[0],  # no signature at all
        ]
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).status_code == 200
            for bad in tampered:
                assert bad != url
                answer = await client.get(bad)
                assert answer.status_code == 403, bad
                assert expected(100, seed=2) not in answer.content

    async def test_urls_are_signed_for_the_public_endpoint(self, seaweed: SeaweedServer) -> None:
        """The API reaches the store as 127.0.0.1, browsers as localhost: the URL names (and signs) the
        latter, and the store refuses it under the other name."""
        public = seaweed.endpoint_url.replace("127.0.0.1", "localhost")
        store = S3Storage(
            s3_settings(seaweed, await new_bucket(seaweed), storage_s3_public_endpoint_url=public)
        )
        try:
            key = await put(store, 100)
            url = await store.download_url(key, filename="a.txt", content_type="text/plain", expires_s=60)
            assert url is not None and url.startswith(f"{public}/{store.bucket}/{key}?")
            async with httpx.AsyncClient() as client:
                answer = await client.get(url)
                assert (answer.status_code, answer.content) == (200, expected(100))
                internal = url.replace(public, seaweed.endpoint_url)
                assert (await client.get(internal)).status_code == 403
        finally:
            await store.close()
            await drop_bucket(seaweed, store.bucket)

    async def test_an_expired_url_is_refused(self, s3: S3Storage) -> None:
        key = await put(s3, 100)
        url = await s3.download_url(key, filename="a.txt", content_type="text/plain", expires_s=1)
        assert url is not None
        await asyncio.sleep(2.1)
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).status_code == 403


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers: a hung store."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield int(listener.getsockname()[1])


async def _unavailable_within(store: Storage, seconds: float) -> None:
    key = store.new_key()
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.stat(key),
        lambda: store.open(key),
        lambda: store.put(key, body(10), content_type="text/plain"),
        lambda: store.delete(key),
        lambda: store.delete_many([key]),
        lambda: store.copy(key, store.new_key()),
        lambda: anext(store.keys()),
    ]
    # Untimed first: the first call also builds the client (botocore's service model: a second or more on a
    # loaded machine), which is not what these bounds are about.
    with pytest.raises(StorageUnavailable):
        await calls[0]()
    for call in calls:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as caught:
            await call()
        assert time.monotonic() - started < seconds
        assert caught.value.status == 503 and caught.value.headers == {"Retry-After": "5"}


class TestUnreachableStore:
    async def test_a_closed_port_is_503_at_once(self, seaweed: SeaweedServer) -> None:
        settings = s3_settings(
            seaweed, "halolight-files", storage_s3_endpoint_url=f"http://127.0.0.1:{free_port()}"
        )
        store = build_storage(settings)
        try:
            await _unavailable_within(store, 1.0)
        finally:
            await store.close()

    async def test_a_store_that_never_answers_is_503_within_the_read_timeout(
        self, seaweed: SeaweedServer, silent_port: int
    ) -> None:
        settings = s3_settings(
            seaweed,
            "halolight-files",
            storage_s3_endpoint_url=f"http://127.0.0.1:{silent_port}",
            storage_read_timeout_s=0.5,
        )
        store = build_storage(settings)
        try:
            await _unavailable_within(store, 2.0)
        finally:
            await store.close()

    async def test_a_stopped_store(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        server = SeaweedServer(tmp_path_factory.mktemp("stopped-seaweed"))
        try:
            store = build_storage(s3_settings(server, await new_bucket(server)))
            await put(store, 100)
            server.stop()
            await _unavailable_within(store, 2.0)
            await store.close()
        finally:
            server.stop()

    async def test_the_api_answers_503_with_retry_after_and_keeps_serving_the_rest(
        self, seaweed: SeaweedServer, database_url: str, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        settings = s3_settings(
            seaweed,
            "halolight-files",
            storage_s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
            bcrypt_rounds=4,
            mail_outbox_dir=str(tmp_path_factory.mktemp("outbox")),
        )
        app: FastAPI = create_app(settings, database_url)
        storage = app.state.runtime.storage

        # No file operation exists yet (issue 20's Files module): one probe route, through the real app's
        # middleware and error handlers, does what they will do first: look at a stored object.
        @app.get("/probe-storage")
        async def probe() -> dict[str, int]:
            return {"size": (await storage.stat(storage.new_key())).size}

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            started = time.monotonic()
            answer = await client.get("/probe-storage")
            assert time.monotonic() - started < 1.5
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "5"
            assert answer.json() == {"detail": "File storage temporarily unavailable"}
            assert (await client.get("/health/ready")).status_code == 200
            login = await client.post(
                "/api/auth/login", json={"email": "admin@halolight.h7ml.cn", "password": "123456"}
            )
            assert login.status_code == 200
        await app.state.runtime.close()
