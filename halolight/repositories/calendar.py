"""Calendar events (`calendar_events`) and their attendees (`event_attendees`).

Who sees an event: its owner (the organizer) and its attendees; every read here is scoped to that, so an event
the caller may not see is read as absent. The organizer sees every attendee, an attendee only their own
attendance: the attendee list is built in the row's own statement under that rule (no query per event).

Times are `timestamp(3)` holding UTC (the shared schema's convention). Ranges are half-open: an event overlaps
`[start, end)` when it starts before `end` and ends after `start`. The lists read through migration 0011's
indexes (`("ownerId", "endAt", "startAt")` and `event_attendees ("userId", "eventId")`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    Text,
    bindparam,
    cast,
    delete,
    func,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from halolight.db.models import AttendeeStatus, CalendarEvent, EventAttendee, User
from halolight.db.reads import Reads, Statement
from halolight.db.types import UtcDateTime, utcnow
from halolight.repositories import writes

# `calendar_events.type` when the client names none (the column is NOT NULL free text in the shared schema).
DEFAULT_TYPE = "event"

_Attendee = aliased(User, name="attendee_user")


def _me(user_id: str | None = None) -> BindParameter[str]:
    """The caller's id, one parameter for every place a statement names it."""
    if user_id is None:
        return bindparam("user_id", type_=Text)
    return bindparam("user_id", user_id, type_=Text)


def _attendees(me: ColumnElement[str], event: Any) -> Any:
    """The event's attendees the caller may see, as JSON `[{id, name, email, avatar, status}]` in the order
    they were added: all of them for the organizer, the caller's own attendance for an attendee."""
    entry = func.json_build_object(
        "id",
        EventAttendee.user_id,
        "name",
        _Attendee.name,
        "email",
        _Attendee.email,
        "avatar",
        _Attendee.avatar,
        "status",
        cast(EventAttendee.status, Text),
    )
    return (
        select(
            func.coalesce(
                func.json_agg(aggregate_order_by(entry, EventAttendee.created_at, EventAttendee.user_id)),
                literal_column("'[]'::json"),
            )
        )
        .select_from(EventAttendee)
        .join(_Attendee, _Attendee.id == EventAttendee.user_id)
        .where(
            EventAttendee.event_id == event.id,
            or_(event.owner_id == me, EventAttendee.user_id == me),
        )
        .scalar_subquery()
    )


def _row_columns(me: ColumnElement[str], event: Any) -> tuple[Any, ...]:
    return (
        event.id.label("id"),
        event.title.label("title"),
        event.description.label("description"),
        event.type.label("type"),
        event.start_at.label("start_at"),
        event.end_at.label("end_at"),
        event.all_day.label("all_day"),
        event.location.label("location"),
        event.color.label("color"),
        event.owner_id.label("owner_id"),
        User.name.label("owner_name"),
        User.email.label("owner_email"),
        User.avatar.label("owner_avatar"),
        event.created_at.label("created_at"),
        event.updated_at.label("updated_at"),
        _attendees(me, event).label("attendees"),
    )


def _rows(me: ColumnElement[str], event: Any = CalendarEvent) -> Select[Any]:
    """Events (`event`: the table, or an alias of a subquery of its rows) as the answers show them."""
    return select(*_row_columns(me, event)).join(User, User.id == event.owner_id)


def _attends(me: ColumnElement[str]) -> ColumnElement[bool]:
    return CalendarEvent.id.in_(select(EventAttendee.event_id).where(EventAttendee.user_id == me))


_ME = _me()
_ONE = Statement(
    _rows(_ME).where(
        CalendarEvent.id == bindparam("id", type_=Text),
        or_(CalendarEvent.owner_id == _ME, _attends(_ME)),
    )
)


async def get_visible(reads: Reads, user_id: str, event_id: str) -> Any | None:
    """The event as a row of `_rows` (organizer summary, attendees as JSON), if the caller organizes or
    attends it."""
    return await _ONE.first(reads, id=event_id, user_id=user_id)


