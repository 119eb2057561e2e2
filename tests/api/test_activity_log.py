"""The activity log: every mutating operation writes exactly one `activity_logs` row (actor, action, target,
metadata) in its transaction, from the operation's `x-activity` in the spec; a failing request writes none.

One scenario walks every mutating operation of the tags that existed before the log (Auth … FileShares),
checking the row each request adds; `EXERCISED` must cover them all, so a new operation of those tags is not
forgotten. For every tag, the generated route of each operation with an `x-activity` expects that activity.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jose import jwt
from sqlalchemy import text

from codegen.spec import load, operations
from halolight.mail import OutboxMailSender
from halolight.repositories import roles
from tests.api.helpers import bearer, login, register, unique_email

ROOT = Path(__file__).resolve().parents[2]
TAGS = {"Auth", "Users", "Roles", "Permissions", "Teams", "Documents", "Folders", "Files", "FileShares"}
OPS = operations(load(ROOT / "spec" / "openapi.yaml"))
SECRETS = ("password", "token", "secret", "hash")


class Recorded:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def one(self, action: str, target: str, target_id: str, actor: str) -> dict[str, Any]:
        assert len(self.rows) == 1, self.rows
        row = self.rows[0]
        assert (row["action"], row["targetType"], row["targetId"], row["actorId"]) == (
            action,
            target,
            target_id,
            actor,
        )
        text_of_row = repr(row["metadata"]).lower()
        assert not any(word in text_of_row for word in SECRETS if word != "password"), row
        return row


class Log:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.exercised: set[str] = set()

    async def _ids(self) -> set[str]:
        async with self.app.state.runtime.sessionmaker() as db:
            return set((await db.execute(text("SELECT id FROM activity_logs"))).scalars())

    @asynccontextmanager
    async def expect(self, operation_id: str | None = None) -> AsyncIterator[Recorded]:
        before = await self._ids()
        recorded = Recorded()
        yield recorded
        new = await self._ids() - before
        async with self.app.state.runtime.sessionmaker() as db:
            rows = await db.execute(
                text('SELECT id, "actorId", action, "targetType", "targetId", metadata FROM activity_logs'
                     " WHERE id = ANY(:ids)"),
                {"ids": list(new)},
            )  # fmt: skip
            recorded.rows = [dict(r._mapping) for r in rows]
        if operation_id is not None:
            self.exercised.add(operation_id)


@pytest.fixture
def log(app: FastAPI) -> Log:
    return Log(app)


async def _admin(client: httpx.AsyncClient, app: FastAPI) -> tuple[str, dict[str, str]]:
    """A fresh account holding ADMIN: its rows are told apart from every other test's by the actor."""
    body = await register(client)
    async with app.state.runtime.sessionmaker() as db:
        admin = await roles.find_by_name(db, "ADMIN")
        assert admin is not None
        await roles.assign_to_user(db, body["user"]["id"], admin.id)
        await db.commit()
    return body["user"]["id"], bearer(body["accessToken"])


def _sid(tokens: dict[str, Any]) -> str:
    return str(jwt.get_unverified_claims(tokens["refreshToken"])["sid"])


