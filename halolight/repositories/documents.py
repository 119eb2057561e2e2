"""Documents (table `documents`), their tags (`tags`, `document_tags`) and shares (`document_shares`).

Who sees a document: its owner, the users it is shared with (`sharedWithId`) and the members of the teams it
is shared with (`teamId`), as long as the share has not expired (`expiresAt` in the past). Every read here is
scoped to that: a document the caller may not see is read as absent. What the caller may do with it is read in
the same statement, as `access` (4 owner, 3 EDIT, 2 COMMENT, 1 READ: the strongest of their shares).

Search is full-text through the functions and the GIN index of migration 0007 (CJK text as 2-character
n-grams): `halolight_document_search(title, content) @@ halolight_search_query(term)`, ranked by `ts_rank`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, REAL, aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import (
    Document,
    DocumentShare,
    DocumentShareOrder,
    DocumentTag,
    DocumentVector,
    SharePermission,
    Tag,
    TeamMember,
    User,
)
from halolight.db.reads import Reads, Statement
from halolight.db.types import utcnow
from halolight.repositories import writes
from halolight.repositories.paging import Page
from halolight.repositories.writes import reserve

# `documents.type` of the documents this API creates (the column is NOT NULL and free text in the shared
# schema; the front ends show text documents).
DOC_TYPE = "doc"

OWNER, EDIT, COMMENT, READ = 4, 3, 2, 1
# A search ranks (`ts_rank`) at most this many matches, the most recently changed (see `list_page`).
RANKED_MATCHES = 1000
ACCESS_NAMES = {OWNER: "OWNER", EDIT: "EDIT", COMMENT: "COMMENT", READ: "READ"}

_NEWEST_FIRST = (Document.updated_at.desc(), Document.id.desc())


def _me(user_id: str | None = None) -> BindParameter[str]:
    """The caller's id, one parameter for every place a statement names it."""
    if user_id is None:
        return bindparam("user_id", type_=Text)
    return bindparam("user_id", user_id, type_=Text)


def _my_teams(me: ColumnElement[str]) -> Select[str]:
    return select(TeamMember.team_id).where(TeamMember.user_id == me)


def _unexpired(expires_at: Any) -> ColumnElement[bool]:
    """A share's `expiresAt` (on `document_shares`, or its copy on `halolight_document_share_order`) not past:
    UTC without a zone, as every timestamp of the shared schema."""
    return or_(expires_at.is_(None), expires_at > func.timezone("UTC", func.now()))


def _live_share_of(me: ColumnElement[str]) -> ColumnElement[bool]:
    """A share that has not expired and names the caller or one of the caller's teams."""
    return and_(
        _unexpired(DocumentShare.expires_at),
        or_(DocumentShare.shared_with_id == me, DocumentShare.team_id.in_(_my_teams(me))),
    )


def _visible_ids(me: ColumnElement[str]) -> Any:
    """The ids of the documents the caller sees: owned, plus shared. A UNION ALL of two index lookups, so a
    list reads the caller's documents, not the whole table."""
    owned = select(Document.id).where(Document.owner_id == me)
    shared = select(DocumentShare.document_id).where(_live_share_of(me))
    return union_all(owned, shared)


def _access(me: ColumnElement[str]) -> ColumnElement[int]:
    strongest = (
        select(
            func.max(
                case(
                    (DocumentShare.permission == SharePermission.EDIT, EDIT),
                    (DocumentShare.permission == SharePermission.COMMENT, COMMENT),
                    else_=READ,
                )
            )
        )
        .where(DocumentShare.document_id == Document.id, _live_share_of(me))
        .scalar_subquery()
    )
    return case((Document.owner_id == me, OWNER), else_=strongest)


# The document's tag names, alphabetically without regard to case, in the row itself: a page of documents
# costs one statement whatever its length (no query per document).
_TAG_NAMES = (
    select(
        func.coalesce(
            func.array_agg(aggregate_order_by(Tag.name, func.lower(Tag.name), Tag.name)),
            literal_column("'{}'::text[]"),
        )
    )
    .select_from(DocumentTag)
    .join(Tag, Tag.id == DocumentTag.tag_id)
    .where(DocumentTag.document_id == Document.id)
    .scalar_subquery()
)