def _overlapping() -> ColumnElement[bool]:
    start = bindparam("start", type_=UtcDateTime())
    end = bindparam("end", type_=UtcDateTime())
    return (CalendarEvent.start_at < end) & (CalendarEvent.end_at > start)


def _in_range(me: ColumnElement[str]) -> Select[Any]:
    """The events the caller organizes or attends that overlap the range, whole rows: two index ranges
    (owner, attendee) and nothing read twice. An organizer listed as an attendee of their own event (which
    another backend could write) finds it in the first part only."""
    owned = select(CalendarEvent).where(CalendarEvent.owner_id == me, _overlapping())
    # The attended ones by primary key from the caller's attendances (an array, so the plan starts from
    # them, not from a scan of everyone's events in the range).
    my_events = func.array(
        select(EventAttendee.event_id).where(EventAttendee.user_id == me).scalar_subquery()
    )
    attended = select(CalendarEvent).where(
        CalendarEvent.id == func.any(my_events), CalendarEvent.owner_id != me, _overlapping()
    )
    event = aliased(CalendarEvent, union_all(owned, attended).subquery("in_range"))
    return _rows(me, event).order_by(event.start_at, event.id).limit(bindparam("limit"))


_IN_RANGE = Statement(_in_range(_ME))


async def list_in_range(
    reads: Reads, user_id: str, *, start: datetime, end: datetime, limit: int
) -> list[Any]:
    """At most `limit` rows of `_rows` the caller sees overlapping `[start, end)`, the earliest first; one
    statement whatever their number (attendees in the rows)."""
    return await _IN_RANGE.rows(reads, user_id=user_id, start=start, end=end, limit=limit)


# --- Writes: the request's transaction (ctx.db) -----------------------------------------------------------


async def lock(db: AsyncSession, event_id: str) -> None:
    """Hold the event's row until the transaction ends: a change reads and writes the version it locked (an
    update merging sent times with stored ones cannot interleave with a reschedule)."""
    await db.execute(select(CalendarEvent.id).where(CalendarEvent.id == event_id).with_for_update())


async def create(db: AsyncSession, *, owner_id: str, **fields: Any) -> str:
    """`fields`: column attributes of `CalendarEvent` (title, description, type, start_at, end_at, all_day,
    location, color)."""
    event_id = await db.scalar(
        insert(CalendarEvent).values(owner_id=owner_id, **fields).returning(CalendarEvent.id)
    )
    assert event_id is not None
    return str(event_id)


async def change(db: AsyncSession, event_id: str, **fields: Any) -> None:
    """Set `fields` (column attributes of `CalendarEvent`) and `updatedAt`."""
    await db.execute(
        update(CalendarEvent)
        .where(CalendarEvent.id == event_id)
        .values(**fields, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def add_attendee(db: AsyncSession, event_id: str, user_id: str, status: AttendeeStatus) -> bool:
    """Whether `user_id` was added (False: they already attend). One statement, so two concurrent adds of
    the same person cannot both succeed."""
    added = await db.scalar(
        insert(EventAttendee)
        .values(event_id=event_id, user_id=user_id, status=status)
        .on_conflict_do_nothing(index_elements=[EventAttendee.event_id, EventAttendee.user_id])
        .returning(EventAttendee.user_id)
    )
    return added is not None


async def remove_attendee(db: AsyncSession, event_id: str, user_id: str) -> bool:
    """Whether `user_id` attended (and no longer does)."""
    gone = await db.scalar(
        delete(EventAttendee)
        .where(EventAttendee.event_id == event_id, EventAttendee.user_id == user_id)
        .returning(EventAttendee.user_id)
        .execution_options(synchronize_session=False)
    )
    return gone is not None


async def delete_one(db: AsyncSession, event_id: str) -> None:
    # The database cascades to event_attendees and event_reminders.
    await db.execute(
        delete(CalendarEvent).where(CalendarEvent.id == event_id).execution_options(synchronize_session=False)
    )


async def delete_owned(db: AsyncSession, owner_id: str, event_ids: Sequence[str]) -> int:
    """Delete those of `event_ids` that `owner_id` organizes; how many went."""
    return await writes.delete_owned(db, CalendarEvent, owner_id, event_ids)
