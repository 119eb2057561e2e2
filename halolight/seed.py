"""Reference data (the permission vocabulary and roles, everywhere) and demo accounts (development and test
only, see `SEED_DEMO_USERS`). Idempotent: only adds what is missing. `accounts_with_demo_password` is the
production start-up check that no demo password survived.

Names follow the NestJS backend's seed (see `permissions.md` in the shared reference) so that a role means
the same thing on both backends. Role names are matched without regard to case: where the NestJS seed
already created `admin`, it is reused rather than duplicated as `ADMIN`, and roles that already exist keep
their permissions untouched.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import (
    ActivityLog,
    AttendeeStatus,
    Document,
    DocumentShare,
    File,
    Folder,
    Permission,
    Role,
    RolePermission,
    SharePermission,
    User,
    UserRole,
    UserStatus,
)
from halolight.db.types import new_id, utcnow
from halolight.demo_files import demo_files, seed_files
from halolight.repositories import calendar, documents, messages, notifications
from halolight.security.passwords import PasswordHasher
from halolight.storage import Storage

DEMO_PASSWORD = "123456"  # noqa: S105 - the documented demo password of the whole HaloLight family

_VERBS = ("view", "create", "edit", "delete")
PERMISSIONS: dict[str, str] = {
    "*": "All permissions",
    "dashboard:view": "View the dashboard",
    **{f"users:{v}": f"{v.capitalize()} users" for v in _VERBS},
    "analytics:view": "View analytics",
    "analytics:export": "Export analytics",
    "settings:view": "View settings",
    "settings:edit": "Edit settings",
    **{f"documents:{v}": f"{v.capitalize()} documents" for v in _VERBS},
    "files:view": "View files",
    "files:upload": "Upload files",
    "files:delete": "Delete files",
    "messages:view": "View messages",
    "messages:send": "Send messages",
    "calendar:view": "View the calendar",
    "calendar:edit": "Edit the calendar",
    "notifications:view": "View notifications",
    "notifications:manage": "Manage notifications",
    **{f"roles:{v}": f"{v.capitalize()} roles" for v in _VERBS},
    "permissions:view": "View permissions",
    "permissions:create": "Create permissions",
    "permissions:delete": "Delete permissions",
    **{f"teams:{v}": f"{v.capitalize()} teams" for v in _VERBS},
}

_VIEWER = [
    "dashboard:view", "users:view", "analytics:view", "documents:view", "files:view",
    "messages:view", "calendar:view", "notifications:view", "teams:view",
]  # fmt: skip
# Editors and users may run teams of their own: the owner rule (halolight.authz) keeps them to those.
_EDITOR = [
    *_VIEWER, "documents:create", "documents:edit", "files:upload", "messages:send", "calendar:edit",
    "teams:create", "teams:edit", "teams:delete",
]  # fmt: skip
_IDENTITY = ("roles:", "permissions:", "teams:")
_TEAMS = ["teams:view", "teams:create", "teams:edit", "teams:delete"]
_MANAGER = [
    p for p in PERMISSIONS
    if p not in ("*", "users:delete", "settings:edit") and not p.startswith(_IDENTITY)
] + ["roles:view", "permissions:view", *_TEAMS]  # fmt: skip
_USER = [
    "dashboard:view", "documents:view", "documents:create", "documents:edit", "files:view", "files:upload",
    "messages:view", "messages:send", "calendar:view", "calendar:edit", "notifications:view", "teams:view",
    "teams:create", "teams:edit", "teams:delete",
]  # fmt: skip

ROLES: list[tuple[str, str, str, list[str]]] = [
    ("ADMIN", "超级管理员", "Everything, through the `*` permission", ["*"]),
    ("MANAGER", "管理员", "Runs the workspace; cannot delete users or edit settings", _MANAGER),
    ("EDITOR", "编辑员", "Creates and edits content", _EDITOR),
    ("VIEWER", "访客", "Reads everything, changes nothing", _VIEWER),
    ("USER", "普通用户", "Default role of self-registered accounts", _USER),
]

# (email, username, name, role, status)
DEMO_USERS: list[tuple[str, str, str, str, UserStatus]] = [
    ("admin@halolight.h7ml.cn", "admin", "Admin User", "ADMIN", UserStatus.ACTIVE),
    ("manager@halolight.h7ml.cn", "manager", "Manager User", "MANAGER", UserStatus.ACTIVE),
    ("demo@halolight.h7ml.cn", "demo", "Demo Editor", "EDITOR", UserStatus.ACTIVE),
    ("viewer@halolight.h7ml.cn", "viewer", "Viewer User", "VIEWER", UserStatus.ACTIVE),
    ("user@halolight.h7ml.cn", "user", "Regular User", "USER", UserStatus.ACTIVE),
    ("inactive@halolight.h7ml.cn", "inactive", "Inactive User", "USER", UserStatus.INACTIVE),
    ("suspended@halolight.h7ml.cn", "suspended", "Suspended User", "USER", UserStatus.SUSPENDED),
]

# The demo accounts' folders, as paths of names (the parent first), so `make run` shows a file tree. Stored as
# `repositories.folders` stores folders: path `/<ownerId>/<name>/…`.
DEMO_FOLDERS: dict[str, list[tuple[str, ...]]] = {
    "admin@halolight.h7ml.cn": [
        ("项目",),
        ("项目", "HaloLight 2.0"),
        ("项目", "HaloLight 2.0", "设计稿"),
        ("Reports",),
    ],
    "demo@halolight.h7ml.cn": [("Drafts",), ("Drafts", "Marketing"), ("图片",)],
}

_WEEKLY = """# 项目周会纪要

