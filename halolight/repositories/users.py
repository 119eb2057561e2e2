"""Users (table `users`, and their roles through `user_roles`)."""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Collection
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import BindParameter

from halolight.db.models import Permission, Role, RolePermission, RowCount, User, UserRole, UserStatus
from halolight.db.reads import Reads, Statement, fetch_all
from halolight.db.types import utcnow
from halolight.errors import Conflict
from halolight.repositories import teams
from halolight.repositories.paging import Page, contains_any, fetch_page
from halolight.repositories.writes import add_or_conflict, assign_or_conflict, reserve

_TAKEN = "A user with this email, username or phone already exists"


def normalize_email(email: str) -> str:
    """The form in which emails are stored, compared and looked up: Unicode NFKC, then lower case.

    NFKC folds compatibility characters (`ａｄｍｉｎ@…` in fullwidth letters is `admin@…`), so that two
    addresses a person cannot tell apart are one account.
    """
    return unicodedata.normalize("NFKC", email).lower()


def _email_key(value: Any) -> ColumnElement[str]:
    """`lower(normalize(value, NFKC))` computed by PostgreSQL, applied to both sides of every email
    comparison: rows written by the NestJS/Java backends (not normalized) match as well."""
    return func.lower(func.normalize(value, literal_column("NFKC")))


def _same_email(email: str) -> ColumnElement[bool]:
    return _email_key(User.email) == _email_key(literal(normalize_email(email)))


async def get(db: AsyncSession, user_id: str) -> User | None:
    return await db.get(User, user_id)


# `GET /api/auth/me` in one statement: the user's columns and their roles (by name), each with its permission
# actions (by action), as JSON built by PostgreSQL. Core, built once: compiled once, no ORM identity map.
_ROLE_PERMISSIONS = (
    select(func.array_agg(aggregate_order_by(Permission.action, Permission.action)))
    .join(RolePermission, RolePermission.permission_id == Permission.id)
    .where(RolePermission.role_id == Role.id)
    .scalar_subquery()
)
_ROLES_JSON = (
    select(
        func.coalesce(
            func.json_agg(
                aggregate_order_by(
                    func.json_build_object(
                        "id",
                        Role.id,
                        "name",
                        Role.name,
                        "label",
                        Role.label,
                        "permissions",
                        _ROLE_PERMISSIONS,
                    ),
                    Role.name,
                )
            ),
            literal_column("'[]'::json"),
        )
    )
    .join(UserRole, UserRole.role_id == Role.id)
    .where(UserRole.user_id == User.id)
    .scalar_subquery()
)
# The profile columns every user representation starts with (the current user, list rows).
_PROFILE = (User.id, User.email, User.name, User.username, User.avatar, User.phone, User.status)
_TIMESTAMPS = (User.created_at.label("created_at"), User.updated_at.label("updated_at"))
_CURRENT_USER = Statement(
    select(*_PROFILE, *_TIMESTAMPS, _ROLES_JSON.label("roles")).where(User.id == bindparam("user_id"))
)


_ROLES_OF = Statement(select(_ROLES_JSON).where(User.id == bindparam("user_id")))


async def roles_with_permissions(reads: Reads, user_id: str) -> list[dict[str, Any]]:
    """The user's roles as `current_user` has them (`{id, name, label, permissions}`); one statement."""
    roles: list[dict[str, Any]] | None = await _ROLES_OF.scalar(reads, user_id=user_id)
    return roles or []


async def current_user(reads: Reads, user_id: str) -> Any | None:
    """The user's profile columns and `roles`: a list of `{id, name, label, permissions}` ordered by name,
    each role's permission actions ordered; one statement, on the fast read path."""
    return await _CURRENT_USER.first(reads, user_id=user_id)


async def visible_many(
    db: AsyncSession, user_ids: Collection[str], *, viewer_id: str, sees_all: bool, sees_all_teams: bool
) -> list[User]:
    """The listed users the viewer may see: all with `sees_all`, else the viewer and the people of the teams
    the viewer can see (`sees_all_teams`: every team)."""
    if not user_ids:
        return []
    query = select(User).where(User.id.in_(user_ids))
    if not sees_all:
        people = teams.people_of_visible_teams(viewer_id, sees_all=sees_all_teams)
        query = query.where(or_(User.id == viewer_id, User.id.in_(people)))
    return list((await db.scalars(query)).all())


async def get_with_roles(db: AsyncSession, user_id: str, *, refresh: bool = False) -> User | None:
    """The user with their roles; `refresh` re-reads a user this session already holds (after a write)."""
    query = select(User).where(User.id == user_id).options(selectinload(User.roles))
    if refresh:
        query = query.execution_options(populate_existing=True)
    return (await db.scalars(query)).first()


# `search=` through the trigram index of migration 0004: the rows holding every trigram of the lower-cased
# term (a GIN lookup), rechecked by the substring match itself. Terms under 3 characters have no trigram.
_SEARCH_TRIGRAMS = func.halolight_trigrams(
    func.halolight_user_search_text(User.name, User.email, User.username, User.phone)
)