async def _ok(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json() if response.content else {}


async def test_every_mutating_operation_writes_one_row(
    client: httpx.AsyncClient, app: FastAPI, log: Log, outbox: OutboxMailSender
) -> None:
    me, h = await _admin(client, app)

    # Auth: public operations name the account concerned.
    email = unique_email()
    async with log.expect("register") as r:
        user = await _ok(
            await client.post(
                "/api/auth/register", json={"email": email, "name": "A", "password": "securePass123"}
            ),
            201,
        )
    uid = user["user"]["id"]
    r.one("auth.register", "User", uid, uid)
    async with log.expect("login") as r:
        session = await login(client, email, "securePass123")
    r.one("auth.login", "User", uid, uid)
    async with log.expect("refreshTokens") as r:
        await _ok(await client.post("/api/auth/refresh", json={"refreshToken": session["refreshToken"]}), 200)
    assert r.rows == []  # opted out: token rotation
    async with log.expect() as r:
        await _ok(await client.post("/api/auth/forgot-password", json={"email": unique_email()}), 200)
    assert r.rows == []  # nobody's account: nothing to say
    async with log.expect("forgotPassword") as r:
        await _ok(await client.post("/api/auth/forgot-password", json={"email": email}), 200)
    r.one("auth.forgot_password", "User", uid, uid)
    await app.state.runtime.drain()
    match = re.search(r"token=([A-Za-z0-9_-]+)", outbox.messages(to=email)[-1]["body"])
    assert match
    async with log.expect("resetPassword") as r:
        await _ok(
            await client.post(
                "/api/auth/reset-password", json={"token": match.group(1), "password": "newPass12345"}
            ),
            200,
        )
    r.one("auth.reset_password", "User", uid, uid)
    first, second = await login(client, email, "newPass12345"), await login(client, email, "newPass12345")
    async with log.expect("revokeSession") as r:
        await _ok(
            await client.delete(f"/api/auth/sessions/{_sid(second)}", headers=bearer(first["accessToken"])),
            204,
        )
    r.one("session.revoke", "Session", _sid(second), uid)
    async with log.expect("changePassword") as r:
        await _ok(
            await client.post(
                "/api/auth/change-password",
                json={"currentPassword": "newPass12345", "newPassword": "otherPass12345"},
                headers=bearer(first["accessToken"]),
            ),
            200,
        )
    assert r.one("auth.change_password", "User", uid, uid)["metadata"] is None  # no field names of a password
    third = await login(client, email, "otherPass12345")
    async with log.expect("logout") as r:
        await _ok(await client.post("/api/auth/logout", headers=bearer(third["accessToken"])), 200)
    r.one("auth.logout", "User", uid, uid)

    # Users
    async with log.expect("createUser") as r:
        created = await _ok(
            await client.post(
                "/api/users",
                json={"email": unique_email(), "name": "U", "password": "initialPass1"},
                headers=h,
            ),
            201,
        )
    r.one("user.create", "User", created["id"], me)
    async with log.expect("updateUser") as r:
        await _ok(await client.patch(f"/api/users/{created['id']}", json={"name": "V"}, headers=h), 200)
    assert r.one("user.update", "User", created["id"], me)["metadata"] == {"fields": ["name"]}
    async with log.expect("updateUserStatus") as r:
        await _ok(
            await client.patch(f"/api/users/{created['id']}/status", json={"status": "SUSPENDED"}, headers=h),
            200,
        )
    r.one("user.update_status", "User", created["id"], me)
    async with log.expect("deleteUser") as r:
        await _ok(await client.delete(f"/api/users/{created['id']}", headers=h), 204)
    r.one("user.delete", "User", created["id"], me)
    doomed = [
        (
            await _ok(
                await client.post(
                    "/api/users",
                    json={"email": unique_email(), "name": "D", "password": "initialPass1"},
                    headers=h,
                ),
                201,
            )
        )["id"]
        for _ in range(2)
    ]
    async with log.expect("deleteUsers") as r:
        await _ok(await client.post("/api/users/batch-delete", json={"ids": doomed}, headers=h), 200)
    assert r.one("user.delete", "User", "", me)["metadata"] == {"ids": sorted(doomed)}

    # Roles and permissions
    async with log.expect("createPermission") as r:
        permission = await _ok(
            await client.post(
                "/api/permissions", json={"action": f"actlog{uid[-6:].lower()}:view"}, headers=h
            ),
            201,
        )
    r.one("permission.create", "Permission", permission["id"], me)
    async with log.expect("createRole") as r:
        role = await _ok(await client.post("/api/roles", json={"name": f"ACTLOG-{uid[-8:]}"}, headers=h), 201)
    r.one("role.create", "Role", role["id"], me)
    async with log.expect("updateRole") as r:
        await _ok(await client.patch(f"/api/roles/{role['id']}", json={"label": "Logged"}, headers=h), 200)
    r.one("role.update", "Role", role["id"], me)
    async with log.expect("setRolePermissions") as r:
        await _ok(
            await client.post(
                f"/api/roles/{role['id']}/permissions", json={"permissionIds": [permission["id"]]}, headers=h
            ),
            200,
        )
    r.one("role.set_permissions", "Role", role["id"], me)
    async with log.expect("deleteRole") as r:
        await _ok(await client.delete(f"/api/roles/{role['id']}", headers=h), 204)
    r.one("role.delete", "Role", role["id"], me)
    async with log.expect("deletePermission") as r:
        await _ok(await client.delete(f"/api/permissions/{permission['id']}", headers=h), 204)
    r.one("permission.delete", "Permission", permission["id"], me)

    # Teams
    async with log.expect("createTeam") as r:
        team = await _ok(await client.post("/api/teams", json={"name": "Logged team"}, headers=h), 201)
    r.one("team.create", "Team", team["id"], me)
    async with log.expect("updateTeam") as r:
        await _ok(await client.patch(f"/api/teams/{team['id']}", json={"name": "Renamed"}, headers=h), 200)
    r.one("team.update", "Team", team["id"], me)
    async with log.expect("addTeamMember") as r:
        await _ok(await client.post(f"/api/teams/{team['id']}/members", json={"userId": uid}, headers=h), 201)
    assert r.one("team.add_member", "Team", team["id"], me)["metadata"] == {"userId": uid}
    async with log.expect() as r:  # a failing request (409) writes nothing
        response = await client.post(f"/api/teams/{team['id']}/members", json={"userId": uid}, headers=h)
        assert response.status_code == 409
    assert r.rows == []
    async with log.expect("removeTeamMember") as r:
        await _ok(await client.delete(f"/api/teams/{team['id']}/members/{uid}", headers=h), 200)
    assert r.one("team.remove_member", "Team", team["id"], me)["metadata"] == {"userId": uid}
    async with log.expect("deleteTeam") as r:
        await _ok(await client.delete(f"/api/teams/{team['id']}", headers=h), 204)
    r.one("team.delete", "Team", team["id"], me)

    # Documents
    async with log.expect("createDocument") as r:
        doc = await _ok(
            await client.post("/api/documents", json={"title": "T", "content": "C"}, headers=h), 201
        )
    r.one("document.create", "Document", doc["id"], me)
    url = f"/api/documents/{doc['id']}"
    async with log.expect("getDocument") as r:
        await _ok(await client.get(url, headers=h), 200)
    assert r.rows == []  # opted out: a view is counted, not logged
    for op, method, path, body, action in [
        ("updateDocument", "PUT", "", {"content": "D"}, "document.update"),
        ("renameDocument", "PATCH", "/rename", {"title": "T2"}, "document.rename"),
        ("moveDocument", "POST", "/move", {"folderId": None}, "document.move"),
        ("setDocumentTags", "POST", "/tags", {"tags": ["x"]}, "document.set_tags"),
        ("shareDocument", "POST", "/share", {"userId": uid, "permission": "READ"}, "document.share"),
        ("unshareDocument", "POST", "/unshare", {"userId": uid}, "document.unshare"),
    ]:
        async with log.expect(op) as r:
            await _ok(await client.request(method, url + path, json=body, headers=h), 200)
        r.one(action, "Document", doc["id"], me)
    async with log.expect() as r:  # a failing request (412) writes nothing
        response = await client.patch(
            f"{url}/rename", json={"title": "x"}, headers={**h, "If-Match": '"stale"'}
        )
        assert response.status_code == 412
    assert r.rows == []
    async with log.expect("deleteDocument") as r:
        await _ok(await client.delete(url, headers=h), 204)
    r.one("document.delete", "Document", doc["id"], me)
    more = [
        (await _ok(await client.post("/api/documents", json={"title": "T", "content": "C"}, headers=h), 201))[
            "id"
        ]
    ]
    async with log.expect("deleteDocuments") as r:
        await _ok(await client.post("/api/documents/batch-delete", json={"ids": more}, headers=h), 200)
    assert r.one("document.delete", "Document", "", me)["metadata"] == {"ids": more}

    # Folders and files
    async with log.expect("createFolder") as r:
        folder = await _ok(await client.post("/api/folders", json={"name": "Logged"}, headers=h), 201)
    r.one("folder.create", "Folder", folder["id"], me)
    async with log.expect("updateFolder") as r:
        await _ok(
            await client.patch(f"/api/folders/{folder['id']}", json={"name": "Logged 2"}, headers=h), 200
        )
    r.one("folder.update", "Folder", folder["id"], me)
    async with log.expect("uploadFile") as r:
        file = await _ok(
            await client.post(
                "/api/files/upload", files={"file": ("a.txt", b"abc", "text/plain")}, headers=h
            ),
            201,
        )
    r.one("file.upload", "File", file["id"], me)
    furl = f"/api/files/{file['id']}"
    for op, method, path, body, action in [
        ("renameFile", "PATCH", "/rename", {"name": "b.txt"}, "file.rename"),
        ("moveFile", "POST", "/move", {"folderId": folder["id"]}, "file.move"),
        ("toggleFileFavorite", "PATCH", "/favorite", None, "file.favorite"),
    ]:
        async with log.expect(op) as r:
            await _ok(await client.request(method, furl + path, json=body, headers=h), 200)
        r.one(action, "File", file["id"], me)
    async with log.expect("copyFile") as r:
        copy = await _ok(await client.post(f"{furl}/copy", json={}, headers=h), 201)
    assert r.one("file.copy", "File", copy["id"], me)["metadata"] == {"source": file["id"]}
    async with log.expect("shareFile") as r:
        link = await _ok(await client.post(f"{furl}/share", json={}, headers=h), 201)
    r.one("file.share", "File", file["id"], me)
    async with log.expect("getSharedFile") as r:
        await _ok(await client.get(f"/api/files/shared/{link['shareToken']}"), 200)
    assert r.rows == []  # opted out: anonymous visitors; the share's access log records them
    async with log.expect("revokeFileShare") as r:
        await _ok(await client.post(f"{furl}/revoke-share", json={"shareId": link["id"]}, headers=h), 204)
    r.one("file.revoke_share", "File", file["id"], me)
    async with log.expect("deleteFile") as r:
        await _ok(await client.delete(furl, headers=h), 204)
    r.one("file.delete", "File", file["id"], me)
    async with log.expect("batchDeleteFiles") as r:
        await _ok(await client.post("/api/files/batch-delete", json={"ids": [copy["id"]]}, headers=h), 200)
    assert r.one("file.delete", "File", "", me)["metadata"] == {"ids": [copy["id"]]}
    async with log.expect("deleteFolder") as r:
        await _ok(await client.delete(f"/api/folders/{folder['id']}", headers=h), 204)
    r.one("folder.delete", "Folder", folder["id"], me)
    async with log.expect() as r:  # a 404 writes nothing
        assert (await client.delete(f"/api/folders/{folder['id']}", headers=h)).status_code == 404
    assert r.rows == []

    mutating = {op.operation_id for op in OPS if op.tag in TAGS and op.mutates}
    assert mutating == log.exercised, mutating ^ log.exercised


def test_every_generated_route_expects_its_activity() -> None:
    """All tags, those added later included: the route of each operation with an `x-activity` names it."""
    for op in OPS:
        if op.activity is None:
            continue
        source = (ROOT / "generated" / "routers" / f"{_module(op.tag)}.py").read_text(encoding="utf-8")
        route = source.split(f"operation_id={op.operation_id!r}", 1)[1].split("@router.", 1)[0]
        action, target = op.activity
        assert f"ctx.expect_activity(Activity({action!r}, {target!r}" in route, op.where


def test_every_mutating_operation_has_an_activity_or_a_reason() -> None:
    for op in OPS:
        if op.mutates:
            assert op.activity is not None or op.raw.get("x-activity-reason"), op.where


def _module(tag: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", tag).lower()
