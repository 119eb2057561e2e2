"""The `s3` backend: any S3-compatible object store (AWS S3, SeaweedFS, MinIO, Ceph, R2), through aiobotocore
(botocore's S3 client on aiohttp; README, "Libraries").

Uploads stream: up to one part (STORAGE_S3_PART_SIZE_MB) is buffered; a body that fits goes up in one
PutObject, a larger one as a multipart upload, part by part, aborted if anything fails, so the store keeps
no half object. Downloads can bypass the API: `download_url` presigns a GET whose answer carries the file
name (response-content-disposition), and the store checks the signature.

Outages: the client is built with bounded connect and read timeouts and no retries, so a request to an
unreachable store fails within them and becomes `StorageUnavailable` (503, Retry-After); the client (or the
next request) tries again. Credentials are read from their SecretStr only to build the client, never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import AsyncExitStack
from datetime import UTC
from typing import TYPE_CHECKING, Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError

from halolight.errors import PayloadTooLarge, StorageUnavailable
from halolight.settings import Settings
from halolight.storage.base import (
    CHUNK_BYTES,
    FILES_PREFIX,
    ByteStream,
    ObjectInfo,
    ObjectMissing,
    StorageError,
    StoredObject,
    check_key,
    content_disposition,
    is_key,
    new_key,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

log = logging.getLogger("halolight.storage")

_UNREACHABLE = (
    BotoConnectionError,  # refused, DNS, connect timeout, TLS
    HTTPClientError,  # read timeout, connection closed mid-answer
    IncompleteReadError,
    aiohttp.ClientError,
    TimeoutError,
)
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_OVERLOADED = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"})
DELETE_BATCH = 1000  # DeleteObjects' limit


@contextlib.contextmanager
def _translated(key: str = "") -> Iterator[None]:
    """The store's failures in the API's vocabulary: missing, unavailable (503) or misconfigured (500)."""
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if key and code in _MISSING:
            raise ObjectMissing(key) from None
        if status >= 500 or code in _OVERLOADED:
            log.warning("object store unavailable: %s (HTTP %s)", code, status)
            raise StorageUnavailable() from None
        log.error("object store refused a request: %s (HTTP %s)", code, status)
        raise StorageError(f"the object store refused the request: {code}") from None
    except _UNREACHABLE as error:
        log.warning("object store unreachable: %s", type(error).__name__)
        raise StorageUnavailable() from None


def _no_expect_header(request: AWSRequest, **_: object) -> None:
    del request.headers["Expect"]


def _etag(value: str) -> str:
    return value.strip('"')


class S3Storage:
    new_key = staticmethod(new_key)
    backend = "s3"

    def __init__(self, settings: Settings) -> None:
        assert settings.storage_s3_bucket and settings.storage_s3_secret_access_key  # checked by Settings
        self.bucket = settings.storage_s3_bucket
        self.part_size = settings.storage_s3_part_size_mb * 1024 * 1024
        self._settings = settings
        self._stack = AsyncExitStack()
        self._clients: tuple[S3Client, S3Client] | None = None
        self._lock = asyncio.Lock()

    async def _client(self) -> S3Client:
        return (await self._both())[0]

    async def _signer(self) -> S3Client:
        """The client whose endpoint goes into presigned URLs: STORAGE_S3_PUBLIC_ENDPOINT_URL when the API
        reaches the store by another name than browsers do (`http://storage:8333` inside compose). The host
        is part of the signature, so the URL must be signed for the name the browser will use."""
        return (await self._both())[1]

    async def _both(self) -> tuple[S3Client, S3Client]:
        # Built on first use, inside the event loop that will use them (aiohttp sessions belong to one
        # loop); building a client opens no connection.
        if self._clients is None:
            async with self._lock:
                if self._clients is None:
                    session = get_session()
                    settings = self._settings
                    client = await self._open_client(session, settings.storage_s3_endpoint_url)
                    public = settings.storage_s3_public_endpoint_url
                    signer = client if public is None else await self._open_client(session, public)
                    self._clients = (client, signer)
        return self._clients

    async def _open_client(self, session: AioSession, endpoint_url: str | None) -> S3Client:
        settings = self._settings
        secret = settings.storage_s3_secret_access_key
        config = AioConfig(
            connect_timeout=settings.storage_connect_timeout_s,
            read_timeout=settings.storage_read_timeout_s,
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=64,
            signature_version="s3v4",
            s3={"addressing_style": settings.storage_s3_addressing_style},
            # botocore's newer default checksums (CRC32 headers and trailers) are refused by several
            # S3-compatible stores. Integrity in transit: TLS (and SigV4's payload hash over plain http).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client = await self._stack.enter_async_context(
            session.create_client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=settings.storage_s3_region,
                aws_access_key_id=settings.storage_s3_access_key_id,
                aws_secret_access_key=secret.get_secret_value() if secret else None,
                config=config,
            )
        )
        # botocore asks for `Expect: 100-continue` on uploads, and aiohttp then waits for the "100 Continue"
        # with no timeout at all: a hung store would hold the upload forever. The header is not signed.
        client.meta.events.register("before-sign.s3", _no_expect_header)
        return client

    async def close(self) -> None:
        await self._stack.aclose()
        self._stack = AsyncExitStack()
        self._clients = None

    async def put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str,
        max_bytes: int | None = None,
    ) -> StoredObject:
        check_key(key)
        client = await self._client()
        size = 0
        # Chunks are written into one part's buffer (a BytesIO, reused part after part) and the buffer itself
        # is the request's body: botocore and aiohttp read a file-like body in small pieces, so a part is
        # never copied whole (a joined `bytes` part was a second part of memory at the peak).
        part = io.BytesIO()
        multipart: _Multipart | None = None
        try:
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise PayloadTooLarge()
                view = memoryview(chunk)
                while view:
                    piece = view[: self.part_size - part.tell()]
                    part.write(piece)
                    view = view[len(piece) :]
                    if part.tell() == self.part_size:
                        if multipart is None:
                            multipart = await _Multipart.start(client, self.bucket, key, content_type)
                        part.seek(0)  # sent from its start
                        await multipart.upload(part)
                        part.seek(0)  # overwritten by the next part: allocated once, not grown per part
            rest = part.tell()  # the last part's bytes, or the whole object's
            part.truncate(rest)  # what is left of the previous part past them
            part.seek(0)
            if multipart is None:
                with _translated():
                    answer = await client.put_object(
                        Bucket=self.bucket, Key=key, Body=part, ContentType=content_type
                    )
                etag = answer["ETag"]
            else:
                if rest:
                    await multipart.upload(part)
                etag = await multipart.complete()
        except BaseException:
            if multipart is not None:
                await asyncio.shield(multipart.abort())
            raise
        return StoredObject(key=key, size=size, etag=_etag(etag))

    async def open(self, key: str, start: int = 0, stop: int | None = None) -> ByteStream:
        check_key(key)
        client = await self._client()
        params: dict[str, Any] = {}
        if start > 0 or stop is not None:
            if stop is not None and stop <= start:
                return ByteStream(_nothing(), _nothing_to_release)
            params["Range"] = f"bytes={start}-{'' if stop is None else stop - 1}"
        with _translated(key):
            answer = await client.get_object(Bucket=self.bucket, Key=key, **params)
        body = answer["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            with _translated(key):
                async for chunk in body.iter_chunks(CHUNK_BYTES):
                    yield chunk

        async def release() -> None:
            body.close()

        return ByteStream(chunks(), release)

    async def stat(self, key: str) -> ObjectInfo:
        check_key(key)
        client = await self._client()
        with _translated(key):
            head = await client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(
            key=key,
            size=head["ContentLength"],
            etag=_etag(head["ETag"]),
            modified=head["LastModified"].astimezone(UTC),
        )

    async def delete(self, key: str) -> None:
        check_key(key)
        client = await self._client()
        with _translated():
            await client.delete_object(Bucket=self.bucket, Key=key)

    async def delete_many(self, keys: Iterable[str]) -> None:
        batch = [check_key(key) for key in keys]
        client = await self._client()
        for first in range(0, len(batch), DELETE_BATCH):
            objects: Any = [{"Key": key} for key in batch[first : first + DELETE_BATCH]]
            with _translated():
                answer = await client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
            errors = [e for e in answer.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                log.error("object store kept %d objects: %s", len(errors), errors[0].get("Code"))
                raise StorageError(f"the object store did not delete {len(errors)} objects")

    async def copy(self, src: str, dst: str) -> ObjectInfo:
        check_key(src)
        check_key(dst)
        client = await self._client()
        with _translated(src):
            # Server-side: the bytes never pass through this process (CopyObject takes objects up to 5 GiB).
            await client.copy_object(
                Bucket=self.bucket, Key=dst, CopySource={"Bucket": self.bucket, "Key": src}
            )
        return await self.stat(dst)

    async def keys(self, prefix: str = FILES_PREFIX) -> AsyncIterator[ObjectInfo]:
        client = await self._client()
        pages = aiter(client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix))
        while True:
            with _translated():
                page = await anext(pages, None)
            if page is None:
                return
            for item in page.get("Contents", []):
                if is_key(item["Key"]):
                    yield ObjectInfo(
                        key=item["Key"],
                        size=item["Size"],
                        etag=_etag(item["ETag"]),
                        modified=item["LastModified"].astimezone(UTC),
                    )

    async def download_url(self, key: str, *, filename: str, content_type: str, expires_s: int) -> str | None:
        check_key(key)
        client = await self._signer()
        # Signed locally (no request): the query parameters are part of the signature, so neither the
        # key nor the file name can be changed by whoever holds the URL.
        return await client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": content_disposition(filename),
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_s,
        )


class _Multipart:
    """One multipart upload in progress: its parts' tags, and its abort when anything fails."""

    def __init__(self, client: S3Client, bucket: str, key: str, upload_id: str) -> None:
        self.client, self.bucket, self.key, self.upload_id = client, bucket, key, upload_id
        self.parts: list[CompletedPartTypeDef] = []

    @classmethod
    async def start(cls, client: S3Client, bucket: str, key: str, content_type: str) -> _Multipart:
        with _translated():
            answer = await client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)
        return cls(client, bucket, key, answer["UploadId"])

    async def upload(self, data: io.BytesIO) -> None:
        number = len(self.parts) + 1
        data.seek(0)
        with _translated():
            answer = await self.client.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
            )
        self.parts.append({"ETag": answer["ETag"], "PartNumber": number})

    async def complete(self) -> str:
        with _translated():
            answer = await self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self.parts},
            )
        return answer["ETag"]

    async def abort(self) -> None:
        try:
            with _translated():
                await self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
                )
        except (StorageUnavailable, StorageError):
            # The store keeps the parts until its lifecycle rule (or `weed`'s cleanup) removes them; the
            # key never shows a half object either way.
            log.warning("could not abort the multipart upload of %s", self.key)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an (empty) async generator


async def _nothing_to_release() -> None:
    return None
