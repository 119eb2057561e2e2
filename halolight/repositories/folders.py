"""Folders (table `folders`), private to their owner, and what deleting one takes with it.

The shared schema makes `folders.path` unique across all users. Ours is `/<ownerId>/<name>/<name>…`: two
users can each have a `Projects`, and a name is unique among its siblings (the unique index says so; `/` is
not allowed in names). A folder's subtree is the rows whose path starts with its path and `/`: renaming or
moving a folder rewrites the whole subtree's paths in one UPDATE, and the tree is read in one SELECT.

Structural changes of one owner's folders (create, rename, move, delete) run one after the other, under a
transaction-scoped advisory lock on the owner: two concurrent moves (A into B, B into A) would otherwise each
pass the "not into itself" check and leave a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import Document, File, Folder, User
from halolight.db.reads import Reads, Statement
from halolight.db.types import utcnow
from halolight.repositories import files
from halolight.repositories.writes import reserve

# Folders nest at most this deep (a top-level folder is at depth 1).
MAX_DEPTH = 32

_ROW = (
    Folder.id,
    Folder.name,
    Folder.parent_id.label("parent_id"),
    Folder.owner_id.label("owner_id"),
    User.name.label("owner_name"),
    User.email.label("owner_email"),
    User.avatar.label("owner_avatar"),
    Folder.created_at.label("created_at"),
    Folder.updated_at.label("updated_at"),
)
_BY_NAME = (Folder.name, Folder.id)


def _rows() -> Any:
    return select(*_ROW).join(User, User.id == Folder.owner_id)


_ONE = Statement(_rows().where(Folder.id == bindparam("id"), Folder.owner_id == bindparam("owner_id")))
_TOP_LEVEL = Statement(
    _rows().where(Folder.owner_id == bindparam("owner_id"), Folder.parent_id.is_(None)).order_by(*_BY_NAME)
)
_CHILDREN = Statement(
    _rows()
    .where(Folder.owner_id == bindparam("owner_id"), Folder.parent_id == bindparam("parent_id"))
    .order_by(*_BY_NAME)
)
_TREE = Statement(
    select(Folder.id, Folder.name, Folder.parent_id.label("parent_id"))
    .where(Folder.owner_id == bindparam("owner_id"))
    .order_by(*_BY_NAME)
)


async def get_owned(reads: Reads, owner_id: str, folder_id: str) -> Any | None:
    """The folder (a row of `_ROW`, its owner's summary included) if `owner_id` owns it."""
    return await _ONE.first(reads, id=folder_id, owner_id=owner_id)


async def children(reads: Reads, owner_id: str, parent_id: str | None) -> list[Any]:
    """The owner's folders directly in `parent_id` (the top level for None), by name."""
    if parent_id is None:
        return await _TOP_LEVEL.rows(reads, owner_id=owner_id)
    return await _CHILDREN.rows(reads, owner_id=owner_id, parent_id=parent_id)


async def all_of(reads: Reads, owner_id: str) -> list[Any]:
    """Every folder of the owner as `(id, name, parent_id)`, by name: the tree, in one query."""
    return await _TREE.rows(reads, owner_id=owner_id)


# Writes: the request's transaction (ctx.db).


async def lock_owner(db: AsyncSession, owner_id: str) -> None:
    """Serialize this owner's structural changes until the transaction ends (see the module docstring)."""
    await reserve(db, "folders", owner_id)


@dataclass(frozen=True)
class Placed:
    """What a write needs of a folder: where it is."""

    id: str
    path: str
    parent_id: str | None


async def placed(db: AsyncSession, owner_id: str, folder_id: str) -> Placed | None:
    row = (
        await db.execute(
            select(Folder.id, Folder.path, Folder.parent_id).where(
                Folder.id == folder_id, Folder.owner_id == owner_id
            )
        )
    ).first()
    return None if row is None else Placed(row.id, row.path, row.parent_id)


def root_path(owner_id: str) -> str:
    return f"/{owner_id}"


def depth(path: str) -> int:
    """How deep the folder at `path` is: `/<owner>/A` is 1, `/<owner>/A/B` is 2."""
    return path.count("/") - 1


def _subtree(owner_id: str, path: str) -> ColumnElement[bool]:
    """The folder at `path` and every folder inside it (no LIKE: names may hold `%` and `_`)."""
    return and_(
        Folder.owner_id == owner_id,
        or_(Folder.path == path, func.starts_with(Folder.path, literal(path + "/", Text))),
    )


async def path_taken(db: AsyncSession, path: str) -> bool:
    return (await db.scalar(select(Folder.id).where(Folder.path == path).limit(1))) is not None


async def deepest_below(db: AsyncSession, owner_id: str, path: str) -> int:
    """The depth of the deepest folder in the subtree at `path` (the folder's own depth when it is empty)."""
    slashes = func.length(Folder.path) - func.length(func.replace(Folder.path, "/", ""))
    deepest = await db.scalar(select(func.max(slashes)).where(_subtree(owner_id, path)))
    return int(deepest or path.count("/")) - 1


async def create(
    db: AsyncSession, *, owner_id: str, name: str, parent_id: str | None, path: str
) -> str | None:
    """Insert the folder; None when its path is taken (a sibling has the name), without spoiling the
    transaction."""
    inserted = await db.scalar(
        insert(Folder)
        .values(name=name, path=path, parent_id=parent_id, owner_id=owner_id)  # id, times: column defaults
        .on_conflict_do_nothing(index_elements=[Folder.path])
        .returning(Folder.id)
    )
    return None if inserted is None else str(inserted)


async def move(
    db: AsyncSession, *, owner_id: str, folder: Placed, name: str, parent_id: str | None, path: str
) -> None:
    """Rename and/or move `folder` to `path`, rewriting the paths of its whole subtree in one statement."""
    own = Folder.id == folder.id
    await db.execute(
        update(Folder)
        .where(_subtree(owner_id, folder.path))
        .values(
            path=literal(path, Text) + func.substr(Folder.path, len(folder.path) + 1),
            name=case((own, literal(name, Text)), else_=Folder.name),
            parent_id=case((own, literal(parent_id, Text)), else_=Folder.parent_id),
            updated_at=case((own, literal(utcnow(), Folder.updated_at.type)), else_=Folder.updated_at),
        )
        .execution_options(synchronize_session=False)
    )


async def holds_anything(db: AsyncSession, folder_id: str) -> bool:
    """Whether the folder holds a folder, a file or a document."""
    inside = [
        select(Folder.id).where(Folder.parent_id == folder_id),
        select(File.id).where(File.folder_id == folder_id),
        select(Document.id).where(Document.folder == folder_id),
    ]
    return bool(await db.scalar(select(or_(*(query.exists() for query in inside)))))


async def delete_subtree(db: AsyncSession, owner_id: str, folder: Placed) -> list[str]:
    """Delete the folder, every folder inside it and every file in them (their owners' storage use goes down
    by their sizes); documents in them stay, at the top level. A fixed number of statements, whatever the
    subtree's size. Returns the stored keys of the deleted files, for removal after the commit."""
    ids = select(Folder.id).where(_subtree(owner_id, folder.path)).scalar_subquery()
    gone = (
        await db.execute(
            delete(File).where(File.folder_id.in_(ids)).returning(File.path, File.size, File.owner_id)
        )
    ).all()
    await db.execute(update(Document).where(Document.folder.in_(ids)).values(folder=None))
    await db.execute(
        delete(Folder).where(_subtree(owner_id, folder.path)),
        execution_options={"synchronize_session": False},
    )
    freed: dict[str, int] = {}
    for row in gone:
        freed[row.owner_id] = freed.get(row.owner_id, 0) + int(row.size)
    await files.free_quota(db, freed)
    return [row.path for row in gone]
