"""Live updates: `make bench-stream` (`python -m bench.stream [--streams N] [--rounds N]`).

1. An embedded PostgreSQL of its own (migrated and seeded), and `make serve` at two workers (granian).
2. USERS users, each with STREAMS / USERS open streams (`GET /api/events/stream`, raw HTTP/1.1 over asyncio:
   the client costs as little as possible); the two workers share the socket, so both hold streams.
3. ROUNDS rounds: one transaction writes one event for every user through the real writer
   (`halolight.events.outbox`: rows in `halolight_stream_events`, `NOTIFY` at the commit); the fan-out latency
   of each delivery is the time from the commit's return to the event's last byte read by its stream.
4. A worker's memory per open stream: the workers' RSS with one stream each (the hubs started) and with all
   of them, the difference divided by the number of streams.

Targets (issue 21): p99 under 100 ms with 500 open streams; under 50 KiB per stream.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.run import ROOT, http_json, log, require_free, start, stop, wait_until_up, worker_rss_mib

PORT = 18471
WORKERS = 2
USERS = 50
TARGET_P99_MS = 100
TARGET_KIB = 50


class StreamClient:
    """One open stream: reads events, records each one's arrival."""

    def __init__(self, ticket_or_token: str, arrivals: dict[int, list[float]]) -> None:
        self.token = ticket_or_token
        self.arrivals = arrivals
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT, limit=1 << 20)
        writer.write(
            (
                "GET /api/events/stream HTTP/1.1\r\nHost: bench\r\n"
                f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"stream refused: {status!r}")
        loop = asyncio.get_running_loop()
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                if line.startswith(b"retry:"):
                    self.ready.set()
                elif line.startswith(b"data: {"):
                    arrived = loop.time()
                    # No JSON parse: the client's own time is not the server's fan-out.
                    at = line.find(b'"round":')
                    if at >= 0:
                        end = line.find(b"}", at)
                        self.arrivals.setdefault(int(line[at + 8 : end]), []).append(arrived)
        finally:
            writer.close()


async def publish_round(sessionmaker: Any, users: list[str], round_: int) -> float:
    """One transaction: one event for every user, written and announced as a request's commit does."""
    from halolight.events import outbox

    async with sessionmaker() as db:
        async with db.begin():
            outbox.emit(db, "notification", {user: {"round": round_} for user in users})
            await outbox.flush(db)
        return asyncio.get_running_loop().time()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(url: str, server_pid: int, streams: int, rounds: int) -> list[str]:
    from halolight.db.engine import create_engine, create_sessionmaker
    from halolight.settings import Settings

    base = f"http://127.0.0.1:{PORT}"
    people: list[tuple[str, str]] = []
    for i in range(USERS):
        body = {"email": f"stream{i}@bench.example", "name": f"Stream {i}", "password": "benchPass123"}
        registered = await asyncio.to_thread(http_json, "POST", f"{base}/api/auth/register", body)
        people.append((registered["user"]["id"], registered["accessToken"]))
    arrivals: dict[int, list[float]] = {}

    async def open_streams(count: int, start_at: int) -> list[StreamClient]:
        clients = [StreamClient(people[(start_at + i) % USERS][1], arrivals) for i in range(count)]
        # 25 at a time: opening one takes pooled connections for a moment (authentication, lease, replay).
        for chunk in range(0, count, 25):
            batch = clients[chunk : chunk + 25]
            for client in batch:
                client.task = asyncio.get_running_loop().create_task(client.run())
            await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in batch)), 60)
        return clients

    # One stream per worker first (likely: both share the socket), so that both hubs run before the baseline.
    warm = await open_streams(8, 0)
    await asyncio.sleep(2)
    before = worker_rss_mib(server_pid)
    clients = await open_streams(streams - len(warm), len(warm))
    clients += warm
    await asyncio.sleep(3)
    after = worker_rss_mib(server_pid)
    per_stream_kib = (sum(after) - sum(before)) * 1024 / (streams - len(warm))
    log(f"RSS {before} -> {after} MiB with {streams} streams: {per_stream_kib:.1f} KiB per stream")

    engine = create_engine(Settings(environment="development"), url)
    sessionmaker = create_sessionmaker(engine)
    users = [user for user, _ in people]
    latencies: list[float] = []
    try:
        for round_ in range(-3, rounds):  # three rounds of warm-up
            committed = await publish_round(sessionmaker, users, round_)
            deadline = time.monotonic() + 5
            while len(arrivals.get(round_, [])) < streams and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            got = arrivals.pop(round_, [])
            if len(got) < streams:
                raise RuntimeError(f"round {round_}: {len(got)} of {streams} streams got the event")
            if round_ >= 0:
                latencies += [(arrived - committed) * 1000 for arrived in got]
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()
        for client in clients:
            if client.task is not None:
                client.task.cancel()
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    worst = max(latencies)
    log(f"fan-out: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms over {len(latencies)} deliveries")
    return [
        "### Live updates (`bench/stream.py`)",
        "",
        f"`make serve` at {WORKERS} workers, {streams} open streams ({USERS} users, {streams // USERS} each,"
        f" spread over both workers by the shared socket), {rounds} rounds of one transaction writing one"
        f" event for every user ({streams} deliveries a round) through `halolight.events.outbox`.",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        f"| fan-out latency p50 (commit → last byte read) | {p50:.1f} ms | |",
        f"| fan-out latency p99 | {p99:.1f} ms | < {TARGET_P99_MS} ms |",
        f"| fan-out latency max | {worst:.1f} ms | |",
        f"| worker memory per open stream | {per_stream_kib:.1f} KiB | < {TARGET_KIB} KiB |",
        "| database connections held by the streams | 0 (one listener per worker) | 0 |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream")
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    require_free(PORT)
    from halolight.db import embedded, migrate

    folder = tempfile.mkdtemp(prefix="halolight-bench-stream-")
    server = embedded.start(folder, delete_on_cleanup=True)
    url = embedded.sqlalchemy_url(server.get_uri())
    migrate.upgrade(url)
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(PORT),
        "ENVIRONMENT": "development",
        "DATABASE_URL": url,
        "WORKERS": str(WORKERS),
        "BCRYPT_ROUNDS": "4",
        "AUTH_RATE_LIMIT": "100000/minute",
        # Every stream comes from 127.0.0.1: the per-address cap (64 per worker) is for clients, not this.
        "HTTP_MAX_REQUESTS_PER_CLIENT": "0",
        "EVENTS_STREAMS_PER_USER": str(max(5, args.streams // USERS + 8)),
        "MAIL_OUTBOX_DIR": str(Path(folder) / "outbox"),
        "SEED_DEMO_USERS": "false",
    }
    process = start(
        [str(ROOT / ".venv/bin/halolight"), "serve", "--production-server"], env, Path(folder) / "api.log"
    )
    try:
        wait_until_up(PORT, "/health")
        lines = asyncio.run(measure(url, process.pid, args.streams, args.rounds))
    finally:
        stop(process)
        embedded.stop(server)
        shutil.rmtree(folder, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
