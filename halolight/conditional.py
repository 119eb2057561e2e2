"""Conditional and ranged requests (RFC 9110 §13, §14), written once for every download and guarded write.

Handlers call these with the header values their operation declares as parameters (`Range`, `If-Range`,
`If-None-Match`, `If-Match`) and the resource's current validator; they raise the matching `halolight.errors`
(412, 416, 428) or tell which answer to build (304, 206, 200). The header grammar is Werkzeug's
(`werkzeug.http`); what to do with it is RFC 9110's:

- `If-None-Match` compares weakly (§13.1.2): `W/"a"` matches `"a"`; `*` matches any current representation.
- `If-Match` compares strongly (§13.1.1): a weak validator never matches; `*` matches any.
- `Range` (§14.2): one range, `a-b`, `a-` or the suffix `-n`. Several ranges, another unit or bad syntax
  are ignored (the whole representation, 200), as the RFC allows; a range that starts past the end is
  416 with `Content-Range: bytes */N`. `If-Range` (§13.1.5) keeps the range only when its entity tag matches
  strongly (or its date equals `last_modified`); otherwise the answer is the whole representation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from werkzeug.http import parse_etags, parse_if_range_header, parse_range_header, quote_etag, unquote_etag

from halolight.errors import PreconditionFailed, PreconditionRequired, RangeNotSatisfiable

__all__ = ["ByteRange", "entity_tag", "if_match", "if_none_match", "requested_range"]


def entity_tag(value: str, *, weak: bool = False) -> str:
    """The `ETag` header value of an opaque version string (a content hash, a row's update time)."""
    return quote_etag(value, weak)


def _current(etag: str) -> tuple[str, bool]:
    tag, weak = unquote_etag(etag)
    if tag is None:
        raise ValueError(f"not an entity tag: {etag!r}")
    return tag, weak


def if_none_match(header: str | None, etag: str) -> bool:
    """True when `If-None-Match` matches the current `etag`: a GET or HEAD then answers 304."""
    if header is None:
        return False
    tags = parse_etags(header)
    return tags.star_tag or tags.contains_weak(_current(etag)[0])


def if_match(header: str | None, etag: str, *, required: bool) -> None:
    """Refuse a change unless `If-Match` names the current representation: 412 when it does not, 428 when it
    is missing and the operation requires it (the spec's `required: true` on the parameter)."""
    if header is None:
        if required:
            raise PreconditionRequired()
        return
    tags = parse_etags(header)
    tag, weak = _current(etag)
    if tags.star_tag or (not weak and tags.contains(tag)):
        return
    raise PreconditionFailed()


@dataclass(frozen=True)
class ByteRange:
    """Bytes `start` to `stop` (exclusive) of a representation of `size` bytes."""

    start: int
    stop: int
    size: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{self.size}"


def _if_range_holds(header: str, etag: str, last_modified: datetime | None) -> bool:
    if header.lstrip().startswith("W/"):
        return False  # a weak tag never satisfies If-Range (strong comparison)
    parsed = parse_if_range_header(header)
    if parsed.etag is not None:
        tag, weak = _current(etag)
        return not weak and parsed.etag == tag
    return parsed.date is not None and last_modified is not None and parsed.date == last_modified


def requested_range(
    header: str | None,
    *,
    size: int,
    etag: str,
    if_range: str | None = None,
    last_modified: datetime | None = None,
) -> ByteRange | None:
    """The one byte range to send (a 206), or None for the whole representation (a 200).

    Raises `RangeNotSatisfiable` (416) for a well-formed single range that lies wholly past the end."""
    if header is None or (if_range is not None and not _if_range_holds(if_range, etag, last_modified)):
        return None
    parsed = parse_range_header(header)
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        return None
    start, stop = parsed.ranges[0]
    if start < 0:  # a suffix: the last -start bytes, or all of a shorter representation (§14.1.3)
        start, stop = max(size + start, 0), size
    else:
        stop = size if stop is None else min(stop, size)
    if start >= size:
        raise RangeNotSatisfiable(size)
    return ByteRange(start, stop, size)
