"""`make run`: pick the database (DATABASE_URL, else the embedded PostgreSQL 16), migrate, seed, serve.

`python -m halolight.serve [--production-server] [--prepare-only]` and `halolight serve` run the same code.
A bad configuration, a port in use, an embedded database owned by another server, an unreachable database
or a production database that still has a demo password end the process with status 2 and one line per
problem (no traceback, never a secret's value). SIGINT, SIGTERM and SIGHUP stop the server gracefully
(in-flight requests finish, up to SHUTDOWN_TIMEOUT_S), then the embedded PostgreSQL this process started.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, NoReturn

import psycopg
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from halolight.db import embedded, migrate, status
from halolight.db.engine import create_engine, create_sessionmaker, libpq_url, normalise_url
from halolight.logging import configure_logging
from halolight.security.passwords import PasswordHasher
from halolight.seed import DEMO_PASSWORD, DEMO_USERS, accounts_with_demo_password, seed
from halolight.server import worker_count as server_workers
from halolight.settings import ConfigurationError, Settings, load_settings
from halolight.storage import build_storage

log = logging.getLogger("halolight")
startup_log = logging.getLogger("halolight.startup")


class StartupRefused(Exception):
    """The database is not safe to serve in this environment; the message is one line per problem."""


class Stopped(BaseException):
    """SIGINT, SIGTERM or SIGHUP arrived outside the server's own graceful handling."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


async def seed_database(settings: Settings, url: str) -> None:
    """Seed the reference data (and the demo accounts where allowed); in production, refuse to go on while
    an account still accepts the demo password."""
    engine = create_engine(settings, url)
    try:
        passwords = PasswordHasher(settings.bcrypt_rounds, settings.bcrypt_max_concurrency)
        storage = build_storage(settings)
        try:
            async with create_sessionmaker(engine)() as db:
                await seed(db, passwords, demo_users=bool(settings.seed_demo_users), storage=storage)
                await db.commit()
        finally:
            await storage.close()
        async with create_sessionmaker(engine)() as db:
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


def display_url(url: str) -> str:
    """The database URL as it may be printed: driver selection undone, password dropped."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(unparseable URL)"
    shown = parsed._replace(drivername=parsed.get_backend_name(), password=None)
    return shown.render_as_string(hide_password=False)


def checked_url(url: str) -> str:
    """`url` with psycopg 3 selected; refuses (one line) what is not a PostgreSQL URL."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            ["DATABASE_URL: not a URL; expected postgresql://user:password@host:5432/database"]
        ) from None
    if parsed.get_backend_name() != "postgresql":
        raise ConfigurationError(
            [
                f"DATABASE_URL: {parsed.get_backend_name()} is not supported; expected "
                "postgresql://user:password@host:5432/database"
            ]
        )
    return url


@dataclass
class Database:
    """The database this process serves from, and what preparing it did (for the start-up report)."""

    url: str
    embedded: embedded.EmbeddedDatabase | None = None
    applied: list[str] = field(default_factory=list)
    head: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.embedded is not None:
            return self.embedded.describe()
        return display_url(self.url)

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def open_database(
    settings: Settings, *, role: str = "server", address: str | None = None, allow_guest: bool = False
) -> Database:
    """DATABASE_URL, else the embedded PostgreSQL of EMBEDDED_PG_DIR, owned by this process (or shared
    with the server that owns it when `allow_guest`)."""
    if settings.database_url:
        return Database(checked_url(settings.database_url))
    try:
        handle = embedded.acquire(settings.embedded_pg_dir, role=role, url=address, allow_guest=allow_guest)
    except (embedded.EmbeddedInUse, embedded.EmbeddedUnavailable) as error:
        raise ConfigurationError([str(error)]) from None
    return Database(handle.url, embedded=handle)


