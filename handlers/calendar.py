"""Operations of the Calendar tag: the events the caller organizes or attends, and their iCalendar export.

Reads are scoped (`calendar.get_visible`: 404 for an event the caller neither organizes nor attends); the
organizer's rights are checked next (403). Times come in with any offset and are kept in UTC, to the
millisecond (the column's precision); all-day events are whole dates (see `_all_day`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from icalendar import Calendar, Event, vCalAddress, vText
from pydantic import MISSING

from generated import models
from generated.routers.calendar import ExportCalendar200Response, ExportCalendarResponse
from halolight import authz
from halolight.context import AuthContext
from halolight.db.models import AttendeeStatus, User
from halolight.errors import Conflict, Forbidden, NotFound, ValidationFailed
from halolight.repositories import calendar, notifications

NOT_FOUND = "Event not found"
# The longest range a list or an export covers: a year, leap day included.
MAX_RANGE = timedelta(days=366)
MAX_EVENTS_EXPORTED = 1000
EXPORT_DEFAULT_PAST = timedelta(days=30)
# The times an event may have (the spec's `CalendarTime`): Python's whole range but a day at each end, which
# an offset (under a day) or an all-day rounding (a day) could cross.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)
_DAY = timedelta(days=1)
# iCalendar's participation status for each of ours (RFC 5545 §3.2.12).
_PARTSTAT = {"PENDING": "NEEDS-ACTION", "ACCEPTED": "ACCEPTED", "DECLINED": "DECLINED"}


async def list_calendar_events(
    ctx: AuthContext, *, start: datetime, end: datetime, limit: int
) -> models.CalendarEventList:
    start, end = _range(start, end)
    rows = await calendar.list_in_range(ctx.reads, ctx.user_id, start=start, end=end, limit=limit + 1)
    return models.CalendarEventList(
        data=[_event(ctx, row) for row in rows[:limit]], hasMore=len(rows) > limit
    )


async def get_calendar_event(ctx: AuthContext, *, id: str) -> models.CalendarEvent:
    return _event(ctx, await _visible_or_404(ctx, id))


async def create_calendar_event(
    ctx: AuthContext, *, body: models.CalendarEventCreate
) -> models.CalendarEvent:
    all_day = body.isAllDay is not MISSING and body.isAllDay
    start_at, end_at = _times(body.startTime, body.endTime, all_day=all_day)
    event_id = await calendar.create(
        ctx.db,
        owner_id=ctx.user_id,
        title=body.title,
        description=_sent(body.description),
        type=calendar.DEFAULT_TYPE if body.type is MISSING else body.type,
        start_at=start_at,
        end_at=end_at,
        all_day=all_day,
        location=_sent(body.location),
        color=_sent(body.color),
    )
    return await _answer(ctx, event_id)


async def update_calendar_event(
    ctx: AuthContext, *, id: str, body: models.CalendarEventUpdate
) -> models.CalendarEvent:
    row = await _organized(ctx, id)
    sent = {name: value for name, value in body.model_dump().items() if value is not MISSING}
    changes: dict[str, Any] = {
        column: sent[field]
        for field, column in (
            ("title", "title"),
            ("description", "description"),
            ("type", "type"),
            ("location", "location"),
            ("color", "color"),
        )
        if field in sent
    }
    all_day = sent.get("isAllDay", row.all_day)
    if "startTime" in sent or "endTime" in sent or all_day != row.all_day:
        changes["start_at"], changes["end_at"] = _times(
            sent.get("startTime", row.start_at),
            sent.get("endTime", row.end_at),
            all_day=all_day,
            # A refusal names a field that was sent: the stored end is not one.
            later="endTime" if "endTime" in sent or "startTime" not in sent else "startTime",
        )
        changes["all_day"] = all_day
    if changes:
        await calendar.change(ctx.db, id, **changes)
    return await _answer(ctx, id)


async def reschedule_calendar_event(
    ctx: AuthContext, *, id: str, body: models.CalendarEventReschedule
) -> models.CalendarEvent:
    row = await _organized(ctx, id)
    start_at, end_at = _times(body.startTime, body.endTime, all_day=row.all_day)
    await calendar.change(ctx.db, id, start_at=start_at, end_at=end_at)
    return await _answer(ctx, id)


async def add_calendar_event_attendee(
    ctx: AuthContext, *, id: str, body: models.CalendarAttendeeAdd
) -> models.CalendarEvent:
    row = await _organized(ctx, id)
    if body.userId == row.owner_id:
        raise ValidationFailed(
            ("body", "userId"), "The organizer does not attend their own event", "self_reference"
        )
    await authz.referenced(ctx, User, "userId", [body.userId])
    status = AttendeeStatus.PENDING if body.status is MISSING else AttendeeStatus(body.status)
    if not await calendar.add_attendee(ctx.db, id, body.userId, status):
        raise Conflict("This user already attends the event")
    await notifications.notify(
        ctx.db,
        [body.userId],
        type="calendar.invited",
        title=f"Invitation: {row.title}",
        content=f"{row.owner_name} invited you to {row.title}",
        link=f"/calendar?eventId={id}",
        payload={
            "eventId": id,
            "startTime": _iso(row.start_at),
            "endTime": _iso(row.end_at),
            "isAllDay": row.all_day,
        },
    )
    return await _answer(ctx, id)


async def remove_calendar_event_attendee(ctx: AuthContext, *, id: str, attendee_id: str) -> None:
    row = await _visible_or_404(ctx, id)
    if row.owner_id != ctx.user_id and attendee_id != ctx.user_id:
        raise Forbidden("Only the organizer removes other attendees")
    await calendar.remove_attendee(ctx.db, id, attendee_id)


async def delete_calendar_event(ctx: AuthContext, *, id: str) -> None:
    await _organized(ctx, id)
    await calendar.delete_one(ctx.db, id)


async def delete_calendar_events(
    ctx: AuthContext, *, body: models.BatchDeleteRequest
) -> models.BatchDeleteResult:
    deleted = await calendar.delete_owned(ctx.db, ctx.user_id, list(dict.fromkeys(body.ids)))
    return models.BatchDeleteResult(message=f"Deleted {deleted} events", deleted_count=deleted)


async def export_calendar(
    ctx: AuthContext, *, start: datetime | None, end: datetime | None
) -> ExportCalendarResponse:
    if start is None:
        start = _whole_ms(datetime.now(UTC) - EXPORT_DEFAULT_PAST)
    if end is None:
        end = min(_utc(start, ("query", "start")) + MAX_RANGE, LATEST)
    start, end = _range(start, end)
    rows = await calendar.list_in_range(
        ctx.reads, ctx.user_id, start=start, end=end, limit=MAX_EVENTS_EXPORTED
    )
    data = _icalendar(ctx, rows)

    async def once() -> AsyncIterator[bytes]:
        yield data

    return ExportCalendar200Response(
        content=once(),
        content_disposition='attachment; filename="halolight.ics"',
        content_length=len(data),
    )


# --- Rules ------------------------------------------------------------------------------------------------


async def _visible_or_404(ctx: AuthContext, event_id: str) -> Any:
    row = await calendar.get_visible(ctx.reads, ctx.user_id, event_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


async def _organized(ctx: AuthContext, event_id: str) -> Any:
    """404 unless visible, 403 unless the caller organizes it; the row stays locked until the change commits,
    so the stored times a change merges with are the current ones."""
    await calendar.lock(ctx.db, event_id)
    row = await _visible_or_404(ctx, event_id)
    if row.owner_id != ctx.user_id:
        raise Forbidden("Only the event's organizer can do this")
    return row


def _utc(value: datetime, loc: tuple[str, str]) -> datetime:
    """`value` in UTC, if within the times an event may have (422 at `loc` otherwise)."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # an offset that crosses year 1 or 9999
        utc = LATEST
    if not EARLIEST <= utc < LATEST:
        raise ValidationFailed(loc, "Must lie from 0001-01-02 to 9999-12-30 in UTC", "out_of_range")
    return utc


