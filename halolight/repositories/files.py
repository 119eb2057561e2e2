"""SQL for the shared `files` table: a user's own files, their quota, and what `halolight storage gc` needs.

`path` holds the storage key (`files/3f/3f9c…`, never shown to clients); the path clients see is built from
the folder's path and the name. Quota is a limited resource: `charge_quota` is one conditional UPDATE
(`quotaUsed + size <= quota`) in the transaction that inserts the row, so concurrent uploads never exceed it,
and every statement that deletes rows gives their bytes back in the same transaction (`free_quota`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Text,
    Update,
    and_,
    any_,
    bindparam,
    delete,
    func,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import File, Folder, User
from halolight.db.reads import Reads, Statement
from halolight.db.types import new_id, utcnow
from halolight.repositories.paging import Page, contains_any, fetch_page
from halolight.storage import sniff

# Rows come from the server in batches this size (a server-side cursor): the table is never in memory.
STREAM_BATCH = 1000


async def referenced_paths(db: AsyncSession, paths: Collection[str]) -> set[str]:
    """Which of `paths` at least one row names: one statement, `= ANY(:paths)` (index-free but one scan
    per batch of keys; gc is an operator's command, not a request)."""
    if not paths:
        return set()
    found = await db.scalars(
        select(File.path).where(File.path == any_(bindparam("paths", list(paths), type_=ARRAY(Text))))
    )
    return set(found)


async def created_before(db: AsyncSession, instant: datetime) -> AsyncIterator[Any]:
    """Rows (`id`, `name`, `path`, `owner_id`, `size`) created before `instant`, streamed."""
    result = await db.stream(
        select(File.id, File.name, File.path, File.owner_id, File.size)
        .where(File.created_at < instant)
        .order_by(File.created_at, File.id)
        .execution_options(yield_per=STREAM_BATCH)
    )
    async for row in result:
        yield row


# Reads: a file with what its answer shows (the owner's summary, the folder's path for the display path).
_ROW = (
    File.id,
    File.name,
    File.path.label("key"),
    File.mime_type.label("mime_type"),
    File.size,
    File.thumbnail,
    File.folder_id.label("folder_id"),
    File.is_favorite.label("is_favorite"),
    File.owner_id.label("owner_id"),
    User.name.label("owner_name"),
    User.email.label("owner_email"),
    User.avatar.label("owner_avatar"),
    Folder.path.label("folder_path"),
    File.created_at.label("created_at"),
    File.updated_at.label("updated_at"),
)
_NEWEST_FIRST = (File.created_at.desc(), File.id.desc())


def _rows() -> Any:
    return select(*_ROW).join(User, User.id == File.owner_id).outerjoin(Folder, Folder.id == File.folder_id)


_ONE = Statement(_rows().where(File.id == bindparam("id"), File.owner_id == bindparam("owner_id")))
_ANYONES = Statement(
    select(File.id, File.name, File.path.label("key"), File.size).where(File.id == bindparam("id"))
)
_QUOTA_USED = Statement(select(User.quota_used).where(User.id == bindparam("id")))


async def get_owned(reads: Reads, owner_id: str, file_id: str) -> Any | None:
    """The file (a row of `_ROW`) if `owner_id` owns it."""
    return await _ONE.first(reads, id=file_id, owner_id=owner_id)


async def get_for_download(reads: Reads, file_id: str) -> Any | None:
    """`id, name, key, size` of any file: a signed download URL is checked against the row's key."""
    return await _ANYONES.first(reads, id=file_id)


async def quota_used(reads: Reads, user_id: str) -> int:
    return int(await _QUOTA_USED.scalar(reads, id=user_id) or 0)


def of_kind(kind: str) -> ColumnElement[bool]:
    """Files whose media type is of `kind` (the SQL twin of `sniff.kind`)."""
    mime = File.mime_type
    if kind in sniff.MEDIA_PREFIXES:
        return func.starts_with(mime, literal(sniff.MEDIA_PREFIXES[kind], Text))
    document = or_(
        mime == any_(literal(list(sniff.DOCUMENT_TYPES), ARRAY(Text))),
        *(func.starts_with(mime, literal(prefix, Text)) for prefix in sniff.DOCUMENT_PREFIXES),
    )
    archive = mime == any_(literal(list(sniff.ARCHIVE_TYPES), ARRAY(Text)))
    if kind == "document":
        return document
    if kind == "archive":
        return archive
    media = [func.starts_with(mime, literal(prefix, Text)) for prefix in sniff.MEDIA_PREFIXES.values()]
    return not_(or_(*media, document, archive))


async def list_owned(
    reads: Reads,
    owner_id: str,
    *,
    page: int,
    limit: int,
    folder_id: str | None,
    kind: str | None,
    search: str | None,
    favorite: bool | None,
) -> Page[Any]:
    """A page of the owner's files, newest first (the (ownerId, createdAt, id) index orders it)."""
    keys = select(File.id).where(File.owner_id == owner_id)
    if folder_id is not None:
        keys = keys.where(File.folder_id == folder_id)
    if kind is not None:
        keys = keys.where(of_kind(kind))
    if search:
        keys = keys.where(contains_any(search, File.name))
    if favorite is not None:
        keys = keys.where(File.is_favorite == favorite)
    keys = keys.order_by(*_NEWEST_FIRST)

    def page_rows(ids: Any) -> Any:
        return _rows().where(File.id.in_(ids)).order_by(*_NEWEST_FIRST)

    return await fetch_page(reads, keys, page=page, limit=limit, rows=page_rows)


# Writes: the request's transaction (ctx.db).


def _charge(user_id: str, size: int, quota: int) -> Update:
    """Add `size` bytes to the user's use if it stays within `quota`: one conditional UPDATE, so two
    uploads at once cannot both pass a check that only one of them fits."""
    return (
        update(User)
        .where(User.id == user_id, User.quota_used + size <= quota)
        .values(quota_used=User.quota_used + size)
    )


async def charge_quota(db: AsyncSession, user_id: str, size: int, quota: int) -> bool:
    """`_charge`, on its own: whether it was charged."""
    charged = await db.scalar(
        _charge(user_id, size, quota).returning(User.id).execution_options(synchronize_session=False)
    )
    return charged is not None


async def create_charged(
    db: AsyncSession,
    *,
    owner_id: str,
    name: str,
    key: str,
    mime_type: str,
    size: int,
    folder_id: str | None,
    quota: int,
) -> Any | None:
    """`charge_quota` and `create` in one statement that returns the new file as `get_owned` does, or None
    when the quota refuses (and then nothing is inserted): an upload's three round trips become one.

    The charge is `_charge`, as a data-modifying CTE; the INSERT takes its row from
    it, so without a charge there is no row. The answer's owner fields come from the updated user row and the
    folder's path from a join (the folder was checked and locked by `authz.referenced_folder` before)."""
    charged = (
        _charge(owner_id, size, quota).returning(User.id, User.name, User.email, User.avatar).cte("charged")
    )
    now = utcnow()
    values = {
        File.id: new_id(),
        File.name: name,
        File.path: key,
        File.mime_type: mime_type,
        File.size: size,
        File.folder_id: folder_id,
        File.is_favorite: False,
        File.created_at: now,
        File.updated_at: now,
    }
    source = select(
        *(bindparam(None, value, type_=column.type) for column, value in values.items()),
        charged.c.id,
    ).select_from(charged)
    inserted = (
        insert(File)
        .from_select([*values, File.owner_id], source)
        .returning(*(column for column in File.__table__.columns))
        .cte("inserted")
    )
    found = await db.execute(
        select(
            inserted.c.id,
            inserted.c.name,
            inserted.c.path.label("key"),
            inserted.c.mimeType.label("mime_type"),
            inserted.c.size,
            inserted.c.thumbnail,
            inserted.c.folderId.label("folder_id"),
            inserted.c.isFavorite.label("is_favorite"),
            inserted.c.ownerId.label("owner_id"),
            charged.c.name.label("owner_name"),
            charged.c.email.label("owner_email"),
            charged.c.avatar.label("owner_avatar"),
            Folder.path.label("folder_path"),
            inserted.c.createdAt.label("created_at"),
            inserted.c.updatedAt.label("updated_at"),
        )
        .select_from(inserted)
        .join(charged, charged.c.id == inserted.c.ownerId)
        .outerjoin(Folder, Folder.id == inserted.c.folderId)
    )
    return found.first()


async def free_quota(db: AsyncSession, freed: Mapping[str, int]) -> None:
    """Lower each owner's `quotaUsed` by the bytes freed (never below 0), in one UPDATE for all owners."""
    owners = [owner for owner, amount in freed.items() if amount]
    if not owners:
        return
    amounts = (
        select(
            func.unnest(bindparam("owners", owners, type_=ARRAY(Text))).label("owner"),
            func.unnest(bindparam("amounts", [freed[o] for o in owners], type_=ARRAY(BigInteger))).label(
                "amount"
            ),
        )
    ).subquery()
    await db.execute(
        update(User)
        .where(User.id == amounts.c.owner)
        .values(quota_used=func.greatest(User.quota_used - amounts.c.amount, 0))
        .execution_options(synchronize_session=False)
    )


async def create(
    db: AsyncSession,
    *,
    owner_id: str,
    name: str,
    key: str,
    mime_type: str,
    size: int,
    folder_id: str | None,
) -> str:
    inserted = await db.scalar(
        insert(File)
        .values(
            name=name, path=key, mime_type=mime_type, size=size, folder_id=folder_id, owner_id=owner_id
        )  # id, times: column defaults
        .returning(File.id)
    )
    return str(inserted)


async def placed(db: AsyncSession, owner_id: str, file_id: str) -> Any | None:
    """`id, name, key, mime_type, size, folder_id` of the owner's file, in the transaction (for writes)."""
    return (
        await db.execute(
            select(
                File.id,
                File.name,
                File.path.label("key"),
                File.mime_type.label("mime_type"),
                File.size,
                File.folder_id.label("folder_id"),
            ).where(File.id == file_id, File.owner_id == owner_id)
        )
    ).first()


async def change(db: AsyncSession, owner_id: str, file_id: str, **values: Any) -> bool:
    """Set `values` (name, folder_id) on the owner's file; False when there is no such file."""
    changed = await db.scalar(
        update(File)
        .where(File.id == file_id, File.owner_id == owner_id)
        .values(**values, updated_at=utcnow())
        .returning(File.id)
        .execution_options(synchronize_session=False)
    )
    return changed is not None


async def toggle_favorite(db: AsyncSession, owner_id: str, file_id: str) -> bool:
    """Flip `isFavorite` in the statement itself (no read-then-write); False when there is no such file."""
    flipped = await db.scalar(
        update(File)
        .where(File.id == file_id, File.owner_id == owner_id)
        .values(is_favorite=not_(File.is_favorite), updated_at=utcnow())
        .returning(File.id)
        .execution_options(synchronize_session=False)
    )
    return flipped is not None


async def delete_owned(db: AsyncSession, owner_id: str, file_ids: list[str]) -> list[str]:
    """Delete those of `file_ids` the owner owns and give their bytes back to the quota, in two statements
    whatever their number. Returns the deleted files' storage keys, for removal after the commit."""
    gone = (
        await db.execute(
            delete(File)
            .where(
                and_(
                    File.owner_id == owner_id,
                    File.id == any_(bindparam("ids", file_ids, type_=ARRAY(Text))),
                )
            )
            .returning(File.path, File.size)
        )
    ).all()
    await free_quota(db, {owner_id: sum(int(row.size) for row in gone)})
    return [row.path for row in gone]
