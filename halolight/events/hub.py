"""The reading side of live updates: one hub per worker process, owned by the runtime.

- ONE listening connection (`LISTEN halolight_events`), outside the pools, opened through the database gate
  and reopened with backoff when it drops. Only the hub's own task uses it, so it never waits on a pool.
- A registry of this process's open streams (`Subscriber`) by user id, each with a BOUNDED queue: a client
  that does not keep up is ended (`end`: `slow`), its queue never grows past `EVENTS_QUEUE_SIZE`.
- On a NOTIFY (`[[id, userId], ...]`), the pairs whose user has a local subscriber are read in one SELECT on
  the listening connection and delivered; the others cost nothing but the JSON parse.
- After a reconnect, what each subscriber missed while the connection was down is read from the table (by its
  last id) before live delivery resumes: no gap.
- Housekeeping on the same connection, batched per process, never per stream: every
  `EVENTS_SESSION_CHECK_SECONDS` one statement finds the streams whose session was revoked or expired or
  whose user is no longer ACTIVE and ends them (`end`: `revoked`); leases of open streams are renewed in one
  UPDATE and released in one DELETE; old events, used tickets and dead leases are pruned by one worker at a
  time (a transaction-level advisory lock), in bounded batches; every second one worker folds the dashboard's
  counts (`repositories.dashboard.fold`, its own advisory lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from halolight.db.engine import connect_kwargs, libpq_url
from halolight.db.gate import DatabaseGate
from halolight.events.outbox import CHANNEL, SESSIONS_CHANNEL
from halolight.repositories import dashboard
from halolight.settings import Settings

log = logging.getLogger("halolight.events")

# A lease outlives its last renewal by this much: a crashed worker's streams stop counting after it.
LEASE_TTL_S = 60.0
LEASE_RENEW_S = 20.0
PRUNE_EVERY_S = 300.0
# The dashboard's counts are folded this often (halolight/repositories/dashboard.py `fold`): the deltas
# appended in between are what a dashboard read sums beyond one row per key.
FOLD_EVERY_S = 1.0
PRUNE_BATCH = 10_000
# How long the hub waits for NOTIFYs before looking at its other work (released leases, checks, closing).
POLL_S = 0.2
# Rows one reconnection replays for all local streams together; beyond it they end with `replay`.
RECONNECT_REPLAY_LIMIT = 10_000
BACKOFF_MAX_S = 10.0
# A stream registered by a handler whose answer never started (the client left first) is dropped after this.
UNSTARTED_S = 30.0
# The advisory lock key of pruning (any constant; one pruner at a time across workers and hosts).
_PRUNE_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended('halolight-stream-prune', 0))"

_DELIVER = 'SELECT id, "userId", type, data::text FROM halolight_stream_events WHERE id = ANY(%s) ORDER BY id'
_MISSED = (
    'SELECT e.id, e."userId", e.type, e.data::text'
    " FROM unnest(%s::text[], %s::bigint[]) AS s(u, after)"
    ' JOIN halolight_stream_events e ON e."userId" = s.u AND e.id > s.after'
    " ORDER BY e.id LIMIT %s"
)
_DEAD_SESSIONS = (
    "SELECT s FROM unnest(%s::text[]) AS s WHERE NOT EXISTS ("
    ' SELECT 1 FROM auth_sessions a JOIN users u ON u.id = a."userId"'
    ' WHERE a.id = s AND a."revokedAt" IS NULL AND a."expiresAt" > %s AND u.status = \'ACTIVE\')'
)
_RENEW = 'UPDATE halolight_stream_leases SET "expiresAt" = %s WHERE id = ANY(%s)'
_RELEASE = "DELETE FROM halolight_stream_leases WHERE id = ANY(%s)"
_PRUNE_EVENTS = (
    "DELETE FROM halolight_stream_events WHERE id IN ("
    ' SELECT id FROM halolight_stream_events WHERE "createdAt" < %s LIMIT %s)'
)
_PRUNE_TICKETS = 'DELETE FROM halolight_stream_tickets WHERE "expiresAt" < %s'
_PRUNE_LEASES = 'DELETE FROM halolight_stream_leases WHERE "expiresAt" < %s'


def naive_utc(moment: datetime | None = None) -> datetime:
    """Prisma's `timestamp without time zone` holds UTC: compare it with a naive UTC value."""
    return (moment or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)


