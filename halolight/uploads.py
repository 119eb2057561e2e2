"""Streamed request bodies: `multipart/form-data` (typed fields plus one file part) and raw octet streams.

A handler receives an `Upload` and reads it with `async for chunk in upload`: the body is never held whole in
memory or spooled to disk (Starlette's `request.form()` does both, without our per-operation limit). Chunks
are at most `CHUNK_BYTES`. The operation's `x-max-body-bytes` is enforced while reading (413 past it), here
and in the request guard, which also refuses undeclared media types (415) before routing.

Multipart bodies are parsed with python-multipart's push parser, fed one chunk at a time. The form fields must
come before the file part (browsers send parts in form order, and HTTP clients put fields first): the route
validates them into the operation's form model before the handler runs, then hands over the file part still
unread. A field after the file part is a 422 raised from the upload's iteration, so the handler's transaction
rolls back.
"""

from __future__ import annotations

import posixpath
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from halolight.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

CHUNK_BYTES = 64 * 1024
# Form fields are small typed values (their schemas bound them further); this only bounds the buffer.
MAX_FIELD_BYTES = 64 * 1024

Model = TypeVar("Model", bound=BaseModel)


class Upload:
    """One streamed file: its name as the client gave it (path stripped), its declared media type, its bytes.

    Iterate it once: `async for chunk in upload`. `size` counts the bytes handed out so far.
    """

    def __init__(self, chunks: AsyncIterator[bytes], *, filename: str | None, content_type: str) -> None:
        self.filename = filename
        self.content_type = content_type
        self.size = 0
        self._chunks: AsyncIterator[bytes] | None = chunks

    def __repr__(self) -> str:
        return f"Upload(filename={self.filename!r}, content_type={self.content_type!r})"

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks, self._chunks = self._chunks, None
        if chunks is None:
            raise RuntimeError("an upload can be read only once")
        async for chunk in chunks:
            self.size += len(chunk)
            yield chunk


async def _body(request: Request, max_bytes: int) -> AsyncIterator[bytes]:
    """The request body in chunks of at most CHUNK_BYTES, 413 once it exceeds `max_bytes`."""
    received = 0
    async for message in request.stream():
        received += len(message)
        if received > max_bytes:
            raise PayloadTooLarge()
        view = memoryview(message)
        for start in range(0, len(view), CHUNK_BYTES):
            yield bytes(view[start : start + CHUNK_BYTES])


def _filename(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    # Clients may send a path; only its last component is a file name. NUL cannot be stored anywhere.
    name = raw.decode("utf-8", "replace").replace("\\", "/").replace("\x00", "")
    return posixpath.basename(name) or None


def _media_type(value: str | bytes | None) -> str:
    return parse_options_header(value)[0].decode("latin-1") or "application/octet-stream"


def read_octet_stream(request: Request, *, max_bytes: int) -> Upload:
    """The whole body as one upload; the file name comes from a `Content-Disposition` request header."""
    disposition = request.headers.get("content-disposition")
    filename = _filename(parse_options_header(disposition)[1].get(b"filename")) if disposition else None
    return Upload(
        _body(request, max_bytes),
        filename=filename,
        content_type=_media_type(request.headers.get("content-type")),
    )


class _Parts:
    """python-multipart's push parser as a pull interface: the body's events, one chunk at a time."""

    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes) -> None:
        self._chunks = chunks
        self._events: deque[tuple[str, object]] = deque()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._ended = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
                "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
                "on_header_end": self._header_end,
                "on_headers_finished": lambda: self._events.append(("part", dict(self._headers))),
                "on_part_data": lambda data, start, end: self._events.append(("data", data[start:end])),
                "on_part_end": lambda: self._events.append(("end", None)),
                "on_end": self._end,
            },
        )

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _end(self) -> None:
        self._ended = True

    async def next(self) -> tuple[str, object] | None:
        while not self._events:
            if self._ended:
                return None
            chunk = await anext(self._chunks, None)
            try:
                if chunk is None:
                    self._parser.finalize()
                    if not self._ended:
                        raise BadRequest("The multipart body is truncated")
                    return None
                self._parser.write(chunk)
            except MultipartParseError:
                raise BadRequest("The multipart body is malformed") from None
        return self._events.popleft()


def _part(headers: object) -> tuple[str, str | None, str]:
    assert isinstance(headers, dict)
    disposition, options = parse_options_header(headers.get("content-disposition"))
    if disposition != b"form-data" or b"name" not in options:
        raise BadRequest("Every multipart part needs Content-Disposition: form-data with a name")
    name = options[b"name"].decode("utf-8", "replace")
    return name, _filename(options.get(b"filename")), _media_type(headers.get("content-type"))


async def read_multipart(
    request: Request,
    *,
    file_part: str,
    fields: Sequence[str],
    accept: Sequence[str],
    max_bytes: int,
) -> tuple[dict[str, str], Upload]:
    """Read the form fields up to the file part; return them and the file part, unread.

    `accept`: the media types the spec allows for the file part (its `encoding.contentType`); empty: any.
    """
    _, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest("The multipart body has no boundary")
    parts = _Parts(_body(request, max_bytes), boundary)
    values: dict[str, str] = {}
    while (event := await parts.next()) is not None:
        kind, payload = event
        if kind != "part":
            continue
        name, filename, content_type = _part(payload)
        if name == file_part:
            if accept and content_type not in accept:
                raise UnsupportedMediaType(f"The file must be one of: {', '.join(accept)}")
            return values, Upload(_file_chunks(parts), filename=filename, content_type=content_type)
        if name not in fields:
            raise ValidationFailed(("body", name), "Extra inputs are not permitted", "extra_forbidden")
        if name in values:
            raise ValidationFailed(("body", name), "The field is sent more than once", "value_error")
        values[name] = await _field_value(parts, name)
    raise ValidationFailed(("body", file_part), "Field required", "missing")


async def _field_value(parts: _Parts, name: str) -> str:
    value = bytearray()
    while (event := await parts.next()) is not None and event[0] == "data":
        assert isinstance(event[1], bytes)
        value.extend(event[1])
        if len(value) > MAX_FIELD_BYTES:
            raise PayloadTooLarge(f"The form field {name} is too large")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed(("body", name), "must be UTF-8 text", "value_error") from None


async def _file_chunks(parts: _Parts) -> AsyncIterator[bytes]:
    while (event := await parts.next()) is not None and event[0] == "data":
        assert isinstance(event[1], bytes)
        if event[1]:
            yield event[1]
    # The rest of the body may hold only the closing boundary: a field here would be silently ignored.
    while (event := await parts.next()) is not None:
        if event[0] == "part":
            name = _part(event[1])[0]
            raise ValidationFailed(
                ("body", name), "Form fields must come before the file part", "value_error"
            )


def validate_form(model: type[Model], values: dict[str, str]) -> Model:
    """The form fields as the operation's model; 422 in the shape of any request validation error."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None
