"""Permission matching: `*` grants everything, `<resource>:*` every verb of that resource."""

from __future__ import annotations

from collections.abc import Iterable


def grants(held: Iterable[str], required: str) -> bool:
    accepted = {"*", required, required.split(":", 1)[0] + ":*"}
    return any(permission in accepted for permission in held)