def _row_columns(me: ColumnElement[str]) -> tuple[Any, ...]:
    return (
        Document.id,
        Document.title,
        Document.content,
        Document.folder.label("folder_id"),
        Document.type,
        Document.size,
        Document.views,
        Document.owner_id.label("owner_id"),
        User.name.label("owner_name"),
        User.email.label("owner_email"),
        User.avatar.label("owner_avatar"),
        Document.created_at.label("created_at"),
        Document.updated_at.label("updated_at"),
        _TAG_NAMES.label("tags"),
        _access(me).label("access"),
    )


def _rows(me: ColumnElement[str]) -> Select[Any]:
    return select(*_row_columns(me)).join(User, User.id == Document.owner_id)


_ME = _me()
_ONE = Statement(_rows(_ME).where(Document.id == bindparam("id"), Document.id.in_(_visible_ids(_ME))))


async def get_visible(reads: Reads, user_id: str, document_id: str) -> Any | None:
    """The document as a row of `_row_columns` (its owner's summary, tags and the caller's `access`), if the
    caller may see it."""
    return await _ONE.first(reads, id=document_id, user_id=user_id)


# --- Lists and search ------------------------------------------------------------------------------------

_VECTOR = func.halolight_document_search(Document.title, Document.content)


def _has_tags() -> ColumnElement[bool]:
    """The document holds every one of the `tags` parameter, compared without regard to case (by
    PostgreSQL's lower())."""
    wanted = select(func.lower(func.unnest(bindparam("tags", type_=ARRAY(Text)))).label("name"))
    wanted_names = wanted.subquery()
    held = (
        select(func.count(func.distinct(func.lower(Tag.name))))
        .select_from(DocumentTag)
        .join(Tag, Tag.id == DocumentTag.tag_id)
        .where(DocumentTag.document_id == Document.id, func.lower(Tag.name).in_(select(wanted_names.c.name)))
        .scalar_subquery()
    )
    needed = select(func.count(func.distinct(wanted_names.c.name))).scalar_subquery()
    return held == needed


@dataclass(frozen=True)
class _ListStatements:
    page: Statement  # the page's rows, each with the total
    total: Statement  # the total alone, for a page past the last one


def _filters(by_folder: bool, by_tags: bool) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if by_folder:
        filters.append(Document.folder == bindparam("folder_id", type_=Text))
    if by_tags:
        filters.append(_has_tags())
    return filters


_INT = Integer()


# A list's statements are built and compiled once per shape (which filters it has), not per request: building
# one took about 3 ms of a worker's CPU per request (profiled), as much as the database spent on it.
def _newest_page_of(
    me: ColumnElement[str], newest: Any, own: list[ColumnElement[bool]], shared: Any
) -> _ListStatements:
    """The page of `newest` (id, updated_at: the candidates, newest change first) with its rows, each carrying
    the total: the caller's own documents matching `own`, plus the rows of `shared`."""
    page_keys = (
        select(newest.c.id, newest.c.updated_at)
        .order_by(newest.c.updated_at.desc(), newest.c.id.desc())
        .offset(bindparam("offset", type_=_INT))
        .limit(bindparam("limit", type_=_INT))
        .subquery()
    )
    total = (
        select(func.count()).where(Document.owner_id == me, *own).scalar_subquery()
        + select(func.count()).select_from(shared).scalar_subquery()
    )
    rows = (
        _rows(me)
        .add_columns(total.label("total"))
        .join(page_keys, page_keys.c.id == Document.id)
        .order_by(*_NEWEST_FIRST)
    )
    return _ListStatements(Statement(rows), Statement(select(total)))


@functools.cache
def _newest_statements(by_folder: bool, by_tags: bool) -> _ListStatements:
    """Newest change first, as the newest `deep` (page × limit) of the caller's own documents (a range of
    `halolight_documents_owner_updated`, in its order) merged with the newest of those shared with them: the
    page costs what its depth costs, not what everything visible would (a sort of every visible row).

    The shared ones are read once, by id from the caller's shares (an array, so the plan starts from the
    shares, not from a scan of everyone else's documents), from `halolight_documents_id_c` alone, and serve
    both the page and the total: the total is the count of the caller's own (an index range) plus theirs.
    Measured on the bench's admin (5,000 own, 2,000 shared): 6 ms, against 17 ms for the former page and
    count statements."""
    me, filters = _me(), _filters(by_folder, by_tags)
    shared_ids = func.array(select(DocumentShare.document_id).where(_live_share_of(me)).scalar_subquery())
    # `id COLLATE "C"`: ids compared byte by byte, as `halolight_documents_id_c` (migration 0017) orders them.
    # Ids are ASCII, so equality is the same under any deterministic collation; only its cost differs
    # (measured: 2,000 lookups by id in 6.5 ms against 9.3 ms under the database's C.UTF-8, more under the
    # `en_US.UTF-8` that Prisma's databases usually have).
    shared = (
        select(Document.id, Document.updated_at)
        .where(Document.id.collate("C") == func.any(shared_ids), Document.owner_id != me, *filters)
        .cte("shared")
        .prefix_with("MATERIALIZED")
    )
    owned = select(Document.id, Document.updated_at).where(Document.owner_id == me, *filters)
    deep = bindparam("deep", type_=_INT)
    newest = union_all(
        owned.order_by(*_NEWEST_FIRST).limit(deep),
        select(shared.c.id, shared.c.updated_at)
        .order_by(shared.c.updated_at.desc(), shared.c.id.desc())
        .limit(deep),
    ).subquery()
    return _newest_page_of(me, newest, filters, shared)


