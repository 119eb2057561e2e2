"""Exact row counts kept by triggers, so that a list's total does not scan a big table (issue 14).

`halolight_row_counts(key, n)` holds `users` (every user) and `role_users:<roleId>` (the holders of each
role). Statement-level triggers on `users` and `user_roles` keep them exact in the writer's own transaction,
whichever backend writes (the NestJS/Java backends too): INSERT adds, DELETE (cascades included) subtracts,
UPDATE of `user_roles` moves holders between roles, TRUNCATE resets. One upsert per statement, keys in sorted
order, so two writers lock counter rows in the same order and cannot deadlock on them; a statement that
touched no row locks nothing.

The counts start from `count(*)` taken under a SHARE lock (writes wait for this migration, reads do not), in
the same transaction that creates the triggers: no write can fall between the two.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = [
    "CREATE TABLE halolight_row_counts (key text PRIMARY KEY, n bigint NOT NULL)",
    # Every delta goes through one upsert, rows in key order (see the docstring).
    """
    CREATE FUNCTION halolight_add_counts(deltas jsonb) RETURNS void LANGUAGE sql AS $$
        INSERT INTO halolight_row_counts AS c (key, n)
        SELECT key, value::bigint FROM jsonb_each_text(deltas) WHERE value::bigint <> 0 ORDER BY key
        ON CONFLICT (key) DO UPDATE SET n = c.n + EXCLUDED.n
    $$
    """,
    """
    CREATE FUNCTION halolight_count_users() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM halolight_add_counts(jsonb_build_object('users', (SELECT count(*) FROM new_rows)));
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM halolight_add_counts(jsonb_build_object('users', -(SELECT count(*) FROM old_rows)));
        ELSE  -- TRUNCATE
            UPDATE halolight_row_counts SET n = 0 WHERE key = 'users';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION halolight_count_role_users() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM halolight_add_counts(coalesce(
                (SELECT jsonb_object_agg('role_users:' || role_id, n)
                 FROM (SELECT "roleId" AS role_id, count(*) AS n FROM new_rows GROUP BY 1) d), '{}'));
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM halolight_add_counts(coalesce(
                (SELECT jsonb_object_agg('role_users:' || role_id, -n)
                 FROM (SELECT "roleId" AS role_id, count(*) AS n FROM old_rows GROUP BY 1) d), '{}'));
        ELSIF TG_OP = 'UPDATE' THEN
            PERFORM halolight_add_counts(coalesce(
                (SELECT jsonb_object_agg('role_users:' || role_id, n)
                 FROM (SELECT role_id, sum(n) AS n FROM (
                         SELECT "roleId" AS role_id, 1 AS n FROM new_rows
                         UNION ALL SELECT "roleId", -1 FROM old_rows) moves GROUP BY 1) d), '{}'));
        ELSE  -- TRUNCATE
            UPDATE halolight_row_counts SET n = 0 WHERE key LIKE 'role\\_users:%';
        END IF;
        RETURN NULL;
    END $$
    """,
    "LOCK TABLE users, user_roles IN SHARE MODE",
    """
    CREATE TRIGGER halolight_count_users_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION halolight_count_users()
    """,
    """
    CREATE TRIGGER halolight_count_users_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION halolight_count_users()
    """,
    """
    CREATE TRIGGER halolight_count_users_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION halolight_count_users()
    """,
    """
    CREATE TRIGGER halolight_count_role_users_insert AFTER INSERT ON user_roles
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION halolight_count_role_users()
    """,
    """
    CREATE TRIGGER halolight_count_role_users_delete AFTER DELETE ON user_roles
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION halolight_count_role_users()
    """,
    """
    CREATE TRIGGER halolight_count_role_users_update AFTER UPDATE ON user_roles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION halolight_count_role_users()
    """,
    """
    CREATE TRIGGER halolight_count_role_users_truncate AFTER TRUNCATE ON user_roles
    FOR EACH STATEMENT EXECUTE FUNCTION halolight_count_role_users()
    """,
    "INSERT INTO halolight_row_counts (key, n) SELECT 'users', count(*) FROM users",
    """
    INSERT INTO halolight_row_counts (key, n)
    SELECT 'role_users:' || "roleId", count(*) FROM user_roles GROUP BY "roleId"
    """,
]

TRIGGERS = {
    "users": ["halolight_count_users_insert", "halolight_count_users_delete", "halolight_count_users_truncate"],
    "user_roles": [
        "halolight_count_role_users_insert",
        "halolight_count_role_users_delete",
        "halolight_count_role_users_update",
        "halolight_count_role_users_truncate",
    ],
}


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for table, names in TRIGGERS.items():
        for name in names:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS halolight_count_role_users()")
    op.execute("DROP FUNCTION IF EXISTS halolight_count_users()")
    op.execute("DROP FUNCTION IF EXISTS halolight_add_counts(jsonb)")
    op.execute("DROP TABLE IF EXISTS halolight_row_counts")
