"""One suite, both backends: every test runs against a local folder and against a real SeaweedFS bucket."""

from __future__ import annotations

import hashlib
import os
import random
import time
import tracemalloc
from collections.abc import AsyncIterable, AsyncIterator, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from halolight.errors import PayloadTooLarge
from halolight.responses import TypedResponse, to_response
from halolight.storage import (
    FILES_PREFIX,
    InvalidKey,
    LocalStorage,
    ObjectMissing,
    Storage,
    check_key,
    content_disposition,
    new_key,
)
from halolight.storage import local as local_backend
from halolight.storage.base import CHUNK_BYTES
from tests.storage.conftest import PART_SIZE_MB

MIB = 1024 * 1024


async def body(size: int, *, chunk: int = 64 * 1024, seed: int = 1) -> AsyncIterator[bytes]:
    """`size` pseudo-random bytes, made chunk by chunk (never whole in memory), as an upload arrives."""
    rng = random.Random(seed)
    sent = 0
    while sent < size:
        n = min(chunk, size - sent)
        sent += n
        yield rng.randbytes(n)


def expected(size: int, *, seed: int = 1, start: int = 0, stop: int | None = None) -> bytes:
    data = random.Random(seed).randbytes(size) if size else b""
    return data[start:stop]


def sha256_of(size: int, *, seed: int = 1) -> str:
    return hashlib.sha256(expected(size, seed=seed)).hexdigest()


async def read(storage: Storage, key: str, start: int = 0, stop: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in await storage.open(key, start, stop)])


async def listed(storage: Storage, prefix: str = FILES_PREFIX) -> list[str]:
    return [info.key async for info in storage.keys(prefix)]


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


async def put(storage: Storage, size: int, *, seed: int = 1, key: str | None = None) -> str:
    key = key or storage.new_key()
    await storage.put(key, body(size, seed=seed), content_type="application/octet-stream")
    return key


class TestKeys:
    def test_new_keys_are_server_made_sharded_and_unique(self, storage: Storage) -> None:
        keys = {storage.new_key() for _ in range(1000)}
        assert len(keys) == 1000
        for key in keys:
            assert check_key(key) == key
            prefix, shard, name = key.split("/")
            assert f"{prefix}/" == FILES_PREFIX and len(name) == 32 and name.startswith(shard)

    @pytest.mark.parametrize(
        "key",
        [
            "../outside",
            "files/../../etc/passwd",
            "/etc/passwd",
            "files/./x",
            "files//x",
            "files/x/",
            "files/.tmp-x",
            "Files/X",
            "files/a\x00b",
            "files\\..\\x",
            "files/报告.pdf",
            "",
            "files/" + "a" * 600,
        ],
    )
    async def test_keys_outside_the_grammar_are_refused(self, storage: Storage, key: str) -> None:
        with pytest.raises(InvalidKey):
            await storage.put(key, body(10), content_type="text/plain")
        with pytest.raises(InvalidKey):
            await storage.open(key)
        with pytest.raises(InvalidKey):
            await storage.stat(key)
        with pytest.raises(InvalidKey):
            await storage.delete(key)
        with pytest.raises(InvalidKey):
            await storage.copy(new_key(), key)


