"""ORM models of the database shared with the Prisma-based backends (22 tables), plus our two auth tables.

The DB names are Prisma's (quoted camelCase columns, `<table>_<columns>_key|idx|fkey`, `<table>_pkey`); the
Python attributes are snake_case. Every column with a server default also has a Python default: the ORM then
knows each value after a flush and never has to fetch one back, which an async session could not do lazily.
Relationships are `lazy="raise"`: a missing `selectinload`/`joinedload` fails loudly instead of issuing N+1
queries. Schemas are built by the Alembic migrations (`halolight.db.migrate.upgrade`), never by
`metadata.create_all`, which would not create the enum types.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column, relationship

from halolight.db.types import UtcDateTime, new_id, statement_time


def _index_suffix(index: Index, table: Table[Any]) -> str:
    # Prisma names a unique index (@unique) `..._key` and a plain one (@@index) `..._idx`.
    return "key" if index.unique else "idx"


NAMING_CONVENTION: dict[str, str | Callable[[Index, Table[Any]], str]] = {
    "index_suffix": _index_suffix,
    "ix": "%(table_name)s_%(column_0_N_name)s_%(index_suffix)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UserStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    SUSPENDED = "SUSPENDED"


class SharePermission(enum.StrEnum):
    READ = "READ"
    EDIT = "EDIT"
    COMMENT = "COMMENT"


class AttendeeStatus(enum.StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"


def _labels(enum_class: type[enum.StrEnum]) -> list[str]:
    return [member.value for member in enum_class]


def _pg_enum(enum_class: type[enum.StrEnum]) -> Enum:
    return Enum(enum_class, name=enum_class.__name__, create_type=False, values_callable=_labels)


def _unique(*columns: str) -> Index:
    """Prisma's @unique: a unique index, not a unique constraint; the convention names it `..._key`."""
    return Index(None, *columns, unique=True)


def _id() -> Mapped[str]:
    return mapped_column(Text, primary_key=True, default=new_id)


def _fk(
    column: str, target: str, *, on_delete: str = "CASCADE", index: bool = False, primary_key: bool = False
) -> MappedColumn[Any]:
    """A text column referencing `<target>.id`; every Prisma relation here is ON UPDATE CASCADE.

    Nullability comes from the attribute's `Mapped[...]` annotation, as with a bare mapped_column.
    """
    return mapped_column(
        column,
        Text,
        ForeignKey(f"{target}.id", onupdate="CASCADE", ondelete=on_delete),
        index=index,
        primary_key=primary_key,
    )


def _created_at(column: str = "createdAt", *, index: bool = False) -> Mapped[datetime]:
    return mapped_column(
        column, UtcDateTime(), server_default=text("CURRENT_TIMESTAMP"), default=statement_time, index=index
    )


def _updated_at() -> Mapped[datetime]:
    # Prisma's @updatedAt lives in the client, not in the database: no server default, no trigger.
    # One instant per statement: `updatedAt` equals `createdAt` on insert (halolight.db.types.statement_time).
    return mapped_column("updatedAt", UtcDateTime(), default=statement_time, onupdate=statement_time)


def _false(column: str) -> Mapped[bool]:
    return mapped_column(column, Boolean, server_default=text("false"), default=False)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (_unique("email"), _unique("username"), _unique("phone"))

    id: Mapped[str] = _id()
    email: Mapped[str] = mapped_column(Text, index=True)
    username: Mapped[str] = mapped_column(Text, index=True)
    phone: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    password: Mapped[str] = mapped_column(Text)
    avatar: Mapped[str | None] = mapped_column(Text)
    status: Mapped[UserStatus] = mapped_column(
        _pg_enum(UserStatus), server_default=text("'ACTIVE'::\"UserStatus\""), default=UserStatus.ACTIVE
    )
    department: Mapped[str | None] = mapped_column(Text)
    position: Mapped[str | None] = mapped_column(Text)
    bio: Mapped[str | None] = mapped_column(Text)
    quota_used: Mapped[int] = mapped_column("quotaUsed", BigInteger, server_default=text("0"), default=0)
    last_login_at: Mapped[datetime | None] = mapped_column("lastLoginAt", UtcDateTime())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    roles: Mapped[list[Role]] = relationship(secondary="user_roles", lazy="raise")


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (_unique("name"),)

    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    permissions: Mapped[list[Permission]] = relationship(secondary="role_permissions", lazy="raise")


