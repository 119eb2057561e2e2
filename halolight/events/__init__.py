"""Live updates: events written with the change that causes them, announced through PostgreSQL, pushed to
the browser over Server-Sent Events.

- `outbox` (the writing side): `emit(db, type, {user_id: data})` queues events on the request's session;
  `flush(db)`, called by the request context just before it commits, writes them to
  `halolight_stream_events` and sends one `NOTIFY halolight_events` per batch, inside the same transaction:
  nothing is announced that did not commit, and nothing committed goes unannounced.
- The reading side (one listening connection per worker process, a bounded queue per open stream, replay
  from the table after `Last-Event-ID`) lives beside it in this package.

PostgreSQL is the one shared state: a message written through one worker (or host, or another backend that
writes the outbox) reaches the streams held by every other.
"""