def _whole_ms(value: datetime) -> datetime:
    """Cut to the millisecond the column keeps (PostgreSQL would round), so what is answered is what is
    stored and compared."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start_utc, end_utc = _utc(start, ("query", "start")), _utc(end, ("query", "end"))
    if end_utc <= start_utc:
        raise ValidationFailed(("query", "end"), "Must be after start", "range")
    if end_utc - start_utc > MAX_RANGE:
        raise ValidationFailed(("query", "end"), "Must be at most 366 days after start", "range")
    return start_utc, end_utc


def _times(
    start: datetime, end: datetime, *, all_day: bool, later: str = "endTime"
) -> tuple[datetime, datetime]:
    """The UTC times to store: `endTime` after `startTime` (422 at `later`), each within bounds; for an
    all-day event, whole dates (`_all_day`)."""
    start_utc, end_utc = _utc(start, ("body", "startTime")), _utc(end, ("body", "endTime"))
    if end_utc <= start_utc:
        message = "Must be after startTime" if later == "endTime" else "Must be before endTime"
        raise ValidationFailed(("body", later), message, "range")
    if all_day:
        return _all_day(start, end)
    return _whole_ms(start_utc), _whole_ms(end_utc)


def _all_day(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Whole dates as midnight UTC: the dates of `start` and `end` as written, in their own offsets (9:00 on
    5 December in Shanghai is 5 December, although it is still the 4th in UTC); `end` exclusive, rounded up
    to the next midnight when it is not one, and at least a day after `start`."""
    first: date = start.date()
    last: date = end.date() if end.timetz().replace(tzinfo=None) == time() else end.date() + _DAY
    last = max(last, first + _DAY)
    return datetime.combine(first, time(), UTC), datetime.combine(last, time(), UTC)