@functools.cache
def _unfiltered_newest_statements() -> _ListStatements:
    """The list without filters (what the admin's documents page shows first): the newest `deep` of the
    caller's own documents merged with the newest `deep` shared with them, each an index range: their own in
    `halolight_documents_owner_updated`, those shared with them or with one of their teams in
    `halolight_document_share_order` (migration 0018: each share's copy of its document's `updatedAt` and
    `ownerId`, kept by triggers). No shared document is looked up to be sorted or counted: the total is the
    caller's own (an index range) plus the distinct documents of those index entries. Measured on the bench's
    admin (5,000 own, 2,000 shared): see bench/results.md."""
    me, order = _me(), DocumentShareOrder
    live = _unexpired(order.expires_at)
    my_teams = _my_teams(me)
    deep = bindparam("deep", type_=_INT)
    newest_first = (order.updated_at.desc(), order.document_id.desc())

    def shared(target: ColumnElement[bool]) -> Select[str, datetime]:
        # DISTINCT: a document shared twice over one path (two teams, or twice with the caller) is one entry,
        # so the `deep` kept are `deep` documents.
        return (
            select(order.document_id.label("id"), order.updated_at.label("updated_at"))
            .where(target, order.owner_id != me, live)
            .distinct()
            .order_by(*newest_first)
            .limit(deep)
        )

    owned = select(Document.id, Document.updated_at).where(Document.owner_id == me)
    # UNION (not ALL): a document shared both with the caller and with a team of theirs is one row; its two
    # copies carry the same `updatedAt`.
    candidates = union(shared(order.shared_with_id == me), shared(order.team_id.in_(my_teams))).subquery()
    newest = union_all(
        owned.order_by(*_NEWEST_FIRST).limit(deep), select(candidates.c.id, candidates.c.updated_at)
    ).subquery()

    def entries(target: ColumnElement[bool]) -> Select[Any]:
        return select(order.document_id).where(target, order.owner_id != me, live)

    shared_ids = union(entries(order.shared_with_id == me), entries(order.team_id.in_(my_teams))).subquery()
    return _newest_page_of(me, newest, [], shared_ids)


@functools.cache
def _search_statements(by_folder: bool, by_tags: bool) -> _ListStatements:
    """Best match first. The matches first, through the GIN index of `halolight_document_search`, each kept
    if the caller sees it (its owner, or one of the caller's live shares, hashed once): the work follows the
    number of matches, not the number of documents the caller sees (measured on the bench: 4 ms against
    23 ms for the former intersection with all 7,000 visible ids). A materialised CTE, as a fence: left to
    itself the planner misjudges the matches and computes the vector of every document instead (seconds,
    measured). Ranking reads the stored vectors (`halolight_document_vectors`); of many matches only the
    newest `ranked` are ranked, the others follow them newest first: a bound on any search's work."""
    me, filters = _me(), _filters(by_folder, by_tags)
    query = func.halolight_search_query(bindparam("search", type_=Text))
    shared = select(DocumentShare.document_id).where(_live_share_of(me))
    matches = (
        select(Document.id, Document.updated_at)
        .where(_VECTOR.op("@@")(query), or_(Document.owner_id == me, Document.id.in_(shared)), *filters)
        .cte("matches")
        .prefix_with("MATERIALIZED")
    )
    recency = func.row_number().over(order_by=(matches.c.updated_at.desc(), matches.c.id.desc()))
    stored_rank = func.coalesce(func.ts_rank(DocumentVector.search, query), literal(0.0, REAL))
    rank = case((recency <= bindparam("ranked", type_=_INT), stored_rank), else_=literal(0.0, REAL))
    scored = (
        select(
            matches.c.id,
            rank.label("rank"),
            matches.c.updated_at.label("changed"),
            func.count().over().label("total"),
        )
        .select_from(matches)
        .outerjoin(DocumentVector, DocumentVector.document_id == matches.c.id)
        .subquery()
    )
    ranked = (
        select(scored)
        .order_by(scored.c.rank.desc(), scored.c.changed.desc(), scored.c.id.desc())
        .offset(bindparam("offset", type_=_INT))
        .limit(bindparam("limit", type_=_INT))
        .subquery()
    )
    rows = (
        _rows(me)
        .add_columns(ranked.c.total)
        .join(ranked, Document.id == ranked.c.id)
        .order_by(ranked.c.rank.desc(), ranked.c.changed.desc(), Document.id.desc())
    )
    return _ListStatements(Statement(rows), Statement(select(func.count()).select_from(matches)))


