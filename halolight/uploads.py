"""Streamed request bodies: `multipart/form-data` (typed fields plus one file part) and raw octet streams.

A handler receives an `Upload` (raw bodies) or a `Multipart` (`body.file`, an `Upload`, and `body.form`, the
validated fields) and reads the file once with `async for chunk in upload`: the body is never held whole in
memory or spooled to disk (Starlette's `request.form()` does both, without our per-operation limit). Chunks
are at most `CHUNK_BYTES`. The operation's `x-max-body-bytes` is enforced while reading (413 past it), here
and in the request guard, which also refuses undeclared media types (415) before routing.

Multipart bodies are parsed with python-multipart's push parser, fed one chunk at a time. Form fields may come
before or after the file part (browsers send form order; generated clients often put the file in the middle):
the route reads up to the file part's headers before the handler runs (so the file's name and media type are
known, and an undeclared media type is a 415 before anything is stored), buffering the fields it passes; the
fields after the file are buffered as the handler's iteration reaches them. Buffering is bounded: each
declared field once (a repeated or undeclared one is a 422 at once), at most `MAX_FIELD_BYTES` each. The
fields are validated into the operation's form model when the body ends: the handler's `async for` raises the
422 then, so `body.form` is usable once the file has been read (and raises `RuntimeError` before).

The body is read before the request's transaction begins (`PublicContext.run_upload`): a connection is never
held, idle in a transaction, while a client sends bytes.
"""

from __future__ import annotations

import posixpath
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from halolight.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

# Above granian's largest body piece (HTTP_READ_BUFFER_BYTES, 256 KiB by default, at most 4 MiB), so its
# pieces are never cut; a server handing over larger messages has them cut to this.
CHUNK_BYTES = 1024 * 1024
# Form fields are small typed values (their schemas bound them further); this only bounds the buffer.
MAX_FIELD_BYTES = 64 * 1024

Model = TypeVar("Model", bound=BaseModel)


class Upload:
    """One streamed file: its name as the client gave it (path stripped), its declared media type, its bytes.

    Iterate it once: `async for chunk in upload`. `size` counts the bytes handed out so far; `complete` turns
    true when the whole request body has been read (and, for a multipart body, its fields validated).
    """

    def __init__(self, chunks: AsyncIterator[bytes], *, filename: str | None, content_type: str) -> None:
        self.filename = filename
        self.content_type = content_type
        self.size = 0
        self.complete = False
        self._chunks = chunks
        self._started = False

    def __repr__(self) -> str:
        return f"Upload(filename={self.filename!r}, content_type={self.content_type!r})"

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._started:
            raise RuntimeError("an upload can be read only once")
        self._started = True
        async for chunk in self._chunks:
            self.size += len(chunk)
            yield chunk
        self.complete = True

    async def finish(self) -> None:
        """Read what the handler left of the body (it may stop early, or not read at all), with the same
        limits and checks: the request is whole and valid before its transaction commits."""
        self._started = True
        async for chunk in self._chunks:
            self.size += len(chunk)
        self.complete = True


async def _body(request: Request, max_bytes: int) -> AsyncIterator[bytes]:
    """The request body in chunks of at most CHUNK_BYTES, 413 once it exceeds `max_bytes`."""
    received = 0
    async for message in request.stream():
        received += len(message)
        if received > max_bytes:
            raise PayloadTooLarge()
        if len(message) <= CHUNK_BYTES:
            # The server's own pieces (granian: at most HTTP_READ_BUFFER_BYTES) pass as they are: cutting
            # them smaller copied every byte once more and multiplied the parser's and the writer's steps.
            if message:
                yield message
            continue
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
    """The whole body as one upload; the file name comes from a `Content-Disposition` request header.

    A request without `Content-Type` sent no body (the guard has refused every other type): the operation's
    body is required, so that is a 422. An empty file comes with its type and `Content-Length: 0`."""
    if "content-type" not in request.headers:
        raise ValidationFailed(("body",), "Field required", "missing")
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


class _Fields:
    """The form fields met so far, each declared field at most once, each at most MAX_FIELD_BYTES."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = names
        self.values: dict[str, str] = {}

    async def read(self, parts: _Parts, name: str) -> None:
        if name not in self.names:
            raise ValidationFailed(("body", name), "Extra inputs are not permitted", "extra_forbidden")
        if name in self.values:
            raise ValidationFailed(("body", name), "The field is sent more than once", "value_error")
        value = bytearray()
        while (event := await parts.next()) is not None and event[0] == "data":
            assert isinstance(event[1], bytes)
            value.extend(event[1])
            if len(value) > MAX_FIELD_BYTES:
                raise PayloadTooLarge(f"The form field {name} is too large")
        try:
            self.values[name] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed(("body", name), "must be UTF-8 text", "value_error") from None


async def read_multipart(
    request: Request,
    *,
    file_part: str,
    form: type[Model],
    fields: Sequence[str],
    accept: Sequence[str],
    max_bytes: int,
) -> Multipart[Model]:
    """Read the body up to the file part's headers (buffering the fields before it) and return the body with
    the file part unread. `accept`: the media types the spec allows for the file part (its
    `encoding.contentType`); empty: any."""
    _, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest("The multipart body has no boundary")
    parts = _Parts(_body(request, max_bytes), boundary)
    buffered = _Fields(fields)
    while (event := await parts.next()) is not None:
        kind, payload = event
        if kind != "part":
            continue
        name, filename, content_type = _part(payload)
        if name != file_part:
            await buffered.read(parts, name)
            continue
        if accept and content_type not in accept:
            raise UnsupportedMediaType(f"The file must be one of: {', '.join(accept)}")
        return Multipart(parts, buffered, form, file_part, filename=filename, content_type=content_type)
    raise ValidationFailed(("body", file_part), "Field required", "missing")


class Multipart(Generic[Model]):
    """A multipart body: `file`, the streamed file part, and `form`, the other fields, validated once the
    body has ended (read `file` first)."""

    def __init__(
        self,
        parts: _Parts,
        fields: _Fields,
        model: type[Model],
        file_part: str,
        *,
        filename: str | None,
        content_type: str,
    ) -> None:
        self._parts = parts
        self._fields = fields
        self._model = model
        self._file_part = file_part
        self._form: Model | None = None
        self.file = Upload(self._file_then_fields(), filename=filename, content_type=content_type)

    @property
    def complete(self) -> bool:
        return self.file.complete

    @property
    def form(self) -> Model:
        if self._form is None:
            raise RuntimeError("the form fields are known once the file part has been read to its end")
        return self._form

    async def finish(self) -> None:
        await self.file.finish()

    async def _file_then_fields(self) -> AsyncIterator[bytes]:
        """The file part's bytes; then the rest of the body (the fields after the file), and the form
        validated."""
        parts = self._parts
        while (event := await parts.next()) is not None and event[0] == "data":
            assert isinstance(event[1], bytes)
            if event[1]:
                yield event[1]
        while (event := await parts.next()) is not None:
            if event[0] != "part":
                continue
            name = _part(event[1])[0]
            if name == self._file_part:
                raise ValidationFailed(("body", name), "The field is sent more than once", "value_error")
            await self._fields.read(parts, name)
        self._form = validate_form(self._model, self._fields.values)


def validate_form(model: type[Model], values: dict[str, str]) -> Model:
    """The form fields as the operation's model; 422 in the shape of any request validation error."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None
