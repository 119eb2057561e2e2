"""Keyset paging (`halolight.repositories.paging.keyset_page`) on the real `users` table, in the rolled-back
`db` transaction: complete and ordered walks, stability under inserts, signed cursors, the index plan, one
statement per page."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Text, bindparam, delete, event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import User
from halolight.db.reads import SessionReads
from halolight.errors import ValidationFailed
from halolight.repositories.paging import (
    CURSOR_MAX_LENGTH,
    CursorPage,
    Keyset,
    KeysetStatements,
    cursor_key,
    decode_cursor,
    encode_cursor,
    keyset_page,
)
from halolight.settings import Settings
from tests.conftest import CountStatements

NEWEST_FIRST = Keyset.desc("test-users", User.created_at, User.id)
OLDEST_FIRST = Keyset.asc("test-users", User.created_at, User.id)
# The index the all-DESC order needs (migration 0004's `halolight_users_created_at_id` is `createdAt DESC,
# id` for the offset lists): created inside the test transaction, rolled back with it.
TEST_INDEX = "halolight_test_users_created_at_id_desc"
BASE = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = 260


@pytest.fixture(scope="module")
def key(settings: Settings) -> bytes:
    return cursor_key(settings.jwt_secret_key)


def _user(n: int, created_at: datetime) -> dict[str, Any]:
    return {
        # Ids not in insertion order, so that within one createdAt the id tie-breaker decides.
        "id": f"kp{uuid.uuid5(uuid.NAMESPACE_OID, str(n)).hex[:20]}",
        "email": f"keyset-{n}@example.com",
        "username": f"keyset{n}",
        "name": f"Keyset {n}",
        "password": "x",
        "created_at": created_at,
        "updated_at": created_at,
    }


@pytest.fixture
async def users(db: AsyncSession) -> AsyncSession:
    """`ROWS` more users, four per createdAt (ties), and the all-DESC index; analysed like a live table."""
    rows = [_user(n, BASE + timedelta(milliseconds=n // 4)) for n in range(ROWS)]
    await db.execute(insert(User), rows)
    await db.execute(text(f'CREATE INDEX {TEST_INDEX} ON users ("createdAt" DESC, id DESC)'))
    await db.execute(text("ANALYZE users"))
    return db


async def _expected_ids(db: AsyncSession, keyset: Keyset) -> list[str]:
    """Every user id in the keyset's order, as PostgreSQL sorts them (its collation decides the id ties)."""
    return list((await db.scalars(select(User.id).order_by(*keyset.order_by()))).all())


async def _walk(db: AsyncSession, keyset: Keyset, limit: int, key: bytes) -> list[CursorPage[Any]]:
    pages: list[CursorPage[Any]] = []
    cursor: str | None = None
    while True:
        page = await keyset_page(
            db, select(User.id, User.created_at), keyset, limit=limit, cursor=cursor, key=key
        )
        pages.append(page)
        if page.next_cursor is None:
            return pages
        assert len(page.items) == limit
        cursor = page.next_cursor
        assert len(pages) <= 1000, "the walk does not end"


