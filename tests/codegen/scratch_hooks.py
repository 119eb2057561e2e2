"""schemathesis hooks for the scratch files spec (tests/codegen/test_scratch_contract.py): what the fuzzer
cannot guess, as tests/contract/hooks.py does for the API's own spec.

- a logged-in caller for the operations that need one (the demo admin);
- the current ETag in `If-Match` whenever the fuzzer's value is a valid one (a random tag is a correct 412,
  which the fuzzer would take for a refusal of valid data; stale tags have their HTTP tests);
- the one existing counter (`c1`) for a valid counter id (404 has its HTTP test);
- short event streams (`seconds` at most 0.3);
- a multipart field the fuzzer made a list of zero or one element becomes a list of two: multipart has no
  way to tell `[]` from a missing field or `[3]` from `3`, so those "invalid" bodies arrive as valid ones;
  two repeated parts are invalid on the wire too (422).

NUL in text is refused with 422 here as in the API's own operations: tests/contract/references.py accepts
exactly that refusal, and is loaded for it (its other rules apply to the API's own spec only).
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import schemathesis

from tests.contract import references  # noqa: F401 (registers the NUL rule)

BASE_URL = os.environ.get("HALOLIGHT_CONTRACT_URL", "http://127.0.0.1:8000")
ADMIN = {"email": "admin@halolight.h7ml.cn", "password": "123456"}
ETAG = '"v1"'  # the scratch handlers' current version


@schemathesis.auth(refresh_interval=60)
class Caller:
    def get(self, case: Any, ctx: Any) -> str:
        token: str = httpx.post(f"{BASE_URL}/api/auth/login", json=ADMIN, timeout=15).json()["accessToken"]
        return token

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    path, method = case.operation.path, case.operation.method.upper()
    headers = dict(case.headers or {})
    match = headers.get("If-Match")
    if isinstance(match, str) and len(match) <= 200 and match != ETAG:
        case.headers = {**headers, "If-Match": ETAG}
    if path == "/counters/{id}" and isinstance(case.path_parameters, dict):
        value = case.path_parameters.get("id")
        if isinstance(value, str) and 0 < len(value) <= 20 and "/" not in value:
            case.path_parameters = {**case.path_parameters, "id": "c1"}
    if path == "/files/{id}/events" and isinstance(case.query, dict):
        seconds = case.query.get("seconds")
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and 0.3 < seconds <= 30:
            case.query = {**case.query, "seconds": 0.3}
    if method == "POST" and path == "/files" and isinstance(case.body, dict):
        short = {k: v for k, v in case.body.items() if k != "file" and isinstance(v, list) and len(v) < 2}
        if short:
            case.body = {**case.body, **{k: [*v, *(["1"] * (2 - len(v)))] for k, v in short.items()}}