async def list_page(
    reads: Reads,
    user_id: str,
    *,
    page: int,
    limit: int,
    search: str | None = None,
    folder_id: str | None = None,
    tags: Sequence[str] = (),
) -> Page[Any]:
    """The caller's visible documents as rows of `_row_columns`, filtered; newest change first, or, with
    `search`, best match first (`ts_rank`: title A, content B), then newest change first. One statement:
    the page's rows with tags, access and the total (a second only for a page past the last)."""
    offset = (page - 1) * limit
    params: dict[str, Any] = {"user_id": user_id, "offset": offset, "limit": limit}
    if folder_id is not None:
        params["folder_id"] = folder_id
    if tags:
        params["tags"] = list(tags)
    if search:
        statements = _search_statements(folder_id is not None, bool(tags))
        params.update(search=search, ranked=RANKED_MATCHES)
    elif folder_id is None and not tags:
        statements = _unfiltered_newest_statements()
        params["deep"] = offset + limit
    else:
        statements = _newest_statements(folder_id is not None, bool(tags))
        params["deep"] = offset + limit
    found = await statements.page.rows(reads, **params)
    if found or page == 1:
        return Page(found, found[0].total if found else 0, page, limit)
    return Page([], await statements.total.scalar(reads, **params) or 0, page, limit)


# --- Writes: the request's transaction (ctx.db) -----------------------------------------------------------


async def lock(db: AsyncSession, document_id: str) -> None:
    """Hold the document's row until the transaction ends: a conditional write (`If-Match`) compares and
    changes the version it locked, so two writers with the same ETag cannot both pass."""
    await db.execute(select(Document.id).where(Document.id == document_id).with_for_update())


def utf8_size(content: str) -> int:
    return len(content.encode("utf-8", "surrogatepass"))


async def create(db: AsyncSession, *, owner_id: str, title: str, content: str, folder_id: str | None) -> str:
    document_id = await db.scalar(
        insert(Document)
        .values(
            title=title,
            content=content,
            folder=folder_id,
            type=DOC_TYPE,
            size=utf8_size(content),
            owner_id=owner_id,
        )
        .returning(Document.id)
    )
    assert document_id is not None
    return str(document_id)


