"""Messages over HTTP, through the real app and a real PostgreSQL.

Everyone here is freshly registered (role USER: `messages:view` and `:send`), plus EDITOR when they must see
other users (`users:view`: a recipient is a user the sender can see), so the tests depend on no other rows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from halolight.repositories import roles
from tests.api.helpers import ADMIN, VIEWER, auth_headers, bearer, register

pytestmark = pytest.mark.asyncio

MESSAGE_KEYS = {"id", "conversationId", "content", "sender", "isRead", "createdAt"}
CONVERSATION_KEYS = {
    "id", "name", "isGroup", "participants", "lastMessage", "unreadCount", "createdAt", "updatedAt",
}  # fmt: skip
NOT_FOUND = {"detail": "Conversation not found"}


@dataclass(frozen=True)
class Person:
    id: str
    email: str
    headers: dict[str, str]


async def person(client: httpx.AsyncClient, app: FastAPI) -> Person:
    """A new user who can see every user (EDITOR's `users:view`), so they can message anyone."""
    body = await register(client)
    who = Person(body["user"]["id"], body["user"]["email"], bearer(body["accessToken"]))
    async with app.state.runtime.sessionmaker() as db:
        editor = await roles.find_by_name(db, "EDITOR")
        assert editor is not None
        await roles.assign_to_user(db, who.id, editor.id)
        await db.commit()
    return who


async def send(
    client: httpx.AsyncClient, sender: Person, content: str = "Hello", **target: str
) -> httpx.Response:
    return await client.post(
        "/api/messages/send", json={"content": content, **target}, headers=sender.headers
    )


async def sent(
    client: httpx.AsyncClient, sender: Person, content: str = "Hello", **target: str
) -> dict[str, Any]:
    response = await send(client, sender, content, **target)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def conversations(client: httpx.AsyncClient, who: Person, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/messages/conversations", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def scalar(app: FastAPI, sql: str, **params: Any) -> Any:
    async with app.state.runtime.engine.connect() as connection:
        return await connection.scalar(text(sql), params)


class TestSendMessage:
    async def test_to_a_user_opens_a_direct_conversation_and_reuses_it(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        a, b = await person(client, app), await person(client, app)
        first = await sent(client, a, "你好", recipientId=b.id)
        assert set(first) == MESSAGE_KEYS
        assert first["sender"] == {"id": a.id, "name": "Test User", "email": a.email, "avatar": None}
        assert (first["content"], first["isRead"]) == ("你好", False)
        reply = await sent(client, b, "Hi!", recipientId=a.id)
        again = await sent(client, a, "Again", conversationId=first["conversationId"])
        assert reply["conversationId"] == again["conversationId"] == first["conversationId"]

    async def test_two_concurrent_first_sends_open_one_conversation(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        a, b = await person(client, app), await person(client, app)
        answers = await asyncio.gather(
            send(client, a, "one", recipientId=b.id), send(client, b, "two", recipientId=a.id)
        )
        assert [r.status_code for r in answers] == [201, 201]
        assert answers[0].json()["conversationId"] == answers[1].json()["conversationId"]
        count = await scalar(
            app,
            'SELECT count(DISTINCT "conversationId") FROM conversation_participants WHERE "userId" = :a',
            a=a.id,
        )
        assert count == 1

    async def test_twenty_concurrent_sends_count_twenty_unread(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        a, b = await person(client, app), await person(client, app)
        conversation_id = (await sent(client, a, "start", recipientId=b.id))["conversationId"]
        await client.put(f"/api/messages/conversations/{conversation_id}/read", headers=b.headers)
        answers = await asyncio.gather(
            *(send(client, a, f"m{i}", conversationId=conversation_id) for i in range(20))
        )
        assert all(r.status_code == 201 for r in answers)
        (mine,) = await conversations(client, b)
        assert mine["unreadCount"] == 20
        (theirs,) = await conversations(client, a)
        assert theirs["unreadCount"] == 0

    async def test_someone_elses_conversation_is_422(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        a, b, c = await person(client, app), await person(client, app), await person(client, app)
        conversation_id = (await sent(client, a, recipientId=b.id))["conversationId"]
        response = await send(client, c, conversationId=conversation_id)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", "conversationId"]

    @pytest.mark.parametrize(
        "body",
        [
            {"content": "x"},
            {"content": "x", "conversationId": "a", "recipientId": "b"},
            {"content": "", "recipientId": "b"},
            {"content": "   ", "recipientId": "SELF"},
            {"content": "x" * 5001, "recipientId": "b"},
            {"content": "x", "recipientId": "nobody-here"},
            {"content": "x", "recipientId": "SELF"},
            {"content": "x", "recipientId": "b", "extra": 1},
        ],
    )
    async def test_bad_bodies_are_422(
        self, client: httpx.AsyncClient, app: FastAPI, body: dict[str, Any]
    ) -> None:
        a = await person(client, app)
        body = {k: (a.id if v == "SELF" else v) for k, v in body.items()}
        response = await client.post("/api/messages/send", json=body, headers=a.headers)
        assert response.status_code == 422, response.text

    async def test_a_user_the_sender_cannot_see_is_422(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        plain = await register(client)  # role USER: no users:view, no shared team
        other = await person(client, app)
        response = await send(
            client,
            Person(plain["user"]["id"], plain["user"]["email"], bearer(plain["accessToken"])),
            recipientId=other.id,
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "recipientId"]

    async def test_a_viewer_cannot_send(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        b = await person(client, app)
        response = await client.post(
            "/api/messages/send",
            json={"content": "x", "recipientId": b.id},
            headers=await auth_headers(client, VIEWER),
        )
        assert response.status_code == 403

    async def test_notifies_when_the_conversation_becomes_unread_not_the_sender(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        a, b = await person(client, app), await person(client, app)
        first = await sent(client, a, "one", recipientId=b.id)
        await sent(client, a, "two", conversationId=first["conversationId"])
        count_sql = "SELECT count(*) FROM notifications WHERE \"userId\" = :u AND type = 'message'"
        assert await scalar(app, count_sql, u=b.id) == 1  # one per unread stretch
        assert await scalar(app, count_sql, u=a.id) == 0
        await client.put(f"/api/messages/conversations/{first['conversationId']}/read", headers=b.headers)
        await sent(client, a, "three", conversationId=first["conversationId"])
        assert await scalar(app, count_sql, u=b.id) == 2
        failed = await send(client, a, "", conversationId=first["conversationId"])
        assert failed.status_code == 422
        assert await scalar(app, count_sql, u=b.id) == 2

    async def test_queues_message_and_unread_events(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        a, b = await person(client, app), await person(client, app)
        message = await sent(client, a, "ping", recipientId=b.id)
        async with app.state.runtime.engine.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        'SELECT "userId", type, data FROM halolight_stream_events WHERE "userId" IN (:a, :b) '
                        "ORDER BY id"
                    ),
                    {"a": a.id, "b": b.id},
                )
            ).all()
        by_user: dict[str, dict[str, Any]] = {}
        for user_id, type_, data in rows:
            by_user.setdefault(user_id, {})[type_] = data
        assert by_user[a.id]["message"]["id"] == message["id"]
        assert by_user[b.id]["message"]["conversationId"] == message["conversationId"]
        assert by_user[b.id]["message"]["sender"]["email"] is None
        assert by_user[b.id]["unread"] == {"notifications": 1, "messages": 1}
        assert "unread" not in by_user[a.id]


class TestListConversations:
    async def test_newest_first_with_last_message_participants_and_unread(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        a, b, c = await person(client, app), await person(client, app), await person(client, app)
        with_b = await sent(client, a, "to b", recipientId=b.id)
        with_c = await sent(client, a, "to c", recipientId=c.id)
        await sent(client, b, "back to a", recipientId=a.id)
        listed = await conversations(client, a)
        assert [x["id"] for x in listed] == [with_b["conversationId"], with_c["conversationId"]]
        first = listed[0]
        assert set(first) == CONVERSATION_KEYS
        assert first["lastMessage"]["content"] == "back to a"
        assert first["lastMessage"]["sender"]["id"] == b.id
        assert first["unreadCount"] == 1
        assert {p["id"] for p in first["participants"]} == {a.id, b.id}
        assert listed[1]["unreadCount"] == 0
        assert listed[1]["lastMessage"]["isRead"] is False  # c has not read it
        assert await conversations(client, c) != []

    async def test_pages_by_cursor(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        a = await person(client, app)
        others = [await person(client, app) for _ in range(3)]
        for other in others:
            await sent(client, a, recipientId=other.id)
        first = await client.get("/api/messages/conversations?limit=2", headers=a.headers)
        body = first.json()
        assert len(body["data"]) == 2 and body["meta"]["nextCursor"]
        second = await client.get(
            "/api/messages/conversations",
            params={"limit": 2, "cursor": body["meta"]["nextCursor"]},
            headers=a.headers,
        )
        assert len(second.json()["data"]) == 1
        assert second.json()["meta"]["nextCursor"] is None
        bad = await client.get("/api/messages/conversations?cursor=abc", headers=a.headers)
        assert bad.status_code == 422

    async def test_follows_writes_of_the_other_backends(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        """The list's order is the participants' copy of `updatedAt` (migration 0016), kept by triggers: rows
        written straight to the shared tables, as the NestJS and Java backends do, are listed in order."""
        a, b = await person(client, app), await person(client, app)
        ids = [f"other-backend-{a.id}-{i}" for i in range(3)]
        async with app.state.runtime.engine.begin() as connection:
            for i, conversation_id in enumerate(ids):
                await connection.execute(
                    text(
                        'INSERT INTO conversations (id, "isGroup", "updatedAt") '
                        "VALUES (:id, false, now() - make_interval(hours => :age))"
                    ),
                    {"id": conversation_id, "age": 10 - i},
                )
                await connection.execute(
                    text(
                        'INSERT INTO conversation_participants ("conversationId", "userId") '
                        "VALUES (:id, :a), (:id, :b)"
                    ),
                    {"id": conversation_id, "a": a.id, "b": b.id},
                )
        assert [x["id"] for x in await conversations(client, a)] == ids[::-1]
        # Another backend's send moves the oldest to the top for both participants.
        async with app.state.runtime.engine.begin() as connection:
            await connection.execute(
                text('UPDATE conversations SET "updatedAt" = now() WHERE id = :id'), {"id": ids[0]}
            )
        expected = [ids[0], ids[2], ids[1]]
        assert [x["id"] for x in await conversations(client, a)] == expected
        assert [x["id"] for x in await conversations(client, b)] == expected
        listed = await conversations(client, a, limit=1)
        assert listed[0]["updatedAt"] == (await conversations(client, b))[0]["updatedAt"]
        # A participant removed (and a conversation deleted) takes its activity rows along.
        async with app.state.runtime.engine.begin() as connection:
            await connection.execute(
                text('DELETE FROM conversation_participants WHERE "conversationId" = :id AND "userId" = :a'),
                {"id": ids[2], "a": a.id},
            )
            await connection.execute(text("DELETE FROM conversations WHERE id = :id"), {"id": ids[1]})
        assert [x["id"] for x in await conversations(client, a)] == [ids[0]]
        assert [x["id"] for x in await conversations(client, b)] == [ids[0], ids[2]]
        left = await scalar(
            app,
            'SELECT count(*) FROM halolight_conversation_activity WHERE "conversationId" = ANY(:ids)',
            ids=ids,
        )
        assert left == 3  # a and b in ids[0], b in ids[2]

    async def test_a_participant_added_during_a_send_gets_the_sends_time(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        """Another backend adds a participant while a send moves the conversation: the send's trigger cannot
        see the uncommitted participant, so the participant's own trigger waits for the send (FOR SHARE)
        and copies its `updatedAt`; without the wait it would copy the old one, and stay behind."""
        a, b, c = await person(client, app), await person(client, app), await person(client, app)
        conversation_id = (await sent(client, a, "hello", recipientId=b.id))["conversationId"]
        engine = app.state.runtime.engine
        async with engine.connect() as sending, engine.connect() as adding:
            await sending.execute(
                text("UPDATE conversations SET \"updatedAt\" = now() + interval '1 hour' WHERE id = :id"),
                {"id": conversation_id},
            )
            adder = await adding.scalar(text("SELECT pg_backend_pid()"))
            add = asyncio.create_task(
                adding.execute(
                    text(
                        'INSERT INTO conversation_participants ("conversationId", "userId") VALUES (:id, :c)'
                    ),
                    {"id": conversation_id, "c": c.id},
                )
            )
            blocked = False
            for _ in range(200):  # until the insert waits for the send's row lock (or has ended)
                waiting = await scalar(
                    app,
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid",
                    pid=adder,
                )
                if waiting or add.done():
                    blocked = bool(waiting)
                    break
                await asyncio.sleep(0.02)
            await sending.commit()
            await add
            await adding.commit()
        assert blocked, "the new participant's trigger did not wait for the send"
        copies = await scalar(
            app,
            "SELECT count(*) FROM halolight_conversation_activity a "
            'JOIN conversations c ON c.id = a."conversationId" '
            'WHERE c.id = :id AND a."activityAt" = c."updatedAt"',
            id=conversation_id,
        )
        assert copies == 3
        listed = await conversations(client, c)
        assert [x["id"] for x in listed] == [conversation_id]


class TestListConversationMessages:
    async def test_newest_first_keyset_pages(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        a, b = await person(client, app), await person(client, app)
        conversation_id = (await sent(client, a, "m0", recipientId=b.id))["conversationId"]
        for i in range(1, 5):
            await sent(client, a if i % 2 else b, f"m{i}", conversationId=conversation_id)
        url = f"/api/messages/conversations/{conversation_id}"
        page = (await client.get(url, params={"limit": 3}, headers=b.headers)).json()
        assert [m["content"] for m in page["data"]] == ["m4", "m3", "m2"]
        await sent(client, a, "m5", conversationId=conversation_id)  # arrives between two pages
        rest = (
            await client.get(
                url, params={"limit": 3, "cursor": page["meta"]["nextCursor"]}, headers=b.headers
            )
        ).json()
        assert [m["content"] for m in rest["data"]] == ["m1", "m0"]
        assert rest["meta"]["nextCursor"] is None

    async def test_is_read_follows_the_read_marks(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        a, b = await person(client, app), await person(client, app)
        conversation_id = (await sent(client, a, "hello", recipientId=b.id))["conversationId"]
        url = f"/api/messages/conversations/{conversation_id}"
        assert (await client.get(url, headers=b.headers)).json()["data"][0]["isRead"] is False
        assert (await client.get(url, headers=a.headers)).json()["data"][0]["isRead"] is False
        await client.put(f"{url}/read", headers=b.headers)
        assert (await client.get(url, headers=b.headers)).json()["data"][0]["isRead"] is True
        assert (await client.get(url, headers=a.headers)).json()["data"][0]["isRead"] is True

    async def test_a_non_participant_gets_404(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        a, b, c = await person(client, app), await person(client, app), await person(client, app)
        conversation_id = (await sent(client, a, recipientId=b.id))["conversationId"]
        for method, path in [
            ("GET", ""), ("PUT", "/read"), ("DELETE", ""),
        ]:  # fmt: skip
            response = await client.request(
                method, f"/api/messages/conversations/{conversation_id}{path}", headers=c.headers
            )
            assert (response.status_code, response.json()) == (404, NOT_FOUND)
        missing = await client.get("/api/messages/conversations/nope", headers=a.headers)
        assert missing.status_code == 404

    @pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"cursor": "!"}])
    async def test_bad_paging_is_422(
        self, client: httpx.AsyncClient, app: FastAPI, query: dict[str, Any]
    ) -> None:
        a, b = await person(client, app), await person(client, app)
        conversation_id = (await sent(client, a, recipientId=b.id))["conversationId"]
        response = await client.get(
            f"/api/messages/conversations/{conversation_id}", params=query, headers=a.headers
        )
        assert response.status_code == 422


class TestMarkConversationRead:
    async def test_sets_unread_to_zero_and_a_viewer_may_do_it(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        a = await person(client, app)
        viewer_headers = await auth_headers(client, VIEWER)
        me = await client.get("/api/auth/me", headers=viewer_headers)
        viewer_id = me.json()["id"]
        conversation_id = (await sent(client, a, "hi viewer", recipientId=viewer_id))["conversationId"]
        response = await client.put(
            f"/api/messages/conversations/{conversation_id}/read", headers=viewer_headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == CONVERSATION_KEYS
        assert body["unreadCount"] == 0
        assert body["lastMessage"]["isRead"] is True
        last_read = await scalar(
            app,
            'SELECT "lastReadAt" FROM conversation_participants '
            'WHERE "conversationId" = :c AND "userId" = :u',
            c=conversation_id,
            u=viewer_id,
        )
        assert last_read is not None


class TestDeleteConversation:
    async def test_hides_it_for_the_caller_only_until_a_new_message(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        a, b = await person(client, app), await person(client, app)
        conversation_id = (await sent(client, a, "old", recipientId=b.id))["conversationId"]
        url = f"/api/messages/conversations/{conversation_id}"
        response = await client.delete(url, headers=b.headers)
        assert response.status_code == 204
        assert await conversations(client, b) == []
        assert (await client.get(url, headers=b.headers)).status_code == 404
        assert (await client.delete(url, headers=b.headers)).status_code == 404
        assert len(await conversations(client, a)) == 1  # a still has it
        assert [m["content"] for m in (await client.get(url, headers=a.headers)).json()["data"]] == ["old"]
        await sent(client, a, "new", conversationId=conversation_id)
        (back,) = await conversations(client, b)
        assert (back["id"], back["unreadCount"], back["lastMessage"]["content"]) == (
            conversation_id,
            1,
            "new",
        )
        assert [m["content"] for m in (await client.get(url, headers=b.headers)).json()["data"]] == ["new"]

    async def test_the_deleter_writing_again_reuses_the_conversation(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        a, b = await person(client, app), await person(client, app)
        conversation_id = (await sent(client, a, "old", recipientId=b.id))["conversationId"]
        await client.delete(f"/api/messages/conversations/{conversation_id}", headers=a.headers)
        again = await sent(client, a, "new", recipientId=b.id)
        assert again["conversationId"] == conversation_id
        (mine,) = await conversations(client, a)
        assert mine["lastMessage"]["content"] == "new"


async def test_the_indexes_serve_the_keyset_pages(app: FastAPI) -> None:
    """15,000 messages in 3 conversations and 9,950 participations of 100 users, one of them in all 5,000
    conversations (statistics included, all rolled back): the page queries read their index in order, with
    no sort."""
    async with app.state.runtime.engine.connect() as connection:
        user = await connection.scalar(text("SELECT id FROM users ORDER BY id LIMIT 1"))
        await connection.execute(
            text(
                # Spread over time, as real activity is (all at one instant, a cursor's row comparison
                # would look to the planner as if it kept no row).
                'INSERT INTO conversations (id, "updatedAt") '
                "SELECT 'plan-c-' || i, now() - i * interval '1 second' "
                "FROM generate_series(1, 5000) i;"
            )
        )
        await connection.execute(
            text(
                'INSERT INTO users (id, email, username, name, password, status, "updatedAt") '
                "SELECT 'plan-u-' || i, 'plan' || i || '@example.com', 'plan' || i, 'P', 'x', 'ACTIVE', "
                "now() "
                "FROM generate_series(1, 100) i"
            )
        )
        await connection.execute(
            text(
                'INSERT INTO conversation_participants ("conversationId", "userId") '
                "SELECT 'plan-c-' || i, 'plan-u-' || (i % 100 + 1) FROM generate_series(1, 5000) i"
            )
        )
        await connection.execute(
            text(
                'INSERT INTO messages (id, "conversationId", "senderId", content, "createdAt") '
                "SELECT 'plan-m-' || i, 'plan-c-' || (i % 3 + 1), :user, 'x', "
                "now() - i * interval '1 second' "
                "FROM generate_series(1, 15000) i"
            ),
            {"user": user},
        )
        # plan-u-9 takes part in all 5,000 (as the bench admin in its 2,000 among 100,000).
        await connection.execute(
            text(
                'INSERT INTO conversation_participants ("conversationId", "userId") '
                "SELECT 'plan-c-' || i, 'plan-u-9' FROM generate_series(1, 5000) i ON CONFLICT DO NOTHING"
            )
        )
        await connection.execute(text("ANALYZE conversations, conversation_participants, messages"))
        messages_plan = "\n".join(
            (
                await connection.execute(
                    text(
                        "EXPLAIN SELECT id FROM messages WHERE \"conversationId\" = 'plan-c-1' "
                        'AND ("createdAt", id) < (now(), \'z\') ORDER BY "createdAt" DESC, id DESC LIMIT 51'
                    )
                )
            ).scalars()
        )
        mine_plan = "\n".join(
            (
                await connection.execute(
                    text(
                        'EXPLAIN SELECT "conversationId" FROM conversation_participants '
                        "WHERE \"userId\" = 'plan-u-7'"
                    ),
                )
            ).scalars()
        )
        # The caller's conversations, newest first, after a cursor (the triggers of 0016 filled the rows).
        await connection.execute(text("ANALYZE halolight_conversation_activity"))
        newest_plan = "\n".join(
            (
                await connection.execute(
                    text(
                        'EXPLAIN SELECT "conversationId" FROM halolight_conversation_activity '
                        'WHERE "userId" = \'plan-u-9\' AND ("activityAt", "conversationId") < (now(), \'z\') '
                        'ORDER BY "activityAt" DESC, "conversationId" DESC LIMIT 21'
                    ),
                )
            ).scalars()
        )
        filled = await connection.scalar(
            text(
                "SELECT count(*) FROM halolight_conversation_activity "
                "WHERE \"conversationId\" LIKE 'plan-c-%'"
            )
        )
        await connection.rollback()
    assert "halolight_messages_conversation_newest" in messages_plan
    assert "Sort" not in messages_plan
    assert "halolight_conversation_participants_user" in mine_plan
    assert "halolight_conversation_activity_user_newest" in newest_plan
    assert "Sort" not in newest_plan
    assert filled == 9950  # 5,000 + plan-u-9's 4,950 more


async def test_the_demo_seed_has_conversations_and_their_notifications(client: httpx.AsyncClient) -> None:
    admin = await auth_headers(client, ADMIN)
    listed = (await client.get("/api/messages/conversations", headers=admin)).json()["data"]
    seeded = [c for c in listed if any(p["name"] == "Demo Editor" for p in c["participants"])]
    assert seeded, listed
    messages = (await client.get(f"/api/messages/conversations/{seeded[0]['id']}", headers=admin)).json()[
        "data"
    ]
    assert any("HaloLight" in m["content"] for m in messages)
    notes = (await client.get("/api/notifications?limit=100", headers=admin)).json()["data"]
    assert any(n["type"] == "message" for n in notes)
