"""The Dashboard over HTTP: every figure equals a count the test makes itself, from rows it creates
(through the API, or inserted where this branch has no API for them: calendar events, backdated rows); the
authorization matrix (401, 403, and the scope: `users:view` sees the platform, anyone else their own rows);
one statement per request besides authentication, whatever the number of rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from halolight.app import create_app
from halolight.repositories import dashboard
from halolight.settings import Settings
from tests.api.helpers import ADMIN, USER, auth_headers, bearer, caller_with, register
from tests.conftest import CountStatements

pytestmark = pytest.mark.asyncio

PIE_NAMES = ["Images", "Videos", "Audio", "Documents", "Archives", "Other"]
ENDPOINTS = ["stats", "visits", "sales", "products", "orders", "activities", "pie", "tasks", "overview"]
MIB = 1024 * 1024
_ids = itertools.count(1)


async def _sql(app: FastAPI, statement: str, **params: Any) -> list[Any]:
    async with app.state.runtime.sessionmaker() as db:
        result = await db.execute(text(statement), params)
        rows = list(result.all()) if result.returns_rows else []
        await db.commit()
    return rows


async def _scalar(app: FastAPI, statement: str, **params: Any) -> Any:
    return (await _sql(app, statement, **params))[0][0]


async def _get(client: httpx.AsyncClient, name: str, headers: dict[str, str]) -> Any:
    response = await client.get(f"/api/dashboard/{name}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _last_month() -> datetime:
    first = _now().replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    return (first - timedelta(days=1)).replace(day=10)


async def _file(
    app: FastAPI, owner: str, *, mime: str, size: int, folder: str | None = None, at: datetime | None = None
) -> str:
    file_id = f"dash-file-{next(_ids)}-{owner[-6:]}"
    await _sql(
        app,
        'INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "folderId", "createdAt",'
        ' "updatedAt")' " VALUES (:id, :id, 'files/x/' || :id, :mime, :size, :owner, :folder, :at, :at)",
        id=file_id, mime=mime, size=size, owner=owner, folder=folder, at=at or _now(),
    )  # fmt: skip
    return file_id


async def _event(app: FastAPI, owner: str, start: timedelta, end: timedelta, title: str) -> str:
    event_id = f"dash-event-{next(_ids)}-{owner[-6:]}"
    now = _now()
    await _sql(
        app,
        'INSERT INTO calendar_events (id, title, type, "startAt", "endAt", "ownerId", "updatedAt")'
        " VALUES (:id, :title, 'meeting', :start, :end, :owner, now())",
        id=event_id, title=title, start=now + start, end=now + end, owner=owner,
    )  # fmt: skip
    return event_id


class Someone:
    def __init__(self, body: dict[str, Any]) -> None:
        self.id: str = body["user"]["id"]
        self.headers = bearer(body["accessToken"])


async def someone(client: httpx.AsyncClient) -> Someone:
    """A fresh account (role USER: `dashboard:view` without `users:view`, so its scope is its own rows)."""
    return Someone(await register(client))


class TestAuthorization:
    @pytest.mark.parametrize("name", ENDPOINTS)
    async def test_anonymous_is_401_and_without_the_permission_403(
        self, client: httpx.AsyncClient, name: str
    ) -> None:
        assert (await client.get(f"/api/dashboard/{name}")).status_code == 401
        admin = await auth_headers(client, ADMIN)
        headers = await caller_with(client, admin, "documents:view")
        response = await client.get(f"/api/dashboard/{name}", headers=headers)
        assert response.status_code == 403
        assert response.json() == {"detail": "Missing permission: dashboard:view"}

    async def test_without_users_view_the_scope_is_the_callers_own(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        me, other = await someone(client), await someone(client)
        await client.post("/api/documents", json={"title": "Other's", "content": "x"}, headers=other.headers)
        stats = await _get(client, "stats", me.headers)
        assert (stats["totalUsers"], stats["totalOrders"]) == (1, 0)
        activities = await _get(client, "activities", me.headers)
        assert activities["data"] and {a["user"] for a in activities["data"]} == {"Test User"}
        actors = await _sql(app, 'SELECT DISTINCT "actorId" FROM activity_logs WHERE id = ANY(:ids)',
                            ids=[a["id"] for a in activities["data"]])  # fmt: skip
        assert [row[0] for row in actors] == [me.id]

    async def test_with_users_view_the_scope_is_the_platform(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        callers = {
            email: await auth_headers(client, email) for email in (ADMIN, USER)
        }  # signing in is logged
        other = await someone(client)
        created = await client.post(
            "/api/documents", json={"title": "Seen", "content": "x"}, headers=other.headers
        )
        for email, headers in callers.items():
            latest = (await _get(client, "activities", headers))["data"][0]
            if email == ADMIN:  # the newest action of the platform is the other account's
                assert latest["action"] == "document.create" and created.json()["id"] in latest["target"]
            else:
                assert created.json()["id"] not in latest["target"]
        viewer = await caller_with(client, await auth_headers(client, ADMIN), "dashboard:view", "users:view")
        stats = await _get(client, "stats", viewer)
        assert stats["totalUsers"] == await _scalar(app, "SELECT count(*) FROM users")


class TestFigures:
    async def test_stats_sales_and_growth_compare_real_months(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        me = await someone(client)
        for title in ("a", "b", "c"):
            await client.post("/api/documents", json={"title": title, "content": "x"}, headers=me.headers)
        await _file(app, me.id, mime="text/plain", size=3 * MIB)
        await _file(app, me.id, mime="image/png", size=MIB // 2)
        await _file(app, me.id, mime="image/png", size=MIB, at=_last_month())
        # One document of last month: the growth compares 3 + 2 this month with 1 + 1 last month.
        await _sql(
            app,
            """UPDATE documents SET "createdAt" = :at
               WHERE id = (SELECT id FROM documents WHERE "ownerId" = :me ORDER BY id LIMIT 1)""",
            at=_last_month(), me=me.id,
        )  # fmt: skip

        stats = await _get(client, "stats", me.headers)
        assert stats == {
            "totalUsers": 1,
            "totalOrders": 3 + 3,
            "totalRevenue": round((3 * MIB + MIB // 2 + MIB) / MIB, 2),
            "conversionRate": 0.0,  # registered, never signed in with a password
            "userGrowth": 100.0,
            "orderGrowth": round((4 - 2) * 100 / 2, 1),
            "revenueGrowth": round((3 * MIB + MIB // 2 - MIB) * 100 / MIB, 1),
        }
        sales = (await _get(client, "sales", me.headers))["data"]
        assert len(sales) == 12 and sales[-1]["month"] == _now().strftime("%Y-%m")
        assert sales[-1] == {"month": _now().strftime("%Y-%m"), "sales": 3.5, "orders": 4}
        assert sales[-2] == {"month": _last_month().strftime("%Y-%m"), "sales": 1.0, "orders": 2}
        assert all(m["orders"] == 0 for m in sales[:-2])

    async def test_conversion_rate_counts_sign_ins_of_the_last_30_days(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        viewer = await caller_with(client, await auth_headers(client, ADMIN), "dashboard:view", "users:view")
        stats = await _get(client, "stats", viewer)
        total = await _scalar(app, "SELECT count(*) FROM users")
        active = await _scalar(
            app,
            """SELECT count(*) FROM users
               WHERE "lastLoginAt" >= (now() AT TIME ZONE 'UTC') - interval '30 days'""",
        )
        assert stats["conversionRate"] == round(active * 100 / total, 1)

    async def test_visits_are_sign_ins_and_actions_per_day(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        body = await register(client)
        me = Someone(body)
        await client.post(
            "/api/auth/login", json={"email": body["user"]["email"], "password": "securePass123"}
        )
        await client.post("/api/folders", json={"name": "Visits"}, headers=me.headers)
        yesterday = _now() - timedelta(days=1)
        await _sql(
            app,
            """INSERT INTO activity_logs (id, "actorId", action, "targetType", "targetId", "createdAt")
               VALUES (:id, :me, 'auth.login', 'User', :me, :at)""",
            id=f"dash-log-{me.id}", me=me.id, at=yesterday,
        )  # fmt: skip
        visits = (await _get(client, "visits", me.headers))["data"]
        today = _now().date()
        assert [v["date"] for v in visits] == [str(today - timedelta(days=29 - i)) for i in range(30)]
        actions = await _scalar(app, 'SELECT count(*) FROM activity_logs WHERE "actorId" = :me', me=me.id)
        assert visits[-1] == {"date": str(today), "visits": 2, "pageViews": actions - 1}  # register, login
        assert visits[-2] == {"date": str(today - timedelta(days=1)), "visits": 1, "pageViews": 1}
        assert sum(v["pageViews"] for v in visits[:-2]) == 0

    async def test_products_orders_and_pie_from_files(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        me = await someone(client)
        big = (await client.post("/api/folders", json={"name": "Big"}, headers=me.headers)).json()["id"]
        small = (await client.post("/api/folders", json={"name": "Small"}, headers=me.headers)).json()["id"]
        await client.post("/api/folders", json={"name": "Empty"}, headers=me.headers)
        kinds = [
            ("image/png", big), ("image/jpeg", big), ("video/mp4", big), ("audio/mpeg", small),
            ("application/pdf", small), ("text/plain", None), ("application/zip", None),
            ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", None),
            ("application/octet-stream", None),
        ]  # fmt: skip
        files = [
            await _file(app, me.id, mime=mime, size=(i + 1) * 100_000, folder=folder,
                        at=_now() - timedelta(minutes=len(kinds) - i))
            for i, (mime, folder) in enumerate(kinds)
        ]  # fmt: skip
        await _sql(
            app,
            """INSERT INTO halolight_file_shares (id, "fileId", "tokenHash") VALUES (:id, :file, :hash)""",
            id=f"dash-share-{me.id}", file=files[-1], hash=hashlib.sha256(me.id.encode()).hexdigest(),
        )  # fmt: skip

        products = (await _get(client, "products", me.headers))["data"]
        big_bytes, small_bytes = 100_000 + 200_000 + 300_000, 400_000 + 500_000
        assert products == [  # by bytes: the two larger files outweigh the three smaller ones
            {"id": small, "name": "Small", "sales": 2, "revenue": round(small_bytes / MIB, 2)},
            {"id": big, "name": "Big", "sales": 3, "revenue": round(big_bytes / MIB, 2)},
        ]
        orders = (await _get(client, "orders", me.headers))["data"]
        assert [o["id"] for o in orders] == list(reversed(files))
        assert [o["status"] for o in orders] == ["shared"] + ["private"] * 8
        assert orders[0]["amount"] == round(900_000 / MIB, 2) and orders[0]["customer"] == "Test User"
        assert orders[0]["date"] == str(_now().date())
        pie = (await _get(client, "pie", me.headers))["data"]
        assert [(s["name"], s["value"]) for s in pie] == [
            ("Images", 2), ("Videos", 1), ("Audio", 1), ("Documents", 3), ("Archives", 1), ("Other", 1),
        ]  # fmt: skip

    async def test_activities_are_the_log_with_actor_names(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        me = await someone(client)
        for i in range(3):
            await client.post("/api/documents", json={"title": f"d{i}", "content": "x"}, headers=me.headers)
        expected = await _sql(
            app,
            """SELECT a.id, u.name, a.action, a."targetType", a."targetId" FROM activity_logs a
               JOIN users u ON u.id = a."actorId" WHERE a."actorId" = :me
               ORDER BY a."createdAt" DESC, a.id DESC""",
            me=me.id,
        )  # fmt: skip
        activities = (await _get(client, "activities", me.headers))["data"]
        assert [(a["id"], a["user"], a["action"], a["target"]) for a in activities] == [
            (row[0], row[1], row[2], f"{row[3]} {row[4]}") for row in expected
        ]
        assert [a["action"] for a in activities] == ["document.create"] * 3 + ["auth.register"]

    async def test_tasks_are_the_callers_calendar_window(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        me, other = await someone(client), await someone(client)
        h = timedelta(hours=1)
        ended = await _event(app, me.id, -48 * h, -47 * h, "ended")
        running = await _event(app, me.id, -1 * h, 1 * h, "running")
        soon = await _event(app, me.id, 2 * h, 3 * h, "soon")
        week = await _event(app, me.id, 72 * h, 73 * h, "this week")
        later = await _event(app, me.id, 20 * 24 * h, 20 * 24 * h + h, "later")
        await _event(app, me.id, 40 * 24 * h, 40 * 24 * h + h, "beyond")
        await _event(app, me.id, -10 * 24 * h, -10 * 24 * h + h, "long ago")
        invited = await _event(app, other.id, 5 * h, 6 * h, "invited")
        await _event(app, other.id, 5 * h, 6 * h, "not mine")
        await _sql(
            app,
            """INSERT INTO event_attendees ("eventId", "userId", status) VALUES (:e, :u, 'ACCEPTED')""",
            e=invited, u=me.id,
        )  # fmt: skip

        tasks = await _get(client, "tasks", me.headers)
        assert [(t["id"], t["status"], t["priority"]) for t in tasks["data"]] == [
            (ended, "completed", "low"),
            (running, "in_progress", "high"),
            (soon, "pending", "high"),
            (invited, "pending", "high"),
            (week, "pending", "medium"),
            (later, "pending", "low"),
        ]
        assert tasks["stats"] == {"total": 6, "pending": 4, "inProgress": 1, "completed": 1}
        assert (await _get(client, "tasks", other.headers))["stats"]["total"] == 2

    async def test_tasks_keep_an_event_written_with_its_end_before_its_start(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        """Another backend may write one: it is in the window when its times are (the window is found by its
        span, least to greatest), and out of it when they are not."""
        me = await someone(client)
        h = timedelta(hours=1)
        inverted = await _event(app, me.id, 3 * h, 2 * h, "inverted")
        await _event(app, me.id, 40 * 24 * h, 39 * 24 * h, "inverted beyond")
        await _event(app, me.id, -9 * 24 * h, -10 * 24 * h, "inverted long ago")
        tasks = await _get(client, "tasks", me.headers)
        assert [(t["id"], t["status"], t["priority"]) for t in tasks["data"]] == [
            (inverted, "pending", "high")
        ]
        assert tasks["stats"] == {"total": 1, "pending": 1, "inProgress": 0, "completed": 0}

    async def test_overview_counts_in_scope(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        me = await someone(client)
        await client.post("/api/documents", json={"title": "o", "content": "x"}, headers=me.headers)
        await client.post("/api/teams", json={"name": "Overview"}, headers=me.headers)
        await _file(app, me.id, mime="text/plain", size=10)
        await _event(app, me.id, timedelta(hours=1), timedelta(hours=2), "e")
        overview = await _get(client, "overview", me.headers)
        actions = await _scalar(app, 'SELECT count(*) FROM activity_logs WHERE "actorId" = :me', me=me.id)
        assert overview["stats"] == {
            "users": 1, "documents": 1, "files": 1, "folders": 0, "teams": 1, "events": 1, "conversations": 0,
            "messages": 0, "activities": actions,
        }  # fmt: skip
        system = overview["system"]
        assert all(0 <= system[k] <= 100 for k in ("cpu", "memory", "disk")) and system["uptime"] >= 0

        viewer = await caller_with(client, await auth_headers(client, ADMIN), "dashboard:view", "users:view")
        everything = (await _get(client, "overview", viewer))["stats"]
        for name, table in [
            ("users", "users"), ("documents", "documents"), ("files", "files"), ("folders", "folders"),
            ("teams", "teams"), ("events", "calendar_events"), ("conversations", "conversations"),
            ("messages", "messages"), ("activities", "activity_logs"),
        ]:  # fmt: skip
            assert everything[name] == await _scalar(app, f"SELECT count(*) FROM {table}"), name  # noqa: S608


# The overview's figures and the table each counts (the test counts them itself, with count(*)).
PLATFORM_TABLES = {
    "users": "users", "documents": "documents", "files": "files", "folders": "folders", "teams": "teams",
    "events": "calendar_events", "conversations": "conversations", "messages": "messages",
    "activities": "activity_logs",
}  # fmt: skip
# The pie's kinds as the spec documents them (the test's own classification of every media type present).
DOCUMENT_TYPES = {
    "application/pdf", "application/msword", "application/rtf", "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
}  # fmt: skip
DOCUMENT_PREFIXES = (
    "text/",
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
)
ARCHIVE_TYPES = {
    "application/zip", "application/x-zip-compressed", "application/x-tar", "application/gzip",
    "application/x-gzip", "application/x-7z-compressed", "application/x-rar-compressed",
    "application/vnd.rar", "application/x-bzip2", "application/x-xz",
}  # fmt: skip


def _kind(mime: str) -> str:
    for prefix, name in (("image/", "Images"), ("video/", "Videos"), ("audio/", "Audio")):
        if mime.startswith(prefix):
            return name
    if mime in DOCUMENT_TYPES or mime.startswith(DOCUMENT_PREFIXES):
        return "Documents"
    return "Archives" if mime in ARCHIVE_TYPES else "Other"


async def _platform_figures_are_exact(
    client: httpx.AsyncClient, app: FastAPI, viewer: dict[str, str]
) -> None:
    """Every platform figure of the nine operations' counts equals what this test counts in the tables."""
    overview = (await _get(client, "overview", viewer))["stats"]
    assert overview == {
        name: await _scalar(app, f"SELECT count(*) FROM {table}")  # noqa: S608
        for name, table in PLATFORM_TABLES.items()
    }
    kinds = dict.fromkeys(PIE_NAMES, 0)
    for mime, n in await _sql(app, 'SELECT "mimeType", count(*) FROM files GROUP BY 1'):
        kinds[_kind(mime)] += n
    pie = (await _get(client, "pie", viewer))["data"]
    assert [(s["name"], s["value"]) for s in pie] == list(kinds.items())

    largest = await _sql(
        app,
        """SELECT fo.id, fo.name, count(*), sum(f.size)
           FROM folders AS fo JOIN files AS f ON f."folderId" = fo.id
           GROUP BY fo.id, fo.name ORDER BY sum(f.size) DESC, count(*) DESC, fo.id LIMIT 10""",
    )
    products = (await _get(client, "products", viewer))["data"]
    assert products == [
        {"id": i, "name": name, "sales": n, "revenue": round(int(b) / MIB, 2)} for i, name, n, b in largest
    ]

    months = await _sql(
        app,
        """WITH t AS (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AS t),
           m AS (SELECT generate_series(t - interval '11 months', t, interval '1 month') AS m FROM t)
           SELECT to_char(m, 'YYYY-MM'),
                  (SELECT count(*) FROM files WHERE date_trunc('month', "createdAt") = m)
                  + (SELECT count(*) FROM documents WHERE date_trunc('month', "createdAt") = m),
                  (SELECT coalesce(sum(size), 0) FROM files WHERE date_trunc('month', "createdAt") = m)
           FROM m ORDER BY m""",
    )
    sales = (await _get(client, "sales", viewer))["data"]
    assert sales == [{"month": m, "sales": round(int(b) / MIB, 2), "orders": n} for m, n, b in months]

    days = await _sql(
        app,
        """WITH d AS (SELECT CAST(s AS date) AS d FROM generate_series(
                          CAST(now() AT TIME ZONE 'UTC' AS date) - 29, CAST(now() AT TIME ZONE 'UTC' AS date),
                          interval '1 day') AS s)
           SELECT d, (SELECT count(*) FROM activity_logs WHERE CAST("createdAt" AS date) = d
                      AND action IN ('auth.login', 'auth.register')),
                     (SELECT count(*) FROM activity_logs WHERE CAST("createdAt" AS date) = d)
           FROM d ORDER BY d""",
    )
    visits = (await _get(client, "visits", viewer))["data"]
    assert visits == [{"date": str(d), "visits": v, "pageViews": a} for d, v, a in days]

    (
        users, active, users_this, users_last, files, size, files_this, files_last, size_this, size_last,
        documents, documents_this, documents_last,
    ) = (await _sql(
        app,
        """WITH b AS (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AS this,
                             date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month' AS last)
           SELECT (SELECT count(*) FROM users),
                  (SELECT count(*) FROM users
                   WHERE "lastLoginAt" >= (now() AT TIME ZONE 'UTC') - interval '30 days'),
                  (SELECT count(*) FROM users WHERE "createdAt" >= b.this),
                  (SELECT count(*) FROM users WHERE "createdAt" >= b.last AND "createdAt" < b.this),
                  (SELECT count(*) FROM files), (SELECT coalesce(sum(size), 0) FROM files),
                  (SELECT count(*) FROM files WHERE "createdAt" >= b.this),
                  (SELECT count(*) FROM files WHERE "createdAt" >= b.last AND "createdAt" < b.this),
                  (SELECT coalesce(sum(size), 0) FROM files WHERE "createdAt" >= b.this),
                  (SELECT coalesce(sum(size), 0) FROM files
                   WHERE "createdAt" >= b.last AND "createdAt" < b.this),
                  (SELECT count(*) FROM documents),
                  (SELECT count(*) FROM documents WHERE "createdAt" >= b.this),
                  (SELECT count(*) FROM documents WHERE "createdAt" >= b.last AND "createdAt" < b.this)
           FROM b""",
    ))[0]  # fmt: skip

    def growth(this: int, last: int) -> float:
        return round((this - last) * 100 / last, 1) if last else (100.0 if this else 0.0)

    assert await _get(client, "stats", viewer) == {
        "totalUsers": users,
        "totalRevenue": round(int(size) / MIB, 2),
        "totalOrders": documents + files,
        "conversionRate": round(active * 100 / users, 1),
        "userGrowth": growth(users_this, users_last),
        "orderGrowth": growth(documents_this + files_this, documents_last + files_last),
        "revenueGrowth": growth(int(size_this), int(size_last)),
    }