async def change(db: AsyncSession, document_id: str, **fields: Any) -> None:
    """Set `fields` (column attributes of `Document`) and `updatedAt`; `size` follows `content`."""
    if "content" in fields:
        fields["size"] = utf8_size(fields["content"])
    await db.execute(
        update(Document)
        .where(Document.id == document_id)
        .values(**fields, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def count_view(db: AsyncSession, document_id: str) -> int | None:
    """One more view, in one statement (no read-then-write: concurrent views all count); the new count."""
    views = await db.scalar(
        update(Document)
        .where(Document.id == document_id)
        # `updatedAt` kept as it is (the model's onupdate would set it): a view is not a change.
        .values(views=Document.views + 1, updated_at=Document.updated_at)
        .returning(Document.views)
        .execution_options(synchronize_session=False)
    )
    return None if views is None else int(views)


async def delete_one(db: AsyncSession, document_id: str) -> None:
    # The database cascades to document_tags and document_shares.
    await db.execute(
        delete(Document).where(Document.id == document_id).execution_options(synchronize_session=False)
    )


async def delete_owned(db: AsyncSession, owner_id: str, document_ids: Sequence[str]) -> int:
    """Delete those of `document_ids` that `owner_id` owns; how many went."""
    return await writes.delete_owned(db, Document, owner_id, document_ids)


# --- Tags -------------------------------------------------------------------------------------------------
#
# The shared schema's `tags.name` is unique case-sensitively (Prisma's index); this API treats `Design` and
# `design` as one tag. A unique index on lower(name) would refuse a shared database that already holds both,
# so tags are resolved under a transaction-scoped advisory lock per lower-cased name (taken in one order, so
# two requests naming the same new tags wait for each other instead of deadlocking): the second request of
# a race sees the first's row. The INSERT's ON CONFLICT covers a backend that writes the same exact name
# without the lock.


@dataclass(frozen=True)
class _Wanted:
    name: str
    key: str
    tag_id: str | None


async def resolve_tags(db: AsyncSession, names: Sequence[str]) -> list[str]:
    """The ids of the tags named (in any case), creating the missing ones as spelled (first spelling wins)."""
    if not names:
        return []
    names_param = bindparam("names", list(names), type_=ARRAY(Text))
    keys = select(func.lower(func.unnest(names_param)).label("key")).distinct().subquery()
    ordered = select(keys.c.key).order_by(keys.c.key).subquery()
    await db.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended("tags:" + ordered.c.key, 0))).select_from(
            ordered
        )
    )
    wanted = await _lookup(db, names)
    missing: dict[str, str] = {}
    for row in wanted:
        if row.tag_id is None:
            missing.setdefault(row.key, row.name)
    if missing:
        await db.execute(
            insert(Tag)
            .values([{"name": name} for name in missing.values()])
            .on_conflict_do_nothing(index_elements=[Tag.name])
        )
        wanted = await _lookup(db, names)
    return list(dict.fromkeys(row.tag_id for row in wanted if row.tag_id is not None))


async def _lookup(db: AsyncSession, names: Sequence[str]) -> list[_Wanted]:
    """Each name with its lower-cased key and the id of the oldest tag of that key (None: no such tag)."""
    given = (
        func.unnest(bindparam("names", list(names), type_=ARRAY(Text))).table_valued("name").alias("given")
    )
    oldest = (
        select(Tag.id)
        .where(func.lower(Tag.name) == func.lower(given.c.name))
        .order_by(Tag.created_at, Tag.id)
        .limit(1)
        .scalar_subquery()
    )
    rows = (await db.execute(select(given.c.name, func.lower(given.c.name), oldest))).all()
    return [_Wanted(row[0], row[1], row[2]) for row in rows]


async def set_tags(db: AsyncSession, document_id: str, tag_ids: Sequence[str]) -> None:
    """The document's tags become exactly `tag_ids`."""
    ids = bindparam("tag_ids", list(tag_ids), type_=ARRAY(Text))
    await db.execute(
        delete(DocumentTag)
        .where(DocumentTag.document_id == document_id, DocumentTag.tag_id != func.all(ids))
        .execution_options(synchronize_session=False)
    )
    if tag_ids:
        await db.execute(
            insert(DocumentTag)
            .values([{"document_id": document_id, "tag_id": tag_id} for tag_id in tag_ids])
            .on_conflict_do_nothing()
        )


# --- Shares -----------------------------------------------------------------------------------------------


def _share_target(user_id: str | None, team_id: str | None) -> ColumnElement[bool]:
    if user_id is not None:
        return DocumentShare.shared_with_id == user_id
    return and_(DocumentShare.team_id == team_id, DocumentShare.shared_with_id.is_(None))


async def share(
    db: AsyncSession,
    document_id: str,
    *,
    user_id: str | None,
    team_id: str | None,
    permission: SharePermission,
) -> None:
    """One share per user (or team) and document: sharing again replaces it (and any expiry). The shared
    schema has no unique index for that, so shares of one document change under an advisory lock."""
    await reserve(db, "document-shares", document_id)
    await unshare(db, document_id, user_id=user_id, team_id=team_id)
    await db.execute(
        insert(DocumentShare).values(
            document_id=document_id, shared_with_id=user_id, team_id=team_id, permission=permission
        )
    )


async def unshare(db: AsyncSession, document_id: str, *, user_id: str | None, team_id: str | None) -> None:
    await db.execute(
        delete(DocumentShare)
        .where(DocumentShare.document_id == document_id, _share_target(user_id, team_id))
        .execution_options(synchronize_session=False)
    )
