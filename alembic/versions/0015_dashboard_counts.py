"""The platform's dashboard figures kept exact by the database itself, so a request reads a few hundred rows
instead of counting whole tables (issue 21).

`halolight_counts (id, subject, period, n, bytes)` is a table of DELTAS: the figure of a (subject, period) is
the SUM of its rows, exact at any snapshot. Triggers on the shared tables append rows in the writer's own
transaction, whichever backend writes (the NestJS/Java backends too), and never update one: an UPDATE of one
counter row per table would serialise every write of the platform on it, an INSERT contends on nothing.

- Subjects: each shared table by its name (`users`, `documents`, `files` with `bytes` = the sum of `size`,
  `folders`, `teams`, `calendar_events`, `conversations`, `messages`, `activity_logs`), `period` the row's
  own month (`createdAt`), so "this month", "last month" and the 12-month series come from it too; and
  `<table>:<facet>`: `files:<kind>` (the pie's kind of `mimeType`, `halolight_dashboard_file_kind`, period
  -infinity), `activity_logs:all.day` and `activity_logs:sign_in.day` (actions and sign-ins per day: the
  visits series), `users:login.day` (accounts by the day of `lastLoginAt`: the active accounts). Subjects
  ending in `.day` have a day as period, the others a month.
- INSERT and DELETE: statement-level triggers with transition tables, one grouped INSERT per statement
  (cascaded deletes included). UPDATE: a row-level trigger limited to the counted columns (`UPDATE OF ...
  WHEN (old IS DISTINCT FROM new)`), because transition tables cannot be combined with a column list: a
  statement-level UPDATE trigger would copy every updated row of every UPDATE (a document's view count, a
  user's quota) to find nothing changed; this way an unrelated UPDATE costs nothing and a moved row adds its
  -1/+1 pair. TRUNCATE appends the negation of what the table's subjects sum to (TRUNCATE holds the table
  exclusively, so every earlier writer has committed by then).
- The fold (`halolight/repositories/dashboard.py`, run every second by one worker at a time from the
  live-update hub) replaces the rows of each (subject, period) by their sum in one DELETE ... RETURNING
  statement, and moves periods no figure reads (days older than 40 days, months older than 13) into one
  -infinity row per subject, so the table stays at a few hundred rows.
- `users ("lastLoginAt")`: the active accounts are `users:login.day` of the last 29 whole days plus, on the
  first day of the 30, the sign-ins after the hour of day, counted from this index (one day of sign-ins).
- `halolight_folder_sizes`: the largest folders (files and bytes per folder): one folded row per folder, kept
  by the fold only, plus the deltas the `files` triggers append (insert, delete, a change of `folderId` or
  `size`, a folder's deletion setting its files' `folderId` to NULL, TRUNCATE); the ten largest are an index
  range of the folded rows corrected by the pending deltas.
- `calendar_events` GiST on `tsrange(least("startAt", "endAt"), greatest(...))`: the task list's window
  (the caller's events of the last 7 and next 30 days) reads the events overlapping it, not every event that
  starts before its end.

The counts start from the rows already there, summed in the same transaction that creates the triggers, after
the tables are locked against writes (SHARE ROW EXCLUSIVE, which reads do not wait for): no write falls between
the two. Changing what a figure counts (the sign-in actions, the file kinds) means a migration that redefines
the function and recounts.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The actions the visits series counts as sign-ins (the repository's SIGN_INS, for the caller's own figures).
SIGN_INS = ("auth.login", "auth.register")
DOCUMENT_TYPES = (
    "application/pdf",
    "application/msword",
    "application/rtf",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
)
DOCUMENT_PREFIXES = (
    "text/",
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
)
ARCHIVE_TYPES = (
    "application/zip",
    "application/x-zip-compressed",
    "application/x-tar",
    "application/gzip",
    "application/x-gzip",
    "application/x-7z-compressed",
    "application/x-rar-compressed",
    "application/vnd.rar",
    "application/x-bzip2",
    "application/x-xz",
)


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


FILE_KIND = f"""
CREATE FUNCTION halolight_dashboard_file_kind(mime text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN mime LIKE 'image/%' THEN 'image'
                WHEN mime LIKE 'video/%' THEN 'video'
                WHEN mime LIKE 'audio/%' THEN 'audio'
                WHEN mime IN ({_quoted(DOCUMENT_TYPES)})
                     OR {" OR ".join(f"mime LIKE '{prefix}%'" for prefix in DOCUMENT_PREFIXES)} THEN 'document'
                WHEN mime IN ({_quoted(ARCHIVE_TYPES)}) THEN 'archive'
                ELSE 'other' END
$$
"""

_MONTH = """CAST(date_trunc('month', r."createdAt") AS date)"""
_DAY = 'CAST(r."createdAt" AS date)'
# What one row `r` of each table adds: SELECTs of (subject, period, n, bytes), `{rows}` the row source.
PROJECTIONS: dict[str, list[str]] = {
    "users": [
        f"SELECT 'users' AS subject, {_MONTH} AS period, 1 AS n, CAST(0 AS bigint) AS bytes FROM {{rows}} AS r",
        """SELECT 'users:login.day', CAST(r."lastLoginAt" AS date), 1, 0 FROM {rows} AS r
           WHERE r."lastLoginAt" IS NOT NULL""",
    ],
    "files": [
        f"SELECT 'files' AS subject, {_MONTH} AS period, 1 AS n, CAST(r.size AS bigint) AS bytes FROM {{rows}} AS r",
        """SELECT 'files:' || halolight_dashboard_file_kind(r."mimeType"), DATE '-infinity', 1, 0
           FROM {rows} AS r""",
    ],
    "activity_logs": [
        f"SELECT 'activity_logs' AS subject, {_MONTH} AS period, 1 AS n, CAST(0 AS bigint) AS bytes"
        " FROM {rows} AS r",
        f"SELECT 'activity_logs:all.day', {_DAY}, 1, 0 FROM {{rows}} AS r",
        f"SELECT 'activity_logs:sign_in.day', {_DAY}, 1, 0 FROM {{rows}} AS r"
        f" WHERE r.action IN ({_quoted(SIGN_INS)})",
    ],
    **{
        table: [
            f"SELECT '{table}' AS subject, {_MONTH} AS period, 1 AS n, CAST(0 AS bigint) AS bytes"
            " FROM {rows} AS r"
        ]
        for table in ("documents", "folders", "teams", "calendar_events", "conversations", "messages")
    },
}
# The columns whose change moves a row between figures (the row-level UPDATE trigger's column list).
COUNTED_COLUMNS: dict[str, list[str]] = {
    "users": ["createdAt", "lastLoginAt"],
    "files": ["createdAt", "size", "mimeType"],
    "activity_logs": ["createdAt", "action"],
}
TABLES = list(PROJECTIONS)


def _projection(table: str, rows: str) -> str:
    return "\n            UNION ALL ".join(part.format(rows=rows) for part in PROJECTIONS[table])


def _function(table: str) -> str:
    return f"""
    CREATE FUNCTION halolight_dashboard_count_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO halolight_counts (subject, period, n, bytes)
            SELECT subject, period, sum(n), sum(bytes)
            FROM ({_projection(table, "new_rows")}) AS d
            GROUP BY subject, period;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO halolight_counts (subject, period, n, bytes)
            SELECT subject, period, -sum(n), -sum(bytes)
            FROM ({_projection(table, "old_rows")}) AS d
            GROUP BY subject, period;
        ELSIF TG_OP = 'UPDATE' THEN  -- FOR EACH ROW, and only when a counted column changed
            INSERT INTO halolight_counts (subject, period, n, bytes)
            SELECT subject, period, sum(n), sum(bytes)
            FROM (SELECT subject, period, n, bytes FROM ({_projection(table, "(SELECT NEW.*)")}) AS now_
                  UNION ALL
                  SELECT subject, period, -n, -bytes FROM ({_projection(table, "(SELECT OLD.*)")}) AS before_
                 ) AS d
            GROUP BY subject, period
            HAVING sum(n) <> 0 OR sum(bytes) <> 0;
        ELSE  -- TRUNCATE: cancel what this table's subjects sum to
            INSERT INTO halolight_counts (subject, period, n, bytes)
            SELECT subject, period, -sum(n), -sum(bytes) FROM halolight_counts
            WHERE split_part(subject, ':', 1) = TG_TABLE_NAME
            GROUP BY subject, period
            HAVING sum(n) <> 0 OR sum(bytes) <> 0;
        END IF;
        RETURN NULL;
    END $$
    """


def _triggers(table: str) -> list[str]:
    function = f"halolight_dashboard_count_{table}()"
    columns = COUNTED_COLUMNS.get(table, ["createdAt"])
    listed = ", ".join(f'"{column}"' for column in columns)
    old = ", ".join(f'OLD."{column}"' for column in columns)
    new = ", ".join(f'NEW."{column}"' for column in columns)
    return [
        f"""CREATE TRIGGER halolight_dashboard_count_{table}_insert AFTER INSERT ON {table}
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}""",
        f"""CREATE TRIGGER halolight_dashboard_count_{table}_delete AFTER DELETE ON {table}
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}""",
        f"""CREATE TRIGGER halolight_dashboard_count_{table}_update AFTER UPDATE OF {listed} ON {table}
            FOR EACH ROW WHEN (ROW({old}) IS DISTINCT FROM ROW({new})) EXECUTE FUNCTION {function}""",
        f"""CREATE TRIGGER halolight_dashboard_count_{table}_truncate AFTER TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION {function}""",
    ]


# The largest folders: `halolight_folder_sizes` holds each folder's files and bytes, as one folded row per folder
# (`folded`, written by the fold only, so no writer ever waits on it) plus the deltas appended since (not
# folded). The platform's ten largest are the folded rows' top (an index range) corrected by the pending deltas.
FOLDER_SIZES = [
    """
    CREATE TABLE halolight_folder_sizes (
        id bigint GENERATED BY DEFAULT AS IDENTITY,
        "folderId" text NOT NULL,
        files bigint NOT NULL,
        bytes bigint NOT NULL,
        folded boolean NOT NULL DEFAULT false,
        CONSTRAINT halolight_folder_sizes_pkey PRIMARY KEY (id)
    )
    """,
    'CREATE UNIQUE INDEX halolight_folder_sizes_folded ON halolight_folder_sizes ("folderId") WHERE folded',
    """CREATE INDEX halolight_folder_sizes_largest ON halolight_folder_sizes (bytes DESC, files DESC, "folderId")
       WHERE folded""",
    'CREATE INDEX halolight_folder_sizes_pending ON halolight_folder_sizes ("folderId") WHERE NOT folded',
    """
    CREATE FUNCTION halolight_dashboard_folder_sizes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO halolight_folder_sizes ("folderId", files, bytes)
            SELECT "folderId", count(*), sum(size) FROM new_rows WHERE "folderId" IS NOT NULL GROUP BY 1;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO halolight_folder_sizes ("folderId", files, bytes)
            SELECT "folderId", -count(*), -sum(size) FROM old_rows WHERE "folderId" IS NOT NULL GROUP BY 1;
        ELSIF TG_OP = 'UPDATE' THEN  -- FOR EACH ROW, and only when the folder or the size changed
            INSERT INTO halolight_folder_sizes ("folderId", files, bytes)
            SELECT f, sum(n), sum(b)
            FROM (VALUES (NEW."folderId", 1, NEW.size), (OLD."folderId", -1, -OLD.size)) AS d(f, n, b)
            WHERE f IS NOT NULL
            GROUP BY f
            HAVING sum(n) <> 0 OR sum(b) <> 0;
        ELSE  -- TRUNCATE: cancel what every folder sums to
            INSERT INTO halolight_folder_sizes ("folderId", files, bytes)
            SELECT "folderId", -sum(files), -sum(bytes) FROM halolight_folder_sizes
            GROUP BY 1
            HAVING sum(files) <> 0 OR sum(bytes) <> 0;
        END IF;
        RETURN NULL;
    END $$
    """,
    """CREATE TRIGGER halolight_dashboard_folder_sizes_insert AFTER INSERT ON files
       REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION halolight_dashboard_folder_sizes()""",
    """CREATE TRIGGER halolight_dashboard_folder_sizes_delete AFTER DELETE ON files
       REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION halolight_dashboard_folder_sizes()""",
    """CREATE TRIGGER halolight_dashboard_folder_sizes_update AFTER UPDATE OF "folderId", size ON files
       FOR EACH ROW WHEN (ROW(OLD."folderId", OLD.size) IS DISTINCT FROM ROW(NEW."folderId", NEW.size))
       EXECUTE FUNCTION halolight_dashboard_folder_sizes()""",
    """CREATE TRIGGER halolight_dashboard_folder_sizes_truncate AFTER TRUNCATE ON files
       FOR EACH STATEMENT EXECUTE FUNCTION halolight_dashboard_folder_sizes()""",
    """
    INSERT INTO halolight_folder_sizes ("folderId", files, bytes, folded)
    SELECT "folderId", count(*), sum(size), true FROM files WHERE "folderId" IS NOT NULL GROUP BY 1
    """,
]


def _backfill(table: str) -> str:
    return f"""
    INSERT INTO halolight_counts (subject, period, n, bytes)
    SELECT subject, period, sum(n), sum(bytes) FROM ({_projection(table, table)}) AS d GROUP BY subject, period
    """


UPGRADE = [
    """
    CREATE TABLE halolight_counts (
        id bigint GENERATED BY DEFAULT AS IDENTITY,
        subject text NOT NULL,
        period date NOT NULL,
        n bigint NOT NULL,
        bytes bigint NOT NULL DEFAULT 0,
        CONSTRAINT halolight_counts_pkey PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX halolight_counts_subject_period ON halolight_counts (subject, period)",
    'CREATE INDEX halolight_users_last_login ON users ("lastLoginAt")',
    # The task list's window (repositories/dashboard.py `_SPAN`): the events that overlap it, by a GiST index on
    # their span, instead of every event that starts before the window's end.
    """CREATE INDEX halolight_calendar_events_span ON calendar_events
       USING gist (tsrange(least("startAt", "endAt"), greatest("startAt", "endAt"), '[]'))""",
    FILE_KIND,
    # Writers wait from here until this migration commits; readers do not.
    f"LOCK TABLE {', '.join(TABLES)} IN SHARE ROW EXCLUSIVE MODE",
    *(_function(table) for table in TABLES),
    *(trigger for table in TABLES for trigger in _triggers(table)),
    *(_backfill(table) for table in TABLES),
    *FOLDER_SIZES,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for op_name in ("insert", "delete", "update", "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS halolight_dashboard_folder_sizes_{op_name} ON files")
    op.execute("DROP FUNCTION IF EXISTS halolight_dashboard_folder_sizes()")
    op.execute("DROP TABLE IF EXISTS halolight_folder_sizes")
    for table in TABLES:
        for op_name in ("insert", "delete", "update", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS halolight_dashboard_count_{table}_{op_name} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS halolight_dashboard_count_{table}()")
    op.execute("DROP FUNCTION IF EXISTS halolight_dashboard_file_kind(text)")
    op.execute("DROP INDEX IF EXISTS halolight_users_last_login")
    op.execute("DROP INDEX IF EXISTS halolight_calendar_events_span")
    op.execute("DROP TABLE IF EXISTS halolight_counts")
