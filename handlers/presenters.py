"""ORM rows to API models, shared by several tag modules."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from generated import models
from halolight.db.models import Role, Team, User
from halolight.repositories.paging import Page
from halolight.services.sessions import TokenBundle


def page_meta(page: Page[Any]) -> models.PaginationMeta:
    return models.PaginationMeta(
        total=page.total, page=page.page, limit=page.limit, totalPages=page.total_pages
    )


def auth_user(user: User) -> models.AuthUser:
    return models.AuthUser(
        id=user.id,
        email=user.email,
        name=user.name,
        avatar=user.avatar,
        status=models.UserStatus(user.status),
    )


def auth_response(user: User, bundle: TokenBundle) -> models.AuthResponse:
    return models.AuthResponse(
        accessToken=bundle.access_token,
        refreshToken=bundle.refresh_token,
        expiresAt=bundle.expires_at,
        user=auth_user(user),
    )


def role_summary(role: Role) -> models.RoleSummary:
    return models.RoleSummary(id=role.id, name=role.name, label=role.label)


def _user_fields(user: User) -> dict[str, Any]:
    """The fields of `models.User`; `user.roles` must have been loaded with the query."""
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "username": user.username,
        "avatar": user.avatar,
        "phone": user.phone,
        "status": models.UserStatus(user.status),
        "department": user.department,
        "position": user.position,
        "bio": user.bio,
        "roles": [role_summary(r) for r in sorted(user.roles, key=lambda r: r.name)],
        "lastLoginAt": user.last_login_at,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def user(row: User) -> models.User:
    return models.User(**_user_fields(row))


def user_of_list(row: Row[Any]) -> models.User:
    """A row of `repositories.users.list_page` (Core, roles as JSON), in the shape of `user`."""
    return models.User(
        id=row.id,
        email=row.email,
        name=row.name,
        username=row.username,
        avatar=row.avatar,
        phone=row.phone,
        status=models.UserStatus(row.status),
        department=row.department,
        position=row.position,
        bio=row.bio,
        roles=[
            models.RoleSummary(id=r["id"], name=r["name"], label=r["label"])
            for r in sorted(row.roles, key=lambda r: r["name"])
        ],
        lastLoginAt=row.last_login_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def user_detail(row: User, teams: list[tuple[Team, bool]]) -> models.UserDetail:
    return models.UserDetail(
        **_user_fields(row),
        teams=[models.UserTeam(id=t.id, name=t.name, isOwner=is_owner) for t, is_owner in teams],
    )
