"""Share links of files (`halolight_file_shares`) and their access log (`halolight_file_access_logs`).

A link is found by the SHA-256 of its token (`tokenHash`, unique); the token itself is never stored.
Resolving a link is one conditional UPDATE that checks everything that makes a link usable (not revoked,
not expired, uses left, the caller in its audience) and counts the use in the same statement, so
concurrent resolutions of a link with n uses left succeed exactly n times: PostgreSQL re-checks the WHERE
of a row another transaction just updated, never a value read earlier.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import File, FileAccessLog, FileShare, Team, TeamMember, User
from halolight.db.reads import Reads, Statement
from halolight.repositories.paging import Page, fetch_page
from halolight.repositories.writes import reserve

# A file has at most this many links not revoked (the spec's FileShareList maxItems), which bounds the list.
MAX_LINKS = 100

_OWNED_FILE = Statement(
    select(File.id).where(File.id == bindparam("id"), File.owner_id == bindparam("owner_id"))
)

SHARE_COLUMNS = (
    FileShare.id,
    FileShare.file_id.label("file_id"),
    FileShare.permission,
    FileShare.user_id.label("user_id"),
    FileShare.team_id.label("team_id"),
    FileShare.expires_at.label("expires_at"),
    FileShare.access_count.label("access_count"),
    FileShare.max_access_count.label("max_access_count"),
    FileShare.revoked_at.label("revoked_at"),
    FileShare.created_at.label("created_at"),
)
_NEWEST_SHARES = (FileShare.created_at.desc(), FileShare.id.desc())
_UNREVOKED = Statement(
    select(*SHARE_COLUMNS)
    .where(FileShare.file_id == bindparam("file_id"), FileShare.revoked_at.is_(None))
    .order_by(*_NEWEST_SHARES)
    .limit(MAX_LINKS)
)


async def owned_file(reads: Reads, owner_id: str, file_id: str) -> bool:
    """Whether `file_id` is a file of `owner_id` (every operation of the tag starts here: 404 otherwise)."""
    return await _OWNED_FILE.first(reads, id=file_id, owner_id=owner_id) is not None


async def unrevoked(reads: Reads, file_id: str) -> list[Any]:
    """The file's links not revoked (rows of `SHARE_COLUMNS`), newest first; at most `MAX_LINKS`."""
    return await _UNREVOKED.rows(reads, file_id=file_id)


# Writes: the request's transaction (ctx.db).


async def lock_file_links(db: AsyncSession, file_id: str) -> None:
    """Make a file's link creations run one after the other until the transaction ends: two concurrent
    creations would otherwise both count 99 links and both add one."""
    await reserve(db, "file-shares", file_id)


async def unrevoked_count(db: AsyncSession, file_id: str) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(FileShare)
        .where(FileShare.file_id == file_id, FileShare.revoked_at.is_(None))
    )
    return int(count or 0)


async def create(db: AsyncSession, **fields: Any) -> FileShare:
    share = FileShare(**fields)
    db.add(share)
    await db.flush()
    return share


async def revoke(db: AsyncSession, file_id: str, share_id: str, now: datetime) -> bool:
    """Revoke the link if it is one of the file's (a revoked one keeps its first revocation time); False when
    the file has no such link."""
    revoked = await db.scalar(
        update(FileShare)
        .where(FileShare.id == share_id, FileShare.file_id == file_id)
        .values(revoked_at=func.coalesce(FileShare.revoked_at, now))
        .returning(FileShare.id)
    )
    return revoked is not None


def _usable(now: datetime) -> ColumnElement[bool]:
    """Not revoked, not expired, uses left."""
    return and_(
        FileShare.revoked_at.is_(None),
        or_(FileShare.expires_at.is_(None), FileShare.expires_at > now),
        or_(FileShare.max_access_count.is_(None), FileShare.access_count < FileShare.max_access_count),
    )


def _open_to(user_id: str | None) -> ColumnElement[bool]:
    """The link's audience includes the caller: anyone for an unrestricted link; else the one user, or the
    members and the owner of the team (nobody anonymous)."""
    everyone = and_(FileShare.user_id.is_(None), FileShare.team_id.is_(None))
    if user_id is None:
        return everyone
    member = exists().where(TeamMember.team_id == FileShare.team_id, TeamMember.user_id == user_id)
    owner = exists().where(Team.id == FileShare.team_id, Team.owner_id == user_id)
    return or_(everyone, FileShare.user_id == user_id, member, owner)


async def resolve(db: AsyncSession, token_hash: str, *, user_id: str | None, now: datetime) -> Any | None:
    """Count one use of the link whose token hashes to `token_hash`, if it is usable by `user_id` (None:
    anonymous), and return it with its file and the file's owner; None (and nothing counted) otherwise.
    One statement (see the module docstring)."""
    statement = (
        update(FileShare)
        .where(
            FileShare.token_hash == token_hash,
            _usable(now),
            _open_to(user_id),
            File.id == FileShare.file_id,
            User.id == File.owner_id,
        )
        .values(access_count=FileShare.access_count + 1)
        .returning(
            FileShare.id,
            FileShare.file_id.label("file_id"),
            FileShare.permission,
            FileShare.expires_at.label("expires_at"),
            File.name,
            File.path,
            File.mime_type.label("mime_type"),
            File.size,
            File.created_at.label("created_at"),
            File.updated_at.label("updated_at"),
            User.id.label("owner_id"),
            User.name.label("owner_name"),
            User.avatar.label("owner_avatar"),
        )
        .execution_options(synchronize_session=False)
    )
    return (await db.execute(statement)).first()


async def usable_but_restricted(db: AsyncSession, token_hash: str, now: datetime) -> bool:
    """Whether the link is usable by someone, just not anonymously (after `resolve` refused an anonymous
    caller: that one should log in)."""
    found = await db.scalar(
        select(FileShare.id).where(
            FileShare.token_hash == token_hash,
            _usable(now),
            or_(FileShare.user_id.is_not(None), FileShare.team_id.is_not(None)),
        )
    )
    return found is not None


async def log_access(db: AsyncSession, **fields: Any) -> None:
    db.add(FileAccessLog(**fields))
    await db.flush()


# The access log, one file's newest first: the migration's ("fileId", "accessedAt" DESC, id DESC) index
# gives the page's keys by an index-only scan.
_NEWEST_ACCESSES = (FileAccessLog.accessed_at.desc(), FileAccessLog.id.desc())
ACCESS_COLUMNS = (
    FileAccessLog.id,
    FileAccessLog.share_id.label("share_id"),
    FileAccessLog.accessed_at.label("accessed_at"),
    FileAccessLog.ip_address.label("ip_address"),
    FileAccessLog.user_agent.label("user_agent"),
    User.id.label("user_id"),
    User.name.label("user_name"),
    User.avatar.label("user_avatar"),
)


async def access_page(reads: Reads, file_id: str, *, page: int, limit: int) -> Page[Any]:
    """One page of the file's access log (rows of `ACCESS_COLUMNS`; the reader's columns None when
    anonymous), newest first."""
    keys = select(FileAccessLog.id).where(FileAccessLog.file_id == file_id).order_by(*_NEWEST_ACCESSES)

    def page_rows(log_ids: Any) -> Any:
        return (
            select(*ACCESS_COLUMNS)
            .select_from(FileAccessLog)
            .outerjoin(User, User.id == FileAccessLog.user_id)
            .where(FileAccessLog.id.in_(log_ids))
            .order_by(*_NEWEST_ACCESSES)
        )

    return await fetch_page(reads, keys, page=page, limit=limit, rows=page_rows)
