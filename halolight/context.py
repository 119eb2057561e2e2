"""The request context handed to every handler, and the FastAPI dependencies that build it.

This is the only place where a request meets the database session and the caller's identity: the generated
routes depend on `public_context` or `authenticated(permission)`, then call the handler, then `ctx.commit()`.
Any exception rolls the session back when it closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.runtime import Runtime
from halolight.security.principal import Principal, authenticate


@dataclass
class PublicContext:
    db: AsyncSession
    runtime: Runtime
    client_ip: str

    async def commit(self) -> None:
        await self.db.commit()


@dataclass
class AuthContext(PublicContext):
    principal: Principal

    @property
    def user_id(self) -> str:
        return self.principal.user_id


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def public_context(request: Request) -> AsyncIterator[PublicContext]:
    runtime = _runtime(request)
    async with runtime.sessionmaker() as db:
        yield PublicContext(db=db, runtime=runtime, client_ip=_client_ip(request))


@cache
def authenticated(permission: str | None) -> Callable[..., Any]:
    """A dependency that answers 401 without a live session and 403 without `permission`."""

    async def dependency(request: Request) -> AsyncIterator[AuthContext]:
        runtime = _runtime(request)
        async with runtime.sessionmaker() as db:
            principal = await authenticate(db, runtime.tokens, request.headers.get("authorization"))
            if permission is not None:
                principal.require(permission)
            yield AuthContext(db=db, runtime=runtime, client_ip=_client_ip(request), principal=principal)

    dependency.__name__ = f"authenticated_{permission or 'any'}"
    return dependency
