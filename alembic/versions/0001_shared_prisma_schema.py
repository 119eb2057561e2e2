"""The schema shared with the NestJS/Java backends (Prisma migration 20251204094437_init), idempotent.

The shared database may already hold this schema, created by Prisma, with data in it. So every statement
only adds what is missing and never alters or drops: enum types and labels, tables, columns, indexes and
foreign keys are each created when absent by name. A table or column that exists with another definition is
left as it is.

The definitions below are literal on purpose: a migration must not change when the reference it was written
from (prisma-schema.json) changes. tests/migrations/test_schema.py compares the result with that reference.

Revision ID: 0001
Revises:
Create Date: 2025-12-04
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENUMS: dict[str, tuple[str, ...]] = {
    "AttendeeStatus": ("PENDING", "ACCEPTED", "DECLINED"),
    "SharePermission": ("READ", "EDIT", "COMMENT"),
    "UserStatus": ("ACTIVE", "INACTIVE", "SUSPENDED"),
}

# table -> column -> definition, as Prisma's migration writes it; defaults spelled as PostgreSQL reports them.
TABLES: dict[str, dict[str, str]] = {
    "activity_logs": {
        "id": "TEXT NOT NULL",
        "action": "TEXT NOT NULL",
        "actorId": "TEXT NOT NULL",
        "metadata": "JSONB",
        "targetId": "TEXT NOT NULL",
        "targetType": "TEXT NOT NULL",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
    },
    "calendar_events": {
        "id": "TEXT NOT NULL",
        "allDay": "BOOLEAN NOT NULL DEFAULT false",
        "color": "TEXT",
        "description": "TEXT",
        "endAt": "TIMESTAMP(3) NOT NULL",
        "location": "TEXT",
        "ownerId": "TEXT NOT NULL",
        "startAt": "TIMESTAMP(3) NOT NULL",
        "title": "TEXT NOT NULL",
        "type": "TEXT NOT NULL",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
        "updatedAt": "TIMESTAMP(3) NOT NULL",
    },
    "conversation_participants": {
        "conversationId": "TEXT NOT NULL",
        "userId": "TEXT NOT NULL",
        "lastReadAt": "TIMESTAMP(3)",
        "role": "TEXT DEFAULT 'member'::text",
        "unreadCount": "INTEGER NOT NULL DEFAULT 0",
        "joinedAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
    },
    "conversations": {
        "id": "TEXT NOT NULL",
        "avatar": "TEXT",
        "isGroup": "BOOLEAN NOT NULL DEFAULT false",
        "name": "TEXT",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
        "updatedAt": "TIMESTAMP(3) NOT NULL",
    },
    "document_shares": {
        "id": "TEXT NOT NULL",
        "documentId": "TEXT NOT NULL",
        "expiresAt": "TIMESTAMP(3)",
        "permission": '"SharePermission" NOT NULL DEFAULT \'READ\'::"SharePermission"',
        "sharedWithId": "TEXT",
        "teamId": "TEXT",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
    },
    "document_tags": {
        "documentId": "TEXT NOT NULL",
        "tagId": "TEXT NOT NULL",
    },
    "documents": {
        "id": "TEXT NOT NULL",
        "content": "TEXT NOT NULL",
        "folder": "TEXT",
        "ownerId": "TEXT NOT NULL",
        "size": "BIGINT NOT NULL DEFAULT 0",
        "teamId": "TEXT",
        "title": "TEXT NOT NULL",
        "type": "TEXT NOT NULL",
        "views": "INTEGER NOT NULL DEFAULT 0",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
        "updatedAt": "TIMESTAMP(3) NOT NULL",
    },
    "event_attendees": {
        "eventId": "TEXT NOT NULL",
        "userId": "TEXT NOT NULL",
        "status": '"AttendeeStatus" NOT NULL DEFAULT \'PENDING\'::"AttendeeStatus"',
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
    },
    "event_reminders": {
        "id": "TEXT NOT NULL",
        "eventId": "TEXT NOT NULL",
        "remindAt": "TIMESTAMP(3) NOT NULL",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
    },
    "files": {
        "id": "TEXT NOT NULL",
        "folderId": "TEXT",
        "isFavorite": "BOOLEAN NOT NULL DEFAULT false",
        "mimeType": "TEXT NOT NULL",
        "name": "TEXT NOT NULL",
        "ownerId": "TEXT NOT NULL",
        "path": "TEXT NOT NULL",
        "size": "BIGINT NOT NULL",
        "teamId": "TEXT",
        "thumbnail": "TEXT",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
        "updatedAt": "TIMESTAMP(3) NOT NULL",
    },
    "folders": {
        "id": "TEXT NOT NULL",
        "name": "TEXT NOT NULL",
        "ownerId": "TEXT NOT NULL",
        "parentId": "TEXT",
        "path": "TEXT NOT NULL",
        "teamId": "TEXT",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
        "updatedAt": "TIMESTAMP(3) NOT NULL",
    },
    "messages": {
        "id": "TEXT NOT NULL",
        "content": "TEXT NOT NULL",
        "conversationId": "TEXT NOT NULL",
        "senderId": "TEXT NOT NULL",
        "type": "TEXT NOT NULL DEFAULT 'text'::text",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
    },
    "notifications": {
        "id": "TEXT NOT NULL",
        "content": "TEXT NOT NULL",
        "link": "TEXT",
        "payload": "JSONB",
        "read": "BOOLEAN NOT NULL DEFAULT false",
        "readAt": "TIMESTAMP(3)",
        "title": "TEXT NOT NULL",
        "type": "TEXT NOT NULL",
        "userId": "TEXT NOT NULL",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
    },
    "permissions": {
        "id": "TEXT NOT NULL",
        "action": "TEXT NOT NULL",
        "description": "TEXT",
        "resource": "TEXT NOT NULL",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
        "updatedAt": "TIMESTAMP(3) NOT NULL",
    },
    "refresh_tokens": {
        "id": "TEXT NOT NULL",
        "expiresAt": "TIMESTAMP(3) NOT NULL",
        "token": "TEXT NOT NULL",
        "userId": "TEXT NOT NULL",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
    },
    "role_permissions": {
        "roleId": "TEXT NOT NULL",
        "permissionId": "TEXT NOT NULL",
    },
    "roles": {
        "id": "TEXT NOT NULL",
        "description": "TEXT",
        "label": "TEXT NOT NULL",
        "name": "TEXT NOT NULL",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
        "updatedAt": "TIMESTAMP(3) NOT NULL",
    },
    "tags": {
        "id": "TEXT NOT NULL",
        "name": "TEXT NOT NULL",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
    },
    "team_members": {
        "teamId": "TEXT NOT NULL",
        "userId": "TEXT NOT NULL",
        "roleId": "TEXT",
        "joinedAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
    },
    "teams": {
        "id": "TEXT NOT NULL",
        "avatar": "TEXT",
        "description": "TEXT",
        "name": "TEXT NOT NULL",
        "ownerId": "TEXT NOT NULL",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
        "updatedAt": "TIMESTAMP(3) NOT NULL",
    },
    "user_roles": {
        "userId": "TEXT NOT NULL",
        "roleId": "TEXT NOT NULL",
    },
    "users": {
        "id": "TEXT NOT NULL",
        "avatar": "TEXT",
        "bio": "TEXT",
        "department": "TEXT",
        "email": "TEXT NOT NULL",
        "lastLoginAt": "TIMESTAMP(3)",
        "name": "TEXT NOT NULL",
        "password": "TEXT NOT NULL",
        "phone": "TEXT",
        "position": "TEXT",
        "quotaUsed": "BIGINT NOT NULL DEFAULT 0",
        "status": '"UserStatus" NOT NULL DEFAULT \'ACTIVE\'::"UserStatus"',
        "username": "TEXT NOT NULL",
        "createdAt": "TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP",
        "updatedAt": "TIMESTAMP(3) NOT NULL",
    },
}

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "activity_logs": ("id",),
    "calendar_events": ("id",),
    "conversation_participants": ("conversationId", "userId"),
    "conversations": ("id",),
    "document_shares": ("id",),
    "document_tags": ("documentId", "tagId"),
    "documents": ("id",),
    "event_attendees": ("eventId", "userId"),
    "event_reminders": ("id",),
    "files": ("id",),
    "folders": ("id",),
    "messages": ("id",),
    "notifications": ("id",),
    "permissions": ("id",),
    "refresh_tokens": ("id",),
    "role_permissions": ("roleId", "permissionId"),
    "roles": ("id",),
    "tags": ("id",),
    "team_members": ("teamId", "userId"),
    "teams": ("id",),
    "user_roles": ("userId", "roleId"),
    "users": ("id",),
}

# index name -> (table, columns, unique); all btree.
INDEXES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "activity_logs_actorId_idx": ("activity_logs", ("actorId",), False),
    "activity_logs_createdAt_idx": ("activity_logs", ("createdAt",), False),
    "activity_logs_targetType_targetId_idx": ("activity_logs", ("targetType", "targetId"), False),
    "calendar_events_ownerId_idx": ("calendar_events", ("ownerId",), False),
    "calendar_events_startAt_endAt_idx": ("calendar_events", ("startAt", "endAt"), False),
    "document_shares_documentId_idx": ("document_shares", ("documentId",), False),
    "document_shares_sharedWithId_idx": ("document_shares", ("sharedWithId",), False),
    "documents_folder_idx": ("documents", ("folder",), False),
    "documents_ownerId_idx": ("documents", ("ownerId",), False),
    "documents_teamId_idx": ("documents", ("teamId",), False),
    "files_folderId_idx": ("files", ("folderId",), False),
    "files_ownerId_idx": ("files", ("ownerId",), False),
    "folders_ownerId_idx": ("folders", ("ownerId",), False),
    "folders_path_idx": ("folders", ("path",), False),
    "folders_path_key": ("folders", ("path",), True),
    "messages_conversationId_idx": ("messages", ("conversationId",), False),
    "messages_senderId_idx": ("messages", ("senderId",), False),
    "notifications_userId_read_idx": ("notifications", ("userId", "read"), False),
    "permissions_action_idx": ("permissions", ("action",), False),
    "permissions_action_key": ("permissions", ("action",), True),
    "refresh_tokens_token_idx": ("refresh_tokens", ("token",), False),
    "refresh_tokens_token_key": ("refresh_tokens", ("token",), True),
    "refresh_tokens_userId_idx": ("refresh_tokens", ("userId",), False),
    "roles_name_key": ("roles", ("name",), True),
    "tags_name_key": ("tags", ("name",), True),
    "users_email_idx": ("users", ("email",), False),
    "users_email_key": ("users", ("email",), True),
    "users_phone_key": ("users", ("phone",), True),
    "users_username_idx": ("users", ("username",), False),
    "users_username_key": ("users", ("username",), True),
}

# constraint name -> (table, column, referenced table, ON DELETE); each references id, ON UPDATE CASCADE.
FOREIGN_KEYS: dict[str, tuple[str, str, str, str]] = {
    "activity_logs_actorId_fkey": ("activity_logs", "actorId", "users", "CASCADE"),
    "calendar_events_ownerId_fkey": ("calendar_events", "ownerId", "users", "CASCADE"),
    "conversation_participants_conversationId_fkey": (
        "conversation_participants",
        "conversationId",
        "conversations",
        "CASCADE",
    ),
    "conversation_participants_userId_fkey": ("conversation_participants", "userId", "users", "CASCADE"),
    "document_shares_documentId_fkey": ("document_shares", "documentId", "documents", "CASCADE"),
    "document_shares_sharedWithId_fkey": ("document_shares", "sharedWithId", "users", "SET NULL"),
    "document_shares_teamId_fkey": ("document_shares", "teamId", "teams", "SET NULL"),
    "document_tags_documentId_fkey": ("document_tags", "documentId", "documents", "CASCADE"),
    "document_tags_tagId_fkey": ("document_tags", "tagId", "tags", "CASCADE"),
    "documents_ownerId_fkey": ("documents", "ownerId", "users", "CASCADE"),
    "documents_teamId_fkey": ("documents", "teamId", "teams", "SET NULL"),
    "event_attendees_eventId_fkey": ("event_attendees", "eventId", "calendar_events", "CASCADE"),
    "event_attendees_userId_fkey": ("event_attendees", "userId", "users", "CASCADE"),
    "event_reminders_eventId_fkey": ("event_reminders", "eventId", "calendar_events", "CASCADE"),
    "files_folderId_fkey": ("files", "folderId", "folders", "SET NULL"),
    "files_ownerId_fkey": ("files", "ownerId", "users", "CASCADE"),
    "files_teamId_fkey": ("files", "teamId", "teams", "SET NULL"),
    "folders_ownerId_fkey": ("folders", "ownerId", "users", "CASCADE"),
    "folders_parentId_fkey": ("folders", "parentId", "folders", "SET NULL"),
    "folders_teamId_fkey": ("folders", "teamId", "teams", "SET NULL"),
    "messages_conversationId_fkey": ("messages", "conversationId", "conversations", "CASCADE"),
    "messages_senderId_fkey": ("messages", "senderId", "users", "CASCADE"),
    "notifications_userId_fkey": ("notifications", "userId", "users", "CASCADE"),
    "refresh_tokens_userId_fkey": ("refresh_tokens", "userId", "users", "CASCADE"),
    "role_permissions_permissionId_fkey": ("role_permissions", "permissionId", "permissions", "CASCADE"),
    "role_permissions_roleId_fkey": ("role_permissions", "roleId", "roles", "CASCADE"),
    "team_members_roleId_fkey": ("team_members", "roleId", "roles", "SET NULL"),
    "team_members_teamId_fkey": ("team_members", "teamId", "teams", "CASCADE"),
    "team_members_userId_fkey": ("team_members", "userId", "users", "CASCADE"),
    "teams_ownerId_fkey": ("teams", "ownerId", "users", "CASCADE"),
    "user_roles_roleId_fkey": ("user_roles", "roleId", "roles", "CASCADE"),
    "user_roles_userId_fkey": ("user_roles", "userId", "users", "CASCADE"),
}


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _columns(names: Sequence[str]) -> str:
    return ", ".join(_q(name) for name in names)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _enum_statements() -> Iterator[str]:
    for name, labels in ENUMS.items():
        yield (
            f"DO $$ BEGIN CREATE TYPE {_q(name)} AS ENUM ({', '.join(_literal(label) for label in labels)}); "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        # A type created by an older Prisma schema may lack later labels; each goes after its predecessor.
        for previous, label in itertools.pairwise(labels):
            yield (
                f"ALTER TYPE {_q(name)} ADD VALUE IF NOT EXISTS {_literal(label)} AFTER {_literal(previous)}"
            )


def _table_statements() -> Iterator[str]:
    for table, columns in TABLES.items():
        definitions = [f"{_q(column)} {definition}" for column, definition in columns.items()]
        definitions.append(f"CONSTRAINT {_q(table + '_pkey')} PRIMARY KEY ({_columns(PRIMARY_KEYS[table])})")
        yield f"CREATE TABLE IF NOT EXISTS {_q(table)} ({', '.join(definitions)})"
    # For tables that existed before. A column added with NOT NULL and no default fails on a table holding
    # rows, which is the right outcome: there is no value to invent for those rows.
    for table, columns in TABLES.items():
        additions = [
            f"ADD COLUMN IF NOT EXISTS {_q(column)} {definition}" for column, definition in columns.items()
        ]
        yield f"ALTER TABLE {_q(table)} {', '.join(additions)}"


def _index_statements() -> Iterator[str]:
    for name, (table, columns, unique) in INDEXES.items():
        kind = "UNIQUE INDEX" if unique else "INDEX"
        yield f"CREATE {kind} IF NOT EXISTS {_q(name)} ON {_q(table)} ({_columns(columns)})"


def _foreign_key_statements() -> Iterator[str]:
    for name, (table, column, target, on_delete) in FOREIGN_KEYS.items():
        # Built from the literals above only, hence the noqa.
        yield (
            "DO $$ BEGIN "  # noqa: S608
            f"IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = {_literal(name)} "
            f"AND conrelid = {_literal(_q(table))}::regclass) THEN "
            f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(name)} FOREIGN KEY ({_q(column)}) "
            f'REFERENCES {_q(target)} ("id") ON DELETE {on_delete} ON UPDATE CASCADE; '
            "END IF; END $$"
        )


def upgrade() -> None:
    for statements in (_enum_statements, _table_statements, _index_statements, _foreign_key_statements):
        for statement in statements():
            op.execute(statement)


def downgrade() -> None:
    # The shared tables belong to the NestJS/Java backends as much as to us (and hold their data): this
    # migration may have only completed a schema Prisma created. Nothing here may drop them.
    raise RuntimeError(
        "refusing to downgrade 0001_shared_prisma_schema: the shared HaloLight tables are owned by the "
        "NestJS/Java backends too; downgrade to 0001 at most (drop a test database instead)"
    )
