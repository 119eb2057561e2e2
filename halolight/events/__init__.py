"""Live updates: events written with the change that causes them, announced through PostgreSQL, pushed to
the browser over Server-Sent Events.

- `outbox` (the writing side): `emit(db, type, {user_id: data})` queues events on the request's session;
  `flush(db)`, called by the request context just before it commits, writes them to
  `halolight_stream_events` and sends one `NOTIFY halolight_events` per batch, inside the same transaction:
  nothing is announced that did not commit, and nothing committed goes unannounced.
- `hub` (the reading side, one per worker process, owned by the runtime): one listening connection outside
  the pools, a bounded queue per open stream, catch-up from the table after a reconnect, the batched checks
  that end streams whose session ended (`NOTIFY halolight_sessions` from the revoking transaction, and a
  periodic check), lease renewal, pruning.
- `access`: stream tickets (for `EventSource`), the per-user stream leases and the replay read.
- The stream operation itself is `handlers/events.py` (`GET /api/events/stream`, the Events tag).

PostgreSQL is the one shared state: a message written through one worker (or host, or another backend that
writes the outbox) reaches the streams held by every other.
"""
