"""The stream operation through the real app: live delivery, replay, tickets, limits, sessions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.events.conftest import OpenStream


async def test_live_events_reach_the_callers_stream_only(
    open_stream: OpenStream, new_person: Callable[[], Any], emit_for: Callable[..., Any]
) -> None:
    alice, bob = await new_person(), await new_person()
    stream = await open_stream(headers=alice.headers)
    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    await emit_for(bob.user_id, title="for bob")
    await emit_for(alice.user_id, title="for alice")
    event = await stream.next_event()
    assert event.event == "notification"
    assert event.data == {"n": 0, "title": "for alice"}
    assert event.id is not None
    assert stream.retry is not None
