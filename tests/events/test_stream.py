"""The stream operation through the real app: live delivery, replay, tickets, limits, sessions."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from halolight.app import create_app
from halolight.events.hub import Hub
from halolight.settings import Settings
from tests.api.helpers import ADMIN, auth_headers
from tests.events.conftest import OpenStream, open_on


async def test_live_events_reach_the_callers_stream_only(
    open_stream: OpenStream, new_person: Callable[[], Any], emit_for: Callable[..., Any]
) -> None:
    alice, bob = await new_person(), await new_person()
    stream = await open_stream(headers=alice.headers)
    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    await emit_for(bob.user_id, title="for bob")
    await emit_for(alice.user_id, title="for alice")
    event = await stream.next_event()
    assert event.event == "notification"
    assert event.data == {"n": 0, "title": "for alice"}
    assert event.id is not None
    assert stream.retry is not None


async def _ids_after(app: FastAPI, user_id: str, after: int) -> list[int]:
    async with app.state.runtime.sessionmaker() as db:
        rows = await db.execute(
            text('SELECT id FROM halolight_stream_events WHERE "userId" = :u AND id > :a ORDER BY id'),
            {"u": user_id, "a": after},
        )
        return [row[0] for row in rows]


async def test_last_event_id_replays_then_streams_live_without_gap_or_duplicate(
    app: FastAPI, open_stream: OpenStream, new_person: Callable[[], Any], emit_for: Callable[..., Any]
) -> None:
    alice = await new_person()
    first = await open_stream(headers=alice.headers)
    await emit_for(alice.user_id, count=2)
    seen = [(await first.next_event()).id, (await first.next_event()).id]
    await first.close()
    last = seen[-1]
    assert last is not None
    await emit_for(alice.user_id, count=3)  # while away

    async def writer() -> None:  # and more while the stream opens and replays: one transaction each
        for _ in range(15):
            await emit_for(alice.user_id)

    writing = asyncio.get_running_loop().create_task(writer())
    second = await open_stream(headers={**alice.headers, "Last-Event-ID": str(last)})
    await writing
    expected = await _ids_after(app, alice.user_id, last)
    assert len(expected) == 18
    received = [(await second.next_event()).id for _ in expected]
    assert received == expected  # every id once, in order
    with pytest.raises(TimeoutError):
        await second.next_event(0.5)  # nothing twice


async def test_after_query_replays_for_a_new_event_source(
    open_stream: OpenStream, new_person: Callable[[], Any], emit_for: Callable[..., Any], app: FastAPI
) -> None:
    alice = await new_person()
    await emit_for(alice.user_id, count=3)
    ids = await _ids_after(app, alice.user_id, 0)
    stream = await open_stream({"after": ids[0]}, alice.headers)
    assert [(await stream.next_event()).id for _ in range(2)] == ids[1:]
    # The header wins over the query.
    other = await open_stream({"after": 0}, {**alice.headers, "Last-Event-ID": str(ids[1])})
    assert (await other.next_event()).id == ids[2]


async def test_a_replay_is_bounded_and_says_so(
    open_stream: OpenStream,
    new_person: Callable[[], Any],
    emit_for: Callable[..., Any],
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.state.runtime.settings, "events_replay_limit", 3)
    alice = await new_person()
    await emit_for(alice.user_id, count=5)
    ids = await _ids_after(app, alice.user_id, 0)
    stream = await open_stream({"after": 0}, alice.headers)
    events = await stream.events_until_end()
    assert [e.id for e in events[:-1]] == ids[:3]
    assert events[-1].data == {"reason": "replay"}
    rest = await open_stream({"after": ids[2]}, alice.headers)
    assert [(await rest.next_event()).id for _ in range(2)] == ids[3:]


async def test_a_slow_subscriber_is_dropped_not_buffered(
    open_stream: OpenStream,
    new_person: Callable[[], Any],
    emit_for: Callable[..., Any],
    app: FastAPI,
    hub: Hub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.state.runtime.settings, "events_queue_size", 4)
    alice = await new_person()
    stream = await open_stream(headers=alice.headers)
    stream.reading.clear()  # the client stops reading
    (sub,) = hub.subscribers_of(alice.user_id)
    await emit_for(alice.user_id, count=10)
    for _ in range(50):
        if sub.ended:
            break
        await asyncio.sleep(0.1)
    assert sub.ended == "slow"
    assert sub.queue.qsize() <= 1  # its events are let go at once, and it is no longer a subscriber
    assert hub.subscribers_of(alice.user_id) == []
    stream.reading.set()
    events = await stream.events_until_end()
    assert events[-1].data == {"reason": "slow"}
    await asyncio.sleep(0.1)
    assert hub.subscribers_of(alice.user_id) == []


async def test_tickets_are_single_use_short_lived_and_bound_to_their_user(
    caplog: pytest.LogCaptureFixture,
    client: httpx.AsyncClient,
    open_stream: OpenStream,
    new_person: Callable[[], Any],
    emit_for: Callable[..., Any],
    app: FastAPI,
) -> None:
    caplog.set_level(logging.DEBUG)
    alice, bob = await new_person(), await new_person()
    assert (await client.post("/api/events/tickets")).status_code == 401
    made = await client.post("/api/events/tickets", headers=alice.headers)
    assert made.status_code == 201, made.text
    ticket = made.json()["ticket"]
    stream = await open_stream({"ticket": ticket})
    assert stream.status == 200
    await emit_for(alice.user_id, title="hi")
    assert (await stream.next_event()).data["title"] == "hi"
    again = await open_stream({"ticket": ticket})
    assert again.status == 401  # single use
    assert json.loads(await _body(again))["detail"]

    # Someone else's ticket with one's own token: refused, and the ticket is not used up by the refusal:
    # only the stream it opens consumes it.
    alices = (await client.post("/api/events/tickets", headers=alice.headers)).json()["ticket"]
    assert (await open_stream({"ticket": alices}, bob.headers)).status == 401
    assert await _ticket_used(app, alices) is False
    owned = await open_stream({"ticket": alices}, alice.headers)  # the ticket and its owner's own token
    assert owned.status == 200
    assert await _ticket_used(app, alices) is True
    assert (await open_stream({"ticket": alices})).status == 401  # and now it is spent

    # Expired.
    late = (await client.post("/api/events/tickets", headers=alice.headers)).json()["ticket"]
    async with app.state.runtime.sessionmaker() as db, db.begin():
        await db.execute(
            text("UPDATE halolight_stream_tickets SET \"expiresAt\" = now() - interval '1 second'")
        )
    assert (await open_stream({"ticket": late})).status == 401

    assert (await open_stream({"ticket": "x" * 43})).status == 401  # unknown
    assert "/api/events/stream streamEvents 401" in caplog.text
    assert ticket not in caplog.text and late not in caplog.text  # the access lines show the path only
    assert (await open_stream()).status == 401  # no credentials at all
    assert (await open_stream(headers={"Authorization": "Bearer nope"})).status == 401


async def _ticket_used(app: FastAPI, ticket: str) -> bool:
    """Whether the stored ticket is marked used (the table keeps its SHA-256 only)."""
    async with app.state.runtime.sessionmaker() as db:
        used = await db.scalar(
            text('SELECT "usedAt" IS NOT NULL FROM halolight_stream_tickets WHERE "tokenHash" = :h'),
            {"h": hashlib.sha256(ticket.encode()).hexdigest()},
        )
    assert used is not None, "no such ticket"
    return bool(used)


async def _body(stream: Any) -> str:
    chunks = []
    while (chunk := await stream.chunks.get()) is not None:
        chunks.append(chunk)
    return b"".join(chunks).decode()


async def _ends(stream: Any, within_s: float) -> tuple[str, float]:
    started = time.monotonic()
    events = await stream.events_until_end(within_s)
    return events[-1].data["reason"], time.monotonic() - started


async def test_a_stream_ends_within_seconds_when_its_session_does(
    client: httpx.AsyncClient, open_stream: OpenStream, new_person: Callable[[], Any]
) -> None:
    # Logout.
    alice = await new_person()
    stream = await open_stream(headers=alice.headers)
    assert (await client.post("/api/auth/logout", headers=alice.headers)).status_code == 200
    reason, took = await _ends(stream, 8)
    assert reason == "revoked" and took < 1.5  # NOTIFY halolight_sessions, at the commit

    # A password change ends the other sessions, and a ticket's stream with them.
    bob = await new_person()
    other = await client.post("/api/auth/login", json={"email": bob.email, "password": bob.password})
    ticket = (await client.post("/api/events/tickets", headers=bob.headers)).json()["ticket"]
    by_ticket = await open_stream({"ticket": ticket})
    changed = await client.post(
        "/api/auth/change-password",
        json={"currentPassword": bob.password, "newPassword": "anotherPass456"},
        headers={"Authorization": f"Bearer {other.json()['accessToken']}"},
    )
    assert changed.status_code == 200, changed.text
    reason, took = await _ends(by_ticket, 8)
    assert reason == "revoked" and took < 1.5  # NOTIFY halolight_sessions, at the commit

    # An administrator disables the account.
    carol = await new_person()
    stream = await open_stream(headers=carol.headers)
    admin = await auth_headers(client, ADMIN)
    disabled = await client.patch(
        f"/api/users/{carol.user_id}/status", json={"status": "INACTIVE"}, headers=admin
    )
    assert disabled.status_code == 200, disabled.text
    reason, took = await _ends(stream, 8)
    assert reason == "revoked" and took < 1.5  # NOTIFY halolight_sessions, at the commit


async def test_the_periodic_check_ends_streams_of_sessions_revoked_without_notice(
    app: FastAPI, open_stream: OpenStream, new_person: Callable[[], Any]
) -> None:
    """A session revoked by another backend (no NOTIFY) or expired: the hub's batched check finds it."""
    alice = await new_person()
    stream = await open_stream(headers=alice.headers)
    async with app.state.runtime.sessionmaker() as db, db.begin():
        await db.execute(
            text('UPDATE auth_sessions SET "revokedAt" = now() WHERE "userId" = :u'), {"u": alice.user_id}
        )
    reason, took = await _ends(stream, 8)
    check = app.state.runtime.settings.events_session_check_seconds
    assert reason == "revoked" and took < check + 1.5


