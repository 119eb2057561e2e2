"""File bytes, behind one interface (`Storage`, in base.py) with two backends: a local folder and any
S3-compatible object store. The runtime builds the one the settings name (`build_storage`)."""

from __future__ import annotations

from halolight.settings import Settings
from halolight.storage.base import (
    FILES_PREFIX,
    ByteStream,
    InvalidKey,
    ObjectInfo,
    ObjectMissing,
    Storage,
    StorageError,
    StoredObject,
    check_key,
    content_disposition,
    new_key,
)
from halolight.storage.local import LocalStorage

__all__ = [
    "FILES_PREFIX",
    "ByteStream",
    "InvalidKey",
    "LocalStorage",
    "ObjectInfo",
    "ObjectMissing",
    "Storage",
    "StorageError",
    "StoredObject",
    "build_storage",
    "check_key",
    "content_disposition",
    "new_key",
]


def build_storage(settings: Settings) -> Storage:
    if settings.storage_backend == "s3":
        from halolight.storage.s3 import S3Storage  # aiobotocore loads only when it is used

        return S3Storage(settings)
    return LocalStorage(settings.storage_local_dir)