今天我们讨论项目管理的进度：HaloLight 2.0 的文档模块已完成接口设计，下周进入联调。

- 全文搜索：中文按二元分词（bigram），英文按单词
- 分享：支持按用户或团队分享，权限分为 READ、COMMENT、EDIT
- 风险：前端的标签组件需要适配大小写不敏感的标签
"""
_RELEASE = """# Release checklist

1. Run the full test suite (`make test`) and the contract test.
2. Review the deployment report and the database migrations.
3. Announce the release to the team; update the roadmap.
"""
_DESIGN = """# 设计规范 Design guidelines

颜色、字体与间距遵循 HaloLight 设计系统。Buttons use the primary color; forms keep 8px spacing.
所有图标使用线性风格，尺寸为 16、20 或 24 像素。
"""
_PLAN = """# 市场推广计划

第一季度：内容营销与社区活动；第二季度：合作伙伴计划。
Budget review every month; the campaign report goes to the marketing team.
"""

# The demo accounts' documents (title, content, folder path or None, tags, shares as (email, permission)),
# created with the account, as its folders are: `make run` shows search, tags and sharing at work.
DemoDocument = tuple[str, str, tuple[str, ...] | None, list[str], list[tuple[str, SharePermission]]]
DEMO_DOCUMENTS: dict[str, list[DemoDocument]] = {
    "admin@halolight.h7ml.cn": [
        (
            "项目周会纪要",
            _WEEKLY,
            ("项目", "HaloLight 2.0"),
            ["会议", "Project"],
            [
                ("demo@halolight.h7ml.cn", SharePermission.EDIT),
                ("viewer@halolight.h7ml.cn", SharePermission.READ),
            ],
        ),
        ("Release checklist", _RELEASE, ("Reports",), ["Release", "Project"], []),
        (
            "设计规范 Design guidelines",
            _DESIGN,
            ("项目", "HaloLight 2.0", "设计稿"),
            ["Design", "设计"],
            [("demo@halolight.h7ml.cn", SharePermission.COMMENT)],
        ),
    ],
    "demo@halolight.h7ml.cn": [
        (
            "市场推广计划",
            _PLAN,
            ("Drafts", "Marketing"),
            ["marketing", "project"],
            [("admin@halolight.h7ml.cn", SharePermission.READ)],
        ),
        ("Ideas", "Quick notes: try the new search with 中文 and English words.", None, [], []),
    ],
}


async def seed(
    db: AsyncSession, passwords: PasswordHasher, *, demo_users: bool, storage: Storage | None = None
) -> None:
    """`storage`: where the new demo accounts' files go (none without it)."""
    existing = {p.action: p for p in (await db.scalars(select(Permission))).all()}
    for action, description in PERMISSIONS.items():
        if action not in existing:
            permission = Permission(action=action, resource=action.split(":", 1)[0], description=description)
            db.add(permission)
            existing[action] = permission
    await db.flush()

    role_ids: dict[str, str] = {}
    for name, label, description, actions in ROLES:
        role = (await db.scalars(select(Role).where(func.lower(Role.name) == name.lower()))).first()
        if role is None:
            role = Role(name=name, label=label, description=description)
            db.add(role)
            await db.flush()
            db.add_all(RolePermission(role_id=role.id, permission_id=existing[a].id) for a in actions)
        role_ids[name] = role.id

    if demo_users:
        await _seed_demo_users(db, passwords, role_ids, storage)
    await db.flush()


