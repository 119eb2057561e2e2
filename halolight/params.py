"""Helpers the generated routes use to bind parameters that pydantic cannot bind from text on its own."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from enum import Enum

_INTEGER = re.compile(r"^[+-]?[0-9]{1,18}$")
# RFC 3339's date-time (JSON Schema's `format: date-time`) starts with a full date, `T` and hours:minutes.
_DATE_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}")


def date_time_text(value: object) -> object:
    """`format: date-time` is text in RFC 3339's shape. Pydantic's lax datetime also takes a number of
    seconds since 1970, as a number or as text (`0.5`), which the contract does not: refused (422) before
    it parses. Everything else is left to `AwareDatetime` (a value without an offset is refused there)."""
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        raise ValueError("must be an ISO 8601 date-time with an offset, such as 2026-12-05T09:30:00+08:00")
    return value


def integer_text(value: object) -> object:
    """Query and header values are text, and pydantic does not coerce "2" into an integer enum
    (`Literal[1, 2, 3]`). Integers in text are converted; anything else is left for the Literal to refuse
    with its usual message, which does not echo the value."""
    if isinstance(value, str) and _INTEGER.match(value):
        return int(value)
    return value


def any_case(choices: Iterable[object]) -> Callable[[object], object]:
    """A validator for a query parameter's string enum (`Literal[...]` or a generated `Enum`) that accepts
    its values in any case: `suspended` becomes `SUSPENDED`. An exact match wins; a value that matches
    no choice, or several without regard to case, is left for the enum to refuse with its usual message."""
    values = [c.value if isinstance(c, Enum) else c for c in choices]
    exact = {v for v in values if isinstance(v, str)}
    folded: dict[str, str | None] = {}
    for value in exact:
        key = value.casefold()
        folded[key] = value if key not in folded else None  # None: ambiguous without regard to case

    def canonical(value: object) -> object:
        if isinstance(value, str) and value not in exact:
            match = folded.get(value.casefold())
            return value if match is None else match
        return value

    return canonical
