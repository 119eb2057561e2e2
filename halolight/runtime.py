"""Everything a request needs besides its own database session, built once per application."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from halolight.db.engine import create_engine, create_sessionmaker
from halolight.mail import MailSender, OutboxMailSender
from halolight.security.passwords import PasswordHasher
from halolight.security.throttle import Throttle
from halolight.security.tokens import TokenCodec
from halolight.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    tokens: TokenCodec
    passwords: PasswordHasher
    throttle: Throttle
    mail: MailSender

    @classmethod
    def build(cls, settings: Settings, database_url: str) -> Runtime:
        engine = create_engine(settings, database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            tokens=TokenCodec(settings),
            passwords=PasswordHasher(settings.bcrypt_rounds, settings.bcrypt_max_concurrency),
            throttle=Throttle(settings.auth_rate_limit),
            mail=OutboxMailSender(settings.mail_outbox_dir),
        )

    async def close(self) -> None:
        await self.engine.dispose()