async def _seed_demo_users(
    db: AsyncSession, passwords: PasswordHasher, role_ids: dict[str, str], storage: Storage | None
) -> None:
    files = demo_files()
    password_hash: str | None = None
    created: dict[str, tuple[str, dict[tuple[str, ...], str]]] = {}  # email -> (id, folder ids by path)
    for email, username, name, role_name, status in DEMO_USERS:
        if (await db.scalars(select(User.id).where(func.lower(User.email) == email))).first() is not None:
            continue
        password_hash = password_hash or await passwords.hash(DEMO_PASSWORD)
        user = User(email=email, username=username, name=name, password=password_hash, status=status)
        db.add(user)
        await db.flush()
        db.add(UserRole(user_id=user.id, role_id=role_ids[role_name]))
        created[email] = (user.id, _seed_demo_folders(db, user.id, DEMO_FOLDERS.get(email, [])))
    if created:
        await db.flush()
        await _seed_demo_documents(db, created)
        await _seed_demo_conversations(db, set(created))
        await _seed_demo_events(db, list(created))
        if storage is not None:
            for email, (owner_id, folder_ids) in created.items():
                if email in files:
                    await seed_files(db, storage, owner_id, folder_ids, files[email])
        await _seed_demo_history(db, created)


async def _seed_demo_documents(
    db: AsyncSession, created: dict[str, tuple[str, dict[tuple[str, ...], str]]]
) -> None:
    """New demo accounts' documents, with their tags and their shares with the demo accounts that exist."""
    emails = [email for email, *_ in DEMO_USERS]
    users = {
        row.email: row.id
        for row in (await db.execute(select(User.email, User.id).where(User.email.in_(emails))))
    }
    for email, (owner_id, folder_ids) in created.items():
        for title, content, folder, tags, shares in DEMO_DOCUMENTS.get(email, []):
            folder_id = None if folder is None else folder_ids[folder]
            document_id = await documents.create(
                db, owner_id=owner_id, title=title, content=content, folder_id=folder_id
            )
            await documents.set_tags(db, document_id, await documents.resolve_tags(db, tags))
            for with_email, permission in shares:
                if with_email in users:
                    await documents.share(
                        db, document_id, user_id=users[with_email], team_id=None, permission=permission
                    )


# Conversations between demo accounts: (one, other, [(sender is `one`?, minutes ago, text), ...]).
DEMO_CONVERSATIONS: list[tuple[str, str, list[tuple[bool, int, str]]]] = [
    (
        "admin@halolight.h7ml.cn",
        "demo@halolight.h7ml.cn",
        [
            (True, 180, "早上好！HaloLight 2.0 的需求文档已经共享给你了，请看一下。"),
            (False, 170, "收到，我今天下午看完给你反馈。"),
            (True, 95, "Also, the design review moved to Thursday 10:00."),
            (False, 20, "好的，周四见 👍"),
        ],
    ),
    (
        "manager@halolight.h7ml.cn",
        "admin@halolight.h7ml.cn",
        [
            (True, 300, "Q3 sales figures are ready, I put them in the shared folder."),
            (False, 290, "Thanks! 我晚点看。"),
            (True, 12, "能否今天确认一下预算？"),
        ],
    ),
    (
        "demo@halolight.h7ml.cn",
        "viewer@halolight.h7ml.cn",
        [
            (True, 60, "Hi! Welcome to the team. 有问题随时问我。"),
        ],
    ),
]


async def _seed_demo_conversations(db: AsyncSession, created: set[str]) -> None:
    """Direct conversations between demo accounts, at least one of them new in this run, sent the real way:
    unread counts and the recipients' notifications as `sendMessage` makes them. Also the notifications of
    the demo documents shared with them, as `shareDocument` makes them."""
    emails = {email for one, other, _ in DEMO_CONVERSATIONS for email in (one, other)}
    rows = (await db.execute(select(User.email, User.id, User.name).where(User.email.in_(emails)))).all()
    users = {row.email: row for row in rows}
    now = utcnow()
    for one, other, lines in DEMO_CONVERSATIONS:
        if one not in users or other not in users or not ({one, other} & created):
            continue
        a, b = users[one], users[other]
        conversation_id = await messages.direct_conversation(db, a.id, b.id)
        for from_one, minutes_ago, content in lines:
            sender = a if from_one else b
            message = await messages.add_message(
                db,
                conversation_id=conversation_id,
                sender_id=sender.id,
                content=content,
                created_at=now - timedelta(minutes=minutes_ago),
            )
            counts = await messages.count_unread(db, conversation_id, sender.id)
            await notifications.notify(
                db,
                [user_id for user_id, count in counts.items() if count == 1],
                type="message",
                title=f"New message from {sender.name}",
                content=content[:100],
                link=f"/messages?conversationId={conversation_id}",
                payload={"conversationId": conversation_id, "messageId": message.id, "senderId": sender.id},
            )
            # The recipient's reply means they had read what came before.
            await messages.mark_read(db, sender.id, conversation_id, at=message.created_at)
    owners = [users[email].id for email in created if email in users]
    shared = (
        await db.execute(
            select(
                DocumentShare.shared_with_id,
                Document.id,
                Document.title,
                Document.owner_id,
                DocumentShare.permission,
            )
            .join(Document, Document.id == DocumentShare.document_id)
            .where(Document.owner_id.in_(owners), DocumentShare.shared_with_id.is_not(None))
        )
    ).all()
    for row in shared:
        await notifications.notify(
            db,
            [row.shared_with_id],
            type="document_shared",
            title="A document was shared with you",
            content=f"{row.title} ({row.permission.value})",
            link=f"/documents/{row.id}",
            payload={
                "documentId": row.id,
                "permission": row.permission.value,
                "teamId": None,
                "by": row.owner_id,
            },
        )


