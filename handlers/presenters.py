"""ORM rows to API models, shared by several tag modules."""

from __future__ import annotations

from generated import models
from halolight.db.models import User
from halolight.services.sessions import TokenBundle


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
