"""Operations of the System tag."""

from __future__ import annotations

from generated import models
from halolight.context import PublicContext
from halolight.repositories import health


async def get_health(ctx: PublicContext) -> models.Health:
    await health.ping(ctx.db)
    return models.Health(status="ok", database="ok")
