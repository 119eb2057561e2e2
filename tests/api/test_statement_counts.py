"""No N+1, and the hot path's round trips: statement counts, not timings.

Every list operation sends as many SQL statements for a page of 1 as for a page of 100 (this test stays for
every module that comes later: add its list paths to `LISTS`). Authentication is one statement, and a
pooled connection the server dropped does not fail the next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from halolight.app import create_app
from halolight.db import migrate
from halolight.db.reads import PoolReads
from halolight.serve import seed_database
from halolight.settings import Settings
from tests.api.helpers import ADMIN, auth_headers, login, register, unique_email
from tests.conftest import CountStatements
from tests.pg import TestServer

ROWS = 120  # more than the largest page

# Every list operation, and its filters that change the query's shape.
LISTS = [
    "/api/users",
    "/api/users?search=bulk",
    "/api/users?search=bu",
    "/api/users?status=ACTIVE&role=BULK-ROLE-7",
    "/api/roles",
    "/api/roles?search=bulk",
    "/api/permissions",
    "/api/permissions?search=bulk",
    "/api/teams",
    "/api/teams?search=bulk",
    "/api/files/bulk-file-1/access-logs",
    "/api/documents",
    "/api/documents?search=bulk",
    "/api/documents?search=批量",
    "/api/documents?tags=bulk-tag&tags=BULK-TAG-2",
    "/api/notifications",
    "/api/notifications?unread=true",
    "/api/messages/conversations",
    "/api/messages/conversations/bulk-conv-1",
    # The admin's own events and those they attend, each with its organizer and two attendees.
    "/api/calendar/events?start=2030-01-01T00:00:00Z&end=2030-03-01T00:00:00Z",
]

BULK_ROWS = """
INSERT INTO users (id, email, username, name, password, status, "updatedAt")
SELECT 'bulk-user-' || i, 'bulk' || i || '@example.com', 'bulk' || i, 'Bulk User ' || i, 'x', 'ACTIVE', now()
FROM generate_series(1, __ROWS__) i;
INSERT INTO roles (id, name, label, "updatedAt")
SELECT 'bulk-role-' || i, 'BULK-ROLE-' || i, 'Bulk role ' || i, now() FROM generate_series(1, __ROWS__) i;
INSERT INTO permissions (id, action, resource, "updatedAt")
SELECT 'bulk-perm-' || i, 'bulk' || i || ':view', 'bulk' || i, now() FROM generate_series(1, __ROWS__) i;
INSERT INTO role_permissions ("roleId", "permissionId")
SELECT 'bulk-role-' || i, 'bulk-perm-' || ((i + k) % __ROWS__ + 1)
FROM generate_series(1, __ROWS__) i, generate_series(0, 2) k;
INSERT INTO user_roles ("userId", "roleId")
SELECT 'bulk-user-' || i, 'bulk-role-' || ((i + k) % __ROWS__ + 1)
FROM generate_series(1, __ROWS__) i, generate_series(0, 1) k;
INSERT INTO user_roles ("userId", "roleId")
SELECT 'bulk-user-' || i, 'bulk-role-7' FROM generate_series(1, __ROWS__) i
ON CONFLICT DO NOTHING;
INSERT INTO teams (id, name, "ownerId", "updatedAt")
SELECT 'bulk-team-' || i, 'Bulk team ' || i, 'bulk-user-' || i, now() FROM generate_series(1, __ROWS__) i;
INSERT INTO team_members ("teamId", "userId", "roleId")
SELECT 'bulk-team-' || i, 'bulk-user-' || ((i + k) % __ROWS__ + 1), 'bulk-role-1'
FROM generate_series(1, __ROWS__) i, generate_series(0, 2) k;
INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "updatedAt")
SELECT 'bulk-file-1', 'bulk.pdf', 'files/bu/bulk', 'application/pdf', 1, id, now()
FROM users WHERE email = 'admin@halolight.h7ml.cn';
INSERT INTO halolight_file_shares (id, "fileId", "tokenHash")
VALUES ('bulk-share-1', 'bulk-file-1', repeat('0', 64));
INSERT INTO halolight_file_access_logs (id, "shareId", "fileId", "userId", "ipAddress", "accessedAt")
SELECT 'bulk-access-' || i, 'bulk-share-1', 'bulk-file-1', 'bulk-user-' || i, '192.0.2.1',
       now() - i * interval '1 s'
FROM generate_series(1, __ROWS__) i;
INSERT INTO documents (id, title, content, type, size, "ownerId", "updatedAt")
SELECT 'bulk-doc-' || i, 'Bulk document ' || i, '批量文档 number ' || i, 'doc', 20,
       CASE WHEN i % 2 = 0 THEN (SELECT id FROM users WHERE email = 'admin@halolight.h7ml.cn')
            ELSE 'bulk-user-' || i END,
       now() - make_interval(secs => i)
