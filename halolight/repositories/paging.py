"""Paged queries (page/limit, and keyset with a signed cursor) and safe substring search, shared by every
list endpoint."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import ClauseElement, ColumnElement, Select, bindparam, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.reads import Reads, Statement, fetch_all, fetch_scalar
from halolight.errors import ValidationFailed

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    limit: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.limit)


async def fetch_page(
    reads: Reads,
    keys: Select[Any],
    *,
    page: int,
    limit: int,
    rows: Callable[[Any], Any],
    total: ClauseElement | None = None,
) -> Page[Any]:
    """A page on the fast read path (`halolight.db.reads`), as a deferred join, with the COUNT only when
    the page cannot tell the total.

    `keys` selects the key column, filtered and ordered (the ORDER BY ending in the key); an index matching
    the ORDER BY answers it with an index-only scan, so OFFSET skips index entries, not rows. `rows(keys)`
    builds the statement that reads the page's rows: `...where(Table.id.in_(keys)).order_by(<same order>)`.
    A page shorter than `limit` is the last one, and its total is known without counting. `total` replaces
    the COUNT when a cheaper exact figure exists (a counter kept by triggers, `halolight_row_counts`).
    """
    offset = (page - 1) * limit
    found = await fetch_all(reads, rows(keys.offset(offset).limit(limit).scalar_subquery()))
    if 0 < len(found) < limit:
        return Page(found, offset + len(found), page, limit)
    if not found and page == 1:
        return Page([], 0, page, limit)
    count = total if total is not None else select(func.count()).select_from(keys.order_by(None).subquery())
    return Page(found, await fetch_scalar(reads, count) or 0, page, limit)


def contains_any(term: str, *columns: Any) -> ColumnElement[bool]:
    """Case-insensitive substring match on any of `columns`; `%`, `_` and `\\` in `term` match literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(*(column.ilike(f"%{escaped}%", escape="\\") for column in columns))


# --- Keyset paging: growing tables (messages, notifications, files, activity logs, documents) -------------
#
# OFFSET paging reads and throws away every row before the page, and a row inserted meanwhile shifts the
# pages (a row seen twice, another never). Keyset paging instead asks for the rows after the last one
# seen: `WHERE (created_at, id) < (:c, :i) ORDER BY created_at DESC, id DESC LIMIT n + 1`. An index on the
# same columns in the same order answers it by a range scan that starts at the cursor, so page 10,000 costs
# what page 1 does, and rows inserted or deleted between two requests neither repeat nor skip the others.
# The client holds the position as an opaque cursor, signed so that it cannot forge one.

CURSOR_VERSION = 1
# The spec's `Cursor` parameter (spec/openapi.yaml, components/parameters) declares the same bounds.
CURSOR_MAX_LENGTH = 1024
_CURSOR_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_MAC_BYTES = 16  # HMAC-SHA256 cut to 128 bits
_KEY_PURPOSE = b"halolight keyset cursor v1"