# The demo accounts' calendar events, in the month the database is seeded and the next, so `make run` shows a
# calendar with something in it: (organizer, title, type, month (0 this one, 1 the next), day, start hour
# (UTC; None: all day), length (hours, or days when all day), location, color, attendees as (email, status)).
_A, _P, _D = AttendeeStatus.ACCEPTED, AttendeeStatus.PENDING, AttendeeStatus.DECLINED
DEMO_EVENTS: list[
    tuple[str, str, str, int, int, int | None, int, str | None, str, list[tuple[str, AttendeeStatus]]]
] = [
    ("admin@halolight.h7ml.cn", "项目周会", "meeting", 0, 3, 2, 1, "会议室A", "#6366f1",
     [("demo@halolight.h7ml.cn", _A), ("manager@halolight.h7ml.cn", _A), ("viewer@halolight.h7ml.cn", _P)]),
    ("admin@halolight.h7ml.cn", "代码评审", "meeting", 0, 10, 6, 2, "线上会议", "#8b5cf6",
     [("demo@halolight.h7ml.cn", _P), ("user@halolight.h7ml.cn", _D)]),
    ("admin@halolight.h7ml.cn", "HaloLight 2.0 发布", "task", 0, 20, None, 1, None, "#ec4899",
     [("manager@halolight.h7ml.cn", _A)]),
    ("admin@halolight.h7ml.cn", "Sprint planning", "meeting", 1, 2, 1, 2, "会议室B", "#10b981",
     [("demo@halolight.h7ml.cn", _P), ("manager@halolight.h7ml.cn", _P)]),
    ("admin@halolight.h7ml.cn", "团队建设", "event", 1, 14, None, 2, "公司附近餐厅", "#f59e0b",
     [("demo@halolight.h7ml.cn", _P), ("user@halolight.h7ml.cn", _P), ("viewer@halolight.h7ml.cn", _P)]),
    ("demo@halolight.h7ml.cn", "Content review", "meeting", 0, 12, 8, 1, "线上会议", "#3b82f6",
     [("admin@halolight.h7ml.cn", _A)]),
    ("demo@halolight.h7ml.cn", "文档整理", "task", 0, 25, None, 1, None, "#64748b", []),
    ("demo@halolight.h7ml.cn", "客户演示", "meeting", 1, 8, 3, 1, "会议室C", "#8b5cf6",
     [("manager@halolight.h7ml.cn", _P), ("user@halolight.h7ml.cn", _A)]),
    ("user@halolight.h7ml.cn", "Dentist", "reminder", 0, 18, 1, 1, None, "#ef4444", []),
]  # fmt: skip


def _month_start(today: date, months_ahead: int) -> date:
    year, month = divmod(today.month - 1 + months_ahead, 12)
    return date(today.year + year, month + 1, 1)


async def _seed_demo_events(db: AsyncSession, emails: list[str]) -> None:
    """The events organized by the new demo accounts `emails`, with their attendees among the demo accounts
    that exist."""
    wanted = [email for email, *_ in DEMO_USERS]
    users = {
        row.email: row.id
        for row in (await db.execute(select(User.email, User.id).where(User.email.in_(wanted))))
    }
    today = datetime.now(UTC).date()
    for owner, title, type_, month, day, hour, length, location, color, attendees in DEMO_EVENTS:
        if owner not in emails:
            continue
        first = datetime.combine(_month_start(today, month) + timedelta(days=day - 1), time(), UTC)
        if hour is None:
            start_at, end_at = first, first + timedelta(days=length)
        else:
            start_at = first + timedelta(hours=hour)
            end_at = start_at + timedelta(hours=length)
        event_id = await calendar.create(
            db,
            owner_id=users[owner],
            title=title,
            type=type_,
            start_at=start_at,
            end_at=end_at,
            all_day=hour is None,
            location=location,
            color=color,
        )
        for email, status in attendees:
            if email in users:
                await calendar.add_attendee(db, event_id, users[email], status)