async def test_a_stream_ends_when_its_access_token_expires(
    open_stream: OpenStream, new_person: Callable[[], Any], app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.runtime.settings, "events_stream_max_seconds", 0.5)
    alice = await new_person()
    stream = await open_stream(headers=alice.headers)
    reason, took = await _ends(stream, 5)
    assert reason == "expired" and took < 2


async def test_open_streams_per_user_are_bounded(
    client: httpx.AsyncClient,
    open_stream: OpenStream,
    new_person: Callable[[], Any],
    app: FastAPI,
    hub: Hub,
) -> None:
    limit = app.state.runtime.settings.events_streams_per_user
    alice, bob = await new_person(), await new_person()
    streams = [await open_stream(headers=alice.headers) for _ in range(limit)]
    assert [s.status for s in streams] == [200] * limit
    refused = await open_stream(headers=alice.headers)
    assert refused.status == 429
    assert "detail" in json.loads(await _body(refused))
    assert (await open_stream(headers=bob.headers)).status == 200  # per user
    # A ticket refused for the limit is not used up: it opens the stream once one is closed.
    ticket = (await client.post("/api/events/tickets", headers=alice.headers)).json()["ticket"]
    assert (await open_stream({"ticket": ticket})).status == 429
    assert await _ticket_used(app, ticket) is False
    await streams[0].close()  # its lease is released by the hub, at once
    for _ in range(30):
        reopened = await open_stream({"ticket": ticket})
        if reopened.status == 200:
            break
        await asyncio.sleep(0.1)
    assert reopened.status == 200