class TestPutAndOpen:
    async def test_round_trip_streams_with_bounded_memory(self, storage: Storage) -> None:
        size = 40 * MIB + 12345
        key = storage.new_key()
        await put(storage, 1)  # the S3 client loads botocore's service model once: not the upload's memory
        tracemalloc.start()
        try:
            stored = await storage.put(key, body(size), content_type="application/octet-stream")
            _, put_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            digest, largest, total = hashlib.sha256(), 0, 0
            async for chunk in await storage.open(key):
                digest.update(chunk)
                largest = max(largest, len(chunk))
                total += len(chunk)
            _, read_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert stored.size == size == total
        assert digest.hexdigest() == sha256_of(size)
        assert stored.etag
        assert largest <= CHUNK_BYTES
        # Never the whole 40 MiB: one part (5 MiB on S3; its buffer is the request's body, never copied
        # whole: a joined copy would make it two) or a 1 MiB write buffer.
        assert put_peak < 1.8 * PART_SIZE_MB * MIB, put_peak
        assert read_peak < 4 * MIB, read_peak

    @pytest.mark.parametrize(
        ("start", "stop"),
        [(0, None), (0, 1), (10, 20), (MIB - 3, 2 * MIB + 5), (3 * MIB - 5, None), (7, 7), (0, 3 * MIB)],
    )
    async def test_ranged_open(self, storage: Storage, start: int, stop: int | None) -> None:
        key = await put(storage, 3 * MIB)
        assert await read(storage, key, start, stop) == expected(3 * MIB, start=start, stop=stop)

    async def test_an_empty_object(self, storage: Storage) -> None:
        key = await put(storage, 0)
        assert await read(storage, key) == b""
        assert (await storage.stat(key)).size == 0

    async def test_closing_a_stream_unread_releases_it(self, storage: Storage) -> None:
        key = await put(storage, 2 * MIB)
        for _ in range(100):  # more than the client's connection pool or the process's spare files
            stream = await storage.open(key)
            await stream.aclose()
        assert await read(storage, key, 0, 4) == expected(2 * MIB, stop=4)

    async def test_put_replaces_an_object(self, storage: Storage) -> None:
        key = await put(storage, 1000, seed=1)
        await put(storage, 500, seed=2, key=key)
        assert await read(storage, key) == expected(500, seed=2)

    async def test_missing_objects(self, storage: Storage) -> None:
        key = storage.new_key()
        with pytest.raises(ObjectMissing):
            await storage.open(key)
        with pytest.raises(ObjectMissing):
            await storage.stat(key)
        with pytest.raises(ObjectMissing):
            await storage.copy(key, storage.new_key())


class TestAtomicWrites:
    async def test_a_failing_upload_leaves_nothing(self, storage: Storage, tmp_path: Path) -> None:
        key = storage.new_key()
        seen_during_upload: list[bool] = []

        async def breaks() -> AsyncIterator[bytes]:
            async for chunk in body(12 * MIB):  # past one S3 part: a multipart upload was under way
                yield chunk
            try:
                await storage.stat(key)
                seen_during_upload.append(True)
            except ObjectMissing:
                seen_during_upload.append(False)
            raise ConnectionResetError("the client went away")

        with pytest.raises(ConnectionResetError):
            await storage.put(key, breaks(), content_type="application/pdf")
        assert seen_during_upload == [False]  # never visible before it is whole
        with pytest.raises(ObjectMissing):
            await storage.stat(key)
        assert await listed(storage) == []
        if isinstance(storage, LocalStorage):
            assert files_under(storage.root) == []  # no temporary file either
        else:
            assert await _multipart_uploads_in_progress(storage) == []

    async def test_more_than_max_bytes_is_refused_and_removed(self, storage: Storage) -> None:
        key = storage.new_key()
        with pytest.raises(PayloadTooLarge):
            await storage.put(key, body(6 * MIB), content_type="text/plain", max_bytes=6 * MIB - 1)
        with pytest.raises(ObjectMissing):
            await storage.stat(key)
        stored = await storage.put(key, body(6 * MIB), content_type="text/plain", max_bytes=6 * MIB)
        assert stored.size == 6 * MIB


def _open_in_this_process(path: Path) -> bool:
    folder = Path("/proc/self/fd")
    targets = []
    for fd in os.listdir(folder):
        try:
            targets.append(os.readlink(folder / fd))
        except OSError:
            continue
    return str(path) in targets


async def _multipart_uploads_in_progress(storage: Storage) -> list[str]:
    from halolight.storage.s3 import S3Storage

    assert isinstance(storage, S3Storage)
    client = await storage._client()
    answer = await client.list_multipart_uploads(Bucket=storage.bucket)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