def _search(term: str) -> ColumnElement[bool]:
    matches = contains_any(term, User.name, User.email, User.username, User.phone)
    if len(term) < 3:
        return matches
    return _SEARCH_TRIGRAMS.op("@>")(func.halolight_trigrams(func.lower(term))) & matches


# A list page's rows: the user's columns and role summaries (`[{id, name, label}]`, as JSON built by
# PostgreSQL) in one Core statement, so neither a second query for the roles nor ORM row processing.
_ROLE_SUMMARIES = (
    select(
        func.coalesce(
            func.json_agg(func.json_build_object("id", Role.id, "name", Role.name, "label", Role.label)),
            literal_column("'[]'::json"),
        )
    )
    .join(UserRole, UserRole.role_id == Role.id)
    .where(UserRole.user_id == User.id)
    .scalar_subquery()
)
_LIST_COLUMNS = (
    *_PROFILE,
    User.department,
    User.position,
    User.bio,
    User.last_login_at.label("last_login_at"),
    *_TIMESTAMPS,
    _ROLE_SUMMARIES.label("roles"),
)
_NEWEST_FIRST = (User.created_at.desc(), User.id)
# The unfiltered total, kept exact by triggers (migration 0005): no COUNT over the whole table per request.
_ALL_USERS = select(RowCount.n).where(RowCount.key == "users")


# `GET /api/users/{id}`: the list row plus `teams`, the JSON array of the user's teams the caller may see
# (none without `teams:view`, all with `teams:*`, else those the caller belongs to): one statement each,
# built once.
_USER_ID: BindParameter[str] = bindparam("user_id")
_VIEWER_ID: BindParameter[str] = bindparam("viewer_id")
_DETAIL = {
    "none": literal_column("'[]'::json"),
    "all": teams.teams_of_user_json(_USER_ID, viewer_id=None, sees_all=True),
    "visible": teams.teams_of_user_json(_USER_ID, viewer_id=_VIEWER_ID, sees_all=False),
}
_DETAIL_ROWS = {
    kind: Statement(select(*_LIST_COLUMNS, column.label("teams")).where(User.id == _USER_ID))
    for kind, column in _DETAIL.items()
}
TeamsShown = Literal["none", "all", "visible"]


async def detail_row(reads: Reads, user_id: str, *, viewer_id: str, teams_shown: TeamsShown) -> Any | None:
    """One user as a row of `_LIST_COLUMNS` (as `list_page` gives them) plus `teams` (JSON `[{id, name,
    isOwner}]`), or None; one statement."""
    params = (
        {"user_id": user_id} if teams_shown != "visible" else {"user_id": user_id, "viewer_id": viewer_id}
    )
    return await _DETAIL_ROWS[teams_shown].first(reads, **params)


async def list_page(
    reads: Reads,
    *,
    page: int,
    limit: int,
    search: str | None = None,
    status: UserStatus | None = None,
    role: str | None = None,
) -> Page[Any]:
    """Newest first, as rows of `_LIST_COLUMNS` (`roles`: a list of `{id, name, label}`).

    The page's ids come first, by an index-only scan of `halolight_users_created_at_id` (a deep page skips
    index entries, not rows); then those rows with their roles, in the same statement. The total comes from
    the page when it can tell it, from the trigger-kept counter when nothing is filtered, from the trigram
    search's one index lookup, and otherwise from a COUNT of the filtered rows.
    """
    query = select(User.id).order_by(*_NEWEST_FIRST)
    if search:
        query = query.where(_search(search))
    if status is not None:
        query = query.where(User.status == status)
    if role:  # a role id, or a role name without regard to case
        with_role = (
            select(UserRole.user_id)
            .join(Role, Role.id == UserRole.role_id)
            .where(or_(Role.id == role, func.lower(Role.name) == role.lower()))
        )
        query = query.where(User.id.in_(with_role))
    if search and len(search) >= 3:
        offset = (page - 1) * limit
        # The matches are few next to the table: `count(*) OVER ()` over them (computed before OFFSET and
        # LIMIT) costs less than a second GIN lookup for the COUNT.
        keys = query.add_columns(func.count().over().label("total")).offset(offset).limit(limit).subquery()
        rows = select(*_LIST_COLUMNS, keys.c.total).join(keys, User.id == keys.c.id).order_by(*_NEWEST_FIRST)
        found = await fetch_all(reads, rows)
        if found or page == 1:
            return Page(found, found[0].total if found else 0, page, limit)
        # Past the last page: the total comes from the COUNT below.

    def page_rows(page_ids: Any) -> Select[Any]:
        return select(*_LIST_COLUMNS).where(User.id.in_(page_ids)).order_by(*_NEWEST_FIRST)

    unfiltered = not search and status is None and not role
    total = _ALL_USERS if unfiltered else None
    return await fetch_page(reads, query, page=page, limit=limit, rows=page_rows, total=total)