async def test_an_open_stream_does_not_take_a_place_of_its_clients_other_requests(
    settings: Settings, database_url: str, new_person: Callable[[], Any], emit_for: Callable[..., Any]
) -> None:
    # One request in flight per address: with the stream counted for its whole life, the same browser
    # could do nothing else while it is open.
    capped = create_app(settings.model_copy(update={"http_max_requests_per_client": 1}), database_url)
    alice = await new_person()
    transport = httpx.ASGITransport(app=capped, client=("203.0.113.10", 50000))  # the streams' address
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
            streams = [await open_on(capped, headers=alice.headers) for _ in range(2)]
            assert [s.status for s in streams] == [200, 200]
            # Counted for their whole life, the second stream and every request below would be 429.
            for _ in range(3):
                answer = await browser.get("/api/notifications/unread-count", headers=alice.headers)
                assert answer.status_code == 200, answer.text
            ticket = await browser.post("/api/events/tickets", headers=alice.headers)
            assert ticket.status_code == 201
            await emit_for(alice.user_id, title="still open")  # the streams are live all along
            assert [(await s.next_event()).data["title"] for s in streams] == ["still open"] * 2
            for stream in streams:
                await stream.close()
    finally:
        await capped.state.runtime.close()


async def test_an_open_stream_holds_no_pooled_connection(
    open_stream: OpenStream, new_person: Callable[[], Any], app: FastAPI, emit_for: Callable[..., Any]
) -> None:
    runtime = app.state.runtime
    alice = await new_person()
    streams = [await open_stream({"after": 0}, alice.headers) for _ in range(3)]
    await emit_for(alice.user_id)
    for stream in streams:
        await stream.next_event()
    assert runtime.engine.sync_engine.pool.checkedout() == 0
    assert runtime.reads._checked_out == 0
    assert runtime.hub.connected


