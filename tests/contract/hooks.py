"""schemathesis hooks (SCHEMATHESIS_HOOKS=tests.contract.hooks): who calls, and real ids and secrets.

- **Callers.** Most cases are sent as the demo admin; one in three cases of the examples, coverage and fuzzing
  phases is sent as a limited user instead, chosen from the case's content (so a seeded run is repeatable):
  a viewer (a role with every `*:view` permission) or a self-registered USER. Those exercise the 403 answers
  and the object scoping (a USER sees only their own teams: the admin's are 404). The hooks create both
  accounts (and the viewer's role) afresh at each token refresh, never relying on demo rows the fuzzer may
  have deleted or deactivated by then. The stateful phase stays with the admin: its links check that what
  one call created the next one can read.
- **Own-account operations** (logout, change password, end a session) get a fresh account each, so the
  shared sessions and passwords keep working. Its password is known: change-password gets the right
  current one, and ending a session gets a real session id of that account, three times in four.
- **Real ids in paths.** Three times in four, a well-formed id in a path names a row made for the run
  (users, roles, permissions, teams with members, the admin's folders, files, documents and events, the
  admin's conversations, and the admin's notifications, made by real messages from new accounts): reads and
  updates share one set, each deleting operation has its own, so deletions do not leave the other
  operations (or later phases) only unknown ids. Body ids marked `x-references` are filled by
  tests/contract/references.py (its `flatmap_body` hook, and here for the coverage phase, which skips that
  hook; multipart bodies excepted).
- **Live download links.** downloadFile gets, three times in four, a valid signature for its (pool) file, so
  its fuzzed range and revalidation headers meet real bytes.
- **Share links.** getSharedFile gets the token of a live link of a pool file three times in four, and
  revokeFileShare the id of a fresh link of the file in its path (revoking has its own files, so the shared
  links stay live).
- **Calendar times.** listCalendarEvents and exportCalendar get, three times in four, an `end` a week after
  their `start`, and the event writes an `endTime` an hour after their `startTime` (`x-after`), so their
  answers are not only the documented 422 of times in the wrong order or too far apart.
- **Versions.** A well-formed `If-Match` is replaced by `*`, in every phase (a random tag is a correct 412).
- **Cursors.** A well-formed `cursor` (signed by the server, so a generated one is a correct 422) is left out
  three times in four, in every phase, so the keyset lists are exercised on real pages.
- **Secrets.** resetPassword gets a live reset token (requested for a fresh account, read from the outbox)
  three times in four; createPermission gets a `resource` that matches its `action` (`x-must-match`), so its
  positive cases are valid data and not a documented refusal (the mismatch has its HTTP tests).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import schemathesis
from hypothesis import strategies as st

from halolight.security.passwords import is_common
from tests.contract import references  # also registers the x-references / x-must-match hooks

BASE_URL = os.environ.get("HALOLIGHT_CONTRACT_URL", "http://127.0.0.1:8000")
OUTBOX = os.environ.get("HALOLIGHT_CONTRACT_OUTBOX", "")
DATABASE = os.environ.get("HALOLIGHT_CONTRACT_DATABASE", "")  # libpq URL of the server's database
ADMIN = ("admin@halolight.h7ml.cn", "123456")
# The password of every account the hooks create (not a common one, so registration accepts it).
PASSWORD = "Fuzz-Kx7q-2wLm-9vTz"
ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # components/schemas/Id
SHARE_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # getSharedFile's token
ACTION = re.compile(r"^(\*|[a-z][a-z0-9-]{0,39}:(\*|[a-z][a-z0-9-]{0,39}))$")  # PermissionCreate.action
RESOURCE = re.compile(r"^(\*|[a-z][a-z0-9-]{0,39})$")  # PermissionCreate.resource

_lock = threading.RLock()
_client = httpx.Client(base_url=BASE_URL, timeout=15)


def _post(path: str, body: Any, token: str | None = None, expect: int = 200) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = _client.post(path, json=body, headers=headers)
    assert response.status_code == expect, f"{path}: {response.status_code} {response.text}"
    return response.json()


def _login(email: str, password: str) -> str:
    token: str = _post("/api/auth/login", {"email": email, "password": password})["accessToken"]
    return token


def _unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}@example.com"


def _register() -> tuple[str, str]:
    """A fresh self-registered account (role USER): its email and access token."""
    email = _unique_email("fuzz")
    body = _post("/api/auth/register", {"email": email, "name": "Fuzz", "password": PASSWORD}, expect=201)
    return email, body["accessToken"]


def _admin_token() -> str:
    return _login(*ADMIN)


def _viewer() -> str:
    """A fresh read-only account: a new role holding every `*:view` permission that exists now (the fuzzer may
    have deleted the seeded VIEWER role, or some permissions, by then)."""
    token = _admin_token()
    headers = {"Authorization": f"Bearer {token}"}
    listed = _client.get("/api/permissions", params={"search": ":view", "limit": 100}, headers=headers)
    views = [p["id"] for p in listed.json()["data"] if p["action"].endswith(":view")]
    role = _post("/api/roles", {"name": f"Viewer{uuid.uuid4().hex[:12]}", "permissionIds": views}, token, 201)
    email = _unique_email("viewer")
    body = {"email": email, "name": "Fuzz", "password": PASSWORD, "roleIds": [role["id"]]}
    _post("/api/users", body, token, expect=201)
    return _login(email, PASSWORD)


# Who sends a case. The digest of what the case sends picks the caller, so a run with a fixed seed is
# repeatable; the examples, coverage and fuzzing phases only (see the module docstring).
LIMITED = ("viewer", "user")


def _digest(case: Any, salt: str = "") -> int:
    material = json.dumps(
        [salt, case.operation.label, case.path_parameters, case.query, case.body],
        sort_keys=True,
        default=repr,
    )
    return int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")


def _is_stateful(case: Any) -> bool:
    return case.meta is not None and str(case.meta.phase.name) == "stateful"


def _often(case: Any, salt: str) -> bool:
    """Three times in four, by the case's content."""
    return _digest(case, salt) % 4 != 0


