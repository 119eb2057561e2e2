"""Helpers the generated routes use to bind parameters that pydantic cannot bind from text on its own."""

from __future__ import annotations

import re

_INTEGER = re.compile(r"^[+-]?[0-9]{1,18}$")


def integer_text(value: object) -> object:
    """Query and header values are text, and pydantic does not coerce "2" into an integer enum
    (`Literal[1, 2, 3]`). Integers in text are converted; anything else is left for the Literal to refuse
    with its usual message, which does not echo the value."""
    if isinstance(value, str) and _INTEGER.match(value):
        return int(value)
    return value
