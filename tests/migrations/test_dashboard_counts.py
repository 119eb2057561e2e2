# ruff: noqa: S608  (the test writes its rows in SQL it builds from constants)
"""The dashboard's counts of migration 0015 stay exact whatever writes the rows (plain SQL, as the NestJS/Java
backends write), through the fold, a TRUNCATE and concurrent writers; appending never makes writers wait.

The test's own figures are counted from the shared tables here, independently of the migration's SQL, in the
shape of the counts table: per subject and period, where periods no figure reads any more (days older than 40
days, months older than 13) are merged into -infinity, as the fold merges them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from alembic import command

from halolight.db.migrate import alembic_config, upgrade
from halolight.repositories import dashboard
from tests.migrations.conftest import Database
from tests.pg import TestServer

NOW = datetime.now(UTC).replace(tzinfo=None)
OLD = NOW - timedelta(days=3 * 365)  # years ago: merged into -infinity by the fold
LAST_MONTH = NOW.replace(day=1) - timedelta(days=20)

SEED = f"""
INSERT INTO users (id, email, username, name, password, "createdAt", "lastLoginAt", "updatedAt")
SELECT 'u' || i, 'u' || i || '@example.com', 'u' || i, 'U' || i, 'x',
       CASE i % 3 WHEN 0 THEN TIMESTAMP '{OLD}' WHEN 1 THEN TIMESTAMP '{LAST_MONTH}' ELSE now() END,
       CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN now() WHEN 2 THEN now() - interval '10 days'
                  ELSE now() - interval '35 days' END,
       now()
FROM generate_series(1, 12) AS i;
INSERT INTO folders (id, name, path, "ownerId", "updatedAt")
SELECT 'fo' || i, 'F' || i, '/f' || i, 'u' || (1 + i % 12), now() FROM generate_series(1, 4) AS i;
INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "folderId", "createdAt", "updatedAt")
SELECT 'f' || i, 'f' || i, 'files/' || i,
       (ARRAY['image/png', 'video/mp4', 'audio/mpeg', 'application/pdf', 'text/plain', 'application/zip',
              'application/octet-stream'])[1 + i % 7],
       1000 * i, 'u' || (1 + i % 12), CASE WHEN i % 5 = 0 THEN 'fo' || (1 + i % 4) END,
       CASE i % 3 WHEN 0 THEN TIMESTAMP '{OLD}' WHEN 1 THEN TIMESTAMP '{LAST_MONTH}' ELSE now() END, now()
FROM generate_series(1, 30) AS i;
INSERT INTO documents (id, title, content, type, "ownerId", "createdAt", "updatedAt")
SELECT 'd' || i, 'D' || i, 'x', 'doc', 'u' || (1 + i % 12),
       CASE i % 2 WHEN 0 THEN TIMESTAMP '{LAST_MONTH}' ELSE now() END, now()
FROM generate_series(1, 20) AS i;
INSERT INTO teams (id, name, "ownerId", "updatedAt") SELECT 't' || i, 'T' || i, 'u1', now()
FROM generate_series(1, 3) AS i;
INSERT INTO calendar_events (id, title, type, "startAt", "endAt", "ownerId", "updatedAt")
SELECT 'e' || i, 'E' || i, 'meeting', now(), now() + interval '1 hour', 'u' || (1 + i % 12), now()
FROM generate_series(1, 5) AS i;
INSERT INTO conversations (id, "updatedAt") SELECT 'c' || i, now() FROM generate_series(1, 3) AS i;
INSERT INTO messages (id, "conversationId", "senderId", content, "createdAt")
SELECT 'm' || i, 'c' || (1 + i % 3), 'u' || (1 + i % 12), 'hi', now() - make_interval(days => i)
FROM generate_series(1, 40) AS i;
INSERT INTO activity_logs (id, "actorId", action, "targetType", "targetId", "createdAt")
SELECT 'a' || i, 'u' || (1 + i % 12), CASE WHEN i % 4 = 0 THEN 'auth.login' ELSE 'document.update' END,
       'Document', 'd1', now() - make_interval(hours => i * 7)