def cursor_key(secret: str | bytes) -> bytes:
    """The cursor signing key derived from an application secret (`settings.jwt_secret_key`).

    A derived key, never the secret itself: a cursor's MAC can then never pass as a token signature or the
    other way round. Handlers call it with `ctx.runtime.settings.jwt_secret_key`; repositories take the key
    as an argument and do not read settings."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, _KEY_PURPOSE, hashlib.sha256).digest()


@dataclass(frozen=True, init=False)
class Keyset:
    """The sort order of a keyset-paged list, declared once per list next to its query.

    `Keyset.desc("messages", Message.created_at, Message.id)` (newest first) or `Keyset.asc(...)`. The last
    column must be unique (the primary key) so that the order is total; no column may be NULL (a row
    comparison with NULL matches nothing). All columns share one direction: that is what a row-value
    comparison `(a, b) < (:a, :b)` expresses and what one index `(a DESC, b DESC)`, or `(a, b)` read
    backwards, serves. Mixed directions (`a DESC, b ASC`) are not supported.

    `scope` names the list; with the columns and the direction it is signed into every cursor, so a cursor
    of another list or another sort is refused. Each page item must expose every column's value as an
    attribute: ORM entities do (attribute names), and so do rows that select the columns (by their key, or
    by `names` when the row labels them otherwise).
    """

    scope: str
    columns: tuple[Any, ...]
    names: tuple[str, ...]
    descending: bool

    def __init__(
        self, scope: str, *columns: Any, descending: bool, names: Sequence[str] | None = None
    ) -> None:
        if not columns:
            raise ValueError("a keyset needs at least one column, the last one unique")
        names = tuple(names) if names is not None else tuple(str(column.key) for column in columns)
        if len(names) != len(columns):
            raise ValueError("one name per column")
        object.__setattr__(self, "scope", scope)
        object.__setattr__(self, "columns", tuple(columns))
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "descending", descending)

    @classmethod
    def desc(cls, scope: str, *columns: Any, names: Sequence[str] | None = None) -> Keyset:
        return cls(scope, *columns, descending=True, names=names)

    @classmethod
    def asc(cls, scope: str, *columns: Any, names: Sequence[str] | None = None) -> Keyset:
        return cls(scope, *columns, descending=False, names=names)

    def order_by(self) -> list[ColumnElement[Any]]:
        return [column.desc() if self.descending else column.asc() for column in self.columns]

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """The rows after the one whose sort-key values are `values`, as one row-value comparison."""
        bound = [literal(value, column.type) for column, value in zip(self.columns, values, strict=True)]
        if len(self.columns) == 1:
            left: Any = self.columns[0]
            right: Any = bound[0]
        else:
            left, right = tuple_(*self.columns), tuple_(*bound)
        comparison: ColumnElement[bool] = left < right if self.descending else left > right
        return comparison

    def after_bound(self) -> ColumnElement[bool]:
        """`after`, with the values as parameters `after_0`, `after_1`, ...: for a statement compiled once
        (`KeysetStatements`)."""
        bound = [bindparam(f"after_{i}", type_=column.type) for i, column in enumerate(self.columns)]
        left: Any = self.columns[0] if len(self.columns) == 1 else tuple_(*self.columns)
        right: Any = bound[0] if len(self.columns) == 1 else tuple_(*bound)
        comparison: ColumnElement[bool] = left < right if self.descending else left > right
        return comparison

    def _context(self, within: str) -> bytes:
        direction = "desc" if self.descending else "asc"
        return json.dumps([self.scope, within, direction, *self.names]).encode()


@dataclass(frozen=True)
class CursorPage(Generic[T]):
    """One page of a keyset-paged list; `next_cursor` is None on the last page."""

    items: list[T]
    next_cursor: str | None
    limit: int


def _encode_value(value: Any) -> list[Any]:
    # Tagged, so each value comes back as the type it left as. Order matters: bool before int, datetime
    # before date (subclasses).
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", value]
    if isinstance(value, str):
        return ["s", str(value)]
    if isinstance(value, datetime):
        return ["t", value.isoformat()]  # microseconds and offset (or none: naive) kept exactly
    if isinstance(value, date):
        return ["d", value.isoformat()]
    if isinstance(value, Decimal):
        return ["n", str(value)]
    if isinstance(value, float):
        return ["f", value]  # repr round-trips through JSON
    if isinstance(value, uuid.UUID):
        return ["u", value.hex]
    if value is None:
        raise ValueError("a keyset column is NULL; keyset columns must be NOT NULL")
    raise TypeError(f"cannot put a {type(value).__name__} in a cursor")


_DECODERS: dict[str, tuple[type | tuple[type, ...], Callable[[Any], Any]]] = {
    "b": (bool, bool),
    "i": (int, int),
    "s": (str, str),
    "t": (str, datetime.fromisoformat),
    "d": (str, date.fromisoformat),
    "n": (str, Decimal),
    "f": ((float, int), float),
    "u": (str, uuid.UUID),
}


def _decode_value(tagged: Any) -> Any:
    if not (isinstance(tagged, list) and len(tagged) == 2 and tagged[0] in _DECODERS):
        raise ValueError("not a tagged value")
    accepted, decode = _DECODERS[tagged[0]]
    if not isinstance(tagged[1], accepted) or (tagged[0] != "b" and isinstance(tagged[1], bool)):
        raise ValueError("wrong value type")
    return decode(tagged[1])


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def encode_cursor(keyset: Keyset, values: Sequence[Any], *, key: bytes, within: str = "") -> str:
    """The opaque, signed cursor for the position just after the row whose sort-key values are `values`."""
    body = (
        bytes([CURSOR_VERSION])
        + json.dumps([_encode_value(v) for v in values], separators=(",", ":"), ensure_ascii=False).encode()
    )
    mac = hmac.new(key, keyset._context(within) + b"\0" + body, hashlib.sha256).digest()[:_MAC_BYTES]
    cursor = _b64encode(mac + body)
    if len(cursor) > CURSOR_MAX_LENGTH:
        raise ValueError(f"a cursor of {keyset.scope} is longer than {CURSOR_MAX_LENGTH} characters")
    return cursor


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed(
        ("query", "cursor"), "Invalid cursor: pass back a nextCursor of this list", "value_error"
    )


def decode_cursor(keyset: Keyset, cursor: str, *, key: bytes, within: str = "") -> list[Any]:
    """The sort-key values a cursor of this list carries; 422 (`query.cursor`) for a malformed, tampered,
    truncated or foreign cursor (another list, another sort, another `within`, another key or version)."""
    if not (0 < len(cursor) <= CURSOR_MAX_LENGTH and _CURSOR_ALPHABET.fullmatch(cursor)):
        raise _invalid_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error):
        raise _invalid_cursor() from None
    if _b64encode(raw) != cursor:  # other unused low bits in the last character: one spelling per cursor
        raise _invalid_cursor()
    mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    expected = hmac.new(key, keyset._context(within) + b"\0" + body, hashlib.sha256).digest()[:_MAC_BYTES]
    if len(mac) != _MAC_BYTES or not body or not hmac.compare_digest(mac, expected):
        raise _invalid_cursor()
    if body[0] != CURSOR_VERSION:  # signed by us, in a format this code no longer reads
        raise _invalid_cursor()
    try:
        encoded = json.loads(body[1:].decode())
        if not isinstance(encoded, list) or len(encoded) != len(keyset.columns):
            raise ValueError("wrong number of values")
        return [_decode_value(tagged) for tagged in encoded]
    except ValueError:  # JSONDecodeError and UnicodeDecodeError included
        raise _invalid_cursor() from None


def _single_entity(query: Select[*tuple[Any, ...]]) -> bool:
    described = query.column_descriptions
    return (
        len(described) == 1
        and described[0]["entity"] is not None
        and described[0]["expr"] is described[0]["entity"]
    )


async def keyset_page(
    db: AsyncSession,
    query: Select[*tuple[Any, ...]],
    keyset: Keyset,
    *,
    limit: int,
    cursor: str | None,
    key: bytes,
    within: str = "",
) -> CursorPage[Any]:
    """The page after `cursor` (the first page when None) of `query` in `keyset`'s order: one statement.

    `query` holds the columns and filters; its ORDER BY is replaced by the keyset's. It reads `limit + 1`
    rows: the extra one only says whether a next page exists. The items are ORM entities when `query` selects
    one entity (`select(Message)`), else rows. `key`: `cursor_key(settings.jwt_secret_key)`. `within`: the
    filter values that scope the list (a conversation id, an owner id), signed into the cursor so that a
    cursor of one conversation is refused in another; leave it empty when the filters may change between
    pages. A cursor stays valid when its row is deleted (it holds values, not a row reference).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    entities = _single_entity(query)
    missing = [] if entities else sorted(set(keyset.names) - set(query.selected_columns.keys()))
    if missing:  # each row must carry its position, for the next cursor
        raise ValueError(f"the query must select the keyset columns: {', '.join(missing)} missing")
    statement = query.order_by(None).order_by(*keyset.order_by()).limit(limit + 1)
    if cursor is not None:
        statement = statement.where(keyset.after(decode_cursor(keyset, cursor, key=key, within=within)))
    result = await db.execute(statement)
    items: list[Any] = list(result.scalars().all() if entities else result.all())
    if len(items) <= limit:
        return CursorPage(items, None, limit)
    items = items[:limit]
    last = items[-1]
    values = [getattr(last, name) for name in keyset.names]
    return CursorPage(items, encode_cursor(keyset, values, key=key, within=within), limit)