def identity(case: Any) -> str:
    if case.operation.path in OWN_ACCOUNT_PATHS or _is_stateful(case) or case.meta is None:
        return "admin"
    pick = _digest(case, "identity") % 6
    return LIMITED[pick] if pick < len(LIMITED) else "admin"


def _identity_key(case: Any, ctx: Any) -> str:
    return identity(case)


# Every password of up to 72 characters is accepted (only its first 72 UTF-8 bytes count, as in bcryptjs).
# The one rule JSON Schema cannot state is the list of common passwords that new passwords must avoid (422,
# said in the spec's NewPassword): the fuzzer learns it here, so that its "valid" passwords are valid.
schemathesis.openapi.format(
    "password",
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=72).filter(
        lambda s: not is_common(s)
    ),
)


@schemathesis.auth(refresh_interval=60, cache_by_key=_identity_key)
class Caller:
    def get(self, case: Any, ctx: Any) -> str:
        who = identity(case)
        try:
            if who == "viewer":
                return _viewer()
            if who == "user":
                return _register()[1]
            return _admin_token()
        except Exception as exc:  # schemathesis reports only that the fetch failed
            print(f"hooks: no token for {who}: {exc}", file=sys.stderr, flush=True)
            raise

    def set(self, case: Any, data: str, ctx: Any) -> None:
        token = _own_account(case) if case.operation.path in OWN_ACCOUNT_PATHS else data
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


# Logout (possibly of every session), ending sessions and changing the password act on the caller's own
# account: each such case gets a fresh account, so the shared sessions (and passwords) keep working.
OWN_ACCOUNT_PATHS = frozenset({"/api/auth/logout", "/api/auth/change-password", "/api/auth/sessions/{id}"})


