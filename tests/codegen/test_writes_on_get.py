"""`x-writes: true`: a GET that must write (a view counter, a share link's access count) says so in the spec
and gets a read-write transaction; every other GET stays read-only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text


@pytest.fixture
async def counter(scratch_app: FastAPI) -> AsyncIterator[str]:
    engine = scratch_app.state.runtime.engine
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE scratch_counters (id text PRIMARY KEY, hits integer NOT NULL DEFAULT 0)")
        )
        await connection.execute(text("INSERT INTO scratch_counters (id) VALUES ('c1')"))
    try:
        yield "c1"
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("DROP TABLE scratch_counters"))


async def _hits(app: FastAPI, name: str) -> int:
    async with app.state.runtime.engine.connect() as connection:
        value = await connection.scalar(
            text("SELECT hits FROM scratch_counters WHERE id = :id"), {"id": name}
        )
    assert isinstance(value, int)
    return value


async def test_a_counter_bumped_on_get_is_exact_under_concurrency(
    scratch_client: httpx.AsyncClient, scratch_app: FastAPI, counter: str
) -> None:
    answers = await asyncio.gather(*(scratch_client.get(f"/counters/{counter}") for _ in range(50)))
    assert [a.status_code for a in answers] == [200] * 50
    # Each visit saw its own count: no lost update, no two visits counted as one.
    assert sorted(a.json()["hits"] for a in answers) == list(range(1, 51))
    assert await _hits(scratch_app, counter) == 50


async def test_a_failed_get_rolls_its_write_back(
    scratch_client: httpx.AsyncClient, scratch_app: FastAPI, counter: str
) -> None:
    assert (await scratch_client.get(f"/counters/{counter}")).json()["hits"] == 1
    failed = await scratch_client.get(f"/counters/{counter}", params={"fail": "true"})
    assert failed.status_code == 409
    assert await _hits(scratch_app, counter) == 1
    assert (await scratch_client.get("/counters/none")).status_code == 404
