"""Permission matching: `*` grants everything, `<resource>:*` every verb of that resource."""

from __future__ import annotations

from collections.abc import Iterable


def grants(held: Iterable[str], required: str) -> bool:
    resource = required.split(":", 1)[0]
    for permission in held:
        if permission in ("*", required, f"{resource}:*"):
            return True
    return False
