"""Granian alone: `make serve`'s granian (`halolight.server.build`: same flags, WORKERS processes) with a bare
ASGI app, no auth, no database, no framework. `bench/files.py` measures it next to the API and the plain copy
("granian alone" rows): what the transport costs over the copy, and what the API costs over the transport.

- `GET /file` sends TRANSPORT_FILE by path (`http.response.pathsend`), as the API's local download does;
- `POST /upload` writes the raw request body (no multipart parsing, no sniffing) to a temporary file in
  TRANSPORT_DIR, then fsyncs it, renames it and fsyncs the folder before answering 201: the plain copy's
  durable write (write, then fsync), not the local backend's overlapped one;
- `GET /health` answers 200 (readiness for the bench).

`python -m bench.transport PORT`, with TRANSPORT_FILE and TRANSPORT_DIR in the environment.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from typing import Any

FILE = os.environ.get("TRANSPORT_FILE", "")
FOLDER = os.environ.get("TRANSPORT_DIR", "")


def _durable(fd: int, temporary: str) -> None:
    os.fsync(fd)
    os.close(fd)
    os.replace(temporary, os.path.join(FOLDER, "received.bin"))
    folder = os.open(FOLDER, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _upload(receive: Any, send: Any) -> None:
    fd, temporary = tempfile.mkstemp(dir=FOLDER, prefix=".tmp-")
    size, more = 0, True
    try:
        while more:
            message = await receive()
            body = message.get("body", b"")
            if body:
                size += len(body)
                os.write(fd, body)  # into the page cache, on the loop: the least a server can do
            more = message.get("more_body", False)
        await asyncio.to_thread(_durable, fd, temporary)
    except BaseException:
        os.close(fd)
        os.unlink(temporary)
        raise
    await _answer(send, 201, str(size).encode())


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/file":
        size = os.stat(FILE).st_size
        headers = [(b"content-type", b"application/octet-stream"), (b"content-length", str(size).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": FILE})
    elif path == "/upload" and scope["method"] == "POST":
        await _upload(receive, send)
    elif path == "/health":
        await _answer(send, 200, b"ok")
    else:
        await _answer(send, 404, b"")


def main() -> None:
    from halolight.server import build
    from halolight.settings import Settings

    # The HTTP settings (read buffer, timeouts, backlog) from the environment, as `make serve` reads them.
    settings = Settings(environment="development", workers=int(os.environ.get("WORKERS", "2")))
    build(settings, "", "127.0.0.1", int(sys.argv[1]), target="bench.transport:app", factory=False).serve()


if __name__ == "__main__":
    main()
