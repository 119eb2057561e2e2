"""Logs: JSON lines in production, plain text elsewhere; a request id on every line logged for a request.

`RequestLog` (pure ASGI, outermost) takes the id from `X-Request-ID` when it is safe (1–128 characters of
`A-Z a-z 0-9 . _ : -`), else makes one; returns it in the `X-Request-ID` answer header; and writes one access
line per request (`halolight.access`: method, path, operationId, status, duration) and the request metrics.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from generated.operations import OPERATIONS
from halolight.middleware import OperationTable
from halolight.settings import Settings

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_log = logging.getLogger("halolight.access")

# Attributes every LogRecord has; anything else was passed with `extra=` and goes into the JSON line.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def accepted_request_id(value: str | None) -> str:
    """The client's id when it is safe to log and echo, else a fresh one."""
    if value is not None and _SAFE_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(rid)s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        record.rid = f" [{rid}]" if rid else ""
        return super().format(record)


def json_logs(settings: Settings) -> bool:
    if settings.log_format == "auto":
        return settings.environment == "production"
    return settings.log_format == "json"


def configure_logging(settings: Settings) -> None:
    """One handler on the root logger (stderr), the chosen format, the request id filter; idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs(settings) else PlainFormatter())
    handler.addFilter(RequestIdFilter())
    handler.set_name("halolight")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "halolight"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # The servers' own loggers go through ours (their access logs are off: ours has the operationId).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "granian", "_granian"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # The start-up report says what these did; their step-by-step lines are debugging material.
    for name in ("pgserver", "alembic"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


Observer = Callable[[str, str, int, float], None]


class RequestLog:
    """Request id, access line and request metrics for every HTTP request (outermost middleware)."""

    def __init__(
        self, app: ASGIApp, observe: Observer | None = None, operations: OperationTable | None = None
    ) -> None:
        self.app = app
        self.observe = observe
        self.operations = operations or OperationTable(OPERATIONS)

    def operation_id(self, method: str, path: str) -> str:
        op = self.operations.find(method, path)
        if op is not None:
            return op.operation_id
        if path in ("/health/ready", "/metrics"):
            return path.strip("/").replace("/", "_")
        if path.startswith("/api/docs") or path in ("/api/redoc", "/api/openapi.json"):
            return "docs"
        return "unknown"  # bounded: the path is in the log line, never a metric label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        rid = accepted_request_id(header.decode("latin-1") if header is not None else None)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            method = str(scope["method"])
            operation = self.operation_id(method, scope["path"])
            access_log.info(
                "%s %s %s %d %.1fms",
                method,
                scope["path"],
                operation,
                status,
                duration * 1000,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "operation_id": operation,
                    "status": status,
                    "duration_ms": round(duration * 1000, 2),
                    "client": (scope.get("client") or ("", 0))[0],
                },
            )
            if self.observe is not None:
                self.observe(operation, method, status, duration)
            request_id.reset(token)
