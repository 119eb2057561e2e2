"""The counters of migration 0005 stay exact whatever writes the rows, and never deadlock two writers."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from halolight.db.migrate import alembic_config, upgrade
from tests.migrations.conftest import Database
from tests.pg import TestServer

SEED = """
INSERT INTO roles (id, name, label, "updatedAt") VALUES
  ('role-a', 'A', 'A', now()), ('role-b', 'B', 'B', now()), ('role-c', 'C', 'C', now());
INSERT INTO users (id, email, username, name, password, status, "updatedAt")
SELECT 'u' || i, 'u' || i || '@example.com', 'u' || i, 'U' || i, 'x', 'ACTIVE', now()
FROM generate_series(1, 30) i;
INSERT INTO user_roles ("userId", "roleId") SELECT 'u' || i, 'role-a' FROM generate_series(1, 30) i;
INSERT INTO user_roles ("userId", "roleId") SELECT 'u' || i, 'role-b' FROM generate_series(1, 10) i;
"""
GRANT = 'INSERT INTO user_roles ("userId", "roleId") VALUES'


@pytest.fixture
def conn(database: Database, pg_server: TestServer) -> Iterator[psycopg.Connection]:
    # Rows written before the migration: the counters start from them.
    libpq = pg_server.libpq_url(database.url)
    command.upgrade(alembic_config(database.url), "0004")
    with psycopg.connect(libpq, autocommit=True) as connection:
        connection.execute(SEED.encode())
    upgrade(database.url)
    with psycopg.connect(libpq, autocommit=True) as connection:
        yield connection


def counters(conn: psycopg.Connection) -> dict[str, int]:
    return {key: n for key, n in conn.execute("SELECT key, n FROM halolight_row_counts WHERE n <> 0")}


def actual(conn: psycopg.Connection) -> dict[str, int]:
    counts = {"users": conn.execute("SELECT count(*) FROM users").fetchone()[0]}  # type: ignore[index]
    for role_id, n in conn.execute('SELECT "roleId", count(*) FROM user_roles GROUP BY 1'):
        counts[f"role_users:{role_id}"] = n
    return {key: n for key, n in counts.items() if n}


class TestExact:
    def test_the_counts_start_from_the_rows_already_there(self, conn: psycopg.Connection) -> None:
        assert (
            counters(conn) == actual(conn) == {"users": 30, "role_users:role-a": 30, "role_users:role-b": 10}
        )

    def test_every_kind_of_write_keeps_them_exact(self, conn: psycopg.Connection) -> None:
        writes = [
            "INSERT INTO user_roles (\"userId\", \"roleId\") VALUES ('u11', 'role-b'), ('u25', 'role-c')",
            "DELETE FROM user_roles WHERE \"userId\" IN ('u2', 'u3') AND \"roleId\" = 'role-a'",
            "UPDATE user_roles SET \"roleId\" = 'role-c' WHERE \"roleId\" = 'role-b' AND \"userId\" < 'u5'",
            "DELETE FROM users WHERE id IN ('u4', 'u5', 'u6')",  # cascades to their roles
            "DELETE FROM roles WHERE id = 'role-c'",  # cascades to its holders
            "DELETE FROM users WHERE id = 'nobody'",
            'INSERT INTO users (id, email, username, name, password, status, "updatedAt") '
            "VALUES ('new', 'new@example.com', 'new', 'New', 'x', 'ACTIVE', now())",
        ]
        for statement in writes:
            conn.execute(statement.encode())
            assert counters(conn) == actual(conn), statement

        with conn.transaction(force_rollback=True):
            conn.execute("DELETE FROM users")
            assert counters(conn) == actual(conn) == {}
        assert counters(conn) == actual(conn)  # rolled back with the rows

        conn.execute("TRUNCATE users CASCADE")
        assert counters(conn) == actual(conn) == {}


class TestConcurrency:
    def test_writers_that_touch_roles_in_opposite_orders_do_not_deadlock(
        self, conn: psycopg.Connection, database: Database, pg_server: TestServer
    ) -> None:
        libpq = pg_server.libpq_url(database.url)
        errors: list[BaseException] = []
        with psycopg.connect(libpq) as first, psycopg.connect(libpq) as second:
            first.execute(
                "INSERT INTO user_roles (\"userId\", \"roleId\") VALUES ('u20', 'role-b'), ('u20', 'role-c')"
            )

            def other() -> None:
                try:
                    second.execute(f"{GRANT} ('u21', 'role-c'), ('u21', 'role-b')".encode())
                    second.commit()
                except BaseException as error:  # reported below, with the thread's error
                    errors.append(error)

            waiter = threading.Thread(target=other)
            waiter.start()
            waiter.join(0.5)
            assert waiter.is_alive()  # waits for the first writer's counter rows, in the same order
            first.commit()
            waiter.join(10)
        assert not errors, errors
        assert counters(conn) == actual(conn)

    def test_a_statement_that_touches_no_row_locks_no_counter(
        self, conn: psycopg.Connection, database: Database, pg_server: TestServer
    ) -> None:
        libpq = pg_server.libpq_url(database.url)
        with psycopg.connect(libpq) as first, psycopg.connect(libpq) as second:
            first.execute("DELETE FROM users WHERE id = 'u30'")  # holds the `users` counter until it ends
            second.execute("SET lock_timeout = '2s'")
            second.execute("DELETE FROM users WHERE id = 'nobody'")  # would time out on the counter's lock
            second.commit()
            first.commit()
        assert counters(conn) == actual(conn)