async def _seed_demo_history(
    db: AsyncSession, created: dict[str, tuple[str, dict[tuple[str, ...], str]]]
) -> None:
    """The new demo accounts' past, so the dashboard has a year to show: their documents and files dated over
    the last twelve months with an activity-log row each (as if made then), and sign-ins on most of the last
    30 days for the active ones. Demo data only: derived figures stay true to the rows."""
    owners = {owner_id: email for email, (owner_id, _) in created.items()}
    if not owners:
        return
    now = utcnow()
    documents_of = select(Document.id, Document.owner_id).where(Document.owner_id.in_(owners))
    files_of = select(File.id, File.owner_id).where(File.owner_id.in_(owners))
    items = [
        *(
            ("document.create", "Document", row)
            for row in await db.execute(documents_of.order_by(Document.title))
        ),
        *(("file.upload", "File", row) for row in await db.execute(files_of.order_by(File.name))),
    ]
    logs: list[dict[str, Any]] = []
    for i, (action, target, row) in enumerate(items):
        at = now - timedelta(days=(i * 37) % 340, hours=i % 9)
        table = Document if target == "Document" else File
        await db.execute(update(table).where(table.id == row.id).values(created_at=at))
        logs.append(
            {"actor_id": row.owner_id, "action": action, "target_type": target, "target_id": row.id, "at": at}
        )
    active = {email for email, *_, status in DEMO_USERS if status == UserStatus.ACTIVE}
    for k, (owner_id, email) in enumerate(owners.items()):
        if email not in active:
            continue
        signed_in = [now - timedelta(days=day, hours=k + 1) for day in range(30) if (day + k) % 3]
        logs += [
            {
                "actor_id": owner_id,
                "action": "auth.login",
                "target_type": "User",
                "target_id": owner_id,
                "at": at,
            }
            for at in signed_in
        ]
        await db.execute(update(User).where(User.id == owner_id).values(last_login_at=max(signed_in)))
    await db.execute(
        insert(ActivityLog),
        [
            {"id": new_id(), **{k: v for k, v in log.items() if k != "at"}, "created_at": log["at"]}
            for log in logs
        ],
    )


def _seed_demo_folders(
    db: AsyncSession, owner_id: str, names: list[tuple[str, ...]]
) -> dict[tuple[str, ...], str]:
    """A new demo account's folders (parents listed before their children); their ids by path of names."""
    ids: dict[tuple[str, ...], str] = {}
    for path in names:
        folder = Folder(
            name=path[-1],
            path="/".join(("", owner_id, *path)),
            parent_id=ids.get(path[:-1]),
            owner_id=owner_id,
        )
        folder.id = new_id()
        ids[path] = folder.id
        db.add(folder)
    return ids


# Resources whose write verbs (and `<resource>:*`) let an account take over others: with `*`, they make an
# account privileged for the demo-password check.
_IDENTITY_RESOURCES = ("users", "roles", "permissions")


def _privileged() -> ColumnElement[bool]:
    resource = func.split_part(Permission.action, ":", 1)
    return or_(
        Permission.action == "*",
        and_(
            resource.in_(_IDENTITY_RESOURCES),
            Permission.action.not_in([f"{r}:view" for r in _IDENTITY_RESOURCES]),
        ),
    )


async def accounts_with_demo_password(db: AsyncSession, passwords: PasswordHasher) -> list[str]:
    """Emails of the demo accounts and of privileged accounts that still accept the demo password.

    Checks only those (a handful), not every user: bcrypt is slow on purpose. Verified in worker threads.
    """
    demo = select(User.email, User.password).where(func.lower(User.email).in_([u[0] for u in DEMO_USERS]))
    privileged = (
        select(User.email, User.password)
        .join(UserRole, UserRole.user_id == User.id)
        .join(RolePermission, RolePermission.role_id == UserRole.role_id)
        .join(Permission, Permission.id == RolePermission.permission_id)
        .where(_privileged())
    )
    rows = sorted({(email, hashed) for email, hashed in await db.execute(demo.union(privileged))})
    accepted = await asyncio.gather(*(passwords.verify(DEMO_PASSWORD, hashed) for _, hashed in rows))
    return [email for (email, _), ok in zip(rows, accepted, strict=True) if ok]
