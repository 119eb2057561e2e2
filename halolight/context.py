"""The request context handed to every handler, and the FastAPI dependencies that build it.

This is the only place where a request meets the database session and the caller's identity: the generated
routes depend on `public_context()`, `authenticated(permission)` or `optional_authentication()`, then run the
handler through `ctx.run(...)`: one transaction, committed when the handler returns, rolled back when it
raises, retried once when PostgreSQL reports a deadlock or serialization failure. Uploads run through
`ctx.run_upload(body, ...)`: the transaction cannot begin before the request body has been read.

The dependencies are function-scoped (`Depends(..., scope="function")` in the generated routes): every
pooled connection goes back when the handler's route returns, before the first byte of the answer, so a
slow download or an event stream holds none.

GET and HEAD run read-only (the read pool, `BEGIN READ ONLY`). A GET the spec marks `x-writes: true` (a view
counter, a share link's access count) gets the read-write session and one transaction, as a POST does:
`writes=True` on the dependency.

Live-update events queued with `halolight.events.outbox.emit(ctx.db, ...)` are written and announced (NOTIFY)
just before the commit, in the transaction. Side effects outside the database that must not happen unless the
data they describe is durable (mail, storage cleanup) are registered with `ctx.after_commit(...)`; undo work
for the failure path (deleting an upload, say) with `ctx.after_rollback(...)`. Callbacks run after the
database has answered, in registration order; a failing callback is logged and never changes the HTTP answer.

The activity log: every mutating operation's generated route names its `x-activity` (`expect_activity`)
before `ctx.run`; `run` writes that one `activity_logs` row after the handler returned, in the request's
transaction, just before the commit (a failing request writes none). The actor is the caller; a public
operation records only when its handler names the account concerned with `ctx.activity(actor_id=...)`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ParamSpec, TypeVar

from fastapi import Request
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from halolight.db.conflicts import TRANSACTION_CONFLICTS
from halolight.db.reads import PoolReads, Reads, SessionReads
from halolight.events import outbox
from halolight.repositories import activity
from halolight.runtime import Runtime
from halolight.security.principal import Principal, authenticate
from halolight.uploads import Multipart, Upload

Callback = Callable[[], Awaitable[None]]
P = ParamSpec("P")
T = TypeVar("T")
RETRIES_ON_CONFLICT = 1
log = logging.getLogger("halolight.context")


async def _run(runtime: Runtime, callbacks: list[tuple[Callback, bool]], phase: str) -> None:
    pending = list(callbacks)
    callbacks.clear()
    for callback, background in pending:
        if background:
            runtime.spawn(callback(), phase)
            continue
        try:
            await callback()
        except Exception:
            log.exception("%s callback failed", phase)


@dataclass(frozen=True)
class Activity:
    """An operation's `x-activity` as its generated route hands it over, with what the request says of
    its target: the path's `id`, the other path parameters, a batch's `ids`, the fields an update sent."""

    action: str
    target: str
    target_id: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    ids: Collection[str] | None = None
    fields: Collection[str] | None = None


@dataclass
class _ActivityNote:
    """What only the handler knows: the account concerned by a public operation, a target id that is
    neither the path's nor the result's, small metadata (never secrets)."""

    actor_id: str | None = None
    target_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _result_id(result: object) -> str | None:
    """The id of what a create returned (the model, or a typed response's body)."""
    value = getattr(getattr(result, "body", result), "id", None)
    return value if isinstance(value, str) else None


@dataclass
class PublicContext:
    db: AsyncSession
    runtime: Runtime
    client_ip: str
    user_agent: str = field(default="", kw_only=True)
    # A safe request's read-pool connection (db/reads.py); without one, reads run in the transaction.
    read_pool: PoolReads | None = field(default=None, kw_only=True, repr=False)
    reads: Reads = field(init=False, repr=False)
    _after_commit: list[tuple[Callback, bool]] = field(default_factory=list, init=False, repr=False)
    _after_rollback: list[tuple[Callback, bool]] = field(default_factory=list, init=False, repr=False)
    _activity: Activity | None = field(default=None, init=False, repr=False)
    _activity_note: _ActivityNote = field(default_factory=_ActivityNote, init=False, repr=False)

    def __post_init__(self) -> None:
        self.reads = self.read_pool if self.read_pool is not None else SessionReads(self.db)

    def after_commit(self, callback: Callback, *, background: bool = False) -> None:
        """Run `callback` once the request's transaction is committed (never if it rolls back).

        `background=True` starts it without waiting (mail): the answer and its timing do not depend on it.
        """
        self._after_commit.append((callback, background))

    def after_rollback(self, callback: Callback, *, background: bool = False) -> None:
        """Run `callback` if the request's transaction rolls back (never if it commits)."""
        self._after_rollback.append((callback, background))

    def expect_activity(self, activity: Activity) -> None:
        """The generated route of a mutating operation: the activity `run` records if the handler returns."""
        self._activity = activity

    def activity(self, *, actor_id: str | None = None, target_id: str | None = None, **metadata: Any) -> None:
        """The handler's word on the activity row: the account concerned (public operations: login,
        register, reset), the target when it is neither the path's `id` nor the result's, metadata (small;
        never a password, token or secret)."""
        note = self._activity_note
        note.actor_id = actor_id or note.actor_id
        note.target_id = target_id or note.target_id
        note.metadata.update(metadata)

    def _actor_id(self) -> str | None:
        return None  # anonymous: only the handler can name the account concerned

    async def _record_activity(self, result: object) -> None:
        spec, note = self._activity, self._activity_note
        actor = note.actor_id or self._actor_id()
        if spec is None or actor is None:
            return
        metadata: dict[str, Any] = dict(spec.details)
        if spec.ids is not None:
            metadata["ids"] = sorted(set(spec.ids))
        if spec.fields:
            metadata["fields"] = sorted(spec.fields)
        metadata.update(note.metadata)
        # A batch has no one target (its ids are in the metadata); an operation on the caller's own account
        # (logout, change password) has none in its path or result: the actor is the target.
        target_id = note.target_id or spec.target_id or _result_id(result)
        if target_id is None:
            target_id = "" if spec.ids is not None else actor
        await activity.record(
            self.db,
            actor_id=actor,
            action=spec.action,
            target_type=spec.target,
            target_id=target_id,
            metadata=metadata,
        )

    async def commit(self) -> None:
        """Commit now. Handlers call this only to make a write durable before answering with an error
        (a revoked session family must stay revoked even though the request ends in 401)."""
        if self.db.in_transaction():  # a handler that only read on the fast path opened none
            await outbox.flush(self.db)  # live-update events, written and announced in this transaction
            await self.db.commit()
        self._after_rollback.clear()
        await _run(self.runtime, self._after_commit, "after-commit")

    async def rollback(self) -> None:
        outbox.discard(self.db)
        await self.db.rollback()
        self._after_commit.clear()
        await _run(self.runtime, self._after_rollback, "after-rollback")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One transaction around a block: commit when it ends, roll back when it raises."""
        try:
            yield
        except BaseException:
            await self.rollback()
            raise
        await self.commit()

    async def run(self, handler: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """The request's one transaction around `handler`, as the generated routes call it.

        A deadlock or serialization failure (the transaction lost a race PostgreSQL detected) is retried
        once on a clean transaction, then left to the error handler (409 with Retry-After). Handlers run
        again must be safe to run again: they only touch the database and register after-commit work, both
        of which the rollback discards.
        """
        for attempt in range(1 + RETRIES_ON_CONFLICT):
            self._activity_note = _ActivityNote()  # a retried handler says it again
            try:
                async with self.transaction():
                    result = await handler(*args, **kwargs)
                    await self._record_activity(result)
                    return result
            except DBAPIError as error:
                # A pooled connection the server dropped (restart, failover) fails on the transaction's first
                # statement; SQLAlchemy has then invalidated it and every connection as old as it.
                retryable = error.connection_invalidated or isinstance(error.orig, TRANSACTION_CONFLICTS)
                if attempt == RETRIES_ON_CONFLICT or not retryable:
                    raise
                log.warning("retrying the transaction after: %s", error.orig)
        raise AssertionError("unreachable")

    async def run_upload(
        self,
        body: Upload | Multipart[Any],
        handler: Callable[P, Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`run` for a handler that reads a request body stream (an upload): no retry (a stream cannot be
        read twice), and no transaction while bytes arrive. The session refuses to begin until `body` has
        been read to its end (`RuntimeError`: read the upload first, into storage under a temporary key,
        then query); what the handler left unread is read, with its limits and form validation, before the
        commit."""
        self.db.info[_UNREAD_BODY] = body
        try:
            async with self.transaction():
                result = await handler(*args, **kwargs)
                await body.finish()
                await self._record_activity(result)
                return result
        finally:
            del self.db.info[_UNREAD_BODY]


_UNREAD_BODY = "halolight.unread_body"


@event.listens_for(Session, "after_begin")
def _no_transaction_while_a_body_streams(session: Session, *_: SessionTransaction | Any) -> None:
    # A transaction begun before the upload is read would sit idle in transaction, holding its connection and
    # its locks, for as long as the client takes to send (and die at idle_in_transaction_session_timeout).
    body = session.info.get(_UNREAD_BODY)
    if body is not None and not body.complete:
        raise RuntimeError(
            "the request's transaction began before its upload was read: read the upload first "
            "(into storage, under a temporary key), then query (CONTRIBUTING: uploads)"
        )


@dataclass
class AuthContext(PublicContext):
    principal: Principal = field(kw_only=True)

    @property
    def user_id(self) -> str:
        return self.principal.user_id

    def _actor_id(self) -> str | None:
        return self.principal.user_id


@dataclass
class OptionalAuthContext(PublicContext):
    """For operations with optional login (`security: [{}, {bearerAuth: []}]`): `principal` is None for an
    anonymous caller. A token that is sent but invalid is still a 401, never a silent downgrade to anonymous,
    so a client with an expired token learns it must refresh."""

    principal: Principal | None = field(default=None, kw_only=True)

    @property
    def user_id(self) -> str | None:
        return self.principal.user_id if self.principal is not None else None

    def _actor_id(self) -> str | None:
        return self.user_id


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _user_agent(request: Request) -> str:
    """Shown in the caller's session list; bounded, and without NUL (PostgreSQL text cannot hold it)."""
    return request.headers.get("user-agent", "")[:256].replace("\x00", "")


def _caller(request: Request) -> dict[str, str]:
    """What every context records of the request itself."""
    return {"client_ip": _client_ip(request), "user_agent": _user_agent(request)}


# Safe methods change nothing (RFC 9110 9.2.1): their reads run on the read pool, outside any transaction.
SAFE_METHODS = frozenset({"GET", "HEAD"})


@dataclass
class _Scope:
    """What a request's context is built from, given back when the request ends."""

    runtime: Runtime
    db: AsyncSession
    pool_reads: PoolReads
    safe: bool  # GET/HEAD: reads stay on the read pool for the whole request

    @property
    def read_pool(self) -> PoolReads | None:
        return self.pool_reads if self.safe else None

    async def authenticate(self, header: str | None) -> Principal:
        principal = await authenticate(self.pool_reads, self.runtime.tokens, header)
        if not self.safe:
            # The handler works in the session's transaction: no second connection held while it runs.
            await self.pool_reads.release()
        return principal


@asynccontextmanager
async def _request_scope(request: Request, writes: bool) -> AsyncIterator[_Scope]:
    """The session (opened lazily by SQLAlchemy at its first statement) and a read-pool handle (a connection
    is taken at the first read), both given back when the route returns. `writes`: a safe method that
    writes (`x-writes`) runs as a write does."""
    runtime = _runtime(request)
    safe = request.method in SAFE_METHODS and not writes
    scope = _Scope(
        runtime=runtime,
        db=runtime.read_sessionmaker() if safe else runtime.sessionmaker(),
        pool_reads=PoolReads(runtime.reads),
        safe=safe,
    )
    try:
        yield scope
    finally:
        try:
            if scope.db.in_transaction():  # never true after a commit or rollback: nothing to close otherwise
                await scope.db.close()
        finally:
            await scope.pool_reads.release()


@cache
def public_context(writes: bool = False) -> Callable[..., Any]:
    """A dependency for public operations (no login)."""

    async def dependency(request: Request) -> AsyncIterator[PublicContext]:
        async with _request_scope(request, writes) as scope:
            yield PublicContext(
                db=scope.db, runtime=scope.runtime, read_pool=scope.read_pool, **_caller(request)
            )

    dependency.__name__ = "public_context_writes" if writes else "public_context"
    return dependency


@cache
def authenticated(permission: str | None, writes: bool = False) -> Callable[..., Any]:
    """A dependency that answers 401 without a live session and 403 without `permission`."""

    async def dependency(request: Request) -> AsyncIterator[AuthContext]:
        async with _request_scope(request, writes) as scope:
            principal = await scope.authenticate(request.headers.get("authorization"))
            if permission is not None:
                principal.require(permission)
            yield AuthContext(
                db=scope.db,
                runtime=scope.runtime,
                principal=principal,
                read_pool=scope.read_pool,
                **_caller(request),
            )

    dependency.__name__ = f"authenticated_{permission or 'any'}" + ("_writes" if writes else "")
    return dependency


@cache
def optional_authentication(writes: bool = False) -> Callable[..., Any]:
    """Anonymous without an Authorization header; otherwise exactly what `authenticated(None)` checks."""

    async def dependency(request: Request) -> AsyncIterator[OptionalAuthContext]:
        async with _request_scope(request, writes) as scope:
            header = request.headers.get("authorization")
            principal = None if header is None else await scope.authenticate(header)
            yield OptionalAuthContext(
                db=scope.db,
                runtime=scope.runtime,
                principal=principal,
                read_pool=scope.read_pool,
                **_caller(request),
            )

    dependency.__name__ = "optional_authentication" + ("_writes" if writes else "")
    return dependency
