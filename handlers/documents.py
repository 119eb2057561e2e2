"""Operations of the Documents tag: the caller's documents and those shared with them.

Reads are scoped (`documents.get_visible`: 404 for a document the caller may not see); write rights are
checked next (403), then `If-Match` (412) on the row locked for the change.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import MISSING

from generated import models
from generated.routers.documents import (
    GetDocument200Response,
    GetDocument304Response,
    GetDocumentResponse,
    MoveDocument200Response,
    MoveDocumentResponse,
    RenameDocument200Response,
    RenameDocumentResponse,
    SetDocumentTags200Response,
    SetDocumentTagsResponse,
    UpdateDocument200Response,
    UpdateDocumentResponse,
)
from halolight import authz, conditional
from halolight.context import AuthContext
from halolight.db.models import SharePermission, User
from halolight.errors import Forbidden, NotFound, ValidationFailed
from halolight.repositories import documents, folders, notifications
from halolight.repositories.documents import ACCESS_NAMES, EDIT, OWNER
from halolight.repositories.paging import Page

from . import presenters

NOT_FOUND = "Document not found"
# A search term with no letter or digit has no word to look for: the answer is an empty page.
_SEARCHABLE = re.compile(r"[^\W_]")


async def list_documents(
    ctx: AuthContext,
    *,
    page: int,
    limit: int,
    search: str | None,
    folder_id: str | None,
    tags: list[str] | None,
) -> models.DocumentList:
    if folder_id is not None and await folders.get_owned(ctx.reads, ctx.user_id, folder_id) is None:
        raise NotFound("Folder not found")
    term = (search or "").strip()
    if term and not _SEARCHABLE.search(term):
        result: Page[Any] = Page([], 0, page, limit)
    else:
        result = await documents.list_page(
            ctx.reads,
            ctx.user_id,
            page=page,
            limit=limit,
            search=term or None,
            folder_id=folder_id,
            tags=_tag_names(tags or []),
        )
    return models.DocumentList(
        data=[_document(ctx, row) for row in result.items], meta=presenters.page_meta(result)
    )


async def create_document(ctx: AuthContext, *, body: models.DocumentCreate) -> models.Document:
    folder_id = None if body.folderId is MISSING else body.folderId
    await authz.referenced_folder(ctx, "folderId", folder_id)
    document_id = await documents.create(
        ctx.db, owner_id=ctx.user_id, title=body.title, content=body.content, folder_id=folder_id
    )
    if body.tags is not MISSING:
        await documents.set_tags(
            ctx.db, document_id, await documents.resolve_tags(ctx.db, _tag_names(body.tags))
        )
    document, _ = await _answer(ctx, document_id)
    return document


async def get_document(ctx: AuthContext, *, id: str, if_none_match: str | None) -> GetDocumentResponse:
    row = await documents.get_visible(ctx.reads, ctx.user_id, id)
    if row is None:
        raise NotFound(NOT_FOUND)
    views = await documents.count_view(ctx.db, id)
    document = _document(ctx, row, views=views)
    etag = _etag(document)
    if conditional.if_none_match(if_none_match, etag):
        return GetDocument304Response(etag=etag)
    return GetDocument200Response(body=document, etag=etag)


async def update_document(
    ctx: AuthContext, *, id: str, if_match: str | None, body: models.DocumentUpdate
) -> UpdateDocumentResponse:
    await _writable(ctx, id, if_match, owner_only=False)
    changes = {name: value for name, value in body.model_dump().items() if value is not MISSING}
    if changes:
        await documents.change(ctx.db, id, **changes)
    document, etag = await _answer(ctx, id)
    return UpdateDocument200Response(body=document, etag=etag)


async def rename_document(
    ctx: AuthContext, *, id: str, if_match: str | None, body: models.DocumentRename
) -> RenameDocumentResponse:
    await _writable(ctx, id, if_match, owner_only=False)
    await documents.change(ctx.db, id, title=body.title)
    document, etag = await _answer(ctx, id)
    return RenameDocument200Response(body=document, etag=etag)


async def move_document(
    ctx: AuthContext, *, id: str, if_match: str | None, body: models.DocumentMove
) -> MoveDocumentResponse:
    await _writable(ctx, id, if_match, owner_only=True)
    await authz.referenced_folder(ctx, "folderId", body.folderId)
    await documents.change(ctx.db, id, folder=body.folderId)
    document, etag = await _answer(ctx, id)
    return MoveDocument200Response(body=document, etag=etag)


async def set_document_tags(
    ctx: AuthContext, *, id: str, if_match: str | None, body: models.DocumentTagsUpdate
) -> SetDocumentTagsResponse:
    await _writable(ctx, id, if_match, owner_only=False)
    tag_ids = await documents.resolve_tags(ctx.db, _tag_names(body.tags))
    await documents.set_tags(ctx.db, id, tag_ids)
    await documents.change(ctx.db, id)  # the tags are part of the document: a new version, a new ETag
    document, etag = await _answer(ctx, id)
    return SetDocumentTags200Response(body=document, etag=etag)


async def share_document(ctx: AuthContext, *, id: str, body: models.DocumentShareRequest) -> models.Message:
    document = await _owned(ctx, id)
    user_id, team_id = _one_target(body)
    if user_id is not None:
        if user_id == ctx.user_id:
            raise ValidationFailed(
                ("body", "userId"), "You cannot share a document with yourself", "self_reference"
            )
        await authz.referenced(ctx, User, "userId", [user_id])
    else:
        assert team_id is not None
        await authz.referenced_team(ctx, "teamId", team_id)
    permission = SharePermission.READ if body.permission is MISSING else SharePermission(body.permission)
    await documents.share(ctx.db, id, user_id=user_id, team_id=team_id, permission=permission)
    recipients = (
        [user_id] if user_id is not None else await notifications.team_member_ids(ctx.db, team_id or "")
    )
    await notifications.notify(
        ctx.db,
        [recipient for recipient in recipients if recipient != ctx.user_id],
        type="document_shared",
        title="A document was shared with you",
        content=f"{document.title} ({permission.value})",
        link=f"/documents/{id}",
        payload={"documentId": id, "permission": permission.value, "teamId": team_id, "by": ctx.user_id},
    )
    return models.Message(message=f"Document shared ({permission.value})")


async def unshare_document(
    ctx: AuthContext, *, id: str, body: models.DocumentUnshareRequest
) -> models.Message:
    await _owned(ctx, id)
    user_id, team_id = _one_target(body)
    await documents.unshare(ctx.db, id, user_id=user_id, team_id=team_id)
    return models.Message(message="Document no longer shared")


async def delete_document(ctx: AuthContext, *, id: str) -> None:
    await _owned(ctx, id)
    await documents.delete_one(ctx.db, id)


async def delete_documents(ctx: AuthContext, *, body: models.BatchDeleteRequest) -> models.BatchDeleteResult:
    deleted = await documents.delete_owned(ctx.db, ctx.user_id, list(dict.fromkeys(body.ids)))
    return models.BatchDeleteResult(message=f"Deleted {deleted} documents", deleted_count=deleted)


# --- Rules ------------------------------------------------------------------------------------------------


async def _visible_or_404(ctx: AuthContext, document_id: str) -> Any:
    row = await documents.get_visible(ctx.reads, ctx.user_id, document_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


async def _owned(ctx: AuthContext, document_id: str) -> Any:
    row = await _visible_or_404(ctx, document_id)
    if row.access != OWNER:
        raise Forbidden("Only the document's owner can do this")
    return row


async def _writable(ctx: AuthContext, document_id: str, if_match: str | None, *, owner_only: bool) -> None:
    """404 unless visible, 403 unless the caller may make this change, 412 unless `If-Match` (if sent) names
    the current version; the row stays locked until the change commits."""
    await documents.lock(ctx.db, document_id)
    row = await _visible_or_404(ctx, document_id)
    if row.access < (OWNER if owner_only else EDIT):
        raise Forbidden(
            "Only the document's owner can do this"
            if owner_only
            else "You need the owner's or an EDIT share's rights to change this document"
        )
    conditional.if_match(if_match, _etag(_document(ctx, row)), required=False)


def _one_target(body: Any) -> tuple[str | None, str | None]:
    user_id = None if body.userId is MISSING else body.userId
    team_id = None if body.teamId is MISSING else body.teamId
    if (user_id is None) == (team_id is None):
        raise ValidationFailed(("body",), "Name exactly one of userId and teamId")
    return user_id, team_id


def _tag_names(tags: list[str]) -> list[str]:
    """Trimmed, blank ones dropped, exact repeats once (case repeats are merged by the repository)."""
    return list(dict.fromkeys(name.strip() for name in tags if name.strip()))


async def _answer(ctx: AuthContext, document_id: str) -> tuple[models.Document, str]:
    row = await documents.get_visible(ctx.reads, ctx.user_id, document_id)
    assert row is not None  # written by this transaction, which reads see
    document = _document(ctx, row)
    return document, _etag(document)


def _etag(document: models.Document) -> str:
    """A strong validator of the representation without `views` (a view is not a change): a hash of it, so
    anything shown (content, tags, the author's name, the caller's permission) makes a new one."""
    shown = document.model_dump_json(exclude={"views"}).encode()
    return conditional.entity_tag(hashlib.sha256(shown).hexdigest()[:32])


def _document(ctx: AuthContext, row: Any, *, views: int | None = None) -> models.Document:
    """A row of `documents.get_visible`/`list_page`: the author's email is contact data (`users:view`)."""
    author = models.UserSummary(
        id=row.owner_id,
        name=row.owner_name,
        email=row.owner_email if authz.sees_email_of(ctx, row.owner_id) else None,
        avatar=row.owner_avatar,
    )
    return models.Document(
        id=row.id,
        title=row.title,
        content=row.content,
        folderId=row.folder_id,
        tags=list(row.tags),
        author=author,
        type=row.type,
        size=row.size,
        views=row.views if views is None else views,
        permission=models.DocumentPermission(ACCESS_NAMES[row.access]),
        createdAt=row.created_at,
        updatedAt=row.updated_at,
    )
