"""The application factory: routers from `generated/`, handlers from `handlers/`, one error vocabulary."""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import fastapi_offline
import psycopg
import psycopg.errors
import yaml
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from generated.operations import OPERATIONS, OperationInfo
from generated.routers import build_all
from halolight.db import status
from halolight.db.conflicts import TRANSACTION_CONFLICTS
from halolight.edge import ClientCap
from halolight.errors import ApiError, ValidationFailed
from halolight.logging import RequestLog, configure_logging
from halolight.middleware import OperationTable, RequestGuard
from halolight.runtime import Runtime
from halolight.settings import Settings, get_settings

SPEC_PATH = Path(__file__).resolve().parent.parent / "spec" / "openapi.yaml"
log = logging.getLogger("halolight")


@cache
def spec_json() -> bytes:
    """The hand-written spec, served as is: the contract clients generate SDKs from."""
    with SPEC_PATH.open(encoding="utf-8") as fh:
        return json.dumps(yaml.safe_load(fh), ensure_ascii=False).encode("utf-8")


def _issues(errors: Any) -> list[dict[str, Any]]:
    # Only loc/msg/type: pydantic's `input` and `ctx` would echo submitted values (passwords included).
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in errors
    ]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        body: Any = exc.issues if isinstance(exc, ValidationFailed) else exc.message
        return JSONResponse({"detail": body}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _issues(exc.errors())}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette lists only the methods of the first route that matched the path; FastAPI makes one
            # route per method, so the spec's table gives the real answer.
            table: OperationTable = request.app.state.operations
            headers["Allow"] = ", ".join(table.allowed_methods(request.url.path))
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(IntegrityError)
    async def integrity_error(_: Request, exc: IntegrityError) -> JSONResponse:
        # Backstop for races the repositories did not anticipate: a constraint said no, nothing was written.
        log.warning("integrity error: %s", exc.orig)
        return JSONResponse({"detail": "The request conflicts with existing data"}, status_code=409)

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(_: Request, exc: PoolTimeout) -> JSONResponse:
        log.error("no database connection available: %s", exc)
        return JSONResponse(
            {"detail": "Database temporarily unavailable"}, status_code=503, headers={"Retry-After": "5"}
        )

    @app.exception_handler(DBAPIError)
    async def database_error(_: Request, exc: DBAPIError) -> JSONResponse:
        return _database_answer(exc.orig, invalidated=exc.connection_invalidated)

    @app.exception_handler(psycopg.Error)
    async def driver_error(_: Request, exc: psycopg.Error) -> JSONResponse:
        # The fast read path (halolight/db/reads.py) meets psycopg's own errors, with no SQLAlchemy wrapper.
        return _database_answer(exc, invalidated=False)


def _database_answer(error: BaseException | None, *, invalidated: bool) -> JSONResponse:
    if isinstance(error, (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable)):
        log.error("database statement timed out: %s", error)
        return JSONResponse({"detail": "The database did not answer in time"}, status_code=504)
    if isinstance(error, TRANSACTION_CONFLICTS):
        log.warning("transaction conflict: %s", error)
        return JSONResponse(
            {"detail": "The request conflicted with a concurrent change; retry it"},
            status_code=409,
            headers={"Retry-After": "1"},
        )
    if invalidated or isinstance(error, psycopg.OperationalError):
        log.error("database unavailable: %s", error)
        return JSONResponse(
            {"detail": "Database temporarily unavailable"}, status_code=503, headers={"Retry-After": "5"}
        )
    log.error("database error", exc_info=error)
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


# Swagger UI and ReDoc come from the `fastapi-offline` wheel (swagger-ui-dist and redoc's standalone bundle,
# pinned in pyproject.toml) and are served by the API itself: the docs work without internet access, and no
# page loads anything (script, font, favicon) from another host.
DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
DOCS_ASSETS_URL = "/api/docs/assets"
# The docs pages may load from this API only (inline script and styles: the pages' own bootstrap; blob
# workers: ReDoc's search).
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _install_docs(app: FastAPI) -> None:
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/api/openapi.json", include_in_schema=False)
    async def openapi_document() -> Response:
        return Response(spec_json(), media_type="application/json")

    @app.get("/api/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="HaloLight API",
            swagger_js_url=f"{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS_URL}/favicon.png",
            # validatorUrl: none, or Swagger UI would send the spec to validator.swagger.io for a badge.
            swagger_ui_parameters={"persistAuthorization": True, "validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    @app.get("/api/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url="/api/openapi.json",
            title="HaloLight API",
            redoc_js_url=f"{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        # ReDoc's side menu links its vendor with a logo from the vendor's CDN: hidden, and never fetched.
        html = bytes(page.body).replace(
            b"</head>", b"<style>a[href*='redocly.com']{display:none}</style></head>", 1
        )
        return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_CSP})


