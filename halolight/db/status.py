"""Where a database stands against the migrations: start-up reports it, `/health/ready` checks it."""

from __future__ import annotations

from functools import cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool
from sqlalchemy.ext.asyncio import AsyncConnection

from halolight.db.migrate import alembic_config, sync_url


@cache
def head_revisions() -> frozenset[str]:
    """The revision ids at the head of the repository's migrations."""
    return frozenset(ScriptDirectory.from_config(alembic_config("")).get_heads())


def current_revisions(url: str) -> frozenset[str]:
    """The database's applied heads (empty for a database never migrated by this API)."""
    engine = create_engine(sync_url(url).replace("+psycopg_async", "+psycopg"), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return frozenset(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


async def current_revisions_async(connection: AsyncConnection) -> frozenset[str]:
    heads = await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads())
    return frozenset(heads)


def applied_between(before: frozenset[str], after: frozenset[str]) -> list[str]:
    """The revisions `alembic upgrade` applied to go from `before` to `after`, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(""))
    applied: list[str] = []
    for head in after:
        for rev in script.iterate_revisions(head, "base"):
            if rev.revision in before or any(
                rev.revision in {r.revision for r in script.iterate_revisions(b, "base")} for b in before
            ):
                break
            applied.append(rev.revision)
    return list(reversed(applied))