def _own_account(case: Any) -> str:
    email, token = _register()
    body = case.body
    if case.operation.path == "/api/auth/change-password" and isinstance(body, dict):
        current = body.get("currentPassword")
        if isinstance(current, str) and 1 <= len(current) <= 72 and _often(case, "password"):
            case.body = {**body, "currentPassword": PASSWORD}
    path_id = case.path_parameters.get("id") if case.path_parameters else None
    if case.operation.path == "/api/auth/sessions/{id}" and _valid_id(path_id) and _often(case, "session"):
        _login(email, PASSWORD)  # a second session, which the case may end
        headers = {"Authorization": f"Bearer {token}"}
        sessions = _client.get("/api/auth/sessions", headers=headers).json()["data"]
        others = [s["id"] for s in sessions if not s["current"]] or [s["id"] for s in sessions]
        case.path_parameters = {**case.path_parameters, "id": others[0]}
    return token


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and ID.match(value) is not None


# Rows made for the run, three of each kind per owner: one set shared by the operations that read or change
# rows, and one set per deleting operation (DELETE), so a deletion never takes away what another operation,
# or a later phase, would find.
POOL_SIZE = 3
KINDS = (
    "users",
    "roles",
    "permissions",
    "teams",
    "folders",
    "files",
    "documents",
    "conversations",
    "notifications",
    "events",
)


class Pool:
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.rows: dict[str, list[str]] = {}
        self.members: dict[str, list[str]] = {}  # team id -> the pool users added to it
        self.attendees: dict[str, list[str]] = {}  # event id -> the pool user invited to it

    def ids(self, kind: str) -> list[str]:
        if kind not in self.rows:
            self.rows[kind] = [self._create(kind, n) for n in range(POOL_SIZE)]
        return self.rows[kind]

    def share_tokens(self) -> list[str]:
        """Tokens of live links (no use limit, no audience) of this pool's files, one per permission."""
        if "share-tokens" not in self.rows:
            files = self.ids("files")
            self.rows["share-tokens"] = [
                self.share(files[i], {"permission": p})["shareToken"]
                for i, p in enumerate(("VIEW", "READ", "DOWNLOAD"))
            ]
        return self.rows["share-tokens"]

    def share(self, file_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A new link of the pool's `file_id`, or of a fresh file put in its place when that one cannot take
        one: the fuzzer deleted it (batchDeleteFiles takes its ids from the admin's listed files, the pools'
        included), or it holds its 100 live links (unrevoked ones of negative revokeFileShare cases)."""
        headers = {"Authorization": f"Bearer {_admin_token()}"}
        response = _client.post(f"/api/files/{file_id}/share", json=body, headers=headers)
        if response.status_code in (404, 409):
            fresh = self._create("files", 0)
            files = self.rows["files"]
            files[files.index(file_id)] = fresh
            response = _client.post(f"/api/files/{fresh}/share", json=body, headers=headers)
        assert response.status_code == 201, f"share {file_id}: {response.status_code} {response.text}"
        made: dict[str, Any] = response.json()
        return made

    def _create(self, kind: str, n: int) -> str:
        token, tag = _admin_token(), uuid.uuid4().hex[:10]
        if kind == "users":
            body = {"email": _unique_email("pool"), "name": "Pool", "password": PASSWORD}
        elif kind == "roles":
            body = {"name": f"Pool{tag}"}
        elif kind == "permissions":
            body = {"action": f"pool{tag}:view"}
        elif kind == "folders":  # the admin's own (folders are private): others get 404, as they should
            body = {"name": f"Pool {tag}"}
        elif kind == "files":  # the admin's own too, 1 KiB of bytes each (ranges have something to cut)
            response = _client.post(
                "/api/files/upload",
                # A fixed head: random bytes alone pass for a DOS executable about once in 140 (refused: 415).
                files={
                    "file": (f"pool-{tag}.bin", b"\0pool\0" + os.urandom(1018), "application/octet-stream")
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 201, f"upload: {response.status_code} {response.text}"
            return str(response.json()["id"])
        elif kind == "conversations":  # the admin's, with a fresh account each: others get 404
            user_id = _post(
                "/api/auth/register",
                {"email": _unique_email("pool"), "name": "Pool", "password": PASSWORD},
                None,
                201,
            )["user"]["id"]
            sent = _post("/api/messages/send", {"content": f"池 {tag}", "recipientId": user_id}, token, 201)
            return str(sent["conversationId"])
        elif kind == "notifications":  # the admin's, made the real way: a first message from a new account
            return _notification_for_admin(token, tag)
        elif kind == "documents":  # the admin's own, shared with nobody: others get 404, as they should
            body = {"title": f"Pool {tag}", "content": f"池 {tag} 项目管理 pool document"}
        elif kind == "events":  # the admin's own, attended by nobody: others get 404, as they should
            body = {
                "title": f"Pool {tag}",
                "startTime": f"2031-01-{n + 1:02d}T09:00:00+08:00",
                "endTime": f"2031-01-{n + 1:02d}T10:00:00+08:00",
            }
            event_id = str(_post("/api/calendar/events", body, token, expect=201)["id"])
            # A pool user attends (those still there: deleteUsers may take listed ones), so removing an
            # attendee meets a real one.
            headers, path = {"Authorization": f"Bearer {token}"}, f"/api/calendar/events/{event_id}/attendees"
            self.attendees[event_id] = [
                user
                for user in self.ids("users")[n:][:1]
                if _client.post(path, json={"userId": user}, headers=headers).status_code == 200
            ]
            return event_id
        else:
            body = {"name": f"Pool {self.owner} {n}"}
        row_id: str = _post(f"/api/{kind}", body, token, expect=201)["id"]
        if kind == "teams":  # the pool's users still there (deleteUsers may take listed ones)
            headers, path = {"Authorization": f"Bearer {token}"}, f"/api/teams/{row_id}/members"
            self.members[row_id] = [
                user
                for user in self.ids("users")[: n + 1]
                if _client.post(path, json={"userId": user}, headers=headers).status_code == 201
            ]
        return row_id


def _notification_for_admin(admin_token: str, tag: str) -> str:
    """A notification of the admin's, made by a real event: a new account (with a role of its own that may
    see users and send messages) writes to the admin; the admin's notification of it is the pool's row."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    me = _client.get("/api/auth/me", headers=headers).json()["id"]
    needed = [
        p["id"]
        for action in ("users:view", "messages:send")
        for p in _client.get("/api/permissions", params={"search": action}, headers=headers).json()["data"]
        if p["action"] == action
    ]
    role = _post("/api/roles", {"name": f"Writer{tag}", "permissionIds": needed}, admin_token, 201)
    email = _unique_email("writer")
    body = {"email": email, "name": "Writer", "password": PASSWORD, "roleIds": [role["id"]]}
    writer = _post("/api/users", body, admin_token, expect=201)["id"]
    _post("/api/messages/send", {"content": f"Hello {tag}", "recipientId": me}, _login(email, PASSWORD), 201)
    page = _client.get("/api/notifications", params={"limit": 100}, headers=headers).json()["data"]
    return str(next(n["id"] for n in page if (n["payload"] or {}).get("senderId") == writer))


