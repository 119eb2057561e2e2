"""The Dashboard tag's SQL: one statement per request, in two versions, the platform's and an owner's.

`owner` is the scope (see the Dashboard tag in the spec): None for the whole platform, else the caller's id.

**The platform** (a caller with `users:view`) never counts a whole shared table. Its figures are sums over
`halolight_counts`, a table of deltas kept by the database itself (migration 0015, see its docstring: triggers
on the shared tables append one row per key and writing statement, in the writer's transaction, whichever
backend writes). A figure of a (subject, period) is the SUM of its rows: exact at the statement's snapshot,
folded or not. `fold` (every second, one worker at a time, from the live-update hub) replaces each key's rows
by their sum, so a read sums a few hundred rows at most. Subjects: each shared table by name, by month of
`createdAt` (`files` with `bytes`, the sum of `size`); `files:<kind>` (the pie, by the SQL function
`halolight_dashboard_file_kind`); `activity_logs:all.day` and `activity_logs:sign_in.day` (the visits series);
`users:login.day` (accounts by the day of `lastLoginAt`: the active accounts are the whole days from it, and
the first of the 30 days from the hour of day on, by the `lastLoginAt` index). The largest folders come from
`halolight_folder_sizes` (one folded row per folder plus pending deltas, same migration); the platform's other
lists (newest files, newest actions) read index ranges.

**An owner** (anyone else) is counted from the shared tables through the owner's indexes (the counts table
has no owner dimension; an owner's rows are few and indexed).

Timestamps are stored in UTC without a zone, so "today" and "this month" are taken from
`now() AT TIME ZONE 'UTC'`, in the statement, once. The statements are assembled from constant fragments
(`noqa: S608`); every value is a bind parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Boolean, Date, DateTime, Integer, Text, text

from halolight.db.reads import Reads, Statement

MIB = 1024 * 1024
SIGN_INS = ("auth.login", "auth.register")
# Each statement comes in two versions, the platform's and an owner's (never one with `:owner IS NULL OR …`,
# whose generic plan could not use the owner's index): `OWNED(column)` is `TRUE` in the first and
# `column = :owner` in the second; `EVERYONE` is `TRUE` in the first and `FALSE` in the second.
_OWNED = re.compile(r"OWNED\(([^)]*)\)")


def _scoped(sql: str, **columns: Any) -> dict[bool, Statement]:
    """The statement keyed by "scoped to an owner"."""

    def build(owner: bool) -> Statement:
        body = _OWNED.sub(lambda m: f"{m.group(1)} = :owner" if owner else "TRUE", sql)
        body = body.replace("EVERYONE", "FALSE" if owner else "TRUE")
        return Statement(text(body).columns(**columns))

    return {True: build(True), False: build(False)}


def _platform(sql: str, **columns: Any) -> Statement:
    return Statement(text(sql).columns(**columns))


def _of(subject: str) -> str:
    return f"c.subject = '{subject}'"


def _sum(column: str, condition: str) -> str:
    """The sum of `halolight_counts.<column>` over the rows that meet `condition` (0 when none), as bigint."""
    return f"CAST(coalesce(sum(c.{column}) FILTER (WHERE {condition}), 0) AS bigint)"


_NOW = "(now() AT TIME ZONE 'UTC')"
_THIS_MONTH = f"date_trunc('month', {_NOW})"
_LAST_MONTH = f"({_THIS_MONTH} - interval '1 month')"
# The bounds are computed once (a CTE joined to each count): PostgreSQL evaluates `now()`-based expressions
# for every row otherwise (measured: 48 ms of 116 for 100,000 accounts).
_IN_THIS_MONTH = '"createdAt" >= b.this_month'
_IN_LAST_MONTH = '"createdAt" >= b.last_month AND "createdAt" < b.this_month'

_STATS_COLUMNS: dict[str, Any] = {
    name: Integer
    for name in (
        "users", "active", "users_this_month", "users_last_month", "files", "bytes", "files_this_month",
        "files_last_month", "bytes_this_month", "bytes_last_month", "documents", "documents_this_month",
        "documents_last_month",
    )
}  # fmt: skip
_OWN_STATS = _scoped(
    f"""
    WITH b AS MATERIALIZED (
        SELECT {_NOW} - interval '30 days' AS active_since, {_THIS_MONTH} AS this_month,
               {_LAST_MONTH} AS last_month
    )
    SELECT u.total AS users, u.active, u.this_month AS users_this_month, u.last_month AS users_last_month,
           f.total AS files, f.bytes, f.this_month AS files_this_month, f.last_month AS files_last_month,
           f.bytes_this_month, f.bytes_last_month,
           d.total AS documents, d.this_month AS documents_this_month, d.last_month AS documents_last_month
    FROM (SELECT count(*) AS total,
                 count(*) FILTER (WHERE "lastLoginAt" >= b.active_since) AS active,
                 count(*) FILTER (WHERE {_IN_THIS_MONTH}) AS this_month,
                 count(*) FILTER (WHERE {_IN_LAST_MONTH}) AS last_month
          FROM users, b WHERE OWNED(id)) AS u,
         (SELECT count(*) AS total, coalesce(sum(size), 0) AS bytes,
                 count(*) FILTER (WHERE {_IN_THIS_MONTH}) AS this_month,
                 count(*) FILTER (WHERE {_IN_LAST_MONTH}) AS last_month,
                 coalesce(sum(size) FILTER (WHERE {_IN_THIS_MONTH}), 0) AS bytes_this_month,
                 coalesce(sum(size) FILTER (WHERE {_IN_LAST_MONTH}), 0) AS bytes_last_month
          FROM files, b WHERE OWNED("ownerId")) AS f,
         (SELECT count(*) AS total,
                 count(*) FILTER (WHERE {_IN_THIS_MONTH}) AS this_month,
                 count(*) FILTER (WHERE {_IN_LAST_MONTH}) AS last_month
          FROM documents, b WHERE OWNED("ownerId")) AS d
    """,  # noqa: S608
    **_STATS_COLUMNS,
)[True]
# Active accounts: `users:login.day` of the days after the first of the 30 (a login in the future counts,
# as in the owner's version), plus that first day's sign-ins from the hour of day on, by the `lastLoginAt`
# index (one day of sign-ins at most).
_PLATFORM_STATS = _platform(
    f"""
    WITH b AS MATERIALIZED (
        SELECT since, CAST(since AS date) AS first_day, CAST({_THIS_MONTH} AS date) AS this_month,
               CAST({_LAST_MONTH} AS date) AS last_month
        FROM (SELECT {_NOW} - interval '30 days' AS since) AS s
    ),
    c AS (
        SELECT c.subject, c.period, c.n, c.bytes FROM halolight_counts AS c
        WHERE c.subject IN ('users', 'files', 'documents')
        UNION ALL
        SELECT c.subject, c.period, c.n, c.bytes FROM halolight_counts AS c, b
        WHERE c.subject = 'users:login.day' AND c.period > b.first_day
    ),
    first_day AS (
        SELECT count(*) AS n FROM users, b
        WHERE users."lastLoginAt" >= b.since AND users."lastLoginAt" < b.first_day + 1
    ),
    s AS (
        SELECT {_sum("n", "c.subject = 'users'")} AS users,
               {_sum("n", "c.subject = 'users:login.day'")} AS active_days,
               {_sum("n", "c.subject = 'users' AND c.period = b.this_month")} AS users_this_month,
               {_sum("n", "c.subject = 'users' AND c.period = b.last_month")} AS users_last_month,
               {_sum("n", "c.subject = 'files'")} AS files,
               {_sum("bytes", "c.subject = 'files'")} AS bytes,
               {_sum("n", "c.subject = 'files' AND c.period = b.this_month")} AS files_this_month,
               {_sum("n", "c.subject = 'files' AND c.period = b.last_month")} AS files_last_month,
               {_sum("bytes", "c.subject = 'files' AND c.period = b.this_month")} AS bytes_this_month,
               {_sum("bytes", "c.subject = 'files' AND c.period = b.last_month")} AS bytes_last_month,
               {_sum("n", "c.subject = 'documents'")} AS documents,
               {_sum("n", "c.subject = 'documents' AND c.period = b.this_month")} AS documents_this_month,
               {_sum("n", "c.subject = 'documents' AND c.period = b.last_month")} AS documents_last_month
        FROM c, b
    )
    SELECT s.users, s.active_days + first_day.n AS active, s.users_this_month, s.users_last_month, s.files,
           s.bytes, s.files_this_month, s.files_last_month, s.bytes_this_month, s.bytes_last_month,
           s.documents, s.documents_this_month, s.documents_last_month
    FROM s, first_day
    """,  # noqa: S608
    **_STATS_COLUMNS,
)

_OWN_VISITS = _scoped(
    f"""
    WITH today AS MATERIALIZED (SELECT CAST({_NOW} AS date) AS day, CAST({_NOW} AS date) - 29 AS since),
    counts AS (
        SELECT CAST("createdAt" AS date) AS day,
               count(*) FILTER (WHERE action = ANY(:sign_ins)) AS visits, count(*) AS actions
        FROM activity_logs
        WHERE "createdAt" >= (SELECT CAST(since AS timestamp) FROM today) AND OWNED("actorId")
        GROUP BY 1
    )
    SELECT CAST(s.day AS date) AS day, coalesce(c.visits, 0) AS visits, coalesce(c.actions, 0) AS actions
    FROM today, generate_series(today.day - 29, today.day, interval '1 day') AS s(day)
    LEFT JOIN counts AS c ON c.day = CAST(s.day AS date)
    ORDER BY s.day
    """,  # noqa: S608
    day=Date,
    visits=Integer,
    actions=Integer,
)[True]
_DAYS = "('activity_logs:sign_in.day', 'activity_logs:all.day')"
_PLATFORM_VISITS = _platform(
    f"""
    WITH today AS MATERIALIZED (SELECT CAST({_NOW} AS date) AS day)
    SELECT CAST(s.day AS date) AS day, {_sum("n", "c.subject = 'activity_logs:sign_in.day'")} AS visits,
           {_sum("n", "c.subject = 'activity_logs:all.day'")} AS actions
    FROM today CROSS JOIN generate_series(today.day - 29, today.day, interval '1 day') AS s(day)
    LEFT JOIN halolight_counts AS c ON c.subject IN {_DAYS} AND c.period = CAST(s.day AS date)
    GROUP BY s.day
    ORDER BY s.day
    """,  # noqa: S608
    day=Date,
    visits=Integer,
    actions=Integer,
)

_OWN_SALES = _scoped(
    f"""
    WITH this AS (SELECT {_THIS_MONTH} AS month),
    f AS (
        SELECT date_trunc('month', "createdAt") AS month, count(*) AS items, sum(size) AS bytes
        FROM files, this WHERE "createdAt" >= this.month - interval '11 months' AND OWNED("ownerId")
        GROUP BY 1
    ),
    d AS (
        SELECT date_trunc('month', "createdAt") AS month, count(*) AS items
        FROM documents, this WHERE "createdAt" >= this.month - interval '11 months' AND OWNED("ownerId")
        GROUP BY 1
    )
    SELECT to_char(s.month, 'YYYY-MM') AS month, coalesce(f.bytes, 0) AS bytes,
           coalesce(f.items, 0) + coalesce(d.items, 0) AS items
    FROM this, generate_series(this.month - interval '11 months', this.month, interval '1 month') AS s(month)
    LEFT JOIN f ON f.month = s.month LEFT JOIN d ON d.month = s.month
    ORDER BY s.month
    """,  # noqa: S608
    month=Text,
    bytes=Integer,
    items=Integer,
)[True]
_PLATFORM_SALES = _platform(
    f"""
    WITH this AS MATERIALIZED (SELECT CAST({_THIS_MONTH} AS date) AS month)
    SELECT to_char(s.month, 'YYYY-MM') AS month, {_sum("bytes", "c.subject = 'files'")} AS bytes,
           {_sum("n", "TRUE")} AS items
    FROM this CROSS JOIN generate_series(this.month - interval '11 months', this.month, interval '1 month')
        AS s(month)
    LEFT JOIN halolight_counts AS c
        ON c.subject IN ('files', 'documents') AND c.period = CAST(s.month AS date)
    GROUP BY s.month
    ORDER BY s.month
    """,  # noqa: S608
    month=Text,
    bytes=Integer,
    items=Integer,
)

# The platform's ten largest folders, from `halolight_folder_sizes` (migration 0015): a folder's size is its
# folded row plus its pending deltas. A folder without pending deltas is as large as its folded row, so the
# ten largest are among the top (10 + the number of folders with pending deltas) folded rows (an index range)
# and the folders with pending deltas; each of those is summed exactly, and the ten largest kept. `OFFSET 0`
# keeps each lookup a subquery run per candidate by its index (flattened, the planner estimates the candidates
# badly and hashes every folder and folder size instead).
_PLATFORM_FOLDERS = _platform(
    """
    WITH pending AS (
        SELECT "folderId" AS id, sum(files) AS files, sum(bytes) AS bytes
        FROM halolight_folder_sizes WHERE NOT folded GROUP BY 1
    ),
    top AS (
        SELECT "folderId" AS id FROM halolight_folder_sizes WHERE folded
        ORDER BY bytes DESC, files DESC, "folderId"
        LIMIT 10 + (SELECT count(*) FROM pending)
    ),
    sizes AS (
        SELECT c.id, coalesce(f.files, 0) + coalesce(p.files, 0) AS files,
               coalesce(f.bytes, 0) + coalesce(p.bytes, 0) AS bytes
        FROM (SELECT id FROM top UNION SELECT id FROM pending) AS c
        LEFT JOIN LATERAL (
            SELECT f.files, f.bytes FROM halolight_folder_sizes AS f WHERE f."folderId" = c.id AND f.folded
            OFFSET 0
        ) AS f ON true
        LEFT JOIN pending AS p ON p.id = c.id
    )
    SELECT fo.id, fo.name, CAST(s.files AS bigint) AS files, CAST(s.bytes AS bigint) AS bytes
    FROM sizes AS s
    JOIN LATERAL (SELECT folders.id, folders.name FROM folders WHERE folders.id = s.id OFFSET 0) AS fo ON true
    WHERE s.files > 0
    ORDER BY s.bytes DESC, s.files DESC, fo.id
    LIMIT 10
    """,
    id=Text,
    name=Text,
    files=Integer,
    bytes=Integer,
)
_FOLDERS = _scoped(
    """
    SELECT fo.id, fo.name, count(*) AS files, sum(f.size) AS bytes
    FROM folders AS fo JOIN files AS f ON f."folderId" = fo.id
    WHERE OWNED(fo."ownerId")
    GROUP BY fo.id, fo.name
    ORDER BY bytes DESC, files DESC, fo.id
    LIMIT 10
    """,
    id=Text,
    name=Text,
    files=Integer,
    bytes=Integer,
)

_UPLOADS = _scoped(
    f"""
    SELECT f.id, u.name AS owner, f.size AS bytes, CAST(f."createdAt" AS date) AS day,
           EXISTS (SELECT 1 FROM halolight_file_shares AS s
                   WHERE s."fileId" = f.id AND s."revokedAt" IS NULL
                     AND (s."expiresAt" IS NULL OR s."expiresAt" > {_NOW})
                     AND (s."maxAccessCount" IS NULL OR s."accessCount" < s."maxAccessCount")) AS shared
    FROM files AS f JOIN users AS u ON u.id = f."ownerId"
    WHERE OWNED(f."ownerId")
    ORDER BY f."createdAt" DESC, f.id DESC
    LIMIT 10
    """,  # noqa: S608
    id=Text,
    owner=Text,
    bytes=Integer,
    day=Date,
    shared=Boolean,
)

_ACTIVITIES = _scoped(
    """
    SELECT a.id, u.name AS actor, a.action, a."targetType" AS target_type, a."targetId" AS target_id,
           a."createdAt" AS at
    FROM activity_logs AS a JOIN users AS u ON u.id = a."actorId"
    WHERE OWNED(a."actorId")
    ORDER BY a."createdAt" DESC, a.id DESC
    LIMIT 20
    """,
    id=Text,
    actor=Text,
    action=Text,
    target_type=Text,
    target_id=Text,
    at=DateTime,
)

# A file's kind (the pie's slices) is `halolight_dashboard_file_kind("mimeType")`, a SQL function of migration
# 0015: its triggers count the platform's files by it, and the owner's statement uses it too (one definition).
KINDS = ("image", "video", "audio", "document", "archive", "other")
_KIND_COLUMNS: dict[str, Any] = {
    "total": Integer,
    "images": Integer,
    "videos": Integer,
    "audio": Integer,
    "documents": Integer,
    "archives": Integer,
}
_KIND_NAMES = dict(zip(KINDS[:-1], list(_KIND_COLUMNS)[1:], strict=True))  # kind → column
_OWN_KIND_COUNTS = ", ".join(f"count(*) FILTER (WHERE kind = '{k}') AS {n}" for k, n in _KIND_NAMES.items())
_OWN_KINDS = _scoped(
    f"""
    SELECT count(*) AS total, {_OWN_KIND_COUNTS}
    FROM (SELECT halolight_dashboard_file_kind("mimeType") AS kind FROM files WHERE OWNED("ownerId")) AS f
    """,  # noqa: S608
    **_KIND_COLUMNS,
)[True]
_KIND_SUMS = ", ".join(f"{_sum('n', _of('files:' + k))} AS {name}" for k, name in _KIND_NAMES.items())
_PLATFORM_KINDS = _platform(
    f"""
    SELECT {_sum("n", "TRUE")} AS total, {_KIND_SUMS}
    FROM halolight_counts AS c
    WHERE c.subject IN ({", ".join(f"'files:{kind}'" for kind in KINDS)})
    """,  # noqa: S608
    **_KIND_COLUMNS,
)

# The window's events are found by migration 0015's GiST index on this span (the events that overlap it, not
# every event that starts before its end, as a btree on ("startAt", "endAt") reads): `least`/`greatest`, so
# an event another backend wrote with its end before its start is in the index too. The span overlapping the
# window is implied by the exact bounds applied after it (`w`), so it finds every event they keep.
_SPAN = 'tsrange(least(e."startAt", e."endAt"), greatest(e."startAt", e."endAt"), \'[]\')'
_TASKS = _scoped(
    f"""
    WITH clock AS MATERIALIZED (SELECT {_NOW} AS t),
    near AS MATERIALIZED (
        SELECT e.id, e.title, e."startAt", e."endAt"
        FROM calendar_events AS e, clock
        WHERE {_SPAN} && tsrange(clock.t - interval '7 days', clock.t + interval '30 days', '()')
          AND (e."ownerId" = :me
               OR EXISTS (SELECT 1 FROM event_attendees AS a WHERE a."eventId" = e.id AND a."userId" = :me))
    ),
    w AS (
        SELECT e.id, e.title, e."startAt", e."endAt",
               CASE WHEN e."endAt" < clock.t THEN 'completed'
                    WHEN e."startAt" <= clock.t THEN 'in_progress' ELSE 'pending' END AS status,
               CASE WHEN e."endAt" < clock.t THEN 'low'
                    WHEN e."startAt" <= clock.t + interval '24 hours' THEN 'high'
                    WHEN e."startAt" <= clock.t + interval '7 days' THEN 'medium' ELSE 'low' END AS priority
        FROM near AS e, clock
        WHERE e."endAt" > clock.t - interval '7 days' AND e."startAt" < clock.t + interval '30 days'
    ),
    s AS (
        SELECT count(*) AS total, count(*) FILTER (WHERE status = 'pending') AS pending,
               count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
               count(*) FILTER (WHERE status = 'completed') AS completed
        FROM w
    )
    SELECT s.total, s.pending, s.in_progress, s.completed, x.id, x.title, x.status, x.priority, x.due
    FROM s LEFT JOIN LATERAL (
        SELECT id, title, status, priority, "endAt" AS due FROM w ORDER BY "startAt", id LIMIT 20
    ) AS x ON true
    """,  # noqa: S608
    total=Integer,
    pending=Integer,
    in_progress=Integer,
    completed=Integer,
    id=Text,
    title=Text,
    status=Text,
    priority=Text,
    due=DateTime,
)

# The caller's own counts: each an index range (teams and events they own or belong to as two ranges whose
# ids are deduplicated; a conversation is one participant row), never a scan of every team, event or
# conversation of the platform with a probe for each (measured: 380 ms p50 at c=32 in the bench).
_OWN_COUNTS = _scoped(
    """
    SELECT (SELECT count(*) FROM users WHERE OWNED(id)) AS users,
           (SELECT count(*) FROM documents WHERE OWNED("ownerId")) AS documents,
           (SELECT count(*) FROM files WHERE OWNED("ownerId")) AS files,
           (SELECT count(*) FROM folders WHERE OWNED("ownerId")) AS folders,
           (SELECT count(*) FROM (SELECT id FROM teams WHERE OWNED("ownerId")
                   UNION SELECT "teamId" FROM team_members WHERE "userId" = :owner) AS t) AS teams,
           (SELECT count(*) FROM (SELECT id FROM calendar_events WHERE OWNED("ownerId")
                   UNION SELECT "eventId" FROM event_attendees WHERE "userId" = :owner) AS e) AS events,
           (SELECT count(*) FROM conversation_participants WHERE "userId" = :owner) AS conversations,
           (SELECT count(*) FROM messages WHERE OWNED("senderId")) AS messages,
           (SELECT count(*) FROM activity_logs WHERE OWNED("actorId")) AS activities
    """,
    users=Integer,
    documents=Integer,
    files=Integer,
    folders=Integer,
    teams=Integer,
    events=Integer,
    conversations=Integer,
    messages=Integer,
    activities=Integer,
)[True]
# The overview's figure → the subject counting it (a shared table: its rows, all months).
_TABLES = {
    "users": "users",
    "documents": "documents",
    "files": "files",
    "folders": "folders",
    "teams": "teams",
    "events": "calendar_events",
    "conversations": "conversations",
    "messages": "messages",
    "activities": "activity_logs",
}
_TABLE_SUMS = ", ".join(f"{_sum('n', _of(table))} AS {name}" for name, table in _TABLES.items())
_PLATFORM_COUNTS = _platform(
    f"""
    SELECT {_TABLE_SUMS}
    FROM halolight_counts AS c
    WHERE c.subject IN ({", ".join(f"'{table}'" for table in _TABLES.values())})
    """,  # noqa: S608
    **dict.fromkeys(_TABLES, Integer),
)


async def stats(reads: Reads, owner: str | None) -> Any:
    if owner is None:
        return await _PLATFORM_STATS.first(reads)
    return await _OWN_STATS.first(reads, owner=owner)


async def visits(reads: Reads, owner: str | None) -> list[Any]:
    if owner is None:
        return await _PLATFORM_VISITS.rows(reads)
    return await _OWN_VISITS.rows(reads, owner=owner, sign_ins=list(SIGN_INS))


async def sales(reads: Reads, owner: str | None) -> list[Any]:
    if owner is None:
        return await _PLATFORM_SALES.rows(reads)
    return await _OWN_SALES.rows(reads, owner=owner)


async def largest_folders(reads: Reads, owner: str | None) -> list[Any]:
    if owner is None:
        return await _PLATFORM_FOLDERS.rows(reads)
    return await _FOLDERS[True].rows(reads, owner=owner)


async def latest_uploads(reads: Reads, owner: str | None) -> list[Any]:
    return await _UPLOADS[owner is not None].rows(reads, owner=owner)


async def latest_activities(reads: Reads, owner: str | None) -> list[Any]:
    return await _ACTIVITIES[owner is not None].rows(reads, owner=owner)


async def file_kinds(reads: Reads, owner: str | None) -> Any:
    if owner is None:
        return await _PLATFORM_KINDS.first(reads)
    return await _OWN_KINDS.first(reads, owner=owner)


@dataclass(frozen=True)
class Tasks:
    counts: dict[str, int]
    rows: list[Any]


async def tasks(reads: Reads, me: str) -> Tasks:
    rows = await _TASKS[True].rows(reads, me=me)
    first = rows[0]  # the counts row is always there; its task columns are NULL when the window is empty
    counts = {
        "total": first.total,
        "pending": first.pending,
        "inProgress": first.in_progress,
        "completed": first.completed,
    }
    return Tasks(counts, [row for row in rows if row.id is not None])


async def counts(reads: Reads, owner: str | None) -> Any:
    if owner is None:
        return await _PLATFORM_COUNTS.first(reads)
    return await _OWN_COUNTS.first(reads, owner=owner)


# The fold: each (subject, period) with more than one row becomes one row of their sum, and periods no figure
# reads any more (days older than 40 days, months older than 13) go into one -infinity row per subject; keys
# that sum to zero leave no row. One statement, so a reader sees the rows before or after it, never between
# (the sums are the same), and only rows it deleted are summed (DELETE ... RETURNING): rows appended meanwhile
# wait for the next fold. One folder at a time (a transaction-level advisory lock; others skip).
_FOLD_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended('halolight-dashboard-fold', 0))"
_FOLD = f"""
WITH cut AS MATERIALIZED (
    SELECT CAST({_NOW} AS date) - 40 AS day, CAST({_THIS_MONTH} - interval '13 months' AS date) AS month
),
keyed AS (
    SELECT c.id, c.subject, c.period,
           CASE WHEN c.period >= CASE WHEN c.subject LIKE '%.day' THEN cut.day ELSE cut.month END
                THEN c.period ELSE DATE '-infinity' END AS into_period
    FROM halolight_counts AS c, cut
),
chosen AS (
    SELECT id, into_period
    FROM (SELECT id, period, into_period, count(*) OVER (PARTITION BY subject, into_period) AS rows
          FROM keyed) AS k
    WHERE rows > 1 OR period <> into_period
),
gone AS (
    DELETE FROM halolight_counts AS c USING chosen WHERE c.id = chosen.id
    RETURNING c.subject, chosen.into_period, c.n, c.bytes
)
INSERT INTO halolight_counts (subject, period, n, bytes)
SELECT subject, into_period, sum(n), sum(bytes) FROM gone
GROUP BY subject, into_period
HAVING sum(n) <> 0 OR sum(bytes) <> 0
"""  # noqa: S608


# The folders' deltas go into their folded rows (an upsert of rows only the fold writes), then folded rows
# that reached zero go (found by the `largest` index: zero bytes).
_FOLD_FOLDERS = """
WITH gone AS (DELETE FROM halolight_folder_sizes WHERE NOT folded RETURNING "folderId", files, bytes),
sums AS (
    SELECT "folderId", sum(files) AS files, sum(bytes) AS bytes FROM gone
    GROUP BY 1 HAVING sum(files) <> 0 OR sum(bytes) <> 0
)
INSERT INTO halolight_folder_sizes AS s ("folderId", files, bytes, folded)
SELECT "folderId", files, bytes, true FROM sums
ON CONFLICT ("folderId") WHERE folded
DO UPDATE SET files = s.files + EXCLUDED.files, bytes = s.bytes + EXCLUDED.bytes
"""
_DROP_EMPTY_FOLDERS = "DELETE FROM halolight_folder_sizes WHERE folded AND bytes = 0 AND files = 0"


async def fold(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Fold `halolight_counts` (see `_FOLD`) and `halolight_folder_sizes` on an autocommit connection;
    False when another process folds."""
    async with conn.transaction():
        locked = await (await conn.execute(_FOLD_LOCK)).fetchone()
        if not locked or not locked[0]:
            return False
        await conn.execute(_FOLD.encode())
        if (await conn.execute(_FOLD_FOLDERS.encode())).rowcount:
            await conn.execute(_DROP_EMPTY_FOLDERS.encode())
    return True