FROM generate_series(1, __ROWS__) i;
INSERT INTO document_shares (id, "documentId", "sharedWithId", permission)
SELECT 'bulk-share-' || i, 'bulk-doc-' || i, (SELECT id FROM users WHERE email = 'admin@halolight.h7ml.cn'),
       'READ' FROM generate_series(1, __ROWS__) i WHERE i % 2 = 1;
INSERT INTO tags (id, name) VALUES ('bulk-tag-1', 'bulk-tag'), ('bulk-tag-2', 'Bulk-Tag-2');
INSERT INTO document_tags ("documentId", "tagId")
SELECT 'bulk-doc-' || i, 'bulk-tag-' || k FROM generate_series(1, __ROWS__) i, generate_series(1, 2) k;
INSERT INTO notifications (id, "userId", type, title, content, read, "createdAt")
SELECT 'bulk-note-' || i, (SELECT id FROM users WHERE email = 'admin@halolight.h7ml.cn'), 'test', 'Bulk', 'x',
       i % 2 = 0, now() - make_interval(secs => i)
FROM generate_series(1, 2 * __ROWS__) i;
INSERT INTO conversations (id, "isGroup", "updatedAt")
SELECT 'bulk-conv-' || i, i % 3 = 0, now() - make_interval(secs => i) FROM generate_series(1, __ROWS__) i;
INSERT INTO conversation_participants ("conversationId", "userId", "unreadCount")
SELECT 'bulk-conv-' || i, (SELECT id FROM users WHERE email = 'admin@halolight.h7ml.cn'), i % 4
FROM generate_series(1, __ROWS__) i;
INSERT INTO conversation_participants ("conversationId", "userId", "lastReadAt")
SELECT 'bulk-conv-' || i, 'bulk-user-' || ((i + k) % __ROWS__ + 1), CASE WHEN k = 0 THEN now() END
FROM generate_series(1, __ROWS__) i, generate_series(0, 2) k WHERE k = 0 OR i % 3 = 0;
INSERT INTO messages (id, "conversationId", "senderId", content, "createdAt")
SELECT 'bulk-msg-' || i || '-' || k, 'bulk-conv-' || i,
       CASE WHEN k % 2 = 0 THEN 'bulk-user-' || (i % __ROWS__ + 1)
            ELSE (SELECT id FROM users WHERE email = 'admin@halolight.h7ml.cn') END,
       '批量消息 ' || k, now() - make_interval(secs => i * 1000 + k)
FROM generate_series(1, __ROWS__) i, generate_series(1, 3) k;
INSERT INTO messages (id, "conversationId", "senderId", content, "createdAt")
SELECT 'bulk-msg-1-x' || i, 'bulk-conv-1', 'bulk-user-2', 'More ' || i, now() - make_interval(secs => 500 + i)
FROM generate_series(1, __ROWS__) i;
INSERT INTO calendar_events (id, title, type, "startAt", "endAt", "ownerId", "updatedAt")
SELECT 'bulk-event-' || i, 'Bulk event ' || i, 'meeting', timestamp '2030-01-01' + i * interval '9 hours',
       timestamp '2030-01-01' + i * interval '9 hours' + interval '1 hour',
       CASE WHEN i % 2 = 0 THEN (SELECT id FROM users WHERE email = 'admin@halolight.h7ml.cn')
            ELSE 'bulk-user-' || i END, now()