def _sent(value: Any) -> Any:
    return None if value is MISSING else value


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def _answer(ctx: AuthContext, event_id: str) -> models.CalendarEvent:
    row = await calendar.get_visible(ctx.reads, ctx.user_id, event_id)
    assert row is not None  # written by this transaction, which reads see
    return _event(ctx, row)


def _person(ctx: AuthContext, user_id: str, name: str, email: str, avatar: str | None) -> models.UserSummary:
    """A user's summary: the email is contact data (`users:view`, or the caller themself)."""
    return models.UserSummary(
        id=user_id, name=name, email=email if authz.sees_email_of(ctx, user_id) else None, avatar=avatar
    )


def _event(ctx: AuthContext, row: Any) -> models.CalendarEvent:
    """A row of `calendar.get_visible` / `list_in_range`."""
    return models.CalendarEvent(
        id=row.id,
        title=row.title,
        description=row.description,
        type=row.type,
        startTime=row.start_at,
        endTime=row.end_at,
        location=row.location,
        isAllDay=row.all_day,
        color=row.color,
        organizer=_person(ctx, row.owner_id, row.owner_name, row.owner_email, row.owner_avatar),
        attendees=[
            models.CalendarAttendee(
                id=a["id"],
                user=_person(ctx, a["id"], a["name"], a["email"], a["avatar"]),
                status=models.CalendarAttendeeStatus(a["status"]),
            )
            for a in row.attendees
        ],
        createdAt=row.created_at,
        updatedAt=row.updated_at,
    )


# --- iCalendar (RFC 5545), written with the `icalendar` library -------------------------------------------


def _address(person: models.UserSummary) -> vCalAddress:
    """A `cal-address`: `mailto:` the email when the caller may see it, else a URI naming the user."""
    uri = f"mailto:{person.email}" if person.email else f"urn:halolight:user:{person.id}"
    address = vCalAddress(uri)
    address.params["CN"] = vText(person.name)
    return address


def _next_second(value: datetime) -> datetime:
    """iCalendar times are whole seconds: an end is rounded up, so it stays after its start."""
    whole = value.replace(microsecond=0)
    return whole if whole == value else whole + timedelta(seconds=1)


def _icalendar(ctx: AuthContext, rows: list[Any]) -> bytes:
    calendar_object = Calendar()
    calendar_object.add("prodid", "-//HaloLight//HaloLight API//EN")
    calendar_object.add("version", "2.0")
    calendar_object.add("calscale", "GREGORIAN")
    calendar_object.add("method", "PUBLISH")
    stamp = _whole_ms(datetime.now(UTC)).replace(microsecond=0)
    for row in rows:
        event = _event(ctx, row)
        item = Event()
        item.add("uid", f"{event.id}@halolight")
        item.add("dtstamp", stamp)
        if event.isAllDay:
            item.add("dtstart", event.startTime.date())
            item.add("dtend", event.endTime.date())
        else:
            item.add("dtstart", event.startTime.replace(microsecond=0))
            item.add("dtend", _next_second(event.endTime))
        item.add("summary", event.title)
        if event.description:
            item.add("description", event.description)
        if event.location:
            item.add("location", event.location)
        item.add("categories", [event.type])
        item.add("created", event.createdAt.replace(microsecond=0))
        item.add("last-modified", event.updatedAt.replace(microsecond=0))
        item.add("organizer", _address(event.organizer))
        for attendee in event.attendees:
            address = _address(attendee.user)
            address.params["ROLE"] = "REQ-PARTICIPANT"
            address.params["PARTSTAT"] = _PARTSTAT[attendee.status.value]
            item.add("attendee", address)
        calendar_object.add_component(item)
    data: bytes = calendar_object.to_ical()
    return data
