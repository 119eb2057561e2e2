"""Calendar over HTTP, through the real app and a real PostgreSQL.

Every event here belongs to a freshly registered user (role USER: `calendar:view` and `calendar:edit`, not
`users:view`), and the times of each test lie in a year of its own far in the future, so the tests depend
neither on each other nor on other modules' rows.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from icalendar import Calendar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

import handlers.calendar
from halolight.db.reads import STATEMENT_LISTENERS, SessionReads
from halolight.repositories import calendar
from tests.api.helpers import ADMIN, EDITOR, Person, auth_headers, caller_with, person

pytestmark = pytest.mark.asyncio

EVENT_KEYS = {
    "id", "title", "description", "type", "startTime", "endTime", "location", "isAllDay", "color",
    "organizer", "attendees", "createdAt", "updatedAt",
}  # fmt: skip
NOT_FOUND = {"detail": "Event not found"}
_years = itertools.count(2300)


def year() -> int:
    """A year of the test's own: no other test has events in it."""
    return next(_years)


async def create(
    client: httpx.AsyncClient,
    owner: Person,
    start: str,
    end: str,
    title: str = "Sync",
    **fields: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/api/calendar/events",
        json={"title": title, "startTime": start, "endTime": end, **fields},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def invite(
    client: httpx.AsyncClient, owner: Person, event_id: str, user: Person, **fields: Any
) -> httpx.Response:
    return await client.post(
        f"/api/calendar/events/{event_id}/attendees",
        json={"userId": user.id, **fields},
        headers=owner.headers,
    )


async def listed(client: httpx.AsyncClient, who: Person, start: str, end: str, **params: Any) -> list[str]:
    response = await client.get(
        "/api/calendar/events", params={"start": start, "end": end, **params}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    return [event["title"] for event in response.json()["data"]]


async def notifications_of(app: FastAPI, user_id: str) -> list[Any]:
    async with app.state.runtime.engine.connect() as connection:
        rows = await connection.execute(
            text('SELECT type, title, content, link, payload FROM notifications WHERE "userId" = :u'),
            {"u": user_id},
        )
        return list(rows.all())


def ical(data: bytes) -> Any:
    """The calendar parsed back by the library that wrote it (typed loosely: properties are many types)."""
    return Calendar.from_ical(data)


def _assert_422(response: httpx.Response, loc: list[str]) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


# --- Who may call what ------------------------------------------------------------------------------------

OPERATIONS = [
    ("GET", "/api/calendar/events?start=2030-01-01T00:00:00Z&end=2030-02-01T00:00:00Z", None),
    ("GET", "/api/calendar/export.ics", None),
    ("GET", "/api/calendar/events/{id}", None),
    ("POST", "/api/calendar/events", {"title": "x", "startTime": "2030-01-01T10:00:00Z",
                                      "endTime": "2030-01-01T11:00:00Z"}),
    ("PUT", "/api/calendar/events/{id}", {"title": "y"}),
    ("PATCH", "/api/calendar/events/{id}/reschedule", {"startTime": "2030-01-02T10:00:00Z",
                                                       "endTime": "2030-01-02T11:00:00Z"}),
    ("POST", "/api/calendar/events/{id}/attendees", {"userId": "{new}"}),
    ("DELETE", "/api/calendar/events/{id}/attendees/{user}", None),
    ("POST", "/api/calendar/events/batch-delete", {"ids": ["{id}"]}),
    ("DELETE", "/api/calendar/events/{id}", None),
]  # fmt: skip
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, real in ids.items():
            value = value.replace(f"{{{name}}}", real)
        return value
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


class TestAuthorizationMatrix:
    """Anonymous 401; without the permission 403; someone else's event 404; the organizer 2xx."""

    @pytest.mark.parametrize(("method", "path", "body"), OPERATIONS)
    async def test_each_operation(
        self, client: httpx.AsyncClient, app: FastAPI, method: str, path: str, body: Any
    ) -> None:
        owner, stranger = await person(client, app, role="VIEWER"), await person(client)
        guest, newcomer = await person(client), await person(client)
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        assert (await invite(client, owner, event["id"], guest)).status_code == 200
        ids = {"id": event["id"], "user": guest.id, "new": newcomer.id}
        url, payload = _fill(path, ids), _fill(body, ids)

        async def call(headers: dict[str, str]) -> httpx.Response:
            return await client.request(method, url, json=payload, headers=headers)

        assert (await call({})).status_code == 401
        admin = await auth_headers(client, ADMIN)
        needs = "calendar:edit" if method in WRITES else "calendar:view"
        without = await caller_with(client, admin, "documents:view", "calendar:view")
        if needs == "calendar:edit":
            assert (await call(without)).status_code == 403
        nothing = await caller_with(client, admin, "documents:view")
        assert (await call(nothing)).status_code == 403
        if "{id}" in path and "batch-delete" not in path:
            assert (await call(stranger.headers)).json() == NOT_FOUND
        elif "batch-delete" in path:  # skipped, not refused: nothing deleted
            assert (await call(stranger.headers)).json()["deleted_count"] == 0
        response = await call(owner.headers)
        assert response.status_code in (200, 201, 204), response.text


# --- Operations -------------------------------------------------------------------------------------------


class TestCreateCalendarEvent:
    async def test_times_with_offsets_come_back_in_utc(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        event = await create(
            client,
            owner,
            "2030-03-05T09:30:00+08:00",
            "2030-03-05T10:45:00.123456+08:00",
            description="Plan",
            location="Room A",
            color="#6366f1",
        )
        assert set(event) == EVENT_KEYS
        assert (event["startTime"], event["endTime"]) == (
            "2030-03-05T01:30:00Z",
            "2030-03-05T02:45:00.123000Z",
        )
        assert (event["type"], event["isAllDay"], event["attendees"]) == ("event", False, [])
        assert event["organizer"] == {
            "id": owner.id,
            "name": "Test User",
            "email": owner.email,
            "avatar": None,
        }
        assert (event["description"], event["location"], event["color"]) == ("Plan", "Room A", "#6366f1")

    async def test_an_all_day_event_keeps_the_dates_as_written(self, client: httpx.AsyncClient) -> None:
        """Midnight of 5 December in Shanghai is still the 4th in UTC: the date sent is the one kept, and the
        exclusive end is rounded up to the next midnight."""
        owner = await person(client)
        event = await create(
            client, owner, "2030-12-05T00:00:00+08:00", "2030-12-06T09:00:00+08:00", isAllDay=True
        )
        assert (event["startTime"], event["endTime"], event["isAllDay"]) == (
            "2030-12-05T00:00:00Z",
            "2030-12-07T00:00:00Z",
            True,
        )
        one_day = await create(
            client, owner, "2030-12-05T08:00:00-05:00", "2030-12-05T09:00:00-05:00", isAllDay=True
        )
        assert (one_day["startTime"], one_day["endTime"]) == ("2030-12-05T00:00:00Z", "2030-12-06T00:00:00Z")

    @pytest.mark.parametrize(
        ("start", "end"),
        [
            ("2030-01-01T10:00:00Z", "2030-01-01T10:00:00Z"),
            ("2030-01-01T10:00:00Z", "2030-01-01T09:59:59Z"),
            # The same instant written in two offsets: not after.
            ("2030-01-01T10:00:00Z", "2030-01-01T18:00:00+08:00"),
        ],
    )
    async def test_the_end_must_follow_the_start(
        self, client: httpx.AsyncClient, start: str, end: str
    ) -> None:
        owner = await person(client)
        response = await client.post(
            "/api/calendar/events",
            json={"title": "x", "startTime": start, "endTime": end},
            headers=owner.headers,
        )
        _assert_422(response, ["body", "endTime"])

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("startTime", "2030-01-01T10:00:00"),  # no offset
            ("startTime", "0001-01-01T12:00:00Z"),
            ("startTime", 0),  # seconds since 1970: not the contract's date-time
            ("startTime", "1700000000"),
            ("startTime", "2030-01-01"),
            ("startTime", "0001-01-01T00:30:00+01:00"),  # before year 1 in UTC: no 500
            ("endTime", "9999-12-31T00:00:00Z"),
            ("endTime", "9999-12-31T23:30:00-01:00"),
            ("color", "blue"),
            ("title", ""),
            ("title", "t" * 201),
            ("type", ""),
            ("location", "l" * 256),
            ("isAllDay", "yes"),
            ("ownerId", "someone"),
        ],
    )
    async def test_bad_input_is_422(self, client: httpx.AsyncClient, field: str, value: Any) -> None:
        owner = await person(client)
        body = {"title": "x", "startTime": "2030-01-01T10:00:00Z", "endTime": "2030-01-01T11:00:00Z"}
        response = await client.post(
            "/api/calendar/events", json={**body, field: value}, headers=owner.headers
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][:2] == ["body", field]


class TestListCalendarEvents:
    async def test_overlap_at_the_edges(self, client: httpx.AsyncClient) -> None:
        owner, y = await person(client), year()
        for title, start, end in [
            ("ends at start", f"{y}-05-01T08:00:00Z", f"{y}-05-01T10:00:00Z"),
            ("ends 1 ms after start", f"{y}-05-01T08:00:00Z", f"{y}-05-01T10:00:00.001Z"),
            ("inside", f"{y}-05-01T11:00:00Z", f"{y}-05-01T12:00:00Z"),
            ("spans the range", f"{y}-04-30T00:00:00Z", f"{y}-05-03T00:00:00Z"),
            ("starts 1 ms before end", f"{y}-05-01T13:59:59.999Z", f"{y}-05-01T15:00:00Z"),
            ("starts at end", f"{y}-05-01T14:00:00Z", f"{y}-05-01T15:00:00Z"),
        ]:
            await create(client, owner, start, end, title)
        titles = await listed(client, owner, f"{y}-05-01T10:00:00Z", f"{y}-05-01T14:00:00Z")
        assert titles == ["spans the range", "ends 1 ms after start", "inside", "starts 1 ms before end"]

    async def test_the_range_may_be_given_in_any_offset(self, client: httpx.AsyncClient) -> None:
        owner, y = await person(client), year()
        await create(client, owner, f"{y}-05-01T23:30:00Z", f"{y}-05-02T00:30:00Z", "late")
        # 2 May in Shanghai is 1 May 16:00 UTC to 2 May 16:00 UTC.
        assert await listed(client, owner, f"{y}-05-02T00:00:00+08:00", f"{y}-05-03T00:00:00+08:00") == [
            "late"
        ]
        assert await listed(client, owner, f"{y}-05-02T08:30:00+08:00", f"{y}-05-03T00:00:00+08:00") == []

    async def test_all_day_events_cover_their_dates(self, client: httpx.AsyncClient) -> None:
        owner, y = await person(client), year()
        await create(client, owner, f"{y}-06-10T00:00:00Z", f"{y}-06-11T00:00:00Z", "holiday", isAllDay=True)
        assert await listed(client, owner, f"{y}-06-10T12:00:00Z", f"{y}-06-10T13:00:00Z") == ["holiday"]
        assert await listed(client, owner, f"{y}-06-11T00:00:00Z", f"{y}-06-12T00:00:00Z") == []

    async def test_events_attended_are_listed_and_others_not(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, guest, stranger, y = (
            await person(client, app, role="VIEWER"),
            await person(client),
            await person(client),
            year(),
        )
        shown = await create(client, owner, f"{y}-02-01T10:00:00Z", f"{y}-02-01T11:00:00Z", "shown")
        await create(client, owner, f"{y}-02-01T12:00:00Z", f"{y}-02-01T13:00:00Z", "private")
        await create(client, stranger, f"{y}-02-01T09:00:00Z", f"{y}-02-01T10:30:00Z", "stranger's")
        assert (await invite(client, owner, shown["id"], guest)).status_code == 200
        mine = await create(client, guest, f"{y}-02-01T08:00:00Z", f"{y}-02-01T09:00:00Z", "guest's own")
        rng = (f"{y}-02-01T00:00:00Z", f"{y}-02-02T00:00:00Z")
        assert await listed(client, guest, *rng) == ["guest's own", "shown"]
        assert await listed(client, owner, *rng) == ["shown", "private"]
        response = await client.get(
            "/api/calendar/events", params={"start": rng[0], "end": rng[1]}, headers=guest.headers
        )
        by_title = {e["title"]: e for e in response.json()["data"]}
        assert [a["id"] for a in by_title["shown"]["attendees"]] == [guest.id]
        assert by_title["guest's own"]["id"] == mine["id"]

    async def test_limit_and_has_more(self, client: httpx.AsyncClient) -> None:
        owner, y = await person(client), year()
        for day in (3, 1, 2):
            await create(client, owner, f"{y}-07-0{day}T10:00:00Z", f"{y}-07-0{day}T11:00:00Z", f"d{day}")
        response = await client.get(
            "/api/calendar/events",
            params={"start": f"{y}-07-01T00:00:00Z", "end": f"{y}-08-01T00:00:00Z", "limit": 2},
            headers=owner.headers,
        )
        body = response.json()
        assert ([e["title"] for e in body["data"]], body["hasMore"]) == (["d1", "d2"], True)
        titles = await listed(client, owner, f"{y}-07-01T00:00:00Z", f"{y}-08-01T00:00:00Z", limit=3)
        assert titles == ["d1", "d2", "d3"]

    @pytest.mark.parametrize(
        ("params", "loc"),
        [
            ({"start": "2030-01-01T00:00:00Z", "end": "2031-01-02T00:00:00.001Z"}, ["query", "end"]),
            ({"start": "2030-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"}, ["query", "end"]),
            ({"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}, ["query", "end"]),
            ({"start": "2030-01-01T00:00:00Z"}, ["query", "end"]),
            ({"end": "2030-01-01T00:00:00Z"}, ["query", "start"]),
            ({"start": "2030-01-01T00:00:00", "end": "2030-01-02T00:00:00Z"}, ["query", "start"]),
            ({"start": "0001-01-01T00:00:00Z", "end": "0001-01-02T00:00:00Z"}, ["query", "start"]),
            ({"start": "0.5", "end": "2030-01-02T00:00:00Z"}, ["query", "start"]),
            (
                {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z", "limit": 501},
                ["query", "limit"],
            ),
        ],
    )
    async def test_bad_ranges_are_422(
        self, client: httpx.AsyncClient, params: dict[str, Any], loc: list[str]
    ) -> None:
        owner = await person(client)
        response = await client.get("/api/calendar/events", params=params, headers=owner.headers)
        _assert_422(response, loc)

    async def test_a_range_of_366_days_is_accepted(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        assert await listed(client, owner, "2032-01-01T00:00:00Z", "2033-01-01T00:00:00Z") == []


class TestGetCalendarEvent:
    async def test_the_organizer_sees_every_attendee_an_attendee_only_themself(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await person(client, app, role="VIEWER")
        first, second = await person(client), await person(client)
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        assert (await invite(client, owner, event["id"], first, status="ACCEPTED")).status_code == 200
        assert (await invite(client, owner, event["id"], second)).status_code == 200

        seen = (await client.get(f"/api/calendar/events/{event['id']}", headers=owner.headers)).json()
        assert [(a["id"], a["status"]) for a in seen["attendees"]] == [
            (first.id, "ACCEPTED"),
            (second.id, "PENDING"),
        ]
        # The organizer holds users:view: emails shown.
        assert seen["attendees"][0]["user"] == {
            "id": first.id,
            "name": "Test User",
            "email": first.email,
            "avatar": None,
        }

        as_second = await client.get(f"/api/calendar/events/{event['id']}", headers=second.headers)
        assert as_second.status_code == 200
        body = as_second.json()
        itself = {"id": second.id, "name": "Test User", "email": second.email, "avatar": None}
        assert body["attendees"] == [{"id": second.id, "user": itself, "status": "PENDING"}]
        assert body["organizer"]["email"] is None  # second lacks users:view

    async def test_someone_else_gets_404(self, client: httpx.AsyncClient) -> None:
        owner, stranger = await person(client), await person(client)
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        response = await client.get(f"/api/calendar/events/{event['id']}", headers=stranger.headers)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
        missing = await client.get("/api/calendar/events/no-such-event", headers=owner.headers)
        assert (missing.status_code, missing.json()) == (404, NOT_FOUND)

    async def test_an_administrator_sees_only_their_own_events_too(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        admin = await auth_headers(client, ADMIN)
        assert (await client.get(f"/api/calendar/events/{event['id']}", headers=admin)).status_code == 404


class TestUpdateCalendarEvent:
    async def test_changes_the_fields_sent(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z", description="d")
        response = await client.put(
            f"/api/calendar/events/{event['id']}",
            json={
                "title": "Renamed",
                "description": None,
                "type": "meeting",
                "endTime": "2030-01-01T20:00:00+08:00",
            },
            headers=owner.headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["title"], body["description"], body["type"]) == ("Renamed", None, "meeting")
        assert (body["startTime"], body["endTime"]) == ("2030-01-01T10:00:00Z", "2030-01-01T12:00:00Z")
        same = await client.put(f"/api/calendar/events/{event['id']}", json={}, headers=owner.headers)
        assert same.json()["updatedAt"] == body["updatedAt"]

    async def test_the_merged_times_must_stay_in_order(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        path = f"/api/calendar/events/{event['id']}"
        late_start = await client.put(path, json={"startTime": "2030-01-01T12:00:00Z"}, headers=owner.headers)
        _assert_422(late_start, ["body", "startTime"])  # the field sent, not the stored end
        early_end = await client.put(path, json={"endTime": "2030-01-01T09:00:00Z"}, headers=owner.headers)
        _assert_422(early_end, ["body", "endTime"])

    async def test_turning_all_day_on_makes_whole_dates(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        response = await client.put(
            f"/api/calendar/events/{event['id']}", json={"isAllDay": True}, headers=owner.headers
        )
        body = response.json()
        assert (body["isAllDay"], body["startTime"], body["endTime"]) == (
            True, "2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z"
        )  # fmt: skip

    async def test_an_attendee_gets_403_a_stranger_404(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner, guest, stranger = (
            await person(client, app, role="VIEWER"),
            await person(client),
            await person(client),
        )
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        await invite(client, owner, event["id"], guest)
        path = f"/api/calendar/events/{event['id']}"
        assert (await client.put(path, json={"title": "x"}, headers=guest.headers)).status_code == 403
        assert (await client.put(path, json={"title": "x"}, headers=stranger.headers)).json() == NOT_FOUND


class TestRescheduleCalendarEvent:
    async def test_moves_both_times(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        response = await client.patch(
            f"/api/calendar/events/{event['id']}/reschedule",
            json={"startTime": "2030-02-01T09:00:00-05:00", "endTime": "2030-02-01T10:00:00-05:00"},
            headers=owner.headers,
        )
        assert response.status_code == 200, response.text
        assert (response.json()["startTime"], response.json()["endTime"]) == (
            "2030-02-01T14:00:00Z", "2030-02-01T15:00:00Z"
        )  # fmt: skip

    async def test_an_all_day_event_stays_one(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        event = await create(client, owner, "2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z", isAllDay=True)
        response = await client.patch(
            f"/api/calendar/events/{event['id']}/reschedule",
            json={"startTime": "2030-03-01T00:00:00+09:00", "endTime": "2030-03-03T00:00:00+09:00"},
            headers=owner.headers,
        )
        body = response.json()
        assert (body["isAllDay"], body["startTime"], body["endTime"]) == (
            True, "2030-03-01T00:00:00Z", "2030-03-03T00:00:00Z"
        )  # fmt: skip

    async def test_refusals(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner, guest, stranger = (
            await person(client, app, role="VIEWER"),
            await person(client),
            await person(client),
        )
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        await invite(client, owner, event["id"], guest)
        path = f"/api/calendar/events/{event['id']}/reschedule"
        good = {"startTime": "2030-01-05T10:00:00Z", "endTime": "2030-01-05T11:00:00Z"}
        assert (await client.patch(path, json=good, headers=guest.headers)).status_code == 403
        assert (await client.patch(path, json=good, headers=stranger.headers)).json() == NOT_FOUND
        backwards = {"startTime": "2030-01-05T10:00:00Z", "endTime": "2030-01-05T09:00:00Z"}
        _assert_422(await client.patch(path, json=backwards, headers=owner.headers), ["body", "endTime"])
        _assert_422(
            await client.patch(path, json={"startTime": good["startTime"]}, headers=owner.headers),
            ["body", "endTime"],
        )


class TestAddCalendarEventAttendee:
    async def test_invites_and_notifies_in_the_same_transaction(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, guest = await person(client, app, role="VIEWER"), await person(client)
        event = await create(
            client, owner, "2030-01-01T10:00:00+08:00", "2030-01-01T11:00:00+08:00", "Review"
        )
        response = await invite(client, owner, event["id"], guest)
        assert response.status_code == 200, response.text
        assert [(a["id"], a["status"]) for a in response.json()["attendees"]] == [(guest.id, "PENDING")]
        [note] = await notifications_of(app, guest.id)
        assert (note.type, note.title, note.link) == (
            "calendar.invited", "Invitation: Review", f"/calendar?eventId={event['id']}"
        )  # fmt: skip
        assert note.payload == {
            "eventId": event["id"], "startTime": "2030-01-01T02:00:00Z", "endTime": "2030-01-01T03:00:00Z",
            "isAllDay": False,
        }  # fmt: skip

    async def test_twice_is_409_and_notifies_once(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner, guest = await person(client, app, role="VIEWER"), await person(client)
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        assert (await invite(client, owner, event["id"], guest, status="ACCEPTED")).status_code == 200
        again = await invite(client, owner, event["id"], guest, status="DECLINED")
        assert again.status_code == 409
        assert len(await notifications_of(app, guest.id)) == 1
        seen = await client.get(f"/api/calendar/events/{event['id']}", headers=guest.headers)
        assert seen.json()["attendees"][0]["status"] == "ACCEPTED"

    async def test_two_concurrent_invitations_of_one_person_make_one(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, guest = await person(client, app, role="VIEWER"), await person(client)
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        both = await asyncio.gather(*(invite(client, owner, event["id"], guest) for _ in range(2)))
        assert sorted(r.status_code for r in both) == [200, 409]
        assert len(await notifications_of(app, guest.id)) == 1

    async def test_a_failure_after_the_notification_rolls_it_back(
        self, client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        owner, guest = await person(client, app, role="VIEWER"), await person(client)
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")

        async def broken(*_: Any) -> Any:
            raise RuntimeError("after the notification")

        monkeypatch.setattr(handlers.calendar, "_answer", broken)
        response = await invite(client, owner, event["id"], guest)
        assert response.status_code == 500
        monkeypatch.undo()
        assert await notifications_of(app, guest.id) == []
        seen = await client.get(f"/api/calendar/events/{event['id']}", headers=owner.headers)
        assert seen.json()["attendees"] == []

    async def test_people_the_organizer_cannot_see_are_422(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, other = await person(client), await person(client)  # owner without users:view, no team
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        for user_id in (other.id, "no-such-user"):
            response = await client.post(
                f"/api/calendar/events/{event['id']}/attendees",
                json={"userId": user_id},
                headers=owner.headers,
            )
            _assert_422(response, ["body", "userId"])
        assert await notifications_of(app, other.id) == []

    async def test_a_team_member_may_be_invited_without_users_view(self, client: httpx.AsyncClient) -> None:
        owner, member = await person(client), await person(client)
        team = await client.post("/api/teams", json={"name": "Cal team"}, headers=owner.headers)
        admin = await auth_headers(client, ADMIN)
        added = await client.post(
            f"/api/teams/{team.json()['id']}/members", json={"userId": member.id}, headers=admin
        )
        assert added.status_code == 201, added.text
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        response = await invite(client, owner, event["id"], member)
        assert response.status_code == 200
        assert response.json()["attendees"][0]["user"]["email"] is None  # no users:view

    async def test_the_organizer_is_not_an_attendee(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        _assert_422(await invite(client, owner, event["id"], owner), ["body", "userId"])

    async def test_an_attendee_gets_403_a_stranger_404(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner = await person(client, app, role="VIEWER")
        guest, stranger = (
            await person(client, app, role="VIEWER"),
            await person(client, app, role="VIEWER"),
        )
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        await invite(client, owner, event["id"], guest)
        assert (await invite(client, guest, event["id"], stranger)).status_code == 403
        assert (await invite(client, stranger, event["id"], guest)).json() == NOT_FOUND
        assert await notifications_of(app, stranger.id) == []


class TestRemoveCalendarEventAttendee:
    async def test_the_organizer_removes_an_attendee_leaves(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, first, second = (
            await person(client, app, role="VIEWER"),
            await person(client),
            await person(client),
        )
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        await invite(client, owner, event["id"], first)
        await invite(client, owner, event["id"], second)
        base = f"/api/calendar/events/{event['id']}/attendees"
        assert (await client.delete(f"{base}/{second.id}", headers=first.headers)).status_code == 403
        assert (await client.delete(f"{base}/{first.id}", headers=first.headers)).status_code == 204
        assert (
            await client.get(f"/api/calendar/events/{event['id']}", headers=first.headers)
        ).status_code == 404
        assert (await client.delete(f"{base}/{second.id}", headers=owner.headers)).status_code == 204
        # Idempotent: someone who does not attend (any more) is removed all the same.
        assert (await client.delete(f"{base}/{second.id}", headers=owner.headers)).status_code == 204
        assert (await client.delete(f"{base}/no-such-user", headers=owner.headers)).status_code == 204

    async def test_a_stranger_gets_404(self, client: httpx.AsyncClient) -> None:
        owner, stranger = await person(client), await person(client)
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        response = await client.delete(
            f"/api/calendar/events/{event['id']}/attendees/{stranger.id}", headers=stranger.headers
        )
        assert response.json() == NOT_FOUND


class TestDeleteCalendarEvent:
    async def test_the_organizer_deletes_others_cannot(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner, guest, stranger = (
            await person(client, app, role="VIEWER"),
            await person(client),
            await person(client),
        )
        event = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        await invite(client, owner, event["id"], guest)
        path = f"/api/calendar/events/{event['id']}"
        assert (await client.delete(path, headers=stranger.headers)).json() == NOT_FOUND
        assert (await client.delete(path, headers=guest.headers)).status_code == 403
        assert (await client.delete(path, headers=owner.headers)).status_code == 204
        assert (await client.get(path, headers=owner.headers)).status_code == 404
        assert (await client.get(path, headers=guest.headers)).status_code == 404


class TestDeleteCalendarEvents:
    async def test_only_the_callers_own_go(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        owner, guest = await person(client, app, role="VIEWER"), await person(client)
        mine = [await create(client, guest, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z") for _ in range(2)]
        attended = await create(client, owner, "2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")
        await invite(client, owner, attended["id"], guest)
        ids = [mine[0]["id"], mine[1]["id"], mine[0]["id"], attended["id"], "no-such-event"]
        response = await client.post(
            "/api/calendar/events/batch-delete", json={"ids": ids}, headers=guest.headers
        )
        assert response.json() == {"message": "Deleted 2 events", "deleted_count": 2}
        assert (
            await client.get(f"/api/calendar/events/{attended['id']}", headers=guest.headers)
        ).status_code == 200

    @pytest.mark.parametrize("ids", [[], ["x"] * 101, ["bad id"]])
    async def test_bounds(self, client: httpx.AsyncClient, ids: list[str]) -> None:
        owner = await person(client)
        response = await client.post(
            "/api/calendar/events/batch-delete", json={"ids": ids}, headers=owner.headers
        )
        assert response.status_code == 422


class TestExportCalendar:
    async def test_an_importable_icalendar_field_by_field(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, guest, y = await person(client, app, role="VIEWER"), await person(client), year()
        timed = await create(
            client, owner, f"{y}-03-05T09:30:00+08:00", f"{y}-03-05T10:45:00+08:00", "Review",
            description="Line one\nline two; with, commas", location="Room A", type="meeting",
        )  # fmt: skip
        await invite(client, owner, timed["id"], guest, status="ACCEPTED")
        await create(client, owner, f"{y}-03-10T00:00:00Z", f"{y}-03-12T00:00:00Z", "Holiday", isAllDay=True)
        await create(client, owner, f"{y + 1}-09-01T00:00:00Z", f"{y + 1}-09-01T01:00:00Z", "Out of range")

        response = await client.get(
            "/api/calendar/export.ics",
            params={"start": f"{y}-03-01T00:00:00Z", "end": f"{y}-04-01T00:00:00Z"},
            headers=owner.headers,
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/calendar")
        assert response.headers["content-disposition"] == 'attachment; filename="halolight.ics"'
        assert int(response.headers["content-length"]) == len(response.content)
        assert b"\r\n" in response.content

        parsed = ical(response.content)
        assert (str(parsed["VERSION"]), str(parsed["PRODID"])) == ("2.0", "-//HaloLight//HaloLight API//EN")
        events = {str(e["SUMMARY"]): e for e in parsed.walk("VEVENT")}
        assert set(events) == {"Review", "Holiday"}

        review = events["Review"]
        assert str(review["UID"]) == f"{timed['id']}@halolight"
        assert review["DTSTAMP"].dt.tzinfo is not None
        assert review["DTSTART"].dt == datetime(y, 3, 5, 1, 30, tzinfo=UTC)
        assert review["DTEND"].dt == datetime(y, 3, 5, 2, 45, tzinfo=UTC)
        assert str(review["DESCRIPTION"]) == "Line one\nline two; with, commas"
        assert str(review["LOCATION"]) == "Room A"
        assert review["CATEGORIES"].cats == ["meeting"]
        organizer = review["ORGANIZER"]
        assert (str(organizer), str(organizer.params["CN"])) == (f"mailto:{owner.email}", "Test User")
        attendee = review["ATTENDEE"]
        assert str(attendee) == f"mailto:{guest.email}"
        assert (attendee.params["PARTSTAT"], attendee.params["ROLE"]) == ("ACCEPTED", "REQ-PARTICIPANT")

        holiday = events["Holiday"]
        assert (holiday["DTSTART"].dt, holiday["DTEND"].dt) == (date(y, 3, 10), date(y, 3, 12))
        assert holiday["DTSTART"].params.get("VALUE", "DATE") == "DATE"
        assert b"DTSTART;VALUE=DATE:" in response.content
        assert "ATTENDEE" not in holiday

    async def test_an_attendee_exports_without_hidden_emails(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner, guest, y = await person(client, app, role="VIEWER"), await person(client), year()
        event = await create(client, owner, f"{y}-01-01T10:00:00Z", f"{y}-01-01T11:00:00Z", "Invited")
        await invite(client, owner, event["id"], guest)
        response = await client.get(
            "/api/calendar/export.ics",
            params={"start": f"{y}-01-01T00:00:00Z", "end": f"{y}-02-01T00:00:00Z"},
            headers=guest.headers,
        )
        [item] = ical(response.content).walk("VEVENT")
        assert str(item["ORGANIZER"]) == f"urn:halolight:user:{owner.id}"
        assert (str(item["ATTENDEE"]), item["ATTENDEE"].params["PARTSTAT"]) == (
            f"mailto:{guest.email}",
            "NEEDS-ACTION",
        )
        assert owner.email.encode() not in response.content

    async def test_defaults_and_bounds(self, client: httpx.AsyncClient) -> None:
        owner = await person(client)
        now = datetime.now(UTC)
        await create(client, owner, now.isoformat(), now.replace(year=now.year + 1).isoformat(), "Now")
        response = await client.get("/api/calendar/export.ics", headers=owner.headers)
        assert [str(e["SUMMARY"]) for e in ical(response.content).walk("VEVENT")] == ["Now"]
        too_long = await client.get(
            "/api/calendar/export.ics",
            params={"start": "2030-01-01T00:00:00Z", "end": "2031-06-01T00:00:00Z"},
            headers=owner.headers,
        )
        _assert_422(too_long, ["query", "end"])


# --- Plans ------------------------------------------------------------------------------------------------


async def test_the_list_reads_through_its_indexes(app: FastAPI) -> None:
    """The list's statement, as the app sends it, for a user with a long history (statistics included, all
    rolled back): 5,000 events of their own among 100,000, and 100 attended among 30,000 attendances, over
    the ten years before the month asked for. The owner-range and attendee indexes of migration 0011 serve it:
    the work is the events ending after the range starts, not the user's whole history, and no table is
    scanned."""
    sent: list[tuple[str, Any]] = []
    async with app.state.runtime.engine.connect() as connection:
        me = await connection.scalar(text("SELECT id FROM users ORDER BY id LIMIT 1"))
        await connection.execute(
            text(
                'INSERT INTO users (id, email, username, name, password, status, "updatedAt") '
                "SELECT 'plan-user-' || i, 'plan' || i || '@example.com', 'plan' || i, 'Plan ' || i, 'x', "
                "'ACTIVE', now() FROM generate_series(1, 25) i"
            )
        )
        await connection.execute(
            text(
                'INSERT INTO calendar_events (id, title, type, "startAt", "endAt", "ownerId", "updatedAt") '
                "SELECT 'plan-' || i || '-' || o, 'e', 'event', "
                "timestamp '2024-07-15' - i * interval '17 hours', "
                "timestamp '2024-07-15' - i * interval '17 hours' + interval '1 hour', o, now() "
                "FROM generate_series(1, 5000) i, "
                "(SELECT :me UNION ALL SELECT 'plan-user-' || k FROM generate_series(1, 19) k) AS owners(o)"
            ),
            {"me": me},
        )
        await connection.execute(
            text(
                'INSERT INTO event_attendees ("eventId", "userId") '
                "SELECT 'plan-' || i || '-plan-user-1', 'plan-user-' || k "
                "FROM generate_series(1, 5000) i, generate_series(20, 25) k "
                "UNION ALL SELECT 'plan-' || i || '-plan-user-1', :me FROM generate_series(10, 5000, 50) i"
            ),
            {"me": me},
        )
        # Statistics of every row (a sample of them would make the estimates, and the plan, vary by run).
        await connection.execute(text("SET LOCAL default_statistics_target = 10000"))
        await connection.execute(text("ANALYZE calendar_events"))
        await connection.execute(text("ANALYZE event_attendees"))
        session = AsyncSession(bind=connection)
        STATEMENT_LISTENERS.append(lambda sql, params: sent.append((sql, dict(params))))
        try:
            rows = await calendar.list_in_range(
                SessionReads(session),
                me,
                start=datetime(2024, 6, 1, tzinfo=UTC),
                end=datetime(2024, 7, 1, tzinfo=UTC),
                limit=501,
            )
        finally:
            STATEMENT_LISTENERS.pop()
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        sql, params = sent[-1]
        cursor = await raw.execute(("EXPLAIN " + sql).encode(), params)
        text_plan = "\n".join(row[0] for row in await cursor.fetchall())
        await connection.rollback()
    assert len(rows) > 40  # owned and attended ones in June 2024: the plan is not of an empty result
    assert "halolight_calendar_events_owner_end_start" in text_plan, text_plan
    assert "halolight_event_attendees_user_event" in text_plan, text_plan
    assert "Seq Scan on calendar_events" not in text_plan, text_plan
    assert "Seq Scan on event_attendees" not in text_plan, text_plan


async def test_the_demo_accounts_have_events_this_month_and_the_next(client: httpx.AsyncClient) -> None:
    """The demo seed (`halolight.seed.DEMO_EVENTS`): timed and all-day events, with attendees, that the
    attendees see too."""
    now = datetime.now(UTC)
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    params = {"start": start.isoformat(), "end": (start + timedelta(days=62)).isoformat()}
    admin = await client.get("/api/calendar/events", params=params, headers=await auth_headers(client, ADMIN))
    events = admin.json()["data"]
    mine = [e for e in events if e["organizer"]["name"] == "Admin User"]
    assert {e["title"] for e in mine} >= {"项目周会", "HaloLight 2.0 发布", "Sprint planning"}
    assert any(e["isAllDay"] for e in mine) and any(not e["isAllDay"] for e in mine)
    assert any(len(e["attendees"]) >= 2 for e in mine)
    demo = await client.get("/api/calendar/events", params=params, headers=await auth_headers(client, EDITOR))
    weekly = next(e for e in demo.json()["data"] if e["title"] == "项目周会")
    assert [a["status"] for a in weekly["attendees"]] == ["ACCEPTED"]  # their own attendance only
