"""Indexes for the hot paths (issue 13 and 14): list orders, case-insensitive lookups, foreign keys, search.

Every object here is ours and named `halolight_…` (the migration test allows exactly that prefix beyond the
Prisma schema). Extra indexes and functions are harmless to the NestJS/Java backends sharing the tables.

- List orders: `users` and `teams` newest first (`createdAt DESC, id`), `roles` by name. Paging reads the ids
  of a page from these by an index-only scan, so page 1,000 costs about what page 1 does.
- Lookups the app makes without regard to case, on exactly the expressions it compares:
  `lower(normalize(email, NFKC))`, `lower(username)`, `lower(roles.name)`.
- Foreign keys the joins and cascades walk from the other side: `teams.ownerId`, `team_members.userId`,
  `user_roles.roleId` (their primary keys start with the other column).
- Search: `search=` is a case-insensitive substring match on name, email, username and phone. A substring
  (infix) match needs trigrams; `pg_trgm` is a contrib extension the embedded PostgreSQL does not ship, so
  two small immutable SQL functions do its job in core PostgreSQL: `halolight_user_search_text` (the four
  fields, lower-cased, one per line) and `halolight_trigrams` (the distinct 3-character substrings of a text),
  indexed with GIN. A term of 3 characters or more first narrows the rows to those holding all its trigrams
  (an index lookup), then the ILIKE itself rechecks them; shorter terms scan.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = [
    """
    CREATE OR REPLACE FUNCTION halolight_user_search_text(name text, email text, username text, phone text)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT lower(coalesce(name, '') || E'\\n' || coalesce(email, '') || E'\\n'
                       || coalesce(username, '') || E'\\n' || coalesce(phone, '')) $$
    """,
    """
    CREATE OR REPLACE FUNCTION halolight_trigrams(value text)
    RETURNS text[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT coalesce(array_agg(DISTINCT substr(value, i, 3)), '{}')
          FROM generate_series(1, length(value) - 2) AS i $$
    """,
]

INDEXES = [
    'CREATE INDEX IF NOT EXISTS halolight_users_created_at_id ON users ("createdAt" DESC, id)',
    "CREATE INDEX IF NOT EXISTS halolight_users_email_key ON users (lower(normalize(email, NFKC)))",
    "CREATE INDEX IF NOT EXISTS halolight_users_username_lower ON users (lower(username))",
    "CREATE INDEX IF NOT EXISTS halolight_users_search_trigrams ON users USING gin "
    "(halolight_trigrams(halolight_user_search_text(name, email, username, phone)))",
    "CREATE INDEX IF NOT EXISTS halolight_roles_name_lower ON roles (lower(name))",
    'CREATE INDEX IF NOT EXISTS halolight_teams_created_at_id ON teams ("createdAt" DESC, id DESC)',
    'CREATE INDEX IF NOT EXISTS halolight_teams_owner_id ON teams ("ownerId")',
    'CREATE INDEX IF NOT EXISTS halolight_team_members_user_id ON team_members ("userId")',
    'CREATE INDEX IF NOT EXISTS halolight_user_roles_role_id ON user_roles ("roleId")',
]


def upgrade() -> None:
    for statement in FUNCTIONS + INDEXES:
        op.execute(statement)


def downgrade() -> None:
    for statement in reversed(INDEXES):
        name = statement.split("EXISTS ", 1)[1].split(" ", 1)[0]
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("DROP FUNCTION IF EXISTS halolight_trigrams(text)")
    op.execute("DROP FUNCTION IF EXISTS halolight_user_search_text(text, text, text, text)")
