"""`make run`: pick the database (DATABASE_URL, else the embedded PostgreSQL 16), migrate, seed, serve.

A bad configuration or a production database that still has a demo password ends the process with status 2
and one line per problem (no traceback, never a secret's value).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import Any, NoReturn

import uvicorn

from halolight import server as production_server
from halolight.app import create_app
from halolight.db import embedded, migrate
from halolight.db.engine import create_engine, create_sessionmaker, normalise_url
from halolight.security.passwords import PasswordHasher
from halolight.seed import accounts_with_demo_password, seed
from halolight.settings import ConfigurationError, Settings, get_settings

log = logging.getLogger("halolight")


class StartupRefused(Exception):
    """The database is not safe to serve in this environment; the message is one line per problem."""


async def seed_database(settings: Settings, url: str) -> None:
    """Seed the reference data (and the demo accounts where allowed); in production, refuse to go on while
    an account still accepts the demo password."""
    engine = create_engine(settings, url)
    try:
        passwords = PasswordHasher(settings.bcrypt_rounds, settings.bcrypt_max_concurrency)
        async with create_sessionmaker(engine)() as db:
            await seed(db, passwords, demo_users=bool(settings.seed_demo_users))
            await db.commit()
            if settings.environment == "production":
                emails = await accounts_with_demo_password(db, passwords)
                if emails:
                    raise StartupRefused(
                        "\n".join(
                            f"{email}: still accepts the demo password; change it or delete the account "
                            "before starting in production"
                            for email in emails
                        )
                    )
    finally:
        await engine.dispose()


def prepare(settings: Settings) -> tuple[str, Any]:
    """Return the database URL, migrated and seeded, and the embedded server handle (or None)."""
    server = None
    url = settings.database_url
    if not url:
        server = embedded.start(settings.embedded_pg_dir)
        url = embedded.sqlalchemy_url(server.get_uri())
    try:
        url = normalise_url(url)
        migrate.upgrade(url)
        asyncio.run(seed_database(settings, url))
    except BaseException:
        if server is not None:
            embedded.stop(server)
        raise
    return url, server


def refuse(lines: list[str]) -> NoReturn:
    for line in lines:
        print(line, file=sys.stderr)
    raise SystemExit(2)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m halolight.serve")
    parser.add_argument("--prepare-only", action="store_true", help="migrate and seed, then exit")
    parser.add_argument(
        "--production-server",
        action="store_true",
        help="serve with granian and WORKERS processes, bounded header size and read times (make serve)",
    )
    args = parser.parse_args()
    try:
        settings = get_settings()
    except ConfigurationError as error:
        refuse(error.lines)
    for warning in settings.startup_warnings():
        log.warning("%s", warning)
    try:
        url, server = prepare(settings)
    except StartupRefused as error:
        refuse(str(error).splitlines())
    try:
        if not args.prepare_only:
            host = os.environ.get("HOST", "127.0.0.1")
            port = int(os.environ.get("PORT", "8000"))
            if args.production_server:
                production_server.run(settings, url, host, port)
            else:
                uvicorn.run(
                    create_app(settings, url), host=host, port=port, proxy_headers=False, server_header=False
                )
    finally:
        if server is not None:
            embedded.stop(server)


if __name__ == "__main__":
    main()