class TestStatCopyDelete:
    async def test_stat(self, storage: Storage) -> None:
        before = datetime.now(UTC) - timedelta(seconds=5)
        key = await put(storage, 1234)
        info = await storage.stat(key)
        assert (info.key, info.size) == (key, 1234)
        assert info.etag
        assert before <= info.modified <= datetime.now(UTC) + timedelta(seconds=5)
        assert info.modified.tzinfo is not None

    async def test_copy(self, storage: Storage) -> None:
        src = await put(storage, 2 * MIB + 1)
        dst = storage.new_key()
        info = await storage.copy(src, dst)
        assert (info.key, info.size) == (dst, 2 * MIB + 1)
        assert await read(storage, dst) == await read(storage, src) == expected(2 * MIB + 1)
        await storage.delete(src)
        assert await read(storage, dst) == expected(2 * MIB + 1)  # a copy, not a second name

    async def test_delete_is_idempotent(self, storage: Storage) -> None:
        key = await put(storage, 100)
        await storage.delete(key)
        await storage.delete(key)
        with pytest.raises(ObjectMissing):
            await storage.stat(key)

    async def test_delete_many(self, storage: Storage) -> None:
        keys = [await put(storage, 10, seed=i) for i in range(5)]
        kept = keys.pop()
        await storage.delete_many([*keys, storage.new_key()])  # a missing one among them is fine
        await storage.delete_many([])
        assert await listed(storage) == [kept]

    async def test_keys_lists_every_stored_object_under_the_prefix(self, storage: Storage) -> None:
        keys = {await put(storage, 100 + i, seed=i) for i in range(7)}
        await put(storage, 5, key="avatars/ab/abcdef")  # another kind of object: not a file's
        infos = [info async for info in storage.keys()]  # noqa: SIM118 - not a dict
        assert {info.key for info in infos} == keys
        assert sorted(info.size for info in infos) == list(range(100, 107))
        assert await listed(storage, "avatars/") == ["avatars/ab/abcdef"]


class TestLocalFolder:
    async def test_a_symlinked_folder_out_of_the_root_is_refused(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "files")
        outside = tmp_path / "outside"
        outside.mkdir()
        (tmp_path / "files").mkdir()
        os.symlink(outside, tmp_path / "files" / "files")
        with pytest.raises(InvalidKey):
            await storage.put("files/ab/abc", body(10), content_type="text/plain")
        assert list(outside.iterdir()) == []

    async def test_objects_are_files_under_the_root_only(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "files")
        key = await put(storage, 10)
        assert (tmp_path / "files" / key).read_bytes() == expected(10)
        assert (
            await storage.download_url(key, filename="a.txt", content_type="text/plain", expires_s=60) is None
        )

    async def test_a_folder_of_the_store_is_no_object(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "files")
        key = await put(storage, 10)
        folder = key.rsplit("/", 1)[0]  # `files/3f`: a key by the grammar, a folder on disk
        with pytest.raises(ObjectMissing):
            await storage.open(folder)

    async def test_a_whole_file_is_opened_only_when_read(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "files")
        key = await put(storage, 3 * MIB)
        stream = await storage.open(key)
        assert stream.path == str(tmp_path / "files" / key)  # sent by path where the server can
        assert not _open_in_this_process(tmp_path / "files" / key)
        await stream.aclose()  # closed unread (pathsend): nothing was opened, nothing to close
        stream = await storage.open(key)
        assert b"".join([chunk async for chunk in stream]) == expected(3 * MIB)
        assert not _open_in_this_process(tmp_path / "files" / key)  # read to its end: closed

    async def test_a_file_deleted_after_open_ends_its_stream(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "files")
        key = await put(storage, 10)
        stream = await storage.open(key)
        await storage.delete(key)
        with pytest.raises(ObjectMissing):
            await anext(stream)

    @pytest.mark.parametrize("writeback", [True, False])
    async def test_put_with_and_without_early_writeback(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writeback: bool
    ) -> None:
        # sync_file_range (Linux) only starts the disk early: without it (elsewhere) the same bytes land.
        if not writeback:
            monkeypatch.setattr(local_backend, "_writeback", None)
        elif local_backend._writeback is None:
            pytest.skip("no sync_file_range here")
        storage = LocalStorage(tmp_path / "files")
        key = await put(storage, 5 * MIB + 123)
        assert (tmp_path / "files" / key).read_bytes() == expected(5 * MIB + 123)

    async def test_keys_of_an_empty_store(self, tmp_path: Path) -> None:
        assert await listed(LocalStorage(tmp_path / "never-made")) == []

    async def test_put_is_not_slower_than_a_plain_copy_by_much(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "files")
        size = 64 * MIB
        data = expected(size)
        started = time.perf_counter()
        (tmp_path / "plain").write_bytes(data)
        os.sync()
        plain = time.perf_counter() - started

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, size, 64 * 1024):
                yield data[i : i + 64 * 1024]

        started = time.perf_counter()
        await storage.put(storage.new_key(), chunks(), content_type="application/octet-stream")
        stored = time.perf_counter() - started
        assert stored < 5 * plain + 0.5, (stored, plain)