class KeysetStatements:
    """A keyset-paged list on the fast read path (`halolight.db.reads`): its two statements (the first page,
    and a page after a cursor) compiled once, at import, instead of built and compiled per request.

    `query` holds the columns (the keyset's labelled with its names) and filters, with `bindparam`s for the
    request's values; `page` runs one of the two statements (one round trip), reading `limit + 1` rows as
    `keyset_page` does, with the same cursors.
    """

    def __init__(self, query: Select[*tuple[Any, ...]], keyset: Keyset) -> None:
        ordered = query.order_by(None).order_by(*keyset.order_by()).limit(bindparam("limit"))
        self.keyset = keyset
        self._first = Statement(ordered)
        self._after = Statement(ordered.where(keyset.after_bound()))
        # Each row must carry its position, for the next cursor. Rows here are named by SQL (a mapped
        # column by its column name, "createdAt"): label the keyset's columns with the keyset's names.
        missing = sorted(set(keyset.names) - set(self._first.names))
        if missing:
            raise ValueError(f"the query must select the keyset columns: {', '.join(missing)} missing")

    async def page(
        self,
        reads: Reads,
        *,
        limit: int,
        cursor: str | None,
        key: bytes,
        within: str = "",
        **params: Any,
    ) -> CursorPage[Any]:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        keyset = self.keyset
        if cursor is None:
            items = await self._first.rows(reads, limit=limit + 1, **params)
        else:
            values = decode_cursor(keyset, cursor, key=key, within=within)
            after = {f"after_{i}": value for i, value in enumerate(values)}
            items = await self._after.rows(reads, limit=limit + 1, **after, **params)
        if len(items) <= limit:
            return CursorPage(items, None, limit)
        items = items[:limit]
        values = [getattr(items[-1], name) for name in keyset.names]
        return CursorPage(items, encode_cursor(keyset, values, key=key, within=within), limit)