def _install_operations(app: FastAPI, settings: Settings, runtime: Runtime) -> None:
    """`/health/ready` and `/metrics`: for operators and their probes, outside the public spec."""

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        try:
            async with runtime.engine.connect() as connection:
                applied = await status.current_revisions_async(connection)
        except Exception as error:  # any failure to reach the database: not ready
            log.warning("readiness: database unreachable: %s", type(error).__name__)
            return JSONResponse(
                {"status": "unavailable", "database": "unreachable"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        head = status.head_revisions()
        if applied != head:
            return JSONResponse(
                {
                    "status": "unavailable",
                    "database": "ok",
                    "migrations": sorted(applied),
                    "head": sorted(head),
                },
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return JSONResponse({"status": "ok", "database": "ok", "migrations": sorted(applied)})

    if not settings.metrics_enabled:
        return
    from halolight import metrics  # lazily: prometheus_client reads PROMETHEUS_MULTIPROC_DIR on import

    metrics.watch_pool(runtime.engine)
    metrics.watch_read_pool(runtime.reads)
    metrics.watch_hub(runtime.hub)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None

    @app.get("/metrics", include_in_schema=False)
    async def scrape(request: Request) -> Response:
        if not metrics.authorized(request.headers.get("authorization"), token):
            return JSONResponse(
                {"detail": "Not authenticated"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        body, media_type = metrics.exposition()
        return Response(body, media_type=media_type)


def create_app(
    settings: Settings | None = None,
    database_url: str | None = None,
    *,
    routers: Sequence[APIRouter] | None = None,
    operations: Sequence[OperationInfo] | None = None,
) -> FastAPI:
    """The API. `routers` and `operations` default to the generated ones; the generator tests pass those of
    a scratch spec, so that what they prove runs through this same app (guard, errors, CORS, logging)."""
    settings = settings or get_settings()
    url = database_url or settings.database_url
    if not url:
        raise RuntimeError("DATABASE_URL is not set (use `make run`, which starts the embedded PostgreSQL)")

    # Built eagerly (creating an engine does not connect), so in-process test clients need no lifespan.
    runtime = Runtime.build(settings, url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.hub.end_streams_on_stop()  # live-update streams end when the server is told to stop
        runtime.hub.launch()  # its housekeeping (pruning, the dashboard's fold) runs from the start
        yield
        await runtime.close()

    # FastAPI's own schema, docs and redoc are off: the hand-written spec is the one we publish.
    # redirect_slashes=False: Starlette's trailing-slash redirect builds its Location from the Host header
    # (an open redirect); `/api/users/` is simply not a route of the spec, so it is a 404.
    app = FastAPI(
        title="HaloLight API",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.runtime = runtime
    # One table of the spec's operations, for the guard (media types, limits), the access log and metrics
    # (operationId) and the 405's `Allow` header.
    table = OperationTable(OPERATIONS if operations is None else operations)
    app.state.operations = table
    _install_error_handlers(app)
    if settings.docs_enabled:
        _install_docs(app)
    _install_operations(app, settings, runtime)
    for router in build_all() if routers is None else routers:
        # The routes themselves, not `include_router`: FastAPI 0.165 keeps an included router as a lazy
        # wrapper that every request walks through (about 70 µs a request here, measured in process). The
        # generated routers carry no prefix, dependencies or other router-level options to inherit.
        app.router.routes.extend(router.routes)
    # The serving edge (halolight/edge.py), inside the guard so that its 429 carries the guard's headers.
    app.add_middleware(ClientCap, limit=settings.http_max_requests_per_client)
    # Added last, so outermost: the guard's own answers (413, 415, 422, 408, 500) carry CORS headers too,
    # and a browser sees "too large" rather than an opaque network error.
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        body_read_timeout_s=settings.http_body_read_timeout_s,
        body_idle_timeout_s=settings.http_body_idle_timeout_s,
        body_min_rate_bytes_s=settings.http_body_min_rate_bytes_s,
        max_header_bytes=settings.http_max_header_bytes,
        operations=table,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID"],
    )
    # Outermost: every answer, CORS preflights and the guard's included, gets its request id and access line.
    observe = None
    if settings.metrics_enabled:
        from halolight import metrics

        observe = metrics.observe
    app.add_middleware(RequestLog, observe=observe, operations=table)
    return app


def create_worker_app() -> FastAPI:
    """The factory granian's worker processes call (`make serve`): logging as configured, then the app."""
    settings = get_settings()
    configure_logging(settings)
    app = create_app(settings)
    # What start-up built (modules, the app, compiled statements) lives as long as the worker: move it out of
    # the collector's generations, so that a full collection under load walks only what requests allocate
    # (shorter pauses, a lower p99).
    gc.collect()
    gc.freeze()
    return app
