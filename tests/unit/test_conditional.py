"""Conditional and ranged requests (halolight/conditional.py) against RFC 9110's examples and edge cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from halolight.conditional import ByteRange, entity_tag, if_match, if_none_match, requested_range
from halolight.errors import PreconditionFailed, PreconditionRequired, RangeNotSatisfiable

STRONG = entity_tag("abc")
WEAK = entity_tag("abc", weak=True)


def test_entity_tags() -> None:
    assert STRONG == '"abc"'
    assert WEAK == 'W/"abc"'


@pytest.mark.parametrize(
    ("header", "current", "matches"),
    [
        (None, STRONG, False),
        ('"abc"', STRONG, True),
        ('W/"abc"', STRONG, True),  # weak comparison (RFC 9110 §13.1.2)
        ('"abc"', WEAK, True),
        ('"x", "abc"', STRONG, True),
        ("*", STRONG, True),
        ('"abd"', STRONG, False),
        ("garbage", STRONG, False),
    ],
)
def test_if_none_match_compares_weakly(header: str | None, current: str, matches: bool) -> None:
    assert if_none_match(header, current) is matches


def test_if_match_compares_strongly() -> None:
    if_match('"abc"', STRONG, required=True)
    if_match('"x", "abc"', STRONG, required=True)
    if_match("*", STRONG, required=True)
    if_match(None, STRONG, required=False)
    with pytest.raises(PreconditionFailed):
        if_match('W/"abc"', STRONG, required=True)  # a weak tag never matches strongly (§13.1.1)
    with pytest.raises(PreconditionFailed):
        if_match('"abc"', WEAK, required=True)
    with pytest.raises(PreconditionFailed):
        if_match('"old"', STRONG, required=False)
    with pytest.raises(PreconditionRequired):
        if_match(None, STRONG, required=True)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", ByteRange(0, 10, 100)),
        ("bytes=90-", ByteRange(90, 100, 100)),
        ("bytes=-10", ByteRange(90, 100, 100)),  # the last 10 bytes
        ("bytes=-500", ByteRange(0, 100, 100)),  # a suffix longer than the file: all of it
        ("bytes=50-500", ByteRange(50, 100, 100)),  # the end is clipped
        ("bytes=99-99", ByteRange(99, 100, 100)),
        (None, None),
        ("bytes=0-1,5-6", None),  # several ranges: ignored, the whole file
        ("items=0-1", None),  # another unit: ignored
        ("bytes=x-y", None),  # bad syntax: ignored
        ("bytes=9-3", None),  # last before first: invalid, ignored
    ],
)
def test_one_range(header: str | None, expected: ByteRange | None) -> None:
    assert requested_range(header, size=100, etag=STRONG) == expected


def test_a_range_past_the_end_is_416_with_the_length() -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        requested_range("bytes=100-", size=100, etag=STRONG)
    assert caught.value.status == 416
    assert caught.value.headers == {"Content-Range": "bytes */100"}
    with pytest.raises(RangeNotSatisfiable):
        requested_range("bytes=0-", size=0, etag=STRONG)  # an empty file has no satisfiable range


def test_content_range() -> None:
    part = requested_range("bytes=10-49", size=100, etag=STRONG)
    assert part is not None
    assert (part.length, part.content_range) == (40, "bytes 10-49/100")


def test_if_range_keeps_the_range_only_for_the_same_representation() -> None:
    modified = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    same = requested_range("bytes=0-9", size=100, etag=STRONG, if_range='"abc"')
    assert same == ByteRange(0, 10, 100)
    assert requested_range("bytes=0-9", size=100, etag=STRONG, if_range='"old"') is None
    assert requested_range("bytes=0-9", size=100, etag=STRONG, if_range='W/"abc"') is None
    assert requested_range("bytes=0-9", size=100, etag=WEAK, if_range='"abc"') is None
    by_date = "Tue, 01 Dec 2026 08:00:00 GMT"
    kept = requested_range("bytes=0-9", size=100, etag=STRONG, if_range=by_date, last_modified=modified)
    assert kept == ByteRange(0, 10, 100)
    assert requested_range("bytes=0-9", size=100, etag=STRONG, if_range=by_date) is None
    # A changed representation gets all of it, even where the range would not be satisfiable.
    assert requested_range("bytes=500-", size=100, etag=STRONG, if_range='"old"') is None
