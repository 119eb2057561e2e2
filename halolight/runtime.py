"""Everything a request needs besides its own database session, built once per application."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from halolight.db.engine import create_engine, create_gate, create_read_pool, create_sessionmaker
from halolight.db.gate import DatabaseGate
from halolight.db.reads import ReadPool
from halolight.events.hub import Hub
from halolight.mail import MailSender, build_mail_sender
from halolight.security.passwords import PasswordHasher
from halolight.security.throttle import Throttle
from halolight.security.tokens import TokenCodec
from halolight.settings import Settings
from halolight.storage import Storage, build_storage


@dataclass
class Runtime:
    settings: Settings
    # Whether the database answers: both pools connect through it (db/gate.py).
    gate: DatabaseGate
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # The sessions of safe (GET/HEAD) requests: their transactions are READ ONLY at the server.
    read_sessionmaker: async_sessionmaker[AsyncSession]
    # Safe (GET/HEAD) requests read here: autocommit, read-only (db/reads.py). Same size as the ORM's pool.
    reads: ReadPool
    tokens: TokenCodec
    passwords: PasswordHasher
    throttle: Throttle
    mail: MailSender
    # Where file bytes live (halolight/storage/): a local folder or an S3-compatible store. Building it
    # reaches nothing, so the API starts (and serves everything but files) while the store is down.
    storage: Storage
    # Live updates (halolight/events/hub.py): one listening connection, outside both pools, and this process's
    # open streams. Started by the first stream; building it connects to nothing.
    hub: Hub
    # Fire-and-forget work started after a commit (mail): held here so it is not garbage-collected
    # mid-flight, and awaited on shutdown so a graceful stop does not drop it.
    _background: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)

    @classmethod
    def build(cls, settings: Settings, database_url: str) -> Runtime:
        gate = create_gate(settings, database_url)
        engine = create_engine(settings, database_url, gate)
        return cls(
            settings=settings,
            gate=gate,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            read_sessionmaker=create_sessionmaker(engine.execution_options(postgresql_readonly=True)),
            reads=create_read_pool(settings, database_url, gate),
            tokens=TokenCodec(settings),
            passwords=PasswordHasher(settings.bcrypt_rounds, settings.bcrypt_max_concurrency),
            throttle=Throttle(
                settings.auth_rate_limit,
                settings.password_reset_mail_limit,
                settings.rate_limit_storage_url,
            ),
            mail=build_mail_sender(settings),
            storage=build_storage(settings),
            hub=Hub(settings, database_url, gate),
        )

    def spawn(self, work: Awaitable[None], what: str) -> None:
        """Run `work` in the background; its failure is logged, never raised into a request."""

        async def guarded() -> None:
            try:
                await work
            except Exception:
                logging.getLogger("halolight.background").exception("%s failed", what)

        task = asyncio.get_running_loop().create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background work still in flight (shutdown, and tests that read its effects)."""
        while self._background:
            await asyncio.gather(*self._background)

    async def close(self) -> None:
        await self.hub.close()  # ends every stream first: they hold no connection, but their leases
        await self.drain()
        await self.storage.close()
        await self.reads.close()
        await self.engine.dispose()
        await self.gate.close()
