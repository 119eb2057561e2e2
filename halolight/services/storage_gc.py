"""`halolight storage gc` (halolight/cli.py): where stored bytes and `files` rows disagree, both ways.

- Objects under `files/` that no `files.path` names (a crash between the upload and its row, a lost
  after-commit delete). Objects younger than the grace period are left alone: an upload in flight has its
  bytes before its row commits. These are removed only when asked (`--yes`).
- Rows whose key has no object (bytes lost or deleted by hand). Reported only: a row is someone's file,
  and deciding what to do with it is a person's call. Rows created after the listing began are not
  judged, since their bytes may have arrived after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from halolight.repositories import files
from halolight.storage.base import FILES_PREFIX, ObjectInfo, Storage

LOOKUP_BATCH = 1000


@dataclass
class GcReport:
    objects: int = 0
    orphans: list[ObjectInfo] = field(default_factory=list)  # old enough to remove
    young_orphans: list[ObjectInfo] = field(default_factory=list)  # inside the grace period: left alone
    rows_without_bytes: list[Any] = field(default_factory=list)  # rows of `files.created_before`
    removed: int = 0


async def collect(storage: Storage, db: AsyncSession, *, grace: timedelta, remove: bool = False) -> GcReport:
    """Compare the store with the table (the stored keys are held in memory: about 100 bytes each) and,
    with `remove`, delete the orphan objects that are older than `grace`."""
    started = datetime.now(UTC)
    stored: dict[str, ObjectInfo] = {}
    async for info in storage.keys(FILES_PREFIX):
        stored[info.key] = info
    report = GcReport(objects=len(stored))
    keys = list(stored)
    for first in range(0, len(keys), LOOKUP_BATCH):
        batch = keys[first : first + LOOKUP_BATCH]
        referenced = await files.referenced_paths(db, batch)
        for key in batch:
            if key not in referenced:
                old = stored[key].modified <= started - grace
                (report.orphans if old else report.young_orphans).append(stored[key])
    async for row in files.created_before(db, started):
        if row.path not in stored:
            report.rows_without_bytes.append(row)
    if remove and report.orphans:
        await storage.delete_many(info.key for info in report.orphans)
        report.removed = len(report.orphans)
    return report
