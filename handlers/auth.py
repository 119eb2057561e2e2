"""Operations of the Auth tag."""

from __future__ import annotations

from datetime import timedelta

from generated import models
from halolight.context import AuthContext, PublicContext
from halolight.db.models import UserStatus
from halolight.db.types import utcnow
from halolight.errors import BadRequest, Unauthorized
from halolight.repositories import auth_sessions, password_resets, roles, users
from halolight.security.passwords import ensure_hashable
from halolight.security.tokens import fingerprint, random_token
from halolight.services import sessions

from .presenters import auth_response

DEFAULT_ROLE = "USER"
SAME_ANSWER = "If an account exists for this address, a password reset link has been sent."


async def login(ctx: PublicContext, *, body: models.LoginRequest) -> models.AuthResponse:
    ensure_hashable(body.password.get_secret_value())
    await ctx.runtime.throttle.hit("login", f"account:{body.email.lower()}", f"ip:{ctx.client_ip}")
    user = await users.find_by_email(ctx.db, body.email)
    # Verify even when the email is unknown (against a dummy hash): timing must not reveal accounts.
    valid = await ctx.runtime.passwords.verify(
        body.password.get_secret_value(), user.password if user else None
    )
    if user is None or not valid:
        raise Unauthorized("Invalid email or password")
    if user.status != UserStatus.ACTIVE:
        raise Unauthorized("This account is not active")
    bundle = await sessions.open_session(ctx, user.id)
    await users.record_login(ctx.db, user.id)
    return auth_response(user, bundle)


async def register(ctx: PublicContext, *, body: models.RegisterRequest) -> models.AuthResponse:
    await ctx.runtime.throttle.hit("register", f"ip:{ctx.client_ip}")
    phone = body.phone if isinstance(body.phone, str) else None  # unsent or null: no phone
    await users.ensure_available(ctx.db, {"email": body.email, "phone": phone})
    password_hash = await ctx.runtime.passwords.hash(body.password.get_secret_value())
    local_part = body.email.split("@", 1)[0].lower()
    user = await users.add(
        ctx.db,
        email=body.email.lower(),
        name=body.name,
        username=await users.free_username(ctx.db, local_part),
        password=password_hash,
        phone=phone,
        status=UserStatus.ACTIVE,
    )
    role = await roles.find_by_name(ctx.db, DEFAULT_ROLE)
    if role is not None:
        await roles.assign_to_user(ctx.db, user.id, role.id)
    bundle = await sessions.open_session(ctx, user.id)
    return auth_response(user, bundle)


async def refresh_tokens(ctx: PublicContext, *, body: models.RefreshRequest) -> models.TokenPair:
    bundle = await sessions.rotate(ctx, body.refreshToken)
    return models.TokenPair(
        accessToken=bundle.access_token, refreshToken=bundle.refresh_token, expiresAt=bundle.expires_at
    )


async def forgot_password(ctx: PublicContext, *, body: models.ForgotPasswordRequest) -> models.Message:
    await ctx.runtime.throttle.hit("forgot-password", f"account:{body.email.lower()}", f"ip:{ctx.client_ip}")
    user = await users.find_by_email(ctx.db, body.email)
    if user is not None and user.status == UserStatus.ACTIVE:
        token = random_token()
        settings = ctx.runtime.settings
        await password_resets.create(
            ctx.db,
            user_id=user.id,
            token_hash=fingerprint(token),
            expires_at=utcnow() + timedelta(minutes=settings.password_reset_token_expire_minutes),
        )
        await ctx.runtime.mail.send(
            user.email,
            "Reset your HaloLight password",
            f"Open {settings.password_reset_url}?token={token} within "
            f"{settings.password_reset_token_expire_minutes} minutes to choose a new password.\n"
            "If you did not ask for this, ignore this message.",
        )
    return models.Message(message=SAME_ANSWER)


async def reset_password(ctx: PublicContext, *, body: models.ResetPasswordRequest) -> models.Message:
    ensure_hashable(body.password.get_secret_value())
    user_id = await password_resets.consume(ctx.db, fingerprint(body.token))
    if user_id is None:
        raise BadRequest("Invalid or expired reset token")
    await users.set_password(
        ctx.db, user_id, await ctx.runtime.passwords.hash(body.password.get_secret_value())
    )
    # A new password ends every session and every other outstanding reset link.
    await auth_sessions.revoke_all_of_user(ctx.db, user_id, "password reset")
    await password_resets.discard_all_of_user(ctx.db, user_id)
    return models.Message(message="Password has been reset; log in with the new password.")


async def get_current_user(ctx: AuthContext) -> models.CurrentUser:
    user = await users.get(ctx.db, ctx.user_id)
    if user is None:  # deleted between authentication and now
        raise Unauthorized("User no longer exists")
    role_rows = await roles.roles_of_user(ctx.db, user.id)
    return models.CurrentUser(
        id=user.id,
        email=user.email,
        name=user.name,
        username=user.username,
        avatar=user.avatar,
        phone=user.phone,
        status=models.UserStatus(user.status),
        roles=[
            models.RoleWithPermissionNames(id=r.id, name=r.name, label=r.label, permissions=actions)
            for r, actions in role_rows
        ],
        permissions=sorted(ctx.principal.permissions),
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


async def logout(ctx: AuthContext) -> models.Message:
    await auth_sessions.revoke(ctx.db, ctx.principal.session_id, "logout")
    return models.Message(message="Successfully logged out")