def migrate_and_seed(settings: Settings, database: Database, *, seed_data: bool = True) -> None:
    """`alembic upgrade head`, then the seed; connection problems become one `DATABASE_URL:` line."""
    try:
        before = status.current_revisions(database.url)
        migrate.upgrade(database.url)
        database.head = sorted(status.head_revisions())
        database.applied = status.applied_between(before, frozenset(database.head))
        if seed_data:
            asyncio.run(seed_database(settings, database.url))
    except (OperationalError, psycopg.OperationalError) as error:
        reason = [line.strip() for line in str(getattr(error, "orig", None) or error).splitlines()]
        first = next((line for line in reason if line), "no answer")
        raise ConfigurationError([f"DATABASE_URL: cannot use {database.describe()}: {first}"]) from None
    except NoSuchModuleError:
        raise ConfigurationError(["DATABASE_URL: expected postgresql://user:password@host:5432/db"]) from None


# Connections left for migrations, `psql` and monitoring besides superuser_reserved_connections.
CONNECTION_MARGIN = 5
CONNECTIONS_ALLOWED = (
    "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
)


def fit_pools(settings: Settings, database: Database, processes: int) -> Settings:
    """Settings whose pools fit the server: `processes × (2 pools × DATABASE_POOL_SIZE + 1 live-update
    listener)` connections within `max_connections`, less the reserved ones and a margin. A smaller pool is
    chosen, with a warning, when the configured one would not fit (say, `WORKERS` left at the core count on
    a big host). Other hosts are not visible from here: the README's scaling section gives the sum to keep
    for several."""
    with psycopg.connect(
        libpq_url(database.url), connect_timeout=settings.database_connect_timeout_s
    ) as conn:
        row = conn.execute(CONNECTIONS_ALLOWED).fetchone()
    available = (row[0] if row else 0) - CONNECTION_MARGIN
    # One listening connection per process besides its pools (halolight/events/hub.py).
    size = min(settings.database_pool_size, max(1, (available - processes) // (2 * processes)))
    if size < settings.database_pool_size:
        log.warning(
            "DATABASE_POOL_SIZE %d × 2 pools × %d processes exceeds the %d connections PostgreSQL allows "
            "this server: using %d per pool",
            settings.database_pool_size,
            processes,
            available,
            size,
        )
        os.environ["DATABASE_POOL_SIZE"] = str(size)  # granian's workers read their settings from here
        return settings.model_copy(update={"database_pool_size": size})
    return settings


def prepare(settings: Settings) -> tuple[str, Any]:
    """Return the database URL, migrated and seeded, and the embedded server handle (or None)."""
    database = open_database(settings)
    try:
        migrate_and_seed(settings, database)
    except BaseException:
        database.close()
        raise
    return database.url, database.embedded


def refuse(lines: list[str]) -> NoReturn:
    for line in lines:
        print(line, file=sys.stderr)
    raise SystemExit(2)


def base_url(settings: Settings) -> str:
    host = settings.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - displaying, not binding
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def report(settings: Settings, database: Database, *, serving: bool) -> list[str]:
    """The few lines that tell the operator what start-up did."""
    applied = ", ".join(database.applied)
    head = ", ".join(database.head) or "none"
    lines = [
        f"database: {database.describe()}",
        f"migrations: applied {applied}; at head {head}"
        if applied
        else f"migrations: up to date (head {head})",
    ]
    if settings.seed_demo_users:
        emails = ", ".join(email for email, *_, state in DEMO_USERS if state.value == "ACTIVE")
        lines.append(f"seed: roles, permissions and demo logins (password {DEMO_PASSWORD}): {emails}")
    else:
        lines.append("seed: roles and permissions; no demo accounts (SEED_DEMO_USERS=false)")
    if serving:
        base = base_url(settings)
        docs = f"{base}/api/docs (ReDoc {base}/api/redoc)" if settings.docs_enabled else "off (DOCS_ENABLED)"
        if not settings.metrics_enabled:
            metrics = "off (METRICS_ENABLED)"
        else:
            metrics = f"{base}/metrics" + (" (bearer METRICS_TOKEN)" if settings.metrics_token else "")
        lines.append(f"API: {base}/api  health: {base}/health and {base}/health/ready")
        lines.append(f"docs: {docs}  metrics: {metrics}")
    return lines


def check_port(settings: Settings) -> None:
    """Refuse, before migrating, a HOST:PORT something already listens on."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.host, settings.port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConfigurationError(
                    [
                        f"PORT: {settings.host}:{settings.port} is already in use; "
                        "stop what listens there or set PORT"
                    ]
                ) from None
            raise ConfigurationError(
                [f"HOST: cannot listen on {settings.host}:{settings.port} ({error.strerror})"]
            ) from None


_serving = False


def _on_signal(signum: int, _: FrameType | None) -> None:
    if _serving and signum == signal.SIGHUP:
        # The servers handle SIGINT/SIGTERM gracefully (in-flight requests finish); a closed terminal too.
        signal.raise_signal(signal.SIGTERM)
        return
    raise Stopped(signum)


def install_stop_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)


@contextmanager
def metrics_folder(settings: Settings, workers: bool) -> Iterator[None]:
    """PROMETHEUS_MULTIPROC_DIR for granian's workers: the setting's folder (emptied), or a private one."""
    chosen = settings.prometheus_multiproc_dir
    created = None
    if chosen is None and workers and settings.metrics_enabled:
        chosen = created = tempfile.mkdtemp(prefix="halolight-metrics-")
    if chosen is not None:
        os.makedirs(chosen, exist_ok=True)
        for name in os.listdir(chosen):
            if name.endswith(".db"):
                os.unlink(os.path.join(chosen, name))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = chosen
    try:
        yield
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)


def run(*, production_server: bool = False, prepare_only: bool = False) -> None:
    """Everything `make run` / `make serve` / `make migrate` do; exits 2 with one line per problem."""
    global _serving
    try:
        settings = load_settings()
    except ConfigurationError as error:
        refuse(error.lines)
    configure_logging(settings)
    install_stop_signals()
    for warning in settings.startup_warnings():
        log.warning("%s", warning)
    database: Database | None = None
    try:
        if not prepare_only:
            check_port(settings)
        address = None if prepare_only else base_url(settings)
        database = open_database(settings, role="migrate" if prepare_only else "server", address=address)
        migrate_and_seed(settings, database)
        for line in report(settings, database, serving=not prepare_only):
            startup_log.info("%s", line)
        if prepare_only:
            return
        processes = server_workers(settings) if production_server else 1
        settings = fit_pools(settings, database, processes)
        with metrics_folder(settings, workers=production_server):
            _serving = True
            if production_server:
                from halolight import server

                server.run(settings, database.url, settings.host, settings.port)
            else:
                from halolight.app import create_app

                uvicorn.run(
                    create_app(settings, database.url),
                    host=settings.host,
                    port=settings.port,
                    proxy_headers=False,
                    server_header=False,
                    log_config=None,
                    access_log=False,
                    timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
                )
    except ConfigurationError as error:
        refuse(error.lines)
    except StartupRefused as error:
        refuse(str(error).splitlines())
    except Stopped as stop:
        log.info("stopped by %s", stop)
    finally:
        _serving = False
        if database is not None:
            database.close()
            if database.embedded is not None and database.embedded.owner:
                log.info("embedded PostgreSQL stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m halolight.serve")
    parser.add_argument("--prepare-only", action="store_true", help="migrate and seed, then exit")
    parser.add_argument(
        "--production-server",
        action="store_true",
        help="serve with granian and WORKERS processes, bounded header size and read times (make serve)",
    )
    args = parser.parse_args(argv)
    run(production_server=args.production_server, prepare_only=args.prepare_only)


if __name__ == "__main__":
    main()