async def test_the_hub_reconnects_and_catches_up(
    open_stream: OpenStream,
    new_person: Callable[[], Any],
    app: FastAPI,
    emit_for: Callable[..., Any],
    hub: Hub,
) -> None:
    alice = await new_person()
    stream = await open_stream(headers=alice.headers)
    assert hub._conn is not None
    pid = hub._conn.info.backend_pid
    reconnects = hub.reconnects
    async with app.state.runtime.sessionmaker() as db, db.begin():
        await db.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    await emit_for(alice.user_id, count=3)  # possibly while nobody listens
    ids = await _ids_after(app, alice.user_id, 0)
    assert [(await stream.next_event(10)).id for _ in ids] == ids
    assert hub.reconnects == reconnects + 1


async def test_shutdown_ends_every_stream(
    settings: Settings, database_url: str, new_person: Callable[[], Any]
) -> None:
    other = create_app(settings, database_url)
    alice = await new_person()
    streams = [await open_on(other, headers=alice.headers) for _ in range(2)]
    assert [s.status for s in streams] == [200, 200]
    await other.state.runtime.close()
    for stream in streams:
        reason, took = await _ends(stream, 5)
        assert reason == "shutdown" and took < 3


async def test_old_events_are_pruned_by_one_worker_at_a_time(
    app: FastAPI, new_person: Callable[[], Any], emit_for: Callable[..., Any], hub: Hub
) -> None:
    alice = await new_person()
    await emit_for(alice.user_id, count=3)
    ids = await _ids_after(app, alice.user_id, 0)
    async with app.state.runtime.sessionmaker() as db, db.begin():
        await db.execute(
            text(
                "UPDATE halolight_stream_events SET \"createdAt\" = now() - interval '30 days'"
                " WHERE id = ANY(:ids)"
            ),
            {"ids": ids[:2]},
        )
    connect = psycopg.AsyncConnection.connect
    async with (
        await connect(hub._conninfo, autocommit=True) as first,
        await connect(hub._conninfo, autocommit=True) as second,
    ):
        # Another worker pruning at the same moment: this one skips its turn.
        async with second.transaction():
            await second.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('halolight-stream-prune', 0))"
            )
            assert await hub.prune(first) == 0
        assert await hub.prune(first) >= 2
    assert await _ids_after(app, alice.user_id, 0) == ids[2:]


async def test_leases_of_a_crashed_worker_stop_counting(
    open_stream: OpenStream, new_person: Callable[[], Any], app: FastAPI
) -> None:
    limit = app.state.runtime.settings.events_streams_per_user
    alice = await new_person()
    async with app.state.runtime.sessionmaker() as db, db.begin():
        for i in range(limit):  # a worker died holding these: nobody renews them
            await db.execute(
                text(
                    'INSERT INTO halolight_stream_leases (id, "userId", "expiresAt")'
                    " VALUES (:id, :u, now() AT TIME ZONE 'UTC' - interval '1 second')"
                ),
                {"id": f"dead-{alice.user_id}-{i}", "u": alice.user_id},
            )
    assert (await open_stream(headers=alice.headers)).status == 200


async def test_heartbeats_keep_an_idle_stream_open(
    open_stream: OpenStream, new_person: Callable[[], Any], app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.runtime.settings, "events_heartbeat_seconds", 0.2)
    alice = await new_person()
    stream = await open_stream(headers=alice.headers)
    with pytest.raises(TimeoutError):
        await stream.next_event(1.0)
    assert stream.comments >= 3
    assert stream.retry == 2000
