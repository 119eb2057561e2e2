"""The `local` backend: one folder on this host (STORAGE_LOCAL_DIR).

Writes go to a temporary file in the object's own folder, are flushed to disk (fsync), then renamed over the
key: a crash or a failing upload never leaves a half object under a key, and readers never see one. Blocking
file work runs in worker threads, in chunks of at most 1 MiB, so the event loop never waits on the disk. Each
MiB's writeback is started as it is written (Linux), so the fsync before the answer waits for the last
ones only. `open` only stats the file: it is opened at the first read, so a whole file the server sends by
path (pathsend) is never opened here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO, cast

from halolight.errors import PayloadTooLarge
from halolight.storage.base import (
    CHUNK_BYTES,
    FILES_PREFIX,
    ByteStream,
    InvalidKey,
    ObjectInfo,
    ObjectMissing,
    StoredObject,
    check_key,
    is_key,
    new_key,
)

TEMPORARY_PREFIX = ".tmp-"  # keys never start a segment with `.`: temporary files are never keys


def _info(key: str, stat: os.stat_result) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=stat.st_size,
        etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
        modified=datetime.fromtimestamp(stat.st_mtime, UTC),
    )


def _fsync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk too.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _start_writeback() -> Callable[[int, int, int], object] | None:
    """Linux's sync_file_range(2) with SYNC_FILE_RANGE_WRITE: start writing a range to disk now, without
    waiting for it (what PostgreSQL does with its own writes, `*_flush_after`). Python's `os` has no binding;
    elsewhere, or without it, the final fsync does all the work, as before."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast(Callable[[int, int, int], object], lambda fd, offset, length: function(fd, offset, length, 2))


_writeback = _start_writeback()


def _write(out: BinaryIO, data: bytes, offset: int) -> None:
    out.write(data)
    if _writeback is not None:
        # The disk starts on this MiB while the next one arrives: the fsync before the answer then waits
        # for the tail, not for the whole file (a hint: its failure changes nothing the fsync does not check).
        out.flush()
        _writeback(out.fileno(), offset, len(data))


def _finish(out: BinaryIO, temporary: str, path: Path) -> os.stat_result:
    out.flush()
    os.fsync(out.fileno())
    out.close()
    os.replace(temporary, path)
    _fsync_folder(path.parent)
    return path.stat()


def _discard(out: BinaryIO, temporary: str) -> None:
    out.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)


def _read(handle: BinaryIO, size: int) -> bytes:
    return handle.read(size)


def _open_at(path: Path, start: int) -> tuple[BinaryIO, int]:
    handle = path.open("rb")
    handle.seek(start)
    return handle, os.fstat(handle.fileno()).st_size


def _copy(src: Path, path: Path) -> os.stat_result:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=TEMPORARY_PREFIX)
    out = os.fdopen(fd, "wb")
    try:
        with src.open("rb") as source:
            shutil.copyfileobj(source, out, CHUNK_BYTES)
        return _finish(out, temporary, path)
    except BaseException:
        _discard(out, temporary)
        raise


def _scan(folder: Path) -> tuple[list[Path], list[tuple[Path, os.stat_result]]]:
    folders, files = [], []
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except FileNotFoundError:
        return [], []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            folders.append(Path(entry.path))
        elif entry.is_file(follow_symlinks=False):
            files.append((Path(entry.path), entry.stat(follow_symlinks=False)))
    return folders, files


class LocalStorage:
    new_key = staticmethod(new_key)
    backend = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        # The grammar already forbids `..` and absolute keys; this also refuses a folder that is a symlink
        # leading out of the root.
        if not path.parent.resolve().is_relative_to(self.root):
            raise InvalidKey("not a storage key")
        return path

    async def put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredObject:
        path = self._path(key)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        fd, temporary = await asyncio.to_thread(tempfile.mkstemp, dir=path.parent, prefix=TEMPORARY_PREFIX)
        out = os.fdopen(fd, "wb")
        size = written = 0
        pending: list[bytes] = []
        pending_bytes = 0
        # One write in flight while the next MiB arrives: the disk and the network overlap, and at most two
        # MiB are held (the one being written, the one filling).
        writing: asyncio.Future[None] | None = None
        try:
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise PayloadTooLarge()
                pending.append(chunk)
                pending_bytes += len(chunk)
                if pending_bytes >= CHUNK_BYTES:  # one thread hop per MiB, not per network chunk
                    data, pending, pending_bytes = b"".join(pending), [], 0
                    if writing is not None:
                        await writing
                    writing = asyncio.ensure_future(asyncio.to_thread(_write, out, data, written))
                    written += len(data)
            if writing is not None:
                await writing
            if pending:
                await asyncio.to_thread(_write, out, b"".join(pending), written)
            stat = await asyncio.to_thread(_finish, out, temporary, path)
        except BaseException:
            if writing is not None:  # never close the file under a write in progress
                await asyncio.shield(asyncio.wait([writing]))
                if not writing.cancelled():
                    writing.exception()  # retrieved: the error being raised is the one that counts
            await asyncio.shield(asyncio.to_thread(_discard, out, temporary))
            raise
        return StoredObject(key=key, size=size, etag=_info(key, stat).etag)

    async def open(self, key: str, start: int = 0, stop: int | None = None) -> ByteStream:
        path = self._path(key)
        try:
            found = await asyncio.to_thread(path.stat)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectMissing(key) from None
        if not S_ISREG(found.st_mode):  # a folder of the store is no object
            raise ObjectMissing(key)
        size = found.st_size
        remaining = None if stop is None else max(stop - start, 0)
        whole = start == 0 and (stop is None or stop == size)
        handle: BinaryIO | None = None

        async def chunks() -> AsyncIterator[bytes]:
            # Opened at the first read, not before: a whole file sent by path (pathsend) is never opened
            # here, which spared a thread hop to open it and one to close it on every download. A file
            # deleted in between ends the stream early, as a delete during the stream would.
            nonlocal handle, remaining
            try:
                opened, _ = await asyncio.to_thread(_open_at, path, start)
            except FileNotFoundError:
                raise ObjectMissing(key) from None
            handle = opened
            while remaining is None or remaining > 0:
                want = CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining)
                data = await asyncio.to_thread(_read, opened, want)
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield data

        async def release() -> None:
            if handle is not None:
                await asyncio.to_thread(handle.close)

        return ByteStream(chunks(), release, path=str(path) if whole else None)

    async def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            stat = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        return _info(key, stat)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def delete_many(self, keys: Iterable[str]) -> None:
        for key in keys:
            await self.delete(key)

    async def copy(self, src: str, dst: str) -> ObjectInfo:
        source, path = self._path(src), self._path(dst)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        try:
            stat = await asyncio.to_thread(_copy, source, path)
        except FileNotFoundError:
            raise ObjectMissing(src) from None
        return _info(dst, stat)

    async def keys(self, prefix: str = FILES_PREFIX) -> AsyncIterator[ObjectInfo]:
        # One folder per thread hop: a large store streams out without being listed into memory first.
        folders = [self.root / prefix.rpartition("/")[0]]
        while folders:
            subfolders, files = await asyncio.to_thread(_scan, folders.pop())
            folders.extend(reversed(subfolders))
            for path, stat in files:
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and is_key(key):
                    yield _info(key, stat)

    async def download_url(self, key: str, *, filename: str, content_type: str, expires_s: int) -> str | None:
        return None  # the API signs its own download URL and streams the file itself

    async def close(self) -> None:
        return None
