"""The storage suite's fixtures: `storage`, one test per backend (a folder, and a bucket of its own on the
session's SeaweedFS: the `seaweed` fixture of tests/storage/seaweed.py, a plugin shared with tests/server),
and the S3 helpers other suites import (settings for a bucket, a plain client, a bucket made and dropped)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiobotocore.session import get_session

from halolight.settings import Settings
from halolight.storage import Storage, build_storage
from halolight.storage.s3 import S3Storage
from tests.storage.seaweed import SeaweedServer

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

PART_SIZE_MB = 5  # S3's smallest part: a 12 MiB object is a three-part upload


def s3_settings(server: SeaweedServer, bucket: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "storage_backend": "s3",
        "storage_s3_endpoint_url": server.endpoint_url,
        "storage_s3_bucket": bucket,
        "storage_s3_access_key_id": server.access_key_id,
        "storage_s3_secret_access_key": server.secret_access_key,
        "storage_s3_part_size_mb": PART_SIZE_MB,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def admin_client(server: SeaweedServer) -> AsyncIterator[S3Client]:
    """A plain S3 client, for what the Storage interface deliberately lacks (buckets, multipart listings)."""
    async with get_session().create_client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
    ) as client:
        yield client


async def new_bucket(server: SeaweedServer) -> str:
    name = f"halolight-test-{secrets.token_hex(4)}"
    async with admin_client(server) as client:
        await client.create_bucket(Bucket=name)
    return name


async def drop_bucket(server: SeaweedServer, bucket: str) -> None:
    """Empty and delete a test's bucket: SeaweedFS then frees the volumes of its collection."""
    async with admin_client(server) as client:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        async for page in pages:
            for item in page.get("Contents", []):
                await client.delete_object(Bucket=bucket, Key=item["Key"])
        await client.delete_bucket(Bucket=bucket)


async def make_storage(backend: str, request: pytest.FixtureRequest, folder: Path) -> Storage:
    if backend == "local":
        return build_storage(Settings(_env_file=None, storage_local_dir=str(folder)))
    server: SeaweedServer = request.getfixturevalue("seaweed")
    return build_storage(s3_settings(server, await new_bucket(server)))


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    store = await make_storage(request.param, request, tmp_path / "files")
    try:
        yield store
    finally:
        await store.close()
        if isinstance(store, S3Storage):
            await drop_bucket(request.getfixturevalue("seaweed"), store.bucket)
