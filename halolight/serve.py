"""`make run`: pick the database (DATABASE_URL, else the embedded PostgreSQL 16), migrate, seed, serve."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import uvicorn

from halolight.app import create_app
from halolight.db import embedded, migrate
from halolight.db.engine import create_engine, create_sessionmaker, normalise_url
from halolight.security.passwords import PasswordHasher
from halolight.seed import seed
from halolight.settings import Settings, get_settings


async def seed_database(settings: Settings, url: str) -> None:
    engine = create_engine(settings, url)
    try:
        async with create_sessionmaker(engine)() as db:
            await seed(db, PasswordHasher(settings.bcrypt_rounds, settings.bcrypt_max_concurrency))
            await db.commit()
    finally:
        await engine.dispose()


def prepare(settings: Settings) -> tuple[str, Any]:
    """Return the database URL, migrated and seeded, and the embedded server handle (or None)."""
    server = None
    url = settings.database_url
    if not url:
        server = embedded.start(settings.embedded_pg_dir)
        url = embedded.sqlalchemy_url(server.get_uri())
    url = normalise_url(url)
    migrate.upgrade(url)
    asyncio.run(seed_database(settings, url))
    return url, server


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m halolight.serve")
    parser.add_argument("--prepare-only", action="store_true", help="migrate and seed, then exit")
    args = parser.parse_args()
    settings = get_settings()
    url, server = prepare(settings)
    try:
        if not args.prepare_only:
            host = os.environ.get("HOST", "127.0.0.1")
            port = int(os.environ.get("PORT", "8000"))
            uvicorn.run(create_app(settings, url), host=host, port=port, proxy_headers=False)
    finally:
        if server is not None:
            embedded.stop(server)


if __name__ == "__main__":
    main()
