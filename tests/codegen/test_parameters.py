"""Parameters: date-time, uuid, integer and string enums, arrays in the query, optional login."""

from __future__ import annotations

from typing import Any

import httpx

from halolight.params import any_case
from tests.api.helpers import ADMIN, bearer, login

SINCE = "2026-01-02T03:04:05+01:00"


async def test_every_kind_reaches_the_handler_typed(scratch_client: httpx.AsyncClient) -> None:
    after = "0b7e4c6e-3a47-4f0e-9d7c-8a3c2b1d0e9f"
    response = await scratch_client.get(
        "/events",
        params={"since": SINCE, "tags": ["a", "bc"], "level": 2, "kind": "warn", "after": after},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "since": SINCE,
        "tags": ["a", "bc"],
        "level": 2,
        "kind": "warn",
        "after": after,
        "severity": "low",
        "channels": [],
    }


async def test_query_enums_accept_any_case(scratch_client: httpx.AsyncClient) -> None:
    # Literal, $ref (an Enum) and array items; the canonical spelling reaches the handler.
    response = await scratch_client.get(
        "/events",
        params={"since": SINCE, "kind": "WARN", "severity": "high", "channels": ["Mail", "SMS"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["kind"], body["severity"], body["channels"]) == ("warn", "HIGH", ["mail", "sms"])
    exact = await scratch_client.get("/events", params={"since": SINCE, "kind": "info", "severity": "HIGH"})
    assert (exact.json()["kind"], exact.json()["severity"]) == ("info", "HIGH")


async def test_optional_parameters_may_be_absent(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.get("/events", params={"since": "2026-01-02T03:04:05Z"})
    assert response.status_code == 200, response.text
    assert response.json()["tags"] == []
    assert response.json()["level"] is None


async def _issue(client: httpx.AsyncClient, params: dict[str, Any]) -> list[list[Any]]:
    response = await client.get("/events", params={"since": SINCE, **params})
    assert response.status_code == 422, response.text
    return [issue["loc"] for issue in response.json()["detail"]]


async def test_date_time_needs_a_timezone_and_must_parse(scratch_client: httpx.AsyncClient) -> None:
    assert await _issue(scratch_client, {"since": "2026-01-02T03:04:05"}) == [["query", "since"]]
    assert await _issue(scratch_client, {"since": "yesterday"}) == [["query", "since"]]
    # Seconds since 1970, which pydantic's lax datetime would take: not RFC 3339.
    assert await _issue(scratch_client, {"since": "0.5"}) == [["query", "since"]]
    assert await _issue(scratch_client, {"since": "1700000000"}) == [["query", "since"]]
    response = await scratch_client.get("/events")
    assert response.status_code == 422


async def test_array_bounds_and_item_constraints(scratch_client: httpx.AsyncClient) -> None:
    assert await _issue(scratch_client, {"tags": ["a", "b", "c", "d"]}) == [["query", "tags"]]
    assert (await _issue(scratch_client, {"tags": ["a", "TOO"]}))[0][:2] == ["query", "tags"]
    assert (await _issue(scratch_client, {"tags": ["abcdef"]}))[0][:2] == ["query", "tags"]


async def test_enums_and_uuid(scratch_client: httpx.AsyncClient) -> None:
    assert await _issue(scratch_client, {"level": 4}) == [["query", "level"]]
    assert await _issue(scratch_client, {"level": "two"}) == [["query", "level"]]
    assert await _issue(scratch_client, {"kind": "error"}) == [["query", "kind"]]
    assert await _issue(scratch_client, {"kind": "WARNING"}) == [["query", "kind"]]
    assert await _issue(scratch_client, {"severity": "medium"}) == [["query", "severity"]]
    assert (await _issue(scratch_client, {"channels": ["fax"]}))[0][:2] == ["query", "channels"]
    assert await _issue(scratch_client, {"after": "not-a-uuid"}) == [["query", "after"]]


def test_any_case_prefers_an_exact_match_and_leaves_the_rest_to_the_enum() -> None:
    canonical = any_case(("low", "Ab", "AB"))
    assert [canonical(v) for v in ("LOW", "Low", "low", "Ab", "AB")] == ["low", "low", "low", "Ab", "AB"]
    # Ambiguous without regard to case, or no match at all: unchanged, so the enum refuses it (422).
    assert [canonical(v) for v in ("ab", "aB", "lower", 3)] == ["ab", "aB", "lower", 3]


async def test_optional_login(scratch_client: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    anonymous = await scratch_client.get("/greeting")
    assert anonymous.status_code == 200, anonymous.text
    assert anonymous.json() == {"userId": None}

    tokens = await login(client, ADMIN)  # through the real app, on the same database
    me = await client.get("/api/auth/me", headers=bearer(tokens["accessToken"]))
    signed_in = await scratch_client.get("/greeting", headers=bearer(tokens["accessToken"]))
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json() == {"userId": me.json()["id"]}

    # A token that is sent is checked: a bad one is a 401, not a silent downgrade to anonymous.
    for header in ("Bearer not-a-token", "Basic abc", ""):
        invalid = await scratch_client.get("/greeting", headers={"Authorization": header})
        assert invalid.status_code == 401, header
        assert invalid.headers["www-authenticate"] == "Bearer"