class TestWalk:
    @pytest.mark.parametrize("limit", [1, 3, 7, 50, 100])
    @pytest.mark.parametrize("keyset", [NEWEST_FIRST, OLDEST_FIRST], ids=["desc", "asc"])
    async def test_every_row_once_in_order(
        self, users: AsyncSession, keyset: Keyset, limit: int, key: bytes
    ) -> None:
        expected = await _expected_ids(users, keyset)
        assert len(expected) >= ROWS
        pages = await _walk(users, keyset, limit, key)
        seen = [row.id for page in pages for row in page.items]
        assert seen == expected
        # The extra row read tells which page is the last: never an empty page after it.
        assert len(pages) == -(-len(expected) // limit)
        assert all(page.limit == limit for page in pages)

    async def test_last_page_is_known_without_an_empty_page(self, users: AsyncSession, key: bytes) -> None:
        total = len(await _expected_ids(users, NEWEST_FIRST))
        everything = await keyset_page(
            users, select(User.id, User.created_at), NEWEST_FIRST, limit=total, cursor=None, key=key
        )
        assert len(everything.items) == total and everything.next_cursor is None
        short = await keyset_page(
            users, select(User.id, User.created_at), NEWEST_FIRST, limit=total - 1, cursor=None, key=key
        )
        assert short.next_cursor is not None
        last = await keyset_page(
            users,
            select(User.id, User.created_at),
            NEWEST_FIRST,
            limit=total - 1,
            cursor=short.next_cursor,
            key=key,
        )
        assert len(last.items) == 1 and last.next_cursor is None

    async def test_the_query_must_select_the_keyset_columns(self, users: AsyncSession, key: bytes) -> None:
        with pytest.raises(ValueError, match="created_at missing"):
            await keyset_page(users, select(User.id), NEWEST_FIRST, limit=5, cursor=None, key=key)

    async def test_orm_entities_and_filters(self, users: AsyncSession, key: bytes) -> None:
        query = select(User).where(User.email.like("keyset-%"))
        cursor: str | None = None
        seen: list[User] = []
        while True:
            page = await keyset_page(users, query, NEWEST_FIRST, limit=40, cursor=cursor, key=key)
            assert all(isinstance(item, User) for item in page.items)
            seen += page.items
            if (cursor := page.next_cursor) is None:
                break
        expected = [i for i in await _expected_ids(users, NEWEST_FIRST) if i.startswith("kp")]
        assert [user.id for user in seen] == expected and len(expected) == ROWS

    async def test_one_statement_per_page(
        self, users: AsyncSession, key: bytes, count_statements: CountStatements
    ) -> None:
        cursor: str | None = None
        for _ in range(3):
            with count_statements(users) as statements:
                page = await keyset_page(
                    users, select(User.id, User.created_at), NEWEST_FIRST, limit=25, cursor=cursor, key=key
                )
            assert len(statements) == 1, statements
            assert "LIMIT" in statements[0] and "OFFSET" not in statements[0]
            cursor = page.next_cursor


class TestConcurrentChanges:
    async def test_inserts_and_deletes_between_pages_skip_or_repeat_nothing(
        self, users: AsyncSession, key: bytes
    ) -> None:
        before = await _expected_ids(users, NEWEST_FIRST)
        seen: list[str] = []
        cursor: str | None = None
        extra = ROWS
        while True:
            page = await keyset_page(
                users, select(User.id, User.created_at), NEWEST_FIRST, limit=17, cursor=cursor, key=key
            )
            seen += [row.id for row in page.items]
            if (cursor := page.next_cursor) is None:
                break
            last = page.items[-1]
            # Newer rows, rows tied with the page's last row (on both sides of its id), older rows...
            new = [
                _user(extra, datetime.now(UTC)),
                _user(extra + 1, last.created_at),
                _user(extra + 2, last.created_at),
                _user(extra + 3, BASE - timedelta(days=1)),
            ]
            extra += len(new)
            await users.execute(insert(User), new)
            # ...and the cursor's own row deleted: the cursor holds values, not a reference to the row.
            await users.execute(delete(User).where(User.id == last.id))
        assert len(seen) == len(set(seen)), "a row was returned twice"
        assert [i for i in seen if i in set(before)] == before, "an existing row was skipped or moved"


class TestCursor:
    async def _cursor(self, users: AsyncSession, key: bytes) -> str:
        page = await keyset_page(
            users, select(User.id, User.created_at), NEWEST_FIRST, limit=5, cursor=None, key=key
        )
        assert page.next_cursor is not None
        return page.next_cursor

    @staticmethod
    def _flip(cursor: str, at: int) -> str:
        swapped = "A" if cursor[at] != "A" else "B"
        return cursor[:at] + swapped + cursor[at + 1 :]

    @staticmethod
    def _respell_last(cursor: str) -> str:
        """The same bytes with other unused low bits in the last character (when it has any)."""
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        unused = {2: 4, 3: 2}.get(len(cursor) % 4, 0)
        last = alphabet.index(cursor[-1])
        return cursor[:-1] + alphabet[last ^ ((1 << unused) - 1)] if unused else cursor + "A"

    async def test_cursor_is_url_safe_and_bounded(self, users: AsyncSession, key: bytes) -> None:
        cursor = await self._cursor(users, key)
        assert len(cursor) <= CURSOR_MAX_LENGTH
        assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    @pytest.mark.parametrize(
        "spoil",
        [
            pytest.param(lambda c: TestCursor._flip(c, 3), id="tampered-mac"),
            pytest.param(lambda c: TestCursor._flip(c, len(c) // 2), id="tampered-payload"),
            pytest.param(lambda c: TestCursor._flip(c, len(c) - 1), id="tampered-end"),
            pytest.param(lambda c: c[:-4], id="truncated"),
            pytest.param(lambda c: c[:10], id="truncated-to-mac"),
            pytest.param(lambda c: c + "AAAA", id="extended"),
            pytest.param(lambda c: "", id="empty"),
            pytest.param(lambda c: "not a cursor!", id="alphabet"),
            pytest.param(lambda c: c + "=", id="padding"),
            pytest.param(lambda c: TestCursor._respell_last(c), id="non-canonical-base64"),
            pytest.param(lambda c: "A", id="one-character"),
            pytest.param(lambda c: "A" * (CURSOR_MAX_LENGTH + 1), id="too-long"),
            pytest.param(lambda c: base64.urlsafe_b64encode(bytes(64)).decode().rstrip("="), id="zeros"),
        ],
    )
    async def test_spoiled_cursor_is_422(self, users: AsyncSession, key: bytes, spoil: Any) -> None:
        cursor = spoil(await self._cursor(users, key))
        with pytest.raises(ValidationFailed) as caught:
            await keyset_page(
                users, select(User.id, User.created_at), NEWEST_FIRST, limit=5, cursor=cursor, key=key
            )
        assert caught.value.issues[0]["loc"] == ["query", "cursor"]

    @pytest.mark.parametrize(
        ("keyset", "within", "other_key"),
        [
            pytest.param(Keyset.desc("teams", User.created_at, User.id), "", False, id="other-list"),
            pytest.param(OLDEST_FIRST, "", False, id="other-direction"),
            pytest.param(Keyset.desc("test-users", User.updated_at, User.id), "", False, id="other-columns"),
            pytest.param(NEWEST_FIRST, "team-1", False, id="other-within"),
            pytest.param(NEWEST_FIRST, "", True, id="other-key"),
        ],
    )
    async def test_foreign_cursor_is_422(
        self, users: AsyncSession, key: bytes, keyset: Keyset, within: str, other_key: bool
    ) -> None:
        cursor = await self._cursor(users, key)
        used_key = cursor_key("another secret of at least thirty-two characters") if other_key else key
        with pytest.raises(ValidationFailed) as caught:
            await keyset_page(
                users, select(User), keyset, limit=5, cursor=cursor, key=used_key, within=within
            )
        assert caught.value.issues[0]["loc"] == ["query", "cursor"]

    def test_one_spelling_per_cursor(self, key: bytes) -> None:
        respelled = 0
        for tail in ("x", "xy", "xyz", "wxyz"):
            cursor = encode_cursor(NEWEST_FIRST, [BASE, tail], key=key)
            other = self._respell_last(cursor)
            respelled += not other.startswith(cursor)
            with pytest.raises(ValidationFailed):
                decode_cursor(NEWEST_FIRST, other, key=key)
        assert respelled >= 2

    def test_within_is_signed(self, key: bytes) -> None:
        cursor = encode_cursor(NEWEST_FIRST, [BASE, "x"], key=key, within="team-1")
        assert decode_cursor(NEWEST_FIRST, cursor, key=key, within="team-1") == [BASE, "x"]
        with pytest.raises(ValidationFailed):
            decode_cursor(NEWEST_FIRST, cursor, key=key, within="team-2")

    @pytest.mark.parametrize(
        "value",
        [
            datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC),
            datetime(2026, 3, 4, 5, 6, 7, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            datetime(2026, 3, 4, 5, 6, 7, 999999),  # naive stays naive
            date(2026, 3, 4),
            Decimal("12.3400"),
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            -(2**70),
            1.0000000000000002,
            True,
            "ünïcødé 🚀 id",
        ],
    )
    def test_values_round_trip_exactly(self, key: bytes, value: Any) -> None:
        keyset = Keyset.desc("round-trip", User.created_at, User.id)
        cursor = encode_cursor(keyset, [value, "id"], key=key)
        decoded, _ = decode_cursor(keyset, cursor, key=key)
        assert decoded == value and type(decoded) is type(value)
        if isinstance(value, datetime):
            assert decoded.utcoffset() == value.utcoffset() and decoded.microsecond == value.microsecond

    def test_null_and_unknown_values_are_refused_when_encoding(self, key: bytes) -> None:
        with pytest.raises(ValueError, match="NOT NULL"):
            encode_cursor(NEWEST_FIRST, [None, "x"], key=key)
        with pytest.raises(TypeError):
            encode_cursor(NEWEST_FIRST, [object(), "x"], key=key)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@contextmanager
def _captured(db: AsyncSession) -> Iterator[list[tuple[str, Any]]]:
    """The statements sent through `db`, with their parameters as sent to the driver."""
    sent: list[tuple[str, Any]] = []
    target = db.get_bind()

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        sent.append((statement, parameters))

    event.listen(target, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(target, "before_cursor_execute", record)


class TestPlan:
    @pytest.mark.parametrize("keyset", [NEWEST_FIRST, OLDEST_FIRST], ids=["desc", "asc"])
    async def test_pages_are_index_range_scans(self, users: AsyncSession, key: bytes, keyset: Keyset) -> None:
        query = select(User.id, User.created_at)
        first = await keyset_page(users, query, keyset, limit=20, cursor=None, key=key)
        with _captured(users) as sent:
            await keyset_page(users, query, keyset, limit=20, cursor=first.next_cursor, key=key)
        [(statement, parameters)] = sent
        connection = await users.connection()
        result = await connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
        plan = result.scalar_one()[0]["Plan"]
        nodes = list(_nodes(plan))
        sorts = [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")]
        assert not any(inner["Node Type"] == "Seq Scan" for sort in sorts for inner in _nodes(sort)), plan
        scans = [n for n in nodes if n["Node Type"] in ("Index Scan", "Index Only Scan")]
        assert [n["Index Name"] for n in scans] == [TEST_INDEX], plan
        # The row comparison bounds the index range (where the scan starts), not a filter over rows read.
        assert "ROW" in scans[0].get("Index Cond", ""), plan
        assert "Filter" not in scans[0], plan


class TestKeysetStatements:
    """The compiled-once form on the fast read path (`KeysetStatements`): the same pages and cursors as
    `keyset_page`, so either may continue the other's walk."""

    @pytest.mark.parametrize("limit", [1, 7, 100])
    @pytest.mark.parametrize("keyset", [NEWEST_FIRST, OLDEST_FIRST], ids=["desc", "asc"])
    async def test_the_same_walk_as_keyset_page(
        self, users: AsyncSession, keyset: Keyset, limit: int, key: bytes
    ) -> None:
        query = select(User.id, User.created_at.label("created_at")).where(
            User.email.like(bindparam("pattern", type_=Text))
        )
        statements = KeysetStatements(query, keyset)
        reads = SessionReads(users)
        expected = await _walk(users, keyset, limit, key)
        cursor: str | None = None
        for want in expected:
            page = await statements.page(reads, limit=limit, cursor=cursor, key=key, pattern="%")
            assert [(row.id, row.created_at) for row in page.items] == [
                (row.id, row.created_at) for row in want.items
            ]
            assert page.next_cursor == want.next_cursor  # interchangeable with keyset_page's
            cursor = page.next_cursor
        assert cursor is None

    async def test_filters_bind_per_call_and_bad_cursors_are_422(
        self, users: AsyncSession, key: bytes
    ) -> None:
        statements = KeysetStatements(
            select(User.id, User.created_at.label("created_at")).where(
                User.email.like(bindparam("pattern", type_=Text))
            ),
            NEWEST_FIRST,
        )
        reads = SessionReads(users)
        one = await statements.page(reads, limit=5, cursor=None, key=key, pattern="keyset-7@example.com")
        assert len(one.items) == 1 and one.next_cursor is None
        with pytest.raises(ValidationFailed):
            await statements.page(reads, limit=5, cursor="abc", key=key, pattern="%")
        other = encode_cursor(OLDEST_FIRST, [BASE, "x"], key=key)  # another sort's cursor
        with pytest.raises(ValidationFailed):
            await statements.page(reads, limit=5, cursor=other, key=key, pattern="%")

    def test_the_keyset_columns_must_be_selected_under_their_names(self) -> None:
        with pytest.raises(ValueError, match="created_at missing"):
            KeysetStatements(select(User.id), NEWEST_FIRST)
        with pytest.raises(ValueError, match="created_at missing"):  # there, "createdAt"
            KeysetStatements(select(User.id, User.created_at), NEWEST_FIRST)