async def find_by_email(db: AsyncSession, email: str) -> User | None:
    # People type emails in any case (and sometimes in fullwidth forms): compare normalized forms.
    query = select(User).where(_same_email(email)).order_by(User.created_at).limit(1)
    return (await db.scalars(query)).first()


async def find_for_login(db: AsyncSession, email: str) -> tuple[User, list[dict[str, Any]]] | None:
    """`find_by_email` with the user's roles as `current_user` has them (`{id, name, label, permissions}`),
    in the same statement: logging in costs no round trip more for the roles the answer carries."""
    query = (
        select(User, _ROLES_JSON.label("roles")).where(_same_email(email)).order_by(User.created_at).limit(1)
    )
    row = (await db.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def _taken(db: AsyncSession, kind: str, value: str, condition: Any, exclude_id: str | None) -> bool:
    await reserve(db, kind, value)  # until the transaction ends, so a concurrent claim waits for ours
    query = select(User.id).where(condition)
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    return (await db.scalars(query.limit(1))).first() is not None


async def ensure_available(db: AsyncSession, fields: dict[str, Any], exclude_id: str | None = None) -> None:
    """409 if the `email`, `phone` or `username` among `fields` belongs to another user.

    The checks take their advisory locks always in this order (email, phone, username; `free_username` runs
    after this), so two requests never wait for each other's locks in a cycle.
    """
    if fields.get("email") and await email_taken(db, fields["email"], exclude_id):
        raise Conflict("Email is already registered")
    if fields.get("phone") and await phone_taken(db, fields["phone"], exclude_id):
        raise Conflict("Phone number is already registered")
    if fields.get("username") and await username_taken(db, fields["username"], exclude_id):
        raise Conflict("Username is already taken")


async def email_taken(db: AsyncSession, email: str, exclude_id: str | None = None) -> bool:
    email = normalize_email(email)
    return await _taken(db, "users.email", email, _same_email(email), exclude_id)


async def username_taken(db: AsyncSession, username: str, exclude_id: str | None = None) -> bool:
    condition = func.lower(User.username) == username.lower()
    return await _taken(db, "users.username", username, condition, exclude_id)


async def phone_taken(db: AsyncSession, phone: str, exclude_id: str | None = None) -> bool:
    return await _taken(db, "users.phone", phone, User.phone == phone, exclude_id)


async def free_username(db: AsyncSession, wanted: str) -> str:
    """`wanted` if nobody has it, else `wanted` with the smallest free numeric suffix; reserved until the
    transaction ends.

    Each candidate is confirmed by `username_taken` under its advisory lock, which is held until the
    transaction ends: a concurrent allocation of the same candidate waits for this transaction and then sees
    its row, so two registrations sharing an email local part get distinct usernames instead of a 409.
    Call it after `ensure_available` (lock order: email, phone, username).
    """
    query = select(func.lower(User.username)).where(User.username.istartswith(wanted, autoescape=True))
    taken = set((await db.scalars(query)).all())  # a first guess, which skips the rows already committed
    candidates = (wanted if n == 1 else f"{wanted}{n}" for n in itertools.count(1))
    for candidate in candidates:
        if candidate.lower() not in taken and not await username_taken(db, candidate):
            return candidate
    raise AssertionError("unreachable")


async def add(db: AsyncSession, **fields: Any) -> User:
    user = User(**fields)
    await add_or_conflict(db, user, _TAKEN)
    return user


async def update_fields(db: AsyncSession, user: User, fields: dict[str, Any]) -> None:
    await assign_or_conflict(db, user, fields, _TAKEN)


async def set_roles(db: AsyncSession, user_id: str, role_ids: Collection[str], *, touch: bool = True) -> None:
    """Replace the user's roles and, with `touch`, their `updated_at` (not for a user created by this
    request: its timestamps stay those of its insert)."""
    await db.execute(delete(UserRole).where(UserRole.user_id == user_id))
    if role_ids:
        await db.execute(insert(UserRole), [{"user_id": user_id, "role_id": r} for r in role_ids])
    if touch:
        await db.execute(update(User).where(User.id == user_id).values(updated_at=utcnow()))


async def set_password(db: AsyncSession, user_id: str, password_hash: str) -> None:
    await db.execute(
        update(User).where(User.id == user_id).values(password=password_hash, updated_at=utcnow())
    )


async def record_login(db: AsyncSession, user_id: str) -> None:
    await db.execute(update(User).where(User.id == user_id).values(last_login_at=utcnow()))


async def existing_ids(db: AsyncSession, user_ids: Collection[str]) -> list[str]:
    return list((await db.scalars(select(User.id).where(User.id.in_(user_ids)))).all())


async def delete_many(db: AsyncSession, user_ids: Collection[str]) -> int:
    """Delete the users (the database cascades to their rows elsewhere); returns how many existed."""
    result = await db.execute(delete(User).where(User.id.in_(user_ids)).returning(User.id))
    return len(result.all())
