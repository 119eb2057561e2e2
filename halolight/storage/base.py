"""The storage facility's contract: what the Files module may ask of wherever bytes live.

Two backends implement it (`local.py`, `s3.py`), chosen by STORAGE_BACKEND and built by the runtime. Keys are
made here, never from a client's file name, so a name can hold anything (`../`, NUL, 报告.pdf) without
reaching a path or an object name; every backend checks every key it is given against the same grammar.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

# Everything the API stores for the `files` table lives under this prefix: `halolight storage gc` compares
# only these keys with `files.path`, so other kinds of objects can share the store later.
FILES_PREFIX = "files/"
# Segments of lowercase letters, digits, `.`, `_`, `-`, none starting with `.` (no `..`, no hidden temporary
# files of the local backend), joined by `/`; no leading or trailing `/`.
_KEY = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}(/[a-z0-9][a-z0-9._-]{0,127}){0,7}")
MAX_KEY_LENGTH = 512
CHUNK_BYTES = 1024 * 1024


class InvalidKey(ValueError):
    """A key outside the grammar: a bug or an attack, never a client's mistake to explain."""


class ObjectMissing(LookupError):
    """No object under this key."""


class StorageError(Exception):
    """The store answered, but not as it should (access denied, missing bucket): a configuration problem."""


def new_key(prefix: str = FILES_PREFIX) -> str:
    """A fresh key, `files/3f/3f9c…` (128 random bits): the first two hex digits shard the local folder, and
    spread S3 keys over partitions."""
    token = secrets.token_hex(16)
    return f"{prefix}{token[:2]}/{token}"


def is_key(key: str) -> bool:
    return len(key) <= MAX_KEY_LENGTH and _KEY.fullmatch(key) is not None


def check_key(key: str) -> str:
    if not is_key(key):
        raise InvalidKey("not a storage key")
    return key


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """`attachment; filename="…"; filename*=UTF-8''…` (RFC 6266 §4.3): an ASCII fallback for old clients,
    and the exact name, percent-encoded UTF-8 (RFC 8187), for the rest. Path separators and control
    characters never reach either form."""
    name = (
        "".join("_" if c in "/\\" or unicodedata.category(c).startswith("C") else c for c in filename).strip()
        or "download"
    )
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What `put` wrote: the size of the bytes as they streamed past, and the store's own entity tag (an MD5
    for small S3 objects, a multipart tag for large ones, a stat-based tag locally). No content hash of our
    own: nothing reads one, and hashing was a quarter of a local upload's time."""

    key: str
    size: int
    etag: str


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    modified: datetime  # aware, UTC


class ByteStream:
    """The chunks of one opened object. Iterate it, or close it (`aclose`) unread: either way the file or the
    connection behind it goes back, as the answer streaming it (halolight/responses.py) expects.

    `path`: set when the stream is a whole local file. A server that sends files by path (the ASGI
    `http.response.pathsend` extension; granian has it) then sends it, the bytes never passing through Python.
    """

    def __init__(
        self, chunks: AsyncIterator[bytes], release: Callable[[], Awaitable[None]], *, path: str | None = None
    ) -> None:
        self._chunks = chunks
        self._release = release
        self._closed = False
        self.path = path

    def __aiter__(self) -> ByteStream:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        try:
            return await anext(self._chunks)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._release()


class Storage(Protocol):
    """Where file bytes live. Every method reaches the store; an unreachable one raises
    `halolight.errors.StorageUnavailable` (503 with Retry-After) within the configured timeouts."""

    backend: str

    def new_key(self) -> str:
        """A fresh server-made key under `files/` (see `new_key` above)."""
        ...

    async def put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredObject:
        """Stream `chunks` to `key`, holding a bounded buffer. The object appears whole or not at all: a
        failing iterator (or more than `max_bytes`, `PayloadTooLarge`) leaves nothing behind."""
        ...

    async def open(self, key: str, start: int = 0, stop: int | None = None) -> ByteStream:
        """Bytes `start` to `stop` (exclusive; None: the end). Awaiting it reaches the store, so a missing
        object (`ObjectMissing`) or an outage is known before an answer starts."""
        ...

    async def stat(self, key: str) -> ObjectInfo: ...

    async def delete(self, key: str) -> None:
        """Idempotent: a missing object is already deleted."""
        ...

    async def delete_many(self, keys: Iterable[str]) -> None: ...

    async def copy(self, src: str, dst: str) -> ObjectInfo: ...

    def keys(self, prefix: str = FILES_PREFIX) -> AsyncIterator[ObjectInfo]:
        """Every stored object under `prefix`, in no promised order (for `halolight storage gc`)."""
        ...

    async def download_url(self, key: str, *, filename: str, content_type: str, expires_s: int) -> str | None:
        """A URL of the store itself that serves the object for `expires_s` seconds as an attachment named
        `filename`, or None when the store cannot sign one (the API then signs its own)."""
        ...

    async def close(self) -> None: ...