def frame(event_id: int | None, type: str, data: str) -> bytes:
    """One Server-Sent Event. `data` is compact JSON: one line (JSON escapes newlines inside strings)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {type}\ndata: {data}\n\n".encode()


def end_frame(reason: str) -> bytes:
    return frame(None, "end", json.dumps({"reason": reason}, separators=(",", ":")))


@dataclass(eq=False)
class Subscriber:
    """One open stream of this process."""

    user_id: str
    session_id: str
    lease_id: str | None
    # The last event id put in the queue (or replayed by the handler): delivery skips what is not newer.
    last_id: int
    queue: asyncio.Queue[tuple[int, bytes] | None]
    registered: float = field(default_factory=time.monotonic)
    started: bool = False
    # Why the stream must end (`slow`, `revoked`, `replay`, `shutdown`), once decided.
    ended: str | None = None

    def end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
        with contextlib.suppress(asyncio.QueueFull):  # a full queue: its reader is busy, and checks `ended`
            self.queue.put_nowait(None)

    def offer(self, event_id: int, payload: bytes) -> None:
        if event_id <= self.last_id or self.ended is not None:
            return
        try:
            self.queue.put_nowait((event_id, payload))
        except asyncio.QueueFull:
            self.end("slow")
            return
        self.last_id = event_id


class Hub:
    def __init__(self, settings: Settings, database_url: str, gate: DatabaseGate | None = None) -> None:
        self.settings = settings
        self._conninfo = libpq_url(database_url)
        self._kwargs = connect_kwargs(settings)
        self._gate = gate
        self._by_user: dict[str, set[Subscriber]] = {}
        self._released: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._emptied = asyncio.Event()
        self._closing = False
        self._stopping = False
        self._conn: psycopg.AsyncConnection[Any] | None = None
        # Told when the listening connection opens (True) or closes (False): the pool gauge (metrics).
        self.on_connection: Callable[[bool], None] | None = None
        self.connected = False
        # Figures for tests and the bench.
        self.reconnects = 0

    # -- subscribers -------------------------------------------------------------------------------------

    @property
    def subscribers(self) -> int:
        return sum(len(subs) for subs in self._by_user.values())

    def subscribers_of(self, user_id: str) -> Sequence[Subscriber]:
        return list(self._by_user.get(user_id, ()))

    def launch(self) -> None:
        """Start the hub's task if needed, without waiting for it to listen: the server does this at start-up,
        so that its housekeeping (pruning old events, folding the dashboard's counts) runs whether or not a
        stream is open. It connects, and reconnects, with backoff, so a database outage delays it only."""
        if not self._closing and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run(), name="halolight-events-hub")

    async def start(self) -> None:
        """Start the hub's task if needed and wait until it listens (a stream opened before that could miss
        an event committed between its replay and the LISTEN). Raises when the database cannot be reached."""
        if self._closing:
            raise RuntimeError("the hub is closed")
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="halolight-events-hub")
        if not self._listening.is_set():
            timeout = self.settings.database_connect_timeout_s + 1
            try:
                await asyncio.wait_for(self._listening.wait(), timeout)
            except TimeoutError:
                raise psycopg.OperationalError("the live-update listener cannot reach the database") from None

    def subscribe(self, user_id: str, session_id: str, lease_id: str | None, after: int) -> Subscriber:
        sub = Subscriber(
            user_id=user_id,
            session_id=session_id,
            lease_id=lease_id,
            last_id=after,
            queue=asyncio.Queue(self.settings.events_queue_size),
        )
        if self._stopping:
            sub.end("shutdown")
        self._by_user.setdefault(user_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget `sub` (synchronous: also called from a finalizer); the hub's task releases its lease."""
        subs = self._by_user.get(sub.user_id)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        if not subs:
            del self._by_user[sub.user_id]
            if not self._by_user:
                self._emptied.set()
        if sub.lease_id is not None:
            self._released.append(sub.lease_id)

    def _all(self) -> list[Subscriber]:
        return [sub for subs in self._by_user.values() for sub in subs]

    def _deliver(self, rows: Iterable[Sequence[Any]]) -> None:
        for event_id, user_id, type, data in rows:
            subs = self._by_user.get(user_id)
            if not subs:
                continue
            payload = frame(event_id, type, data)
            for sub in list(subs):
                sub.offer(event_id, payload)
                if sub.ended == "slow":
                    self._drop(sub)

    def _drop(self, sub: Subscriber) -> None:
        """A client that did not keep up: forget it and its queued events now (its lease goes with it); its
        stream sends `end` if the client ever reads again, else the connection dies on its own."""
        self.unsubscribe(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)

    # -- the task ----------------------------------------------------------------------------------------

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        async def attempt() -> psycopg.AsyncConnection[Any]:
            return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True, **self._kwargs)

        conn = await (self._gate.connect(attempt) if self._gate is not None else attempt())
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
            await conn.execute(f"LISTEN {SESSIONS_CHANNEL}")
        except BaseException:
            await conn.close()
            raise
        return conn

    def _set_connected(self, connected: bool) -> None:
        self.connected = connected
        if self.on_connection is not None:
            try:
                self.on_connection(connected)
            except Exception:  # a metrics hook never stops the hub
                log.exception("live-update connection observer failed")

    async def _run(self) -> None:
        backoff = 0.25
        first = True
        while not self._closing:
            try:
                self._conn = await self._connect()
            except Exception as error:
                log.warning("live updates: cannot listen (%s); retrying in %.1f s", error, backoff)
                await asyncio.sleep(backoff * (1 + random.random() / 2))  # noqa: S311 - jitter, not crypto
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = 0.25
            self._set_connected(True)
            try:
                if not first:
                    self.reconnects += 1
                    await self._catch_up(self._conn)
                first = False
                self._listening.set()
                await self._serve(self._conn)
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                if not self._closing:
                    log.warning("live updates: the listening connection dropped (%s); reconnecting", error)
            except Exception:
                log.exception("live updates: the hub failed; reconnecting")
                await asyncio.sleep(1)
            finally:
                self._listening.clear()
                self._set_connected(False)
                with contextlib.suppress(Exception):
                    await self._conn.close()
                self._conn = None

    async def _serve(self, conn: psycopg.AsyncConnection[Any]) -> None:
        loop = asyncio.get_running_loop()
        next_check = loop.time() + self.settings.events_session_check_seconds
        next_renew = loop.time() + LEASE_RENEW_S
        next_prune = loop.time() + random.uniform(5, PRUNE_EVERY_S)  # noqa: S311 - spreads workers
        next_fold = loop.time() + random.uniform(0, FOLD_EVERY_S)  # noqa: S311 - spreads workers
        while not self._closing:
            notifies = [n async for n in conn.notifies(timeout=POLL_S, stop_after=1)]
            if notifies:
                notifies += [n async for n in conn.notifies(timeout=0)]  # what else has already arrived
                events = [n for n in notifies if n.channel == CHANNEL]
                if events:
                    await self._announced(conn, events)
                if len(events) < len(notifies):  # sessions revoked somewhere: check ours now
                    next_check = 0.0
            if self._released:
                released, self._released = self._released, []
                await conn.execute(_RELEASE, (released,))
            now = loop.time()
            if now >= next_check:
                next_check = now + self.settings.events_session_check_seconds
                await self._check_sessions(conn)
            if now >= next_renew:
                next_renew = now + LEASE_RENEW_S
                await self.renew(conn)
            if now >= next_prune:
                next_prune = now + PRUNE_EVERY_S
                await self.prune(conn)
            if now >= next_fold:
                next_fold = now + FOLD_EVERY_S
                await self.fold(conn)

    async def _announced(
        self, conn: psycopg.AsyncConnection[Any], notifies: Sequence[psycopg.Notify]
    ) -> None:
        ids: list[int] = []
        for notify in notifies:
            try:
                pairs = json.loads(notify.payload)
            except ValueError:
                continue
            ids += [int(pair[0]) for pair in pairs if pair[1] in self._by_user]
        if not ids:
            return
        rows = await (await conn.execute(_DELIVER, (ids,))).fetchall()
        self._deliver(rows)

    async def _catch_up(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """After a reconnect: what each subscriber missed while nobody listened, from its last id."""
        after: dict[str, int] = {}
        for sub in self._all():
            after[sub.user_id] = min(after.get(sub.user_id, sub.last_id), sub.last_id)
        if not after:
            return
        users = list(after)
        rows = await (
            await conn.execute(_MISSED, (users, [after[user] for user in users], RECONNECT_REPLAY_LIMIT + 1))
        ).fetchall()
        if len(rows) > RECONNECT_REPLAY_LIMIT:
            # Too much to hold: the streams end, and their clients replay from the table themselves.
            for sub in self._all():
                sub.end("replay")
            return
        self._deliver(rows)

    async def _check_sessions(self, conn: psycopg.AsyncConnection[Any]) -> None:
        subs = self._all()
        now = time.monotonic()
        for sub in subs:
            if not sub.started and now - sub.registered > UNSTARTED_S:
                self.unsubscribe(sub)  # its answer never started: the client left before the first byte
        sessions = list({sub.session_id for sub in subs})
        if not sessions:
            return
        rows = await (await conn.execute(_DEAD_SESSIONS, (sessions, naive_utc()))).fetchall()
        dead = {row[0] for row in rows}
        for sub in subs:
            if sub.session_id in dead:
                sub.end("revoked")

    async def renew(self, conn: psycopg.AsyncConnection[Any]) -> None:
        leases = [sub.lease_id for sub in self._all() if sub.lease_id is not None]
        if leases:
            await conn.execute(_RENEW, (naive_utc() + timedelta(seconds=LEASE_TTL_S), leases))

    async def prune(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """Delete events older than the retention, expired tickets and dead leases: one worker at a time,
        a bounded batch each time. Returns the number of events deleted (0 when another worker prunes)."""
        now = naive_utc()
        cutoff = now - timedelta(hours=self.settings.events_retention_hours)
        async with conn.transaction():
            locked = await (await conn.execute(_PRUNE_LOCK)).fetchone()
            if not locked or not locked[0]:
                return 0
            deleted = (await conn.execute(_PRUNE_EVENTS, (cutoff, PRUNE_BATCH))).rowcount
            await conn.execute(_PRUNE_TICKETS, (now - timedelta(minutes=5),))
            await conn.execute(_PRUNE_LEASES, (now,))
        return deleted

    async def fold(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Fold the dashboard's counts. A failing statement (a database not migrated to 0015 yet) is logged
        and never stops live updates; a lost connection is the listener's to handle."""
        try:
            await dashboard.fold(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except psycopg.Error as error:
            log.warning("dashboard counts: the fold failed (%s)", error)

    def stop_streams(self) -> None:
        """The server is stopping: end every stream now (`end`: `shutdown`) and any opened from now on, so
        the server's wait for in-flight requests is not a wait for streams (see `end_streams_on_stop`)."""
        self._stopping = True
        for sub in self._all():
            sub.end("shutdown")

    def end_streams_on_stop(self) -> None:
        """Call `stop_streams` when this process gets SIGINT or SIGTERM, before the server's own handling.

        Granian and uvicorn both wait for in-flight requests before the application's shutdown, and a stream
        is an in-flight request that would never end. The Python-level handler is replaced by one that
        schedules `stop_streams` and then calls the previous one; an event loop's own handler (granian's,
        through `loop.add_signal_handler`) is woken through the loop's wakeup fd as before."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)

            def handler(number: int, frame: Any, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.stop_streams)
                if callable(previous):
                    previous(number, frame)
                elif previous == signal.SIG_DFL and number == signal.SIGINT:
                    raise KeyboardInterrupt

            with contextlib.suppress(ValueError):  # not the main thread: the server's handling stands
                signal.signal(signum, handler)

    async def close(self, grace_s: float = 2.0) -> None:
        """End every stream (`end`: `shutdown`), give them `grace_s` to finish, release their leases."""
        self._closing = True
        self.stop_streams()
        if self._by_user:
            self._emptied.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), grace_s)
        leases = [sub.lease_id for sub in self._all() if sub.lease_id is not None] + self._released
        self._by_user.clear()
        self._released = []
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if leases:
            with contextlib.suppress(Exception):
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, **self._kwargs
                ) as conn:
                    await conn.execute(_RELEASE, (leases,))