class TestContentDisposition:
    @pytest.mark.parametrize(
        ("name", "header"),
        [
            ("report.pdf", "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"),
            (
                "报告 2026.pdf",
                "attachment; filename=\"__ 2026.pdf\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A%202026.pdf",
            ),
            (
                'a "b" \\c%.txt',
                "attachment; filename=\"a _b_ _c_.txt\"; filename*=UTF-8''a%20%22b%22%20_c%25.txt",
            ),
            (
                "../../etc/passwd",
                "attachment; filename=\".._.._etc_passwd\"; filename*=UTF-8''.._.._etc_passwd",
            ),
            (
                "x\r\nSet-Cookie: a=b",
                "attachment; filename=\"x__Set-Cookie: a=b\"; filename*=UTF-8''x__Set-Cookie%3A%20a%3Db",
            ),
            ("", "attachment; filename=\"download\"; filename*=UTF-8''download"),
        ],
    )
    def test_rfc_6266_with_an_ascii_fallback(self, name: str, header: str) -> None:
        assert content_disposition(name) == header
        assert header.isascii() and "\r" not in header and "\n" not in header

    async def test_a_whole_file_is_sent_by_path_where_the_server_can(self, tmp_path: Path) -> None:
        """granian's `http.response.pathsend`: the bytes never pass through Python, and the file handle the
        stream held goes back first. A range, or a server without the extension, is streamed as before."""
        storage = LocalStorage(tmp_path / "files")
        key = await put(storage, 5000)

        @dataclass(frozen=True, kw_only=True)
        class Whole(TypedResponse):
            STATUS: ClassVar[int] = 200
            MEDIA_TYPE: ClassVar[str | None] = "application/octet-stream"
            HEADERS: ClassVar[dict[str, str]] = {"content_length": "Content-Length"}

            content: AsyncIterable[bytes]
            content_length: int

        async def serve(content: Any, extensions: dict[str, Any]) -> list[dict[str, Any]]:
            sent: list[dict[str, Any]] = []

            async def send(message: MutableMapping[str, Any]) -> None:
                sent.append(dict(message))

            async def receive() -> dict[str, Any]:
                return {"type": "http.disconnect"}

            response = await to_response(Whole(content=content, content_length=5000))
            scope = {
                "type": "http",
                "method": "GET",
                "asgi": {"spec_version": "2.4"},
                "extensions": extensions,
            }
            await response(scope, receive, send)
            return sent

        whole = await storage.open(key, 0, 5000)
        sent = await serve(whole, {"http.response.pathsend": {}})
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.pathsend"]
        assert Path(sent[1]["path"]) == (tmp_path / "files" / key).resolve()
        assert (b"content-length", b"5000") in sent[0]["headers"]
        assert (
            await anext(whole, None) is None
        )  # closed: its handle went back before the server opened the path

        sent = await serve(await storage.open(key, 0, 5000), {})
        assert b"".join(m.get("body", b"") for m in sent) == expected(5000)
        assert (await storage.open(key, 10, 5000)).path is None
        assert (await storage.open(key, 0, 4000)).path is None