FROM generate_series(1, __ROWS__) i;
INSERT INTO event_attendees ("eventId", "userId")
SELECT 'bulk-event-' || i, 'bulk-user-' || ((i + k) % __ROWS__ + 1)
FROM generate_series(1, __ROWS__) i, generate_series(1, 2) k;
INSERT INTO event_attendees ("eventId", "userId", status)
SELECT 'bulk-event-' || i, (SELECT id FROM users WHERE email = 'admin@halolight.h7ml.cn'), 'ACCEPTED'
FROM generate_series(1, __ROWS__) i WHERE i % 2 = 1;
""".replace("__ROWS__", str(ROWS))


@pytest.fixture(scope="module")
def bulk_url(pg_server: TestServer, settings: Settings) -> str:
    """A database of its own (the shared one's totals stay as other tests expect), with enough rows."""
    url = pg_server.create_database("counts")
    migrate.upgrade(url)
    asyncio.run(seed_database(settings, url))
    with psycopg.connect(pg_server.libpq_url(url), autocommit=True) as conn:
        conn.execute(BULK_ROWS.encode())
    return url


@pytest.fixture(scope="module")
async def bulk_app(settings: Settings, bulk_url: str) -> AsyncIterator[FastAPI]:
    app = create_app(settings, bulk_url)
    yield app
    await app.state.runtime.close()


@pytest.fixture(scope="module")
async def bulk_client(bulk_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=bulk_app, client=("203.0.113.20", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def _statements(
    client: httpx.AsyncClient, app: FastAPI, count_statements: CountStatements, url: str, limit: int
) -> tuple[list[str], int]:
    headers = await auth_headers(client, ADMIN)
    separator = "&" if "?" in url else "?"
    with count_statements(app.state.runtime.engine) as statements:
        response = await client.get(f"{url}{separator}limit={limit}", headers=headers)
    assert response.status_code == 200, response.text
    return list(statements), len(response.json()["data"])


class TestNoNPlusOne:
    @pytest.mark.parametrize("url", LISTS)
    async def test_a_page_of_100_sends_the_statements_of_a_page_of_1(
        self,
        bulk_client: httpx.AsyncClient,
        bulk_app: FastAPI,
        count_statements: CountStatements,
        url: str,
    ) -> None:
        one, one_items = await _statements(bulk_client, bulk_app, count_statements, url, 1)
        hundred, hundred_items = await _statements(bulk_client, bulk_app, count_statements, url, 100)

        assert (one_items, hundred_items) == (1, 100)  # the rows exist: the comparison is not vacuous
        assert len(hundred) == len(one), (one, hundred)


class TestHotPath:
    async def test_authentication_is_one_statement(
        self, bulk_client: httpx.AsyncClient, bulk_app: FastAPI, count_statements: CountStatements
    ) -> None:
        headers = await auth_headers(bulk_client, ADMIN)
        with count_statements(bulk_app.state.runtime.engine) as statements:
            response = await bulk_client.get("/api/auth/me", headers=headers)
        assert response.status_code == 200
        # One for authentication (session, status and permissions), one for the profile with its roles.
        assert len(statements) == 2, statements

    async def test_login_reads_the_user_with_their_roles_in_one_statement(
        self,
        bulk_client: httpx.AsyncClient,
        bulk_app: FastAPI,
        count_statements: CountStatements,
        pg_server: TestServer,
        bulk_url: str,
    ) -> None:
        email = unique_email()
        user_id = (await register(bulk_client, email))["user"]["id"]

        async def login_statements() -> tuple[list[str], dict[str, Any]]:
            with count_statements(bulk_app.state.runtime.engine) as statements:
                body = await login(bulk_client, email, "securePass123")
            return list(statements), body

        few, one_role = await login_statements()
        with psycopg.connect(pg_server.libpq_url(bulk_url), autocommit=True) as conn:
            conn.execute(
                """INSERT INTO user_roles ("userId", "roleId") SELECT %s, 'bulk-role-' || i
                FROM generate_series(1, 50) i""",
                (user_id,),
            )
        many, fifty_one_roles = await login_statements()
        assert (len(one_role["user"]["roles"]), len(fifty_one_roles["user"]["roles"])) == (1, 51)
        assert len(fifty_one_roles["user"]["permissions"]) > 50  # each bulk role brings its own permissions
        assert len(many) == len(few), (few, many)
        # The user, their roles and the roles' permissions: one SELECT (then the session and last login).
        selects = [s for s in many if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 1, selects

    async def test_safe_requests_read_without_transactions_and_cannot_write(self, bulk_app: FastAPI) -> None:
        reads = PoolReads(bulk_app.state.runtime.reads)
        try:
            connection = await reads.connection()
            assert connection.autocommit  # no BEGIN / COMMIT round trips around a GET's reads
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                await connection.execute("UPDATE users SET name = name WHERE id = 'nobody'")
        finally:
            await reads.release()

    async def test_the_sessions_of_safe_requests_cannot_write_either(self, bulk_app: FastAPI) -> None:
        # GET handlers that read through the ORM session (`ctx.db`) get READ ONLY transactions.
        async with bulk_app.state.runtime.read_sessionmaker() as db:
            with pytest.raises(DBAPIError) as caught:
                await db.execute(text("UPDATE users SET name = name WHERE id = 'nobody'"))
        assert isinstance(caught.value.orig, psycopg.errors.ReadOnlySqlTransaction)

    async def test_a_connection_the_server_dropped_does_not_fail_the_next_request(
        self, bulk_client: httpx.AsyncClient, pg_server: TestServer, bulk_url: str
    ) -> None:
        headers = await auth_headers(bulk_client, ADMIN)
        # Both pools hold connections: the read pool's (GET) and the session pool's (a write).
        assert (await bulk_client.get("/api/auth/me", headers=headers)).status_code == 200
        role = {"name": "DROPPED-1", "label": "Dropped"}
        assert (await bulk_client.post("/api/roles", json=role, headers=headers)).status_code == 201
        database = make_url(bulk_url).database

        def kill_connections() -> None:
            with psycopg.connect(pg_server.libpq_uri, autocommit=True) as conn:
                killed = conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                    (database,),
                ).fetchone()
            assert killed is not None and killed[0] >= 2  # the pooled connections are gone

        kill_connections()
        # No pre-ping: the first statement meets the dead connection, and authentication retries once.
        response = await bulk_client.get("/api/auth/me", headers=headers)
        assert response.status_code == 200, response.text
        assert (await bulk_client.get("/api/users?limit=5", headers=headers)).status_code == 200

        kill_connections()
        # A write: authentication retries on the read pool, the transaction once on the session pool.
        role = {"name": "DROPPED-2", "label": "Dropped"}
        response = await bulk_client.post("/api/roles", json=role, headers=headers)
        assert response.status_code == 201, response.text