async def _fold(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(
        database_url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True
    ) as conn:
        for _ in range(100):  # a running hub may hold the fold's lock for a moment: then wait for it
            if await dashboard.fold(conn):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the fold's lock stayed taken")


class TestPlatformFiguresStayExact:
    """The platform's figures are sums over the counts the database keeps (migration 0015): they equal the
    test's own counts after writes made with plain SQL (as another backend makes them), the fold,
    and concurrent writers."""

    async def test_after_plain_sql_writes_and_the_fold(
        self, client: httpx.AsyncClient, app: FastAPI, database_url: str
    ) -> None:
        viewer = await caller_with(client, await auth_headers(client, ADMIN), "dashboard:view", "users:view")
        me, other = await someone(client), await someone(client)
        await _platform_figures_are_exact(client, app, viewer)

        long_ago = _now() - timedelta(days=800)
        files = [
            await _file(app, me.id, mime=mime, size=size, at=at)
            for mime, size, at in [
                ("image/png", 1000, None), ("application/x-xz", 2 * MIB, _last_month()),
                ("text/csv", 7, long_ago), ("application/octet-stream", 3, None),
                ("audio/ogg", 11, _last_month()),
            ]
        ]  # fmt: skip
        await _file(app, other.id, mime="video/webm", size=5 * MIB)
        # The largest folders of the platform: these two outgrow every other test's folders.
        big = (await client.post("/api/folders", json={"name": "Huge"}, headers=me.headers)).json()["id"]
        gone = (await client.post("/api/folders", json={"name": "Gone"}, headers=other.headers)).json()["id"]
        in_folders = [
            await _file(app, me.id, mime="image/png", size=900 * MIB, folder=big),
            await _file(app, me.id, mime="image/png", size=800 * MIB, folder=big),
            await _file(app, other.id, mime="image/png", size=1000 * MIB, folder=gone),
        ]
        await _sql(
            app,
            """INSERT INTO activity_logs (id, "actorId", action, "targetType", "targetId", "createdAt")
               SELECT 'dash-plat-' || :me || i, :me,
                      CASE WHEN i % 2 = 0 THEN 'auth.login' ELSE 'file.upload' END, 'User', :me,
                      (now() AT TIME ZONE 'UTC') - make_interval(days => i)
               FROM generate_series(0, 40) AS i""",
            me=me.id,
        )  # fmt: skip
        await _platform_figures_are_exact(client, app, viewer)

        # Updates of counted columns move rows between months, kinds, sizes and days.
        await _sql(
            app,
            """UPDATE files SET size = size + 1000, "mimeType" = 'video/mp4' WHERE id = :id""",
            id=files[0],
        )
        await _sql(app, """UPDATE files SET "createdAt" = :at WHERE id = :id""", id=files[1], at=_now())
        await _sql(app, """UPDATE users SET "lastLoginAt" = :at WHERE id = :id""", id=me.id, at=_now())
        await _sql(
            app,
            """UPDATE activity_logs SET action = 'auth.register', "createdAt" = "createdAt" - interval '1 day'
               WHERE id = 'dash-plat-' || :me || '3'""",
            me=me.id,
        )  # fmt: skip
        await _platform_figures_are_exact(client, app, viewer)

        await _sql(app, """UPDATE files SET "folderId" = :to WHERE id = :id""", id=in_folders[0], to=gone)
        await _platform_figures_are_exact(client, app, viewer)
        await _sql(app, "DELETE FROM folders WHERE id = :id", id=gone)  # its files' folderId becomes NULL
        await _platform_figures_are_exact(client, app, viewer)

        # Deletes: one file, then an account with everything it owns (cascades).
        await _sql(app, "DELETE FROM files WHERE id = :id", id=files[2])
        await _sql(app, "DELETE FROM users WHERE id = :id", id=other.id)
        await _platform_figures_are_exact(client, app, viewer)

        # A TRUNCATE is checked on a database of its own (tests/migrations/test_dashboard_counts.py): here it
        # would empty tables that other tests, running beside this one, read.
        await _fold(database_url)
        await _platform_figures_are_exact(client, app, viewer)

    async def test_under_concurrent_writers(
        self, client: httpx.AsyncClient, app: FastAPI, database_url: str
    ) -> None:
        viewer = await caller_with(client, await auth_headers(client, ADMIN), "dashboard:view", "users:view")
        me = await someone(client)
        before = (await _get(client, "overview", viewer))["stats"]
        libpq = database_url.replace("postgresql+psycopg://", "postgresql://", 1)

        async def insert(i: int) -> None:  # another backend's writer: its own connection and transaction
            async with await psycopg.AsyncConnection.connect(libpq) as conn:
                await conn.execute(
                    """INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "updatedAt")
                       VALUES (%s, 'c', 'files/' || %s, 'image/png', %s, %s, now())""",
                    (f"dash-conc-{me.id}-{i}", f"dash-conc-{me.id}-{i}", 100 + i, me.id),
                )
                await conn.commit()

        async def create(i: int) -> None:  # through the API: a document and its activity-log row
            response = await client.post(
                "/api/documents", json={"title": f"c{i}", "content": "x"}, headers=me.headers
            )
            assert response.status_code == 201, response.text

        await asyncio.gather(
            *(insert(i) for i in range(20)), *(create(i) for i in range(20)), _fold(database_url)
        )
        after = (await _get(client, "overview", viewer))["stats"]
        assert after["files"] - before["files"] == 20 and after["documents"] - before["documents"] == 20
        await _platform_figures_are_exact(client, app, viewer)


class TestFold:
    async def test_a_server_folds_the_counts_from_start_up_without_any_stream(
        self, client: httpx.AsyncClient, app: FastAPI, settings: Settings, database_url: str
    ) -> None:
        """The live-update hub is launched at start-up (the app's lifespan); it folds every second."""
        me = await someone(client)
        for size in (1, 2, 3):  # three statements: three rows for the same keys
            await _file(app, me.id, mime="image/png", size=size)

        async def repeated_keys() -> int:
            return int(
                await _scalar(
                    app, "SELECT count(*) - count(DISTINCT (subject, period)) FROM halolight_counts"
                )
            )

        assert await repeated_keys() > 0
        server = create_app(settings, database_url)
        server.state.runtime.hub.launch()
        try:
            for _ in range(100):
                if await repeated_keys() == 0:
                    break
                await asyncio.sleep(0.1)
        finally:
            await server.state.runtime.close()
        assert await repeated_keys() == 0


class TestStatementCounts:
    @pytest.mark.parametrize("name", ENDPOINTS)
    async def test_one_statement_whatever_the_rows(
        self, client: httpx.AsyncClient, app: FastAPI, count_statements: CountStatements, name: str
    ) -> None:
        me = await someone(client)

        async def statements() -> int:
            with count_statements(app.state.runtime.engine) as seen:
                await _get(client, name, me.headers)
            return len(seen)

        few = await statements()
        folder = (await client.post("/api/folders", json={"name": "Many"}, headers=me.headers)).json()["id"]
        for i in range(25):
            await _file(app, me.id, mime="image/png", size=i + 1, folder=folder)
            await _event(app, me.id, timedelta(hours=i), timedelta(hours=i + 1), f"t{i}")
            await client.post("/api/documents", json={"title": f"m{i}", "content": "x"}, headers=me.headers)
        assert await statements() == few == 2  # authentication, then the one aggregate
