"""Indexes for the Calendar lists: one user's events overlapping a range, owned and attended.

`GET /api/calendar/events` (and the iCalendar export) read the events a user organizes that overlap a range
(`"startAt" < :end AND "endAt" > :start`) and the events they attend. The shared schema indexes
`calendar_events."ownerId"` alone (every event the owner ever had, filtered row by row) and
`event_attendees` only by its primary key `("eventId", "userId")`, useless for "the events of this user".

- `("ownerId", "endAt", "startAt")`: one index range, the owner's events that end after the range starts
  (calendars hold more past than future), with `startAt` checked in the index, not in the rows.
- `event_attendees ("userId", "eventId")`: the events a user attends, an index range; the events themselves
  are then read by primary key.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNER_RANGE = "halolight_calendar_events_owner_end_start"
ATTENDING = "halolight_event_attendees_user_event"


def upgrade() -> None:
    op.execute(f'CREATE INDEX IF NOT EXISTS {OWNER_RANGE} ON calendar_events ("ownerId", "endAt", "startAt")')
    op.execute(f'CREATE INDEX IF NOT EXISTS {ATTENDING} ON event_attendees ("userId", "eventId")')


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {ATTENDING}")
    op.execute(f"DROP INDEX IF EXISTS {OWNER_RANGE}")