class Permission(Base):
    __tablename__ = "permissions"
    __table_args__ = (_unique("action"),)

    id: Mapped[str] = _id()
    action: Mapped[str] = mapped_column(Text, index=True)
    resource: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[str] = _fk("userId", "users", primary_key=True)
    role_id: Mapped[str] = _fk("roleId", "roles", primary_key=True)


class RolePermission(Base):
    __tablename__ = "role_permissions"

    role_id: Mapped[str] = _fk("roleId", "roles", primary_key=True)
    permission_id: Mapped[str] = _fk("permissionId", "permissions", primary_key=True)


class RefreshToken(Base):
    """Prisma's refresh tokens, kept for the other backends; this API tracks logins in `auth_sessions`."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (_unique("token"),)

    id: Mapped[str] = _id()
    token: Mapped[str] = mapped_column(Text, index=True)
    user_id: Mapped[str] = _fk("userId", "users", index=True)
    expires_at: Mapped[datetime] = mapped_column("expiresAt", UtcDateTime())
    created_at: Mapped[datetime] = _created_at()


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    avatar: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[str] = _fk("ownerId", "users")
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    owner: Mapped[User] = relationship(lazy="raise")
    # The database cascades deletes to team_members; passive_deletes spares loading them first.
    members: Mapped[list[TeamMember]] = relationship(
        back_populates="team", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[str] = _fk("teamId", "teams", primary_key=True)
    user_id: Mapped[str] = _fk("userId", "users", primary_key=True)
    role_id: Mapped[str | None] = _fk("roleId", "roles", on_delete="SET NULL")
    joined_at: Mapped[datetime] = _created_at("joinedAt")

    team: Mapped[Team] = relationship(back_populates="members", lazy="raise")
    user: Mapped[User] = relationship(lazy="raise")
    role: Mapped[Role | None] = relationship(lazy="raise")


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[str] = _id()
    title: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    folder: Mapped[str | None] = mapped_column(Text, index=True)
    type: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), default=0)
    views: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    owner_id: Mapped[str] = _fk("ownerId", "users", index=True)
    team_id: Mapped[str | None] = _fk("teamId", "teams", on_delete="SET NULL", index=True)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (_unique("name"),)

    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class DocumentTag(Base):
    __tablename__ = "document_tags"

    document_id: Mapped[str] = _fk("documentId", "documents", primary_key=True)
    tag_id: Mapped[str] = _fk("tagId", "tags", primary_key=True)


class DocumentShare(Base):
    __tablename__ = "document_shares"

    id: Mapped[str] = _id()
    document_id: Mapped[str] = _fk("documentId", "documents", index=True)
    shared_with_id: Mapped[str | None] = _fk("sharedWithId", "users", on_delete="SET NULL", index=True)
    team_id: Mapped[str | None] = _fk("teamId", "teams", on_delete="SET NULL")
    permission: Mapped[SharePermission] = mapped_column(
        _pg_enum(SharePermission),
        server_default=text("'READ'::\"SharePermission\""),
        default=SharePermission.READ,
    )
    expires_at: Mapped[datetime | None] = mapped_column("expiresAt", UtcDateTime())
    created_at: Mapped[datetime] = _created_at()


class Folder(Base):
    __tablename__ = "folders"
    __table_args__ = (_unique("path"),)

    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text, index=True)
    parent_id: Mapped[str | None] = _fk("parentId", "folders", on_delete="SET NULL")
    owner_id: Mapped[str] = _fk("ownerId", "users", index=True)
    team_id: Mapped[str | None] = _fk("teamId", "teams", on_delete="SET NULL")
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class File(Base):
    __tablename__ = "files"

    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    mime_type: Mapped[str] = mapped_column("mimeType", Text)
    size: Mapped[int] = mapped_column(BigInteger)
    thumbnail: Mapped[str | None] = mapped_column(Text)
    is_favorite: Mapped[bool] = _false("isFavorite")
    folder_id: Mapped[str | None] = _fk("folderId", "folders", on_delete="SET NULL", index=True)
    owner_id: Mapped[str] = _fk("ownerId", "users", index=True)
    team_id: Mapped[str | None] = _fk("teamId", "teams", on_delete="SET NULL")
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class CalendarEvent(Base):
    __tablename__ = "calendar_events"
    __table_args__ = (Index(None, "startAt", "endAt"),)

    id: Mapped[str] = _id()
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    start_at: Mapped[datetime] = mapped_column("startAt", UtcDateTime())
    end_at: Mapped[datetime] = mapped_column("endAt", UtcDateTime())
    all_day: Mapped[bool] = _false("allDay")
    location: Mapped[str | None] = mapped_column(Text)
    color: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[str] = _fk("ownerId", "users", index=True)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class EventAttendee(Base):
    __tablename__ = "event_attendees"

    event_id: Mapped[str] = _fk("eventId", "calendar_events", primary_key=True)
    user_id: Mapped[str] = _fk("userId", "users", primary_key=True)
    status: Mapped[AttendeeStatus] = mapped_column(
        _pg_enum(AttendeeStatus),
        server_default=text("'PENDING'::\"AttendeeStatus\""),
        default=AttendeeStatus.PENDING,
    )
    created_at: Mapped[datetime] = _created_at()


class EventReminder(Base):
    __tablename__ = "event_reminders"

    id: Mapped[str] = _id()
    event_id: Mapped[str] = _fk("eventId", "calendar_events")
    remind_at: Mapped[datetime] = mapped_column("remindAt", UtcDateTime())
    created_at: Mapped[datetime] = _created_at()


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index(None, "userId", "read"),)

    id: Mapped[str] = _id()
    user_id: Mapped[str] = _fk("userId", "users")
    type: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    # none_as_null: Python None is SQL NULL, never the JSON literal `null` (Prisma's DbNull, not JsonNull).
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    read: Mapped[bool] = _false("read")
    read_at: Mapped[datetime | None] = mapped_column("readAt", UtcDateTime())
    created_at: Mapped[datetime] = _created_at()


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = _id()
    name: Mapped[str | None] = mapped_column(Text)
    is_group: Mapped[bool] = _false("isGroup")
    avatar: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class ConversationParticipant(Base):
    __tablename__ = "conversation_participants"

    conversation_id: Mapped[str] = _fk("conversationId", "conversations", primary_key=True)
    user_id: Mapped[str] = _fk("userId", "users", primary_key=True)
    role: Mapped[str | None] = mapped_column(Text, server_default=text("'member'::text"), default="member")
    unread_count: Mapped[int] = mapped_column("unreadCount", Integer, server_default=text("0"), default=0)
    last_read_at: Mapped[datetime | None] = mapped_column("lastReadAt", UtcDateTime())
    joined_at: Mapped[datetime] = _created_at("joinedAt")


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[str] = _id()
    conversation_id: Mapped[str] = _fk("conversationId", "conversations", index=True)
    sender_id: Mapped[str] = _fk("senderId", "users", index=True)
    content: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text, server_default=text("'text'::text"), default="text")
    created_at: Mapped[datetime] = _created_at()


class ActivityLog(Base):
    __tablename__ = "activity_logs"
    __table_args__ = (Index(None, "targetType", "targetId"),)

    id: Mapped[str] = _id()
    actor_id: Mapped[str] = _fk("actorId", "users", index=True)
    action: Mapped[str] = mapped_column(Text)
    target_type: Mapped[str] = mapped_column("targetType", Text)
    target_id: Mapped[str] = mapped_column("targetId", Text)
    # `metadata` is reserved on declarative classes, hence the trailing underscore.
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB(none_as_null=True))
    created_at: Mapped[datetime] = _created_at(index=True)


class AuthSession(Base):
    """One login session: the family of refresh tokens rotated from one login (our table, not Prisma's)."""

    __tablename__ = "auth_sessions"
    __table_args__ = (_unique("tokenHash"),)

    id: Mapped[str] = _id()
    user_id: Mapped[str] = _fk("userId", "users", index=True)
    # sha256 hex of the current refresh token: a leaked table does not yield usable tokens.
    token_hash: Mapped[str] = mapped_column("tokenHash", Text)
    created_at: Mapped[datetime] = _created_at()
    rotated_at: Mapped[datetime | None] = mapped_column("rotatedAt", UtcDateTime())
    # Idle expiry: pushed forward by each rotation, never past `absolute_expires_at`.
    expires_at: Mapped[datetime] = mapped_column("expiresAt", UtcDateTime())
    # Absolute end of the session, fixed at login (JWT_SESSION_MAX_DAYS; migration 0003).
    absolute_expires_at: Mapped[datetime] = mapped_column("absoluteExpiresAt", UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column("revokedAt", UtcDateTime())
    revoked_reason: Mapped[str | None] = mapped_column("revokedReason", Text)
    # Where the session was opened, shown in the owner's session list (migration 0003).
    user_agent: Mapped[str | None] = mapped_column("userAgent", Text)
    ip_address: Mapped[str | None] = mapped_column("ipAddress", Text)


class PasswordResetToken(Base):
    __tablename__ = "password_reset_tokens"
    __table_args__ = (_unique("tokenHash"),)

    id: Mapped[str] = _id()
    user_id: Mapped[str] = _fk("userId", "users", index=True)
    token_hash: Mapped[str] = mapped_column("tokenHash", Text)
    expires_at: Mapped[datetime] = mapped_column("expiresAt", UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column("usedAt", UtcDateTime())
    created_at: Mapped[datetime] = _created_at()


class RowCount(Base):
    """Exact row counts kept by triggers (migration 0005; our table): `users`, and `role_users:<roleId>` for
    the holders of each role. A list's total then costs one primary-key read instead of a scan of a big
    table; the triggers run in the writer's transaction, whichever backend writes."""

    __tablename__ = "halolight_row_counts"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class DashboardCount(Base):
    """A delta of a dashboard figure (migration 0015; our table): triggers on the shared tables append one row
    per (subject, period) and writing statement, the figure is the SUM of its rows, and the fold
    (`repositories.dashboard.fold`) keeps one row per key. Written and read in SQL only (the repository)."""

    __tablename__ = "halolight_counts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    period: Mapped[date] = mapped_column(Date)
    n: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class DashboardFolderSize(Base):
    """Files and bytes of a folder for the Dashboard's largest folders (migration 0015; our table): one
    `folded` row per folder, written by the fold only, plus the deltas the `files` triggers append."""

    __tablename__ = "halolight_folder_sizes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    folder_id: Mapped[str] = mapped_column("folderId", Text)
    files: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    folded: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class FileShare(Base):
    """A share link of a file (our table, migration 0008; the FileShares tag). The token is stored only as its
    SHA-256 (`tokenHash`); the CHECK constraints (permission vocabulary, one audience at most, counts within
    `maxAccessCount`) live in the migration. Indexes are the migration's too (`halolight_…`)."""

    __tablename__ = "halolight_file_shares"

    id: Mapped[str] = _id()
    file_id: Mapped[str] = _fk("fileId", "files")
    token_hash: Mapped[str] = mapped_column("tokenHash", Text)
    permission: Mapped[str] = mapped_column(Text, server_default=text("'VIEW'::text"), default="VIEW")
    user_id: Mapped[str | None] = _fk("userId", "users")
    team_id: Mapped[str | None] = _fk("teamId", "teams")
    expires_at: Mapped[datetime | None] = mapped_column("expiresAt", UtcDateTime())
    access_count: Mapped[int] = mapped_column("accessCount", Integer, server_default=text("0"), default=0)
    max_access_count: Mapped[int | None] = mapped_column("maxAccessCount", Integer)
    revoked_at: Mapped[datetime | None] = mapped_column("revokedAt", UtcDateTime())
    created_at: Mapped[datetime] = _created_at()


class FileAccessLog(Base):
    """One successful resolution of a share link (our table, migration 0008): who (NULL: anonymous, or an
    account deleted since), from which address, with which user agent, when."""

    __tablename__ = "halolight_file_access_logs"

    id: Mapped[str] = _id()
    share_id: Mapped[str] = _fk("shareId", "halolight_file_shares")
    file_id: Mapped[str] = _fk("fileId", "files")
    user_id: Mapped[str | None] = _fk("userId", "users", on_delete="SET NULL")
    ip_address: Mapped[str | None] = mapped_column("ipAddress", Text)
    user_agent: Mapped[str | None] = mapped_column("userAgent", Text)
    accessed_at: Mapped[datetime] = _created_at("accessedAt")


class DocumentVector(Base):
    """Each document's search vector, `halolight_document_search(title, content)`, kept by a trigger on
    `documents` (migration 0007; our table), whichever backend writes. Matching uses the GIN expression index
    on `documents`; ranking (`ts_rank`) reads the vector here instead of computing it again for each match
    (about a millisecond each)."""

    __tablename__ = "halolight_document_vectors"

    document_id: Mapped[str] = _fk("documentId", "documents", primary_key=True)
    search: Mapped[str] = mapped_column(TSVECTOR)


class DocumentShareOrder(Base):
    """What a documents list reads of each share's document (`updatedAt`, `ownerId`) next to the share's
    own target and expiry (our table, migration 0018; the Documents tag), kept by triggers on the shared
    tables: its indexes serve "shared with me, or with one of my teams, newest change first" as index
    ranges."""

    __tablename__ = "halolight_document_share_order"

    share_id: Mapped[str] = mapped_column(
        "shareId", ForeignKey("document_shares.id", onupdate="CASCADE", ondelete="CASCADE"), primary_key=True
    )
    document_id: Mapped[str] = mapped_column("documentId", Text)
    shared_with_id: Mapped[str | None] = mapped_column("sharedWithId", Text)
    team_id: Mapped[str | None] = mapped_column("teamId", Text)
    owner_id: Mapped[str] = mapped_column("ownerId", Text)
    updated_at: Mapped[datetime] = mapped_column("updatedAt", UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column("expiresAt", UtcDateTime())


class StreamEvent(Base):
    """One live-update event for one recipient (our table, migration 0010; halolight/events). `id` follows
    commit order per recipient (halolight/events/outbox.py), which is what makes `Last-Event-ID` replay
    lossless. `data` is the event's JSON as the stream sends it."""

    __tablename__ = "halolight_stream_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[str] = _fk("userId", "users")
    type: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created_at()


class StreamTicket(Base):
    """A single-use ticket that opens one live-update stream (our table, migration 0014; halolight/events).
    Only the ticket's SHA-256 is kept; `used_at` is set by the one conditional UPDATE that consumes it."""

    __tablename__ = "halolight_stream_tickets"

    token_hash: Mapped[str] = mapped_column("tokenHash", Text, primary_key=True)
    user_id: Mapped[str] = _fk("userId", "users")
    session_id: Mapped[str] = _fk("sessionId", "auth_sessions")
    expires_at: Mapped[datetime] = mapped_column("expiresAt", UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column("usedAt", UtcDateTime())


class StreamLease(Base):
    """One open live-update stream (our table, migration 0014): renewed by the worker that holds it, so the
    per-user limit counts live streams only, whichever worker or host holds them."""

    __tablename__ = "halolight_stream_leases"

    id: Mapped[str] = _id()
    user_id: Mapped[str] = _fk("userId", "users")
    expires_at: Mapped[datetime] = mapped_column("expiresAt", UtcDateTime())


class ConversationActivity(Base):
    """A participant's copy of their conversation's `updatedAt` (our table, migration 0016; the Messages tag),
    kept by triggers on the shared tables: its index ("userId", "activityAt" DESC, "conversationId" DESC)
    serves "my conversations, newest first" as one short range."""

    __tablename__ = "halolight_conversation_activity"
    __table_args__ = (
        ForeignKeyConstraint(
            ["conversationId", "userId"],
            ["conversation_participants.conversationId", "conversation_participants.userId"],
            name="halolight_conversation_activity_participant_fkey",
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
    )

    conversation_id: Mapped[str] = mapped_column("conversationId", Text, primary_key=True)
    user_id: Mapped[str] = mapped_column("userId", Text, primary_key=True)
    activity_at: Mapped[datetime] = mapped_column("activityAt", UtcDateTime())


class ConversationHidden(Base):
    """A participant deleted a conversation for themself (our table, migration 0012; the Messages tag): it is
    hidden from them, with its messages up to `hidden_at`, until a newer message arrives."""

    __tablename__ = "halolight_conversation_hidden"

    conversation_id: Mapped[str] = _fk("conversationId", "conversations", primary_key=True)
    user_id: Mapped[str] = _fk("userId", "users", primary_key=True)
    hidden_at: Mapped[datetime] = _created_at("hiddenAt")
