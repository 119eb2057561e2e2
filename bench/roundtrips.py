"""Round trips to PostgreSQL per request, counted at the driver (psycopg 3), in process.

Every message exchange the driver starts is one round trip: a cursor `execute` (a query, or SQLAlchemy's
pool pre-ping `SELECT 1`) and an internal command (`BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`, ...).

    .venv/bin/python -m bench.roundtrips        # prints a Markdown table
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
from psycopg import _connection_base

_counts: Counter[str] | None = None


def _install() -> None:
    original_command = _connection_base.BaseConnection._exec_command
    original_execute = psycopg.AsyncCursor.execute

    def exec_command(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        if _counts is not None:
            text = command if isinstance(command, bytes) else str(command).encode()
            _counts[text.split()[0].decode().upper()] += 1
        return original_command(self, command, *args, **kwargs)

    async def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if _counts is not None:
            word = str(query).split()[0].upper() if str(query).strip(" ;") else "PING"
            _counts[word] += 1
        return await original_execute(self, query, *args, **kwargs)

    _connection_base.BaseConnection._exec_command = exec_command  # type: ignore[method-assign]
    psycopg.AsyncCursor.execute = execute  # type: ignore[method-assign]


@contextmanager
def counting() -> Iterator[Counter[str]]:
    global _counts
    _counts = Counter()
    try:
        yield _counts
    finally:
        _counts = None


ENDPOINTS = [
    ("GET", "/api/auth/me"),
    ("GET", "/api/users?page=1&limit=10"),
    ("GET", "/api/users?page=1&limit=10&search=demo"),
    ("GET", "/api/users/{user_id}"),
    ("GET", "/api/roles"),
    ("GET", "/api/teams"),
    ("GET", "/api/permissions"),
]


async def measure(url: str) -> list[tuple[str, int, Counter[str]]]:
    from halolight.app import create_app
    from halolight.settings import Settings

    settings = Settings(environment="test", bcrypt_rounds=4, auth_rate_limit="100000/minute")
    app = create_app(settings, url)
    rows = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        login = await client.post(
            "/api/auth/login", json={"email": "admin@halolight.h7ml.cn", "password": "123456"}
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        user_id = login.json()["user"]["id"]
        for method, path in ENDPOINTS:
            path = path.format(user_id=user_id)
            for _ in range(3):  # warm: pool filled, statements cached
                (await client.request(method, path, headers=headers)).raise_for_status()
            with counting() as counts:
                response = await client.request(method, path, headers=headers)
            response.raise_for_status()
            rows.append((f"{method} {path}", sum(counts.values()), counts))
    await app.state.runtime.close()
    return rows


def main() -> None:
    from halolight.db import embedded, migrate
    from halolight.serve import seed_database
    from halolight.settings import Settings

    _install()
    with tempfile.TemporaryDirectory(prefix="halolight-rt-") as folder:
        server = embedded.start(folder, delete_on_cleanup=True)
        try:
            url = embedded.sqlalchemy_url(server.get_uri())
            migrate.upgrade(url)
            asyncio.run(seed_database(Settings(environment="test", bcrypt_rounds=4), url))
            rows = asyncio.run(measure(url))
        finally:
            embedded.stop(server)
    out = sys.stdout
    out.write("| request | round trips | of which |\n|---|---|---|\n")
    for name, total, counts in rows:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        out.write(f"| `{name}` | {total} | {detail} |\n")


if __name__ == "__main__":
    main()
