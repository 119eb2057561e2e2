"""ORM rows to API models, shared by several tag modules."""

from __future__ import annotations

from typing import Any

from generated import models
from halolight.db.models import Role, User
from halolight.repositories.paging import Page
from halolight.services.sessions import TokenBundle


def page_meta(page: Page[Any]) -> models.PaginationMeta:
    return models.PaginationMeta(
        total=page.total, page=page.page, limit=page.limit, totalPages=page.total_pages
    )


def roles_with_permissions(rows: list[dict[str, Any]]) -> list[models.RoleWithPermissionNames]:
    """Roles as `repositories.users` reads them with the user (JSON `{id, name, label, permissions}`)."""
    return [
        models.RoleWithPermissionNames(
            id=r["id"], name=r["name"], label=r["label"], permissions=r["permissions"] or []
        )
        for r in rows
    ]


def auth_user(user: User, roles: list[dict[str, Any]]) -> models.AuthUser:
    """`roles` as `repositories.users.find_for_login` or `roles_with_permissions` read them; the permissions
    are their union, as `GET /api/auth/me` answers them."""
    role_models = roles_with_permissions(roles)
    return models.AuthUser(
        id=user.id,
        email=user.email,
        name=user.name,
        avatar=user.avatar,
        status=models.UserStatus(user.status),
        roles=role_models,
        permissions=sorted({action for role in role_models for action in role.permissions}),
    )


def auth_response(user: User, roles: list[dict[str, Any]], bundle: TokenBundle) -> models.AuthResponse:
    return models.AuthResponse(
        accessToken=bundle.access_token,
        refreshToken=bundle.refresh_token,
        expiresAt=bundle.expires_at,
        user=auth_user(user, roles),
    )


def role_summary(role: Role) -> models.RoleSummary:
    return models.RoleSummary(id=role.id, name=role.name, label=role.label)


def _user_fields(user: Any, roles: list[models.RoleSummary]) -> dict[str, Any]:
    """The fields of `models.User` from an ORM `User` or a row with the same attribute names."""
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
        "roles": sorted(roles, key=lambda r: r.name),
        "lastLoginAt": user.last_login_at,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def user(row: User) -> models.User:
    """`row.roles` must have been loaded with the query."""
    return models.User(**_user_fields(row, [role_summary(r) for r in row.roles]))


def _list_row_fields(row: Any) -> dict[str, Any]:
    """A row of `repositories.users.list_page` (Core, roles as JSON `{id, name, label}`)."""
    return _user_fields(row, [models.RoleSummary(**role) for role in row.roles])


def user_of_list(row: Any) -> models.User:
    """A row of `repositories.users.list_page` in the shape of `user`."""
    return models.User(**_list_row_fields(row))


def user_detail(row: Any) -> models.UserDetail:
    """A row of `repositories.users.detail_row` (teams as JSON `{id, name, isOwner}`)."""
    return models.UserDetail(**_list_row_fields(row), teams=[models.UserTeam(**t) for t in row.teams])
