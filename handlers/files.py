"""Operations of the Files tag: the caller's own files, their bytes in `ctx.runtime.storage`.

An upload streams to storage under a fresh server-made key before the transaction begins (CONTRIBUTING:
uploads); the row and the quota charge then commit together, and bytes of a transaction that rolls back are
removed. Rows deleted here have their bytes removed after the commit, in the background.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from pydantic import MISSING

from generated import models
from generated.routers.files import (
    DownloadFile200Response,
    DownloadFile206Response,
    DownloadFile304Response,
    DownloadFileResponse,
    UploadFileForm,
)
from halolight import authz, conditional
from halolight.context import AuthContext, PublicContext
from halolight.errors import Forbidden, NotFound, PayloadTooLarge, UnsupportedMediaType
from halolight.repositories import files, folders
from halolight.storage import links, sniff
from halolight.storage.base import ObjectMissing, content_disposition, is_key
from halolight.uploads import Multipart

MIB = 1024 * 1024
MAX_NAME = 255  # components/schemas/FileName
NOT_FOUND = "File not found"
LINK_REFUSED = "This download link is invalid or has expired"
MISSING_CONTENT = "The file's content is not in this API's storage"
QUOTA_EXCEEDED = "Storage quota exceeded"


async def list_files(
    ctx: AuthContext,
    *,
    page: int,
    limit: int,
    folder_id: str | None,
    type: models.FileKind | None,
    search: str | None,
    favorite: bool | None,
) -> models.FileList:
    if folder_id is not None and await folders.get_owned(ctx.reads, ctx.user_id, folder_id) is None:
        raise NotFound("Folder not found")
    found = await files.list_owned(
        ctx.reads,
        ctx.user_id,
        page=page,
        limit=limit,
        folder_id=folder_id,
        kind=None if type is None else type.value,
        search=search,
        favorite=favorite,
    )
    meta = models.PaginationMeta(
        total=found.total, page=found.page, limit=found.limit, totalPages=found.total_pages
    )
    return models.FileList(data=[_file(row) for row in found.items], meta=meta)


async def upload_file(ctx: AuthContext, *, body: Multipart[UploadFileForm]) -> models.File:
    storage, settings = ctx.runtime.storage, ctx.runtime.settings
    # 1. The bytes, to storage under a new key, with no transaction open (run_upload refuses one till then).
    sniffed = await sniff.Sniffed.start(aiter(body.file))
    mime_type = await sniffed.media_type(body.file.content_type)
    if mime_type in settings.files_refused_types:
        raise UnsupportedMediaType(f"Files of type {mime_type} are not accepted")
    key = storage.new_key()

    async def remove_bytes() -> None:
        await storage.delete(key)

    ctx.after_rollback(remove_bytes)
    stored = await storage.put(
        key, sniffed, content_type=mime_type, max_bytes=settings.files_max_upload_mb * MIB
    )
    # 2. The whole body is in and its fields are valid: now the row, and the quota in the same transaction.
    form = body.form
    # The part's file name (path stripped, NUL removed by the parser) within FileName's bounds.
    name = form.name or (body.file.filename or "").replace("/", "_")[:MAX_NAME] or "untitled"
    folder_id = form.folder_id
    await authz.referenced_folder(ctx, "folderId", folder_id)
    # The quota charge, the row and the answer's row in one round trip (the charge is still one conditional
    # UPDATE: no row without it).
    row = await files.create_charged(
        ctx.db,
        owner_id=ctx.user_id,
        name=name,
        key=key,
        mime_type=mime_type,
        size=stored.size,
        folder_id=folder_id,
        quota=ctx.runtime.settings.files_quota_mb * MIB,
    )
    if row is None:
        raise PayloadTooLarge(QUOTA_EXCEEDED)
    return _file(row)


async def get_storage(ctx: AuthContext) -> models.StorageInfo:
    used = await files.quota_used(ctx.reads, ctx.user_id)
    total = ctx.runtime.settings.files_quota_mb * MIB
    return models.StorageInfo(used=used, total=total, percentage=round(used * 100 / total, 2))


async def get_storage_info(ctx: AuthContext) -> models.StorageInfo:
    return await get_storage(ctx)


async def batch_delete_files(
    ctx: AuthContext, *, body: models.BatchDeleteRequest
) -> models.BatchDeleteResult:
    keys = await files.delete_owned(ctx.db, ctx.user_id, list(dict.fromkeys(body.ids)))
    remove_after_commit(ctx, keys)
    return models.BatchDeleteResult(message=f"Deleted {len(keys)} file(s)", deleted_count=len(keys))


async def get_file(ctx: AuthContext, *, id: str) -> models.File:
    row = await files.get_owned(ctx.reads, ctx.user_id, id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return _file(row)


async def delete_file(ctx: AuthContext, *, id: str) -> None:
    keys = await files.delete_owned(ctx.db, ctx.user_id, [id])
    if not keys:
        raise NotFound(NOT_FOUND)
    remove_after_commit(ctx, keys)


async def get_file_download_url(ctx: AuthContext, *, id: str) -> models.DownloadUrl:
    row = await files.get_owned(ctx.reads, ctx.user_id, id)
    if row is None:
        raise NotFound(NOT_FOUND)
    link = await links.download_link(
        ctx.runtime.storage,
        ctx.runtime.settings,
        file_id=row.id,
        object_key=_stored_key(row),
        filename=row.name,
        content_type=row.mime_type,
    )
    return models.DownloadUrl(url=link.url, expiresAt=link.expires_at)


async def download_file(
    ctx: PublicContext,
    *,
    id: str,
    expires: int,
    signature: str,
    range: str | None,
    if_range: str | None,
    if_none_match: str | None,
) -> DownloadFileResponse:
    now = datetime.now(UTC)
    if expires <= now.timestamp():
        raise Forbidden(LINK_REFUSED)
    row = await files.get_for_download(ctx.reads, id)
    secret = ctx.runtime.settings.jwt_secret_key
    if row is None or not links.verify(links.link_key(secret), id, row.key, expires, signature, now=now):
        # A file deleted since the URL was made answers as a forged URL does: nothing to tell apart.
        raise Forbidden(LINK_REFUSED)
    # Stored bytes never change under a key (new bytes are a new key): the key names this representation.
    etag = conditional.entity_tag(hashlib.sha256(row.key.encode()).hexdigest()[:32])
    if conditional.if_none_match(if_none_match, etag):
        return DownloadFile304Response(etag=etag)
    size = int(row.size)
    part = conditional.requested_range(range, size=size, etag=etag, if_range=if_range)
    start, stop = (0, size) if part is None else (part.start, part.stop)
    try:
        content = await ctx.runtime.storage.open(row.key, start, stop)
    except ObjectMissing:
        raise NotFound(MISSING_CONTENT) from None
    disposition = content_disposition(row.name)
    if part is not None:
        return DownloadFile206Response(
            content=content,
            etag=etag,
            content_disposition=disposition,
            content_range=part.content_range,
            content_length=part.length,
        )
    return DownloadFile200Response(
        content=content,
        etag=etag,
        content_disposition=disposition,
        content_length=size,
        accept_ranges="bytes",
    )


async def rename_file(ctx: AuthContext, *, id: str, body: models.FileRename) -> models.File:
    if not await files.change(ctx.db, ctx.user_id, id, name=body.name):
        raise NotFound(NOT_FOUND)
    return await _answer(ctx, id)


async def move_file(ctx: AuthContext, *, id: str, body: models.FileMove) -> models.File:
    if await files.placed(ctx.db, ctx.user_id, id) is None:
        raise NotFound(NOT_FOUND)
    await authz.referenced_folder(ctx, "folderId", body.folderId)
    await files.change(ctx.db, ctx.user_id, id, folder_id=body.folderId)
    return await _answer(ctx, id)


async def copy_file(ctx: AuthContext, *, id: str, body: models.FileCopy) -> models.File:
    original = await files.placed(ctx.db, ctx.user_id, id)
    if original is None:
        raise NotFound(NOT_FOUND)
    folder_id = original.folder_id if body.folderId is MISSING else body.folderId
    if body.folderId is not MISSING:
        await authz.referenced_folder(ctx, "folderId", folder_id)
    # The quota first: a copy that cannot be afforded copies nothing, and two at once cannot both fit.
    await _charge(ctx, int(original.size))
    storage = ctx.runtime.storage
    key = storage.new_key()

    async def remove_bytes() -> None:
        await storage.delete(key)

    ctx.after_rollback(remove_bytes)
    # Inside the transaction (the row must exist to be copied): a server-side copy with S3, a file copy
    # locally; the row's lock is not held, only the quota update's.
    try:
        await storage.copy(_stored_key(original), key)
    except ObjectMissing:
        raise NotFound(MISSING_CONTENT) from None
    file_id = await files.create(
        ctx.db,
        owner_id=ctx.user_id,
        name=original.name if body.name is MISSING else body.name,
        key=key,
        mime_type=original.mime_type,
        size=int(original.size),
        folder_id=folder_id,
    )
    ctx.activity(target_id=file_id, source=id)  # the copy is the new object; the path names its original
    return await _answer(ctx, file_id)


async def toggle_file_favorite(ctx: AuthContext, *, id: str) -> models.File:
    if not await files.toggle_favorite(ctx.db, ctx.user_id, id):
        raise NotFound(NOT_FOUND)
    return await _answer(ctx, id)


def _stored_key(row: Any) -> str:
    """The row's storage key; a row another backend wrote (`/uploads/…`) has no bytes in this API's store."""
    if not is_key(row.key):
        raise NotFound(MISSING_CONTENT)
    return str(row.key)


async def _charge(ctx: AuthContext, size: int) -> None:
    quota = ctx.runtime.settings.files_quota_mb * MIB
    if not await files.charge_quota(ctx.db, ctx.user_id, size, quota):
        raise PayloadTooLarge(QUOTA_EXCEEDED)


def remove_after_commit(ctx: AuthContext, keys: list[str]) -> None:
    """Remove the stored bytes of deleted rows once the deletion is committed (never if it rolls back),
    without holding the answer (Files' deletions, and Folders' recursive one)."""
    # Keys of rows another backend wrote in another scheme are not ours to remove (storage gc reports them).
    ours = [key for key in keys if is_key(key)]
    if ours:
        storage = ctx.runtime.storage

        async def remove_bytes() -> None:
            await storage.delete_many(ours)

        ctx.after_commit(remove_bytes, background=True)


async def _answer(ctx: AuthContext, file_id: str) -> models.File:
    row = await files.get_owned(ctx.reads, ctx.user_id, file_id)
    assert row is not None  # written by this transaction, which reads see
    return _file(row)


def _display_path(row: Any) -> str:
    """`/Projects/2026/report.pdf`: the folder's path without its owner segment (ours are `/<ownerId>/…`)."""
    folder = row.folder_path or ""
    own = folders.root_path(row.owner_id)
    if folder == own or folder.startswith(own + "/"):
        folder = folder[len(own) :]
    return f"{folder}/{row.name}"


def _file(row: Any) -> models.File:
    """A row of `files.get_owned`/`list_owned`: the owner is the caller, who sees their own email."""
    owner = models.UserSummary(
        id=row.owner_id, name=row.owner_name, email=row.owner_email, avatar=row.owner_avatar
    )
    return models.File(
        id=row.id,
        name=row.name,
        path=_display_path(row),
        mimeType=row.mime_type,
        type=models.FileKind(sniff.kind(row.mime_type)),
        size=int(row.size),
        thumbnail=row.thumbnail,
        folderId=row.folder_id,
        isFavorite=row.is_favorite,
        owner=owner,
        createdAt=row.created_at,
        updatedAt=row.updated_at,
    )
