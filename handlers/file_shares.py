"""Operations of the FileShares tag: share links of the caller's files, opening a link, the access log.

Only a file's owner makes, lists and revokes its links and reads its log (someone else's file is a 404,
whatever they hold). Opening a link needs no login unless the link is restricted to a user or a team.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import MISSING

from generated import models
from halolight import authz
from halolight.context import AuthContext, OptionalAuthContext
from halolight.db.models import FileShare, User
from halolight.db.types import utcnow
from halolight.errors import Conflict, NotFound, Unauthorized, UnknownReference, ValidationFailed
from halolight.repositories import file_shares, notifications, teams
from halolight.repositories.file_shares import MAX_LINKS
from halolight.security.tokens import fingerprint, random_token
from halolight.storage.links import download_link
from handlers import presenters

FILE_NOT_FOUND = "File not found"
# Unknown, revoked, expired, used up, or not for this caller: one answer, so tokens cannot be probed.
LINK_NOT_FOUND = "Share link not found"


async def share_file(ctx: AuthContext, *, id: str, body: models.FileShareCreate) -> models.FileShare:
    await _own_file_or_404(ctx, id)
    user_id = None if body.userId is MISSING else body.userId
    team_id = None if body.teamId is MISSING else body.teamId
    if user_id is not None and team_id is not None:
        raise ValidationFailed(("body", "teamId"), "A link is restricted to a user or to a team, not both")
    if user_id is not None:
        await authz.referenced(ctx, User, "userId", [user_id])
    if team_id is not None:
        # The teams the caller can see, as GET /api/teams/{id} defines them (authz.visible_team_or_404).
        team = await teams.get_visible(
            ctx.db, team_id, user_id=ctx.user_id, sees_all=authz.sees_all_teams(ctx), with_members=False
        )
        if team is None:
            raise UnknownReference("teamId", "Team")
    await file_shares.lock_file_links(ctx.db, id)
    if await file_shares.unrevoked_count(ctx.db, id) >= MAX_LINKS:
        raise Conflict(f"A file has at most {MAX_LINKS} links; revoke one first")
    token = random_token()
    days = None if body.expiresInDays is MISSING else body.expiresInDays
    share = await file_shares.create(
        ctx.db,
        file_id=id,
        token_hash=fingerprint(token),
        permission=models.FileSharePermission.VIEW if body.permission is MISSING else body.permission,
        user_id=user_id,
        team_id=team_id,
        expires_at=None if days is None else utcnow() + timedelta(days=days),
        max_access_count=None if body.maxAccessCount is MISSING else body.maxAccessCount,
    )
    if user_id is not None or team_id is not None:
        recipients = (
            [user_id] if user_id is not None else await notifications.team_member_ids(ctx.db, team_id or "")
        )
        await notifications.notify(
            ctx.db,
            [recipient for recipient in recipients if recipient is not None and recipient != ctx.user_id],
            type="file_shared",
            title="A file was shared with you",
            content=await notifications.file_name(ctx.db, id),
            payload={"fileId": id, "shareId": share.id, "teamId": team_id, "by": ctx.user_id},
        )
    # The only answer that shows the token: the database keeps its hash.
    return _share(share, token=token, url=f"{ctx.runtime.settings.files_share_url}/{token}")


async def get_shared_file(ctx: OptionalAuthContext, *, token: str) -> models.SharedFile:
    settings = ctx.runtime.settings
    await ctx.runtime.throttle.hit_rate(
        settings.files_share_rate_limit, "file-share", f"ip:{ctx.client_ip}", what="Opening shared links"
    )
    token_hash, now = fingerprint(token), utcnow()
    row = await file_shares.resolve(ctx.db, token_hash, user_id=ctx.user_id, now=now)
    if row is None:
        if ctx.principal is None and await file_shares.usable_but_restricted(ctx.db, token_hash, now):
            raise Unauthorized("Log in to open this link")
        raise NotFound(LINK_NOT_FOUND)
    await file_shares.log_access(
        ctx.db,
        share_id=row.id,
        file_id=row.file_id,
        user_id=ctx.user_id,
        ip_address=ctx.client_ip[:64],
        user_agent=ctx.user_agent or None,  # already bounded (256) and NUL-free by the context
    )
    link = None
    if row.permission != "VIEW":  # EDIT reads as DOWNLOAD: a link never lets anyone change the file
        link = await download_link(
            ctx.runtime.storage,
            settings,
            file_id=row.file_id,
            object_key=row.path,
            filename=row.name,
            content_type=row.mime_type,
        )
    return models.SharedFile(
        id=row.file_id,
        name=row.name,
        mimeType=row.mime_type,
        size=row.size,
        createdAt=row.created_at,
        updatedAt=row.updated_at,
        owner=models.FileSharePerson(id=row.owner_id, name=row.owner_name, avatar=row.owner_avatar),
        permission=models.FileSharePermission(row.permission),
        expiresAt=row.expires_at,
        downloadUrl=None if link is None else link.url,
        downloadUrlExpiresAt=None if link is None else link.expires_at,
    )


async def list_file_shares(ctx: AuthContext, *, id: str) -> list[models.FileShare]:
    await _own_file_or_404(ctx, id)
    return [_share(row) for row in await file_shares.unrevoked(ctx.reads, id)]


async def revoke_file_share(ctx: AuthContext, *, id: str, body: models.RevokeShareRequest) -> None:
    await _own_file_or_404(ctx, id)
    if not await file_shares.revoke(ctx.db, id, body.shareId, utcnow()):
        raise UnknownReference("shareId", "Share link")


async def list_file_access_logs(
    ctx: AuthContext, *, id: str, page: int, limit: int
) -> models.FileAccessLogList:
    await _own_file_or_404(ctx, id)
    result = await file_shares.access_page(ctx.reads, id, page=page, limit=limit)
    return models.FileAccessLogList(
        data=[_access(row) for row in result.items], meta=presenters.page_meta(result)
    )


async def _own_file_or_404(ctx: AuthContext, file_id: str) -> None:
    if not await file_shares.owned_file(ctx.reads, ctx.user_id, file_id):
        raise NotFound(FILE_NOT_FOUND)


def _share(share: FileShare | Any, *, token: str | None = None, url: str | None = None) -> models.FileShare:
    """A link (the ORM row just made, or a row of `file_shares.SHARE_COLUMNS`); the token only when made."""
    return models.FileShare(
        id=share.id,
        fileId=share.file_id,
        shareToken=token,
        shareUrl=url,
        permission=models.FileSharePermission(share.permission),
        userId=share.user_id,
        teamId=share.team_id,
        expiresAt=share.expires_at,
        accessCount=share.access_count,
        maxAccessCount=share.max_access_count,
        isRevoked=share.revoked_at is not None,
        createdAt=share.created_at,
    )


def _access(row: Any) -> models.FileAccessLog:
    reader = None
    if row.user_id is not None:
        reader = models.FileSharePerson(id=row.user_id, name=row.user_name, avatar=row.user_avatar)
    return models.FileAccessLog(
        id=row.id,
        shareId=row.share_id,
        accessedAt=row.accessed_at,
        ipAddress=row.ip_address,
        userAgent=row.user_agent,
        user=reader,
    )
