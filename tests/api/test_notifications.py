"""Notifications over HTTP: the tag's five operations, and the real events that make notifications.

Notifications are made only by real events (documents, files, teams, messages, passwords); the tests make
them that way, or insert rows directly when only the tag's own rules are under test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from halolight.events import outbox
from halolight.mail import OutboxMailSender
from halolight.repositories import notifications, roles
from tests.api.helpers import ADMIN, VIEWER, auth_headers, bearer, register
from tests.api.test_file_shares import new_file
from tests.conftest import CountStatements

pytestmark = pytest.mark.asyncio

KEYS = {"id", "type", "title", "message", "link", "payload", "isRead", "createdAt"}
NOT_FOUND = {"detail": "Notification not found"}


@dataclass(frozen=True)
class Person:
    id: str
    email: str
    headers: dict[str, str]


async def person(client: httpx.AsyncClient, app: FastAPI, role: str | None = "EDITOR") -> Person:
    body = await register(client)
    who = Person(body["user"]["id"], body["user"]["email"], bearer(body["accessToken"]))
    if role is not None:
        async with app.state.runtime.sessionmaker() as db:
            found = await roles.find_by_name(db, role)
            assert found is not None
            await roles.assign_to_user(db, who.id, found.id)
            await db.commit()
    return who


async def make(app: FastAPI, user_id: str, count: int = 1, type: str = "test") -> None:
    """Notifications made through `notify`, as the real events make them."""
    async with app.state.runtime.sessionmaker() as db:
        for i in range(count):
            await notifications.notify(db, [user_id], type=type, title=f"t{i}", content=f"c{i}")
        await outbox.flush(db)  # as the request's context does before its commit
        await db.commit()


async def rows(app: FastAPI, user_id: str, type: str | None = None) -> list[Any]:
    async with app.state.runtime.engine.connect() as connection:
        query = 'SELECT type, title, content, payload FROM notifications WHERE "userId" = :u'
        if type is not None:
            query += " AND type = :t"
        return list((await connection.execute(text(query), {"u": user_id, "t": type})).all())


async def listed(client: httpx.AsyncClient, who: Person, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/notifications", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestListNotifications:
    async def test_own_newest_first_paged_and_unread_filter(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        me, other = await person(client, app), await person(client, app)
        await make(app, me.id, 3)
        await make(app, other.id, 2)
        page = await listed(client, me, limit=2)
        assert [n["title"] for n in page["data"]] == ["t2", "t1"]
        assert set(page["data"][0]) == KEYS
        assert page["data"][0]["message"] == "c2" and page["data"][0]["isRead"] is False
        rest = await listed(client, me, limit=2, cursor=page["meta"]["nextCursor"])
        assert [n["title"] for n in rest["data"]] == ["t0"]
        assert rest["meta"]["nextCursor"] is None
        read = await client.put(f"/api/notifications/{page['data'][0]['id']}/read", headers=me.headers)
        assert read.status_code == 200
        unread = await listed(client, me, unread="true")
        assert [n["title"] for n in unread["data"]] == ["t1", "t0"]
        # A cursor of the unfiltered list is not one of the unread list.
        bad = await client.get(
            "/api/notifications",
            params={"unread": "true", "cursor": page["meta"]["nextCursor"]},
            headers=me.headers,
        )
        assert bad.status_code == 422

    @pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"cursor": "%%"}, {"unread": "maybe"}])
    async def test_bad_query_is_422(
        self, client: httpx.AsyncClient, app: FastAPI, query: dict[str, Any]
    ) -> None:
        me = await person(client, app)
        assert (await client.get("/api/notifications", params=query, headers=me.headers)).status_code == 422


class TestUnreadCount:
    async def test_counts_own_unread(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        me, other = await person(client, app), await person(client, app)
        await make(app, me.id, 3)
        await make(app, other.id, 1)
        response = await client.get("/api/notifications/unread-count", headers=me.headers)
        assert response.json() == {"count": 3}


class TestMarkNotificationRead:
    async def test_marks_own_and_someone_elses_is_404(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        me, other = await person(client, app), await person(client, app)
        await make(app, me.id)
        (mine,) = (await listed(client, me))["data"]
        response = await client.put(f"/api/notifications/{mine['id']}/read", headers=me.headers)
        assert response.status_code == 200
        assert response.json() == {**mine, "isRead": True}
        again = await client.put(f"/api/notifications/{mine['id']}/read", headers=me.headers)
        assert again.json()["isRead"] is True
        theirs = await client.put(f"/api/notifications/{mine['id']}/read", headers=other.headers)
        assert (theirs.status_code, theirs.json()) == (404, NOT_FOUND)
        missing = await client.put("/api/notifications/nope/read", headers=me.headers)
        assert missing.status_code == 404

    async def test_a_viewer_marks_their_own_read(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        headers = await auth_headers(client, VIEWER)
        viewer_id = (await client.get("/api/auth/me", headers=headers)).json()["id"]
        await make(app, viewer_id)
        first = (await client.get("/api/notifications?unread=true", headers=headers)).json()["data"][0]
        response = await client.put(f"/api/notifications/{first['id']}/read", headers=headers)
        assert response.status_code == 200
        assert (await client.put("/api/notifications/read-all", headers=headers)).status_code == 200

    async def test_queues_the_new_unread_counts(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        me = await person(client, app)
        await make(app, me.id, 2)
        (first, _) = (await listed(client, me))["data"]
        await client.put(f"/api/notifications/{first['id']}/read", headers=me.headers)
        async with app.state.runtime.engine.connect() as connection:
            data = await connection.scalar(
                text(
                    "SELECT data FROM halolight_stream_events WHERE \"userId\" = :u AND type = 'unread' "
                    "ORDER BY id DESC LIMIT 1"
                ),
                {"u": me.id},
            )
            events = await connection.scalar(
                text(
                    "SELECT count(*) FROM halolight_stream_events "
                    "WHERE \"userId\" = :u AND type = 'notification'"
                ),
                {"u": me.id},
            )
        assert data == {"notifications": 1, "messages": 0}
        assert events == 2


class TestMarkAllNotificationsRead:
    async def test_marks_only_own(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        me, other = await person(client, app), await person(client, app)
        await make(app, me.id, 3)
        await make(app, other.id, 2)
        response = await client.put("/api/notifications/read-all", headers=me.headers)
        assert response.json()["count"] == 3
        assert (await client.put("/api/notifications/read-all", headers=me.headers)).json()["count"] == 0
        other_count = await client.get("/api/notifications/unread-count", headers=other.headers)
        assert other_count.json() == {"count": 2}


class TestDeleteNotification:
    async def test_deletes_own_and_someone_elses_is_404(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        me, other = await person(client, app), await person(client, app)
        await make(app, me.id)
        (mine,) = (await listed(client, me))["data"]
        theirs = await client.delete(f"/api/notifications/{mine['id']}", headers=other.headers)
        assert (theirs.status_code, theirs.json()) == (404, NOT_FOUND)
        assert (
            await client.delete(f"/api/notifications/{mine['id']}", headers=me.headers)
        ).status_code == 204
        assert (
            await client.delete(f"/api/notifications/{mine['id']}", headers=me.headers)
        ).status_code == 404
        assert (await listed(client, me))["data"] == []


class TestRealEvents:
    async def test_a_document_shared_with_a_user(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner, reader = await person(client, app), await person(client, app)
        doc = await client.post(
            "/api/documents", json={"title": "计划", "content": "x"}, headers=owner.headers
        )
        doc_id = doc.json()["id"]
        shared = await client.post(
            f"/api/documents/{doc_id}/share", json={"userId": reader.id}, headers=owner.headers
        )
        assert shared.status_code == 200, shared.text
        (row,) = await rows(app, reader.id, "document_shared")
        assert row.payload["documentId"] == doc_id and "计划" in row.content
        assert await rows(app, owner.id) == []
        failed = await client.post(
            f"/api/documents/{doc_id}/share",
            json={"userId": reader.id, "permission": "NOPE"},
            headers=owner.headers,
        )
        assert failed.status_code == 422
        assert len(await rows(app, reader.id, "document_shared")) == 1

    async def test_a_document_shared_with_a_team_notifies_its_members_not_the_sharer(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, member = await person(client, app), await person(client, app)
        team = await client.post("/api/teams", json={"name": "Notified team"}, headers=owner.headers)
        team_id = team.json()["id"]
        added = await client.post(
            f"/api/teams/{team_id}/members", json={"userId": member.id}, headers=owner.headers
        )
        assert added.status_code == 201, added.text
        doc = await client.post("/api/documents", json={"title": "T", "content": "x"}, headers=owner.headers)
        shared = await client.post(
            f"/api/documents/{doc.json()['id']}/share", json={"teamId": team_id}, headers=owner.headers
        )
        assert shared.status_code == 200, shared.text
        assert len(await rows(app, member.id, "document_shared")) == 1
        assert await rows(app, owner.id, "document_shared") == []

    async def test_being_added_to_a_team(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner, member = await person(client, app), await person(client, app)
        team_id = (await client.post("/api/teams", json={"name": "Joiners"}, headers=owner.headers)).json()[
            "id"
        ]
        await client.post(f"/api/teams/{team_id}/members", json={"userId": member.id}, headers=owner.headers)
        (row,) = await rows(app, member.id, "team_member_added")
        assert row.payload["teamId"] == team_id and row.content == "Joiners"
        assert await rows(app, owner.id) == []
        again = await client.post(
            f"/api/teams/{team_id}/members", json={"userId": member.id}, headers=owner.headers
        )
        assert again.status_code == 409
        assert len(await rows(app, member.id, "team_member_added")) == 1

    async def test_a_file_link_restricted_to_a_user_or_a_team(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, reader, member = (
            await person(client, app),
            await person(client, app),
            await person(client, app),
        )
        file_id = await new_file(app, owner, name="年报.pdf")  # type: ignore[arg-type]
        made = await client.post(
            f"/api/files/{file_id}/share", json={"userId": reader.id}, headers=owner.headers
        )
        assert made.status_code == 201, made.text
        (row,) = await rows(app, reader.id, "file_shared")
        assert row.content == "年报.pdf" and row.payload["shareId"] == made.json()["id"]
        team_id = (await client.post("/api/teams", json={"name": "Files"}, headers=owner.headers)).json()[
            "id"
        ]
        await client.post(f"/api/teams/{team_id}/members", json={"userId": member.id}, headers=owner.headers)
        made = await client.post(
            f"/api/files/{file_id}/share", json={"teamId": team_id}, headers=owner.headers
        )
        assert made.status_code == 201, made.text
        assert len(await rows(app, member.id, "file_shared")) == 1
        assert await rows(app, owner.id, "file_shared") == []
        public = await client.post(f"/api/files/{file_id}/share", json={}, headers=owner.headers)
        assert public.status_code == 201
        assert len(await rows(app, reader.id, "file_shared")) == 1

    async def test_a_new_message(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        a, b = await person(client, app), await person(client, app)
        sent = await client.post(
            "/api/messages/send", json={"content": "hi", "recipientId": b.id}, headers=a.headers
        )
        assert sent.status_code == 201
        (row,) = await rows(app, b.id, "message")
        assert row.payload["conversationId"] == sent.json()["conversationId"]
        assert await rows(app, a.id) == []

    async def test_a_password_change(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        me = await person(client, app)
        wrong = await client.post(
            "/api/auth/change-password",
            json={"currentPassword": "wrongPass123", "newPassword": "brandNewPass1"},
            headers=me.headers,
        )
        assert wrong.status_code == 400
        assert await rows(app, me.id) == []
        changed = await client.post(
            "/api/auth/change-password",
            json={"currentPassword": "securePass123", "newPassword": "brandNewPass1"},
            headers=me.headers,
        )
        assert changed.status_code == 200, changed.text
        assert len(await rows(app, me.id, "password_changed")) == 1

    async def test_a_password_reset(
        self, client: httpx.AsyncClient, app: FastAPI, outbox: OutboxMailSender
    ) -> None:
        me = await person(client, app)
        await client.post("/api/auth/forgot-password", json={"email": me.email})
        await app.state.runtime.drain()
        match = re.search(r"token=([A-Za-z0-9_-]+)", outbox.messages(to=me.email)[-1]["body"])
        assert match
        bad = await client.post(
            "/api/auth/reset-password", json={"token": "x" * 43, "password": "resetPass123"}
        )
        assert bad.status_code == 400
        assert await rows(app, me.id) == []
        reset = await client.post(
            "/api/auth/reset-password", json={"token": match.group(1), "password": "resetPass123"}
        )
        assert reset.status_code == 200, reset.text
        assert len(await rows(app, me.id, "password_reset")) == 1

    async def test_the_admin_reads_what_real_actions_made(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        admin = await auth_headers(client, ADMIN)
        admin_id = (await client.get("/api/auth/me", headers=admin)).json()["id"]
        someone = await person(client, app)
        await client.post(
            "/api/messages/send",
            json={"content": "hello admin", "recipientId": admin_id},
            headers=someone.headers,
        )
        response = await client.get("/api/notifications?unread=true&limit=100", headers=admin)
        assert any(n["type"] == "message" for n in response.json()["data"])


async def test_a_page_is_read_by_its_index(app: FastAPI) -> None:
    """10,000 notifications of 20 users (statistics included, all rolled back): one user's page, newest first,
    unread or not, is one range of halolight_notifications_user_newest in its order, with no sort."""
    async with app.state.runtime.engine.connect() as connection:
        await connection.execute(
            text(
                'INSERT INTO users (id, email, username, name, password, status, "updatedAt") '
                "SELECT 'plan-n-' || i, 'plan-n' || i || '@example.com', 'plan-n' || i, 'P', 'x', 'ACTIVE', "
                "now() FROM generate_series(1, 20) i"
            )
        )
        await connection.execute(
            text(
                'INSERT INTO notifications (id, "userId", type, title, content, read, "createdAt") '
                "SELECT 'plan-note-' || i, 'plan-n-' || (i % 20 + 1), 'test', 't', 'c', i % 3 = 0, "
                "now() - i * interval '1 second' FROM generate_series(1, 10000) i"
            )
        )
        await connection.execute(text("ANALYZE notifications"))
        plans = []
        for only_unread in (False, True):
            plan = await connection.execute(
                text(
                    "EXPLAIN SELECT id FROM notifications WHERE \"userId\" = 'plan-n-7' "
                    "AND (NOT :only_unread OR NOT read) "
                    'AND ("createdAt", id) < (now(), \'z\') ORDER BY "createdAt" DESC, id DESC LIMIT 21'
                ),
                {"only_unread": only_unread},
            )
            plans.append("\n".join(plan.scalars()))
        await connection.rollback()
    for plan in plans:
        assert "halolight_notifications_user_newest" in plan, plan
        assert "Sort" not in plan, plan


async def test_notify_writes_and_counts_for_every_recipient_in_one_statement_each(
    client: httpx.AsyncClient, app: FastAPI, count_statements: CountStatements
) -> None:
    """`notify` to many: one INSERT for the rows, one SELECT for everyone's unread counts (the `unread`
    events), whatever the number of recipients."""
    people = [await person(client, app, role=None) for _ in range(5)]
    for recipients in (people[:1], people):
        async with app.state.runtime.sessionmaker() as db:
            with count_statements(db) as statements:
                await notifications.notify(
                    db, [p.id for p in recipients], type="test", title="t", content="c"
                )
            queued = list(db.info.get("halolight.stream_events", []))
            await db.rollback()
        assert len(statements) == 2, statements
        assert sorted(type_ for _, type_, _ in queued) == sorted(["notification", "unread"] * len(recipients))