_pools: dict[str, Pool] = {}
# Operations that end what they name, each with rows of its own (see Pool).
ENDING = frozenset({"/api/files/{id}/revoke-share"})


def _pool(case: Any) -> Pool:
    ending = case.operation.method.upper() == "DELETE" or case.operation.path in ENDING
    owner = case.operation.label if ending else "shared"
    with _lock:
        return _pools.setdefault(owner, Pool(owner))


# Which kind of row a path parameter names: the collection before it, or the parameter's own name.
def _kind(path: str, parameter: str) -> str | None:
    if parameter in ("userId", "attendeeId"):
        return "users"
    if path.startswith("/api/messages/conversations/{id}") and parameter == "id":
        return "conversations"
    match = re.match(rf"^/api/(?:calendar/)?([a-z]+)/{{{parameter}}}", path)
    return match.group(1) if match and match.group(1) in KINDS else None


def _real_path_ids(case: Any) -> None:
    if case.operation.path in OWN_ACCOUNT_PATHS or not case.path_parameters:
        return
    pool, parameters = _pool(case), dict(case.path_parameters)
    for name, value in parameters.items():
        if name == "token" and isinstance(value, str) and SHARE_TOKEN.match(value) and _often(case, "token"):
            with _lock:
                tokens = pool.share_tokens()
            parameters[name] = tokens[_digest(case, "row-token") % len(tokens)]
            continue
        kind = _kind(case.operation.path, name)
        if kind is None or not _valid_id(value) or not _often(case, f"path-{name}"):
            continue
        with _lock:
            rows = pool.ids(kind)
            if name == "userId" and pool.members.get(parameters.get("id") or ""):  # a member of that team
                rows = pool.members[parameters["id"]]
            if name == "attendeeId" and pool.attendees.get(parameters.get("id") or ""):  # one who attends
                rows = pool.attendees[parameters["id"]]
        parameters[name] = rows[_digest(case, f"row-{name}") % len(rows)]
    if parameters != case.path_parameters:
        case.path_parameters = parameters


