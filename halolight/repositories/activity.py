"""The activity log (`activity_logs`): the one INSERT every mutating request makes, and its reads.

Rows are written by the request context (`halolight/context.py`, `PublicContext.run`) from the operation's
`x-activity` in the spec, after the handler returned and before the commit: a request that fails writes none.
The dashboard reads them (`halolight/repositories/dashboard.py`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import ActivityLog
from halolight.db.types import new_id

_INSERT = insert(ActivityLog)


async def record(
    db: AsyncSession,
    *,
    actor_id: str,
    action: str,
    target_type: str,
    target_id: str,
    metadata: dict[str, Any] | None,
) -> None:
    await db.execute(
        _INSERT,
        {
            "id": new_id(),
            "actor_id": actor_id,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "metadata_": metadata or None,
        },
    )