FROM generate_series(1, 200) AS i;
"""
TABLES = (
    "users", "documents", "files", "folders", "teams", "calendar_events", "conversations", "messages",
    "activity_logs",
)  # fmt: skip
KINDS = {
    "image/png": "image", "video/mp4": "video", "audio/mpeg": "audio", "application/pdf": "document",
    "text/plain": "document", "text/csv": "document", "application/zip": "archive",
    "application/octet-stream": "other",
}  # fmt: skip

Figures = dict[tuple[str, date], tuple[int, int]]


def _cut(subject: str, period: date) -> date:
    today = datetime.now(UTC).date()
    if subject.endswith(".day"):
        keep = today - timedelta(days=40)
    else:  # the first day of the month 13 months ago
        months = today.year * 12 + today.month - 1 - 13
        keep = date(months // 12, months % 12 + 1, 1)
    return period if period >= keep else date.min


def _merged(rows: list[tuple[str, date, int, int]]) -> Figures:
    figures: dict[tuple[str, date], list[int]] = {}
    for subject, period, n, size in rows:
        key = (subject, _cut(subject, period))
        total = figures.setdefault(key, [0, 0])
        total[0] += int(n)
        total[1] += int(size)
    return {key: (n, size) for key, (n, size) in figures.items() if n or size}


def counted(conn: psycopg.Connection) -> Figures:
    """What the counts table says (folded or not; -infinity is read as `date.min`), and each folder's size
    (`folder:<id>`) from the folder sizes (folded or not)."""
    rows = conn.execute(
        "SELECT subject, greatest(period, DATE '0001-01-01'), n, bytes FROM halolight_counts"
    ).fetchall()
    rows += conn.execute(
        """SELECT 'folder:' || "folderId", DATE '0001-01-01', files, bytes FROM halolight_folder_sizes"""
    ).fetchall()
    return _merged(rows)


def actual(conn: psycopg.Connection) -> Figures:
    """The same figures, counted from the shared tables by this test."""
    rows: list[tuple[str, date, int, int]] = []
    for table in TABLES:
        sizes = "sum(size)" if table == "files" else "0"
        rows += conn.execute(
            f"SELECT '{table}', CAST(date_trunc('month', \"createdAt\") AS date), count(*), {sizes}"
            f" FROM {table} GROUP BY 2"
        ).fetchall()
    for mime, n in conn.execute('SELECT "mimeType", count(*) FROM files GROUP BY 1').fetchall():
        rows.append((f"files:{KINDS[mime]}", date.min, n, 0))
    rows += conn.execute(
        """SELECT 'folder:' || "folderId", DATE '0001-01-01', count(*), sum(size) FROM files
           WHERE "folderId" IS NOT NULL GROUP BY 1"""
    ).fetchall()
    rows += conn.execute(
        """SELECT 'users:login.day', CAST("lastLoginAt" AS date), count(*), 0 FROM users
           WHERE "lastLoginAt" IS NOT NULL GROUP BY 2"""
    ).fetchall()
    rows += conn.execute(
        """SELECT 'activity_logs:all.day', CAST("createdAt" AS date), count(*), 0
           FROM activity_logs GROUP BY 2
           UNION ALL
           SELECT 'activity_logs:sign_in.day', CAST("createdAt" AS date), count(*), 0 FROM activity_logs
           WHERE action IN ('auth.login', 'auth.register') GROUP BY 2"""
    ).fetchall()
    return _merged(rows)


def scalar(conn: psycopg.Connection, sql: str) -> Any:
    row = conn.execute(sql.encode()).fetchone()
    assert row is not None
    return row[0]


def fold(url: str) -> bool:
    async def run() -> bool:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await dashboard.fold(conn)

    return asyncio.run(run())


@pytest.fixture
def url(database: Database, pg_server: TestServer) -> str:
    return pg_server.libpq_url(database.url)


@pytest.fixture
def conn(database: Database, url: str) -> Iterator[psycopg.Connection]:
    # Rows written before the migration: the counts start from them.
    command.upgrade(alembic_config(database.url), "0014")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(SEED.encode())
    upgrade(database.url)
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


class TestExact:
    def test_the_counts_start_from_the_rows_already_there(self, conn: psycopg.Connection) -> None:
        figures = actual(conn)
        assert counted(conn) == figures
        assert figures[("users", date.min)] == (4, 0) and figures[("files:other", date.min)] == (4, 0)
        assert sum(n for (subject, _), (n, _) in figures.items() if subject == "activity_logs") == 200

    def test_every_kind_of_write_keeps_them_exact(self, conn: psycopg.Connection, url: str) -> None:
        writes = [
            f"""INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "createdAt", "updatedAt")
                VALUES ('nf1', 'n', 'files/n1', 'text/csv', 5, 'u1', now(), now()),
                       ('nf2', 'n', 'files/n2', 'image/png', 7, 'u2', TIMESTAMP '{LAST_MONTH}', now())""",
            """INSERT INTO activity_logs (id, "actorId", action, "targetType", "targetId")
               VALUES ('na1', 'u1', 'auth.login', 'User', 'u1'), ('na2', 'u2', 'auth.register', 'User', 'u2'),
                      ('na3', 'u3', 'file.upload', 'File', 'nf1')""",
            "DELETE FROM files WHERE id IN ('f3', 'f4', 'f5')",
            "DELETE FROM files WHERE id = 'nobody'",
            # The counted columns change: the rows move between months, kinds, sizes and days.
            """UPDATE files SET size = size * 2, "mimeType" = 'application/zip' WHERE id IN ('f1', 'f2')""",
            f"""UPDATE documents SET "createdAt" = TIMESTAMP '{OLD}' WHERE id IN ('d1', 'd2')""",
            """UPDATE users SET "lastLoginAt" = now() WHERE id IN ('u4', 'u8')""",
            """UPDATE users SET "lastLoginAt" = NULL WHERE id = 'u1'""",
            """UPDATE activity_logs SET action = 'auth.login' WHERE id IN ('a1', 'a2')""",
            # Cascades: a user's files, documents, folders, events, messages and actions go with them.
            "DELETE FROM users WHERE id IN ('u5', 'u6')",
            # Files move between folders, into one and out of one; a folder's deletion sets its files'
            # folderId to NULL (an UPDATE by the foreign key's action).
            """UPDATE files SET "folderId" = 'fo2' WHERE id IN ('f1', 'f5')""",
            """UPDATE files SET "folderId" = NULL, size = size + 1 WHERE id = 'f10'""",
            "DELETE FROM folders WHERE id = 'fo1'",
            """INSERT INTO conversations (id, "updatedAt") VALUES ('nc', now())""",
            """INSERT INTO messages (id, "conversationId", "senderId", content)
               SELECT 'nm' || i, 'nc', 'u2', 'x' FROM generate_series(1, 5) AS i""",
            "DELETE FROM conversations WHERE id = 'c1'",
        ]
        for statement in writes:
            conn.execute(statement.encode())
            assert counted(conn) == actual(conn), statement

        # An UPDATE of nothing counted appends nothing.
        rows = scalar(conn, "SELECT count(*) FROM halolight_counts")
        conn.execute("""UPDATE files SET name = 'renamed', "updatedAt" = now()""")
        conn.execute("""UPDATE users SET bio = 'b', "createdAt" = "createdAt" """)
        assert scalar(conn, "SELECT count(*) FROM halolight_counts") == rows

        with conn.transaction(force_rollback=True):
            conn.execute("DELETE FROM files")
            conn.execute("DELETE FROM activity_logs")
            assert counted(conn) == actual(conn)
            assert not any(subject.startswith(("files", "activity_logs")) for subject, _ in counted(conn))
        assert counted(conn) == actual(conn)  # rolled back with the rows

        assert fold(url)
        assert counted(conn) == actual(conn)

        conn.execute("TRUNCATE messages")
        assert counted(conn) == actual(conn)
        assert not any(subject == "messages" for subject, _ in counted(conn))
        conn.execute("TRUNCATE users, conversations CASCADE")  # every table counted
        assert counted(conn) == actual(conn) == {}

    def test_the_fold_keeps_one_row_per_key_and_the_same_figures(
        self, conn: psycopg.Connection, url: str
    ) -> None:
        for i in range(5):
            conn.execute(
                f"""INSERT INTO activity_logs (id, "actorId", action, "targetType", "targetId")
                    VALUES ('fold{i}', 'u1', 'auth.login', 'User', 'u1')"""
            )
            conn.execute(f"DELETE FROM activity_logs WHERE id = 'a{i + 1}'")
        before = actual(conn)
        assert counted(conn) == before
        assert scalar(conn, "SELECT count(*) FROM halolight_counts") > scalar(
            conn, "SELECT count(DISTINCT (subject, period)) FROM halolight_counts"
        )

        assert fold(url)
        assert counted(conn) == before
        assert scalar(conn, "SELECT count(*) FROM halolight_folder_sizes WHERE NOT folded") == 0
        counts = [key for key in before if not key[0].startswith("folder:")]
        # One row per key, nothing that sums to zero, and no period older than the figures read.
        assert conn.execute(
            "SELECT count(*), count(DISTINCT (subject, period)), count(*) FILTER (WHERE n = 0 AND bytes = 0),"
            " count(*) FILTER (WHERE period = '-infinity') FROM halolight_counts"
        ).fetchone() == (len(counts), len(counts), 0, sum(1 for _, p in counts if p == date.min))
        rows = conn.execute("SELECT id FROM halolight_counts ORDER BY id").fetchall()
        assert fold(url)  # nothing to fold: no row is rewritten
        assert conn.execute("SELECT id FROM halolight_counts ORDER BY id").fetchall() == rows

    def test_one_folder_at_a_time(self, conn: psycopg.Connection, url: str) -> None:
        with psycopg.connect(url) as holder:
            holder.execute("SELECT pg_advisory_xact_lock(hashtextextended('halolight-dashboard-fold', 0))")
            assert fold(url) is False
        assert fold(url) is True


class TestConcurrency:
    def test_concurrent_writers_neither_wait_for_each_other_nor_lose_a_count(
        self, conn: psycopg.Connection, url: str
    ) -> None:
        # A writer holding its appended rows uncommitted does not make another writer of the same table and
        # month wait (an UPDATE of one counter row would), nor does the fold.
        with psycopg.connect(url) as first, psycopg.connect(url) as second:
            first.execute(
                """INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "updatedAt")
                   VALUES ('w1', 'w', 'files/w1', 'image/png', 10, 'u1', now())"""
            )
            second.execute("SET lock_timeout = '2s'")
            second.execute(
                """INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "updatedAt")
                   VALUES ('w2', 'w', 'files/w2', 'image/png', 20, 'u2', now())"""
            )
            assert fold(url)  # folds what is committed; the open writers' rows wait for the next fold
            second.commit()
            first.rollback()
        assert counted(conn) == actual(conn)

        # 20 writers at once, each its own connection and a few statements; every fourth rolls back.
        errors: list[BaseException] = []
        start = threading.Barrier(21)

        def writer(i: int) -> None:
            try:
                with psycopg.connect(url) as c:
                    start.wait(10)
                    c.execute(
                        """INSERT INTO files
                             (id, name, path, "mimeType", size, "ownerId", "folderId", "updatedAt")
                           VALUES (%s, 'c', 'files/' || %s, 'application/pdf', %s, 'u2', %s, now())""",
                        (f"cf{i}", f"cf{i}", 100 + i, "fo2" if i % 2 else None),
                    )
                    c.execute(
                        """INSERT INTO activity_logs (id, "actorId", action, "targetType", "targetId")
                           VALUES (%s, 'u3', 'auth.login', 'User', 'u3')""",
                        (f"ca{i}",),
                    )
                    c.execute("DELETE FROM messages WHERE id = %s", (f"m{i + 1}",))
                    if i % 4 == 0:
                        c.rollback()
                    else:
                        c.commit()
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        start.wait(10)
        folds = [fold(url) for _ in range(3)]  # folding while they write
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        assert any(folds)
        assert counted(conn) == actual(conn)
        assert scalar(conn, "SELECT count(*) FROM files WHERE id LIKE 'cf%'") == 15
        assert fold(url)
        assert counted(conn) == actual(conn)


class TestDowngrade:
    def test_downgrade_removes_the_table_the_triggers_the_functions_and_the_index(
        self, conn: psycopg.Connection, database: Database
    ) -> None:
        command.downgrade(alembic_config(database.url), "0014")

        def names(sql: str) -> list[Any]:
            return [row[0] for row in conn.execute(sql).fetchall()]

        assert names("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'halolight_dashboard%'") == []
        assert names("SELECT proname FROM pg_proc WHERE proname LIKE 'halolight_dashboard%'") == []
        assert names("SELECT relname FROM pg_class WHERE relname LIKE 'halolight_counts%'") == []
        assert names("SELECT relname FROM pg_class WHERE relname LIKE 'halolight_folder_sizes%'") == []
        assert (
            names(
                "SELECT indexname FROM pg_indexes"
                " WHERE indexname IN ('halolight_users_last_login', 'halolight_calendar_events_span')"
            )
            == []
        )
        # Writes work without them, and upgrading again recounts from the rows.
        conn.execute("DELETE FROM files WHERE id = 'f1'")
        upgrade(database.url)
        assert counted(conn) == actual(conn)