def _real_share_id(case: Any) -> None:
    """revokeFileShare: a fresh link of the file in the path (when it is one of the pool's) as `shareId`."""
    body, file_id = case.body, (case.path_parameters or {}).get("id")
    if not isinstance(body, dict) or not _valid_id(body.get("shareId")) or not _often(case, "share"):
        return
    with _lock:
        pool = _pool(case)
        if file_id not in pool.ids("files"):
            return
        made = pool.share(file_id, {})
    case.path_parameters = {**case.path_parameters, "id": made["fileId"]}
    case.body = {**body, "shareId": made["id"]}


def _matching_resource(case: Any) -> None:
    body = case.body
    if not isinstance(body, dict):
        return
    action, resource = body.get("action"), body.get("resource")
    if not (isinstance(action, str) and ACTION.match(action)):
        return
    if isinstance(resource, str) and RESOURCE.match(resource):
        case.body = {**body, "resource": action.split(":", 1)[0]}


def _reset_token() -> str | None:
    if not OUTBOX:
        return None
    email, _ = _register()
    _post("/api/auth/forgot-password", {"email": email})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # mail is sent after the commit, in the background
        for path in sorted(Path(OUTBOX).glob("*.json"), reverse=True):
            try:
                message = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:  # being written
                continue
            if message["to"] == email:
                match = re.search(r"token=([A-Za-z0-9_-]+)", message["body"])
                return match.group(1) if match else None
        time.sleep(0.05)
    return None


def _real_reset_token(case: Any) -> None:
    body = case.body
    if not isinstance(body, dict):
        return
    token = body.get("token")
    if isinstance(token, str) and 1 <= len(token) <= 256 and _often(case, "reset"):
        real = _reset_token()
        if real is not None:
            case.body = {**body, "token": real}


