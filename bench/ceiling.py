"""The ceiling: what this machine serves with the same server, framework and driver, and no API at all.

FastAPI on granian (uvloop, the same worker count as the API), a psycopg 3 async pool, no ORM, no auth:
`/const` (constant JSON), `/one` (one SELECT by primary key), `/page` (a page of 10 users + their count).
Started by `bench/run.py` beside the API: `python -m bench.ceiling` (DATABASE_URL, PORT, WORKERS).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

ONE = 'SELECT id, email, name, username, status, "createdAt" FROM users WHERE id = %s'
PAGE = (
    'SELECT id, email, name, username, status, "createdAt" FROM users ORDER BY "createdAt" DESC, id LIMIT 10'
)
COUNT = "SELECT count(*) AS n FROM users"


def create_app() -> FastAPI:
    url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
    one_id = os.environ["CEILING_ONE_ID"]
    pool = AsyncConnectionPool(url, min_size=10, max_size=10, open=False, kwargs={"row_factory": dict_row})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await pool.open()
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/const")
    async def const() -> dict[str, Any]:
        return {"ok": True, "name": "ceiling"}

    @app.get("/one")
    async def one() -> dict[str, Any]:
        async with pool.connection() as conn:
            row = await (await conn.execute(ONE, (one_id,))).fetchone()
        assert row is not None
        return row

    @app.get("/page")
    async def page() -> dict[str, Any]:
        async with pool.connection() as conn:
            rows = await (await conn.execute(PAGE)).fetchall()
            total = await (await conn.execute(COUNT)).fetchone()
        assert total is not None
        return {"data": rows, "meta": {"total": total["n"], "page": 1, "limit": 10}}

    @app.get("/ping")
    async def ping() -> Response:
        return Response(b"ok")

    return app


def main() -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.server.mp import MPServer

    MPServer(
        "bench.ceiling:create_app",
        factory=True,
        address="127.0.0.1",
        port=int(os.environ["PORT"]),
        interface=Interfaces.ASGI,
        workers=int(os.environ.get("WORKERS", "2")),
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
