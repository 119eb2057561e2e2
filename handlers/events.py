"""Operations of the Events tag: live updates over Server-Sent Events (the reading side of halolight/events).

The stream's request does its database work in its one transaction (consume the ticket, take a lease, replay
what the client missed), which the generated route commits; then the connections go back to their pools and
the answer streams from the hub's queue (halolight/events/hub.py), holding none.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from generated import models
from generated.routers.events import StreamEvents200Response, StreamEventsResponse
from halolight.context import AuthContext, OptionalAuthContext
from halolight.errors import ApiError, Unauthorized
from halolight.events import access
from halolight.events.hub import Hub, Subscriber, end_frame, frame
from halolight.repositories import auth_sessions

# What `EventSource` waits before reconnecting (the `retry:` field), in milliseconds.
RETRY_MS = 2000
HEARTBEAT = b": keep-alive\n\n"


class TooManyStreams(ApiError):
    status = 429
    default_message = "Too many open streams"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Too many open streams: at most {limit} per user; close one first", headers={"Retry-After": "5"}
        )


async def create_event_stream_ticket(ctx: AuthContext) -> models.EventStreamTicket:
    ticket, expires_at = await access.issue_ticket(
        ctx.db,
        user_id=ctx.user_id,
        session_id=ctx.principal.session_id,
        lifetime_s=ctx.runtime.settings.events_ticket_seconds,
    )
    return models.EventStreamTicket(ticket=ticket, expiresAt=expires_at)


def _last_event_id(header: str | None, query: int | None) -> int | None:
    """The header wins (EventSource's own reconnections send it); a value that is not an id is ignored."""
    if header is not None and header.strip().isdigit() and len(header.strip()) <= 18:
        return int(header.strip())
    return query


async def _caller(ctx: OptionalAuthContext, ticket: str | None) -> tuple[str, str, datetime | None]:
    """(user id, session id, when the credentials expire) of the stream's caller, or 401."""
    if ticket is None:
        if ctx.principal is None:
            raise Unauthorized()  # the same answer as every operation without credentials
        return ctx.principal.user_id, ctx.principal.session_id, ctx.principal.expires_at
    # A ticket is used up only by the stream it opens: consumed in this request's transaction, which the
    # route commits only when the stream is answered; every refusal below (401 here, 429 for the lease)
    # rolls the consumption back, so a confused client (a stale bearer token next to a fresh ticket) cannot
    # burn its user's ticket, and nothing is gained by a thief either (the ticket alone is the credential).
    owner = await access.consume_ticket(ctx.db, ticket)
    if owner is None:
        raise Unauthorized("Invalid, used or expired stream ticket")
    user_id, session_id = owner
    if ctx.principal is not None and ctx.principal.user_id != user_id:
        raise Unauthorized("The stream ticket belongs to another user")
    if await auth_sessions.live_permissions(ctx.reads, session_id, user_id) is None:
        raise Unauthorized("Session expired or revoked")
    # With a ticket, the stream lives as long as its session (checked by the hub), within the maximum.
    return user_id, session_id, None


async def stream_events(
    ctx: OptionalAuthContext, *, ticket: str | None, after: int | None, last_event_id: str | None
) -> StreamEventsResponse:
    settings = ctx.runtime.settings
    user_id, session_id, expires_at = await _caller(ctx, ticket)
    lease_id = await access.open_lease(ctx.db, user_id, settings.events_streams_per_user)
    if lease_id is None:
        raise TooManyStreams(settings.events_streams_per_user)
    hub = ctx.runtime.hub
    await hub.start()
    start = _last_event_id(last_event_id, after)
    replay_from = start if start is not None else 0
    # Subscribed before the replay is read: what commits meanwhile is in the queue too, and skipped there
    # when the replay already sent it (ids only grow per recipient).
    sub = hub.subscribe(user_id, session_id, lease_id, replay_from)
    try:
        if start is None:
            rows: Sequence[Any] = []
            sub.last_id = max(sub.last_id, await access.latest_id(ctx.db, user_id))
        else:
            rows = await access.replay(ctx.db, user_id, start, settings.events_replay_limit)
    except BaseException:
        hub.unsubscribe(sub)
        raise
    truncated = len(rows) > settings.events_replay_limit
    rows = rows[: settings.events_replay_limit]
    replayed = [frame(row.id, row.type, json.dumps(row.data, separators=(",", ":"))) for row in rows]
    last_sent = rows[-1].id if rows else sub.last_id
    seconds = settings.events_stream_max_seconds
    if expires_at is not None:
        seconds = min(seconds, (expires_at - datetime.now(UTC)).total_seconds())
    stream = EventStream(hub, sub, replayed, last_sent, truncated, seconds, settings.events_heartbeat_seconds)
    return StreamEvents200Response(content=stream)


class EventStream:
    """The answer's body: replayed events, then live ones from the subscriber's queue, heartbeats between.

    The subscriber is released when the stream ends, when the client leaves (the task is cancelled), on a
    HEAD (`aclose`), or, if the answer never started, when this object is collected."""

    def __init__(
        self,
        hub: Hub,
        sub: Subscriber,
        replayed: list[bytes],
        last_sent: int,
        truncated: bool,
        seconds: float,
        heartbeat_s: float,
    ) -> None:
        self._sub = sub
        self._replayed = replayed
        self._last_sent = last_sent
        self._truncated = truncated
        self._seconds = seconds
        self._heartbeat_s = heartbeat_s
        self._release = weakref.finalize(self, hub.unsubscribe, sub)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._events()

    async def aclose(self) -> None:
        self._release()

    async def _events(self) -> AsyncIterator[bytes]:
        sub = self._sub
        sub.started = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._seconds
        try:
            yield f"retry: {RETRY_MS}\n\n".encode() + b"".join(self._replayed)
            self._replayed = []
            if self._truncated:
                yield end_frame("replay")
                return
            last = self._last_sent
            while True:
                if sub.ended is not None:
                    yield end_frame(sub.ended)
                    return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    yield end_frame("expired")
                    return
                try:
                    async with asyncio.timeout(min(self._heartbeat_s, remaining)):
                        item = await sub.queue.get()
                except TimeoutError:
                    if deadline - loop.time() > 0:
                        yield HEARTBEAT
                    continue
                chunks = []
                while item is not None:
                    event_id, payload = item
                    if event_id > last:
                        last = event_id
                        chunks.append(payload)
                    item = sub.queue.get_nowait() if not sub.queue.empty() else None
                if chunks:
                    yield b"".join(chunks)
        finally:
            self._release()