def _current_version(case: Any) -> None:
    """A well-formed `If-Match` becomes `*` (any current version): a random tag is a correct 412, which the
    fuzzer would take for a refusal of valid data; stale tags have their HTTP tests. In every phase, the
    stateful one included."""
    headers = dict(case.headers or {})
    match = headers.get("If-Match")
    if isinstance(match, str) and len(match) <= 200 and match != "*":
        case.headers = {**headers, "If-Match": "*"}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Real ids in paths, a matching `resource`, a live reset token: just before a case is sent (generation
    makes more cases than are sent), in every phase but the stateful one, whose links supply its ids."""
    _current_version(case)
    _no_forged_cursor(case)
    _not_into_itself(case)  # the stateful phase's links can name one folder twice as well
    if _is_stateful(case):
        return
    _real_path_ids(case)
    # Not multipart bodies: schemathesis' coverage phase judges them by JSON Schema with the file part a
    # `Binary`, so even its "valid" ones are marked negative, and a real folder id would turn their expected
    # refusal into a failing success. The fuzzing phase (flatmap_body) fills their references instead.
    multipart = str(case.media_type or "").startswith("multipart/")
    if case.meta is not None and str(case.meta.phase.name) == "coverage" and not multipart:

        def pick(key: str, n: int) -> int | None:
            return _digest(case, f"ref-{key}") % n if _often(case, f"use-{key}") else None

        filled = references.fill_references(case.operation.method, case.operation.path, case.body, pick)
        if filled != case.body:  # schemathesis revalidates whatever this hook assigns
            case.body = filled
    if case.operation.method.upper() == "POST" and case.operation.path == "/api/permissions":
        _matching_resource(case)
    if case.operation.path == "/api/auth/reset-password":
        _real_reset_token(case)
    if case.operation.path == "/api/files/{id}/revoke-share":
        _real_share_id(case)
    if case.operation.path == DOWNLOAD_PATH:
        _live_download_link(case)
    if case.operation.path in CALENDAR_RANGES and case.operation.method.upper() == "GET":
        _calendar_range(case)
    if case.operation.path in CALENDAR_TIMES and case.operation.method.upper() != "GET":
        _calendar_times(case)
    _not_into_itself(case)  # again: the real ids above may have made the path and parentId one folder


CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,1024}$")  # components/parameters/Cursor


def _no_forged_cursor(case: Any) -> None:
    """A cursor is signed by the server (halolight/repositories/paging.py): a generated one that fits the
    schema is always the documented 422 (tests/contract/references.py accepts it). Three times in four it is
    left out, so a keyset list's other parameters meet real pages, and schemathesis does not find the list
    "mostly rejecting" valid data. Only a well-formed cursor is dropped: a negative case stays negative."""
    query = case.query
    if not (isinstance(query, dict) and isinstance(query.get("cursor"), str)):
        return
    if CURSOR.match(query["cursor"]) and _often(case, "cursor"):
        case.query = {name: value for name, value in query.items() if name != "cursor"}


DOWNLOAD_PATH = "/api/files/{id}/download"
CALENDAR_RANGES = frozenset({"/api/calendar/events", "/api/calendar/export.ics"})
CALENDAR_TIMES = frozenset(
    {"/api/calendar/events", "/api/calendar/events/{id}", "/api/calendar/events/{id}/reschedule"}
)


def _calendar_times(case: Any) -> None:
    """Three times in four, an event's `endTime` an hour after its `startTime` (x-after), in every phase
    (the coverage phase skips flatmap_body): random times are in the wrong order half of the time."""
    body = case.body
    if not isinstance(body, dict) or "endTime" not in body:
        return
    end = references.later(body.get("startTime"))
    if end is not None and _often(case, "times"):
        case.body = {**body, "endTime": end}


def _calendar_range(case: Any) -> None:
    """Three times in four, a range the calendar lists (`end` a week after `start`, x-after): random times
    are a year or more apart nearly always, and the documented 422 alone would be exercised."""
    query = dict(case.query or {})
    end = references.later(query.get("start"), hours=24 * 7)
    if end is not None and "end" in query and _often(case, "range"):
        case.query = {**query, "end": end}


def _live_download_link(case: Any) -> None:
    """Three times in four, a live signature for the case's file (one of the pool's, by then): the fuzzed
    `Range`, `If-Range` and `If-None-Match` headers then meet real bytes, not only the 403 of a bad link."""
    file_id = (case.path_parameters or {}).get("id")
    query = case.query or {}
    if not (_valid_id(file_id) and "expires" in query and "signature" in query and _often(case, "link")):
        return
    headers = {"Authorization": f"Bearer {_admin_token()}"}
    link = _client.get(f"/api/files/{file_id}/download-url", headers=headers)
    if link.status_code != 200:  # not a file of the admin's
        return
    signed = dict(parse_qsl(urlsplit(link.json()["url"]).query))
    case.query = {**query, "expires": int(signed["expires"]), "signature": signed["signature"]}


def _not_into_itself(case: Any) -> None:
    """A real folder id in the path and a real one in `parentId` can be the same folder: moving a folder into
    itself is a documented 422 (its HTTP test has it), not valid data: such a move goes to the top level."""
    body, path_id = case.body, (case.path_parameters or {}).get("id")
    if (
        case.operation.method.upper() == "PATCH"
        and case.operation.path == "/api/folders/{id}"
        and isinstance(body, dict)
        and body.get("parentId") is not None
        and body.get("parentId") == path_id
    ):
        case.body = {**body, "parentId": None}
