"""Operations of the Auth tag."""

from __future__ import annotations

from datetime import timedelta

from generated import models
from halolight.context import AuthContext, PublicContext
from halolight.db.models import UserStatus
from halolight.db.types import utcnow
from halolight.errors import BadRequest, NotFound, Unauthorized
from halolight.repositories import auth_sessions, notifications, password_resets, roles, users
from halolight.security.passwords import check_new_password
from halolight.security.tokens import fingerprint, random_token
from halolight.services import sessions

from .presenters import auth_response, roles_with_permissions

DEFAULT_ROLE = "USER"
SAME_ANSWER = "If an account exists for this address, a password reset link has been sent."


async def login(ctx: PublicContext, *, body: models.LoginRequest) -> models.AuthResponse:
    # Every attempt counts against the client address, only failures against the account (see throttle.py).
    account = users.normalize_email(body.email)
    await ctx.runtime.throttle.check_login(account, ctx.client_ip)
    # The user and their roles (for the answer) in one statement.
    found = await users.find_for_login(ctx.db, body.email)
    user, user_roles = found if found is not None else (None, [])
    # Verify even when the email is unknown (against a dummy hash): timing must not reveal accounts.
    valid = await ctx.runtime.passwords.verify(
        body.password.get_secret_value(), user.password if user else None
    )
    # An inactive account gets the answer of a wrong password (and the same work, done above): telling
    # them apart would confirm the password.
    if user is None or not valid or user.status != UserStatus.ACTIVE:
        await ctx.runtime.throttle.login_failed(account, ctx.client_ip)
        raise Unauthorized("Invalid email or password")
    bundle = await sessions.open_session(ctx, user.id)
    await users.record_login(ctx.db, user.id)
    ctx.activity(actor_id=user.id, target_id=user.id)
    return auth_response(user, user_roles, bundle)


async def register(ctx: PublicContext, *, body: models.RegisterRequest) -> models.AuthResponse:
    await ctx.runtime.throttle.hit("register", f"ip:{ctx.client_ip}")
    check_new_password(body.password.get_secret_value())
    phone = body.phone if isinstance(body.phone, str) else None  # unsent or null: no phone
    await users.ensure_available(ctx.db, {"email": body.email, "phone": phone})
    password_hash = await ctx.runtime.passwords.hash(body.password.get_secret_value())
    email = users.normalize_email(body.email)
    local_part = email.split("@", 1)[0]
    user = await users.add(
        ctx.db,
        email=email,
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
    ctx.activity(actor_id=user.id, target_id=user.id)
    return auth_response(user, await users.roles_with_permissions(ctx.reads, user.id), bundle)


async def refresh_tokens(ctx: PublicContext, *, body: models.RefreshRequest) -> models.TokenPair:
    bundle = await sessions.rotate(ctx, body.refreshToken)
    return models.TokenPair(
        accessToken=bundle.access_token, refreshToken=bundle.refresh_token, expiresAt=bundle.expires_at
    )


async def forgot_password(ctx: PublicContext, *, body: models.ForgotPasswordRequest) -> models.Message:
    address = users.normalize_email(body.email)
    await ctx.runtime.throttle.hit("forgot-password", f"account:{address}", f"ip:{ctx.client_ip}")
    # A cap on mails per address, counted whether or not an account has it: beyond it the answer is the
    # same and nothing is sent (no oracle, and no mail bombing of one inbox from many client addresses).
    if not await ctx.runtime.throttle.reset_mail_allowed(address):
        return models.Message(message=SAME_ANSWER)
    user = await users.find_by_email(ctx.db, body.email)
    if user is not None and user.status == UserStatus.ACTIVE:
        token = random_token()
        settings = ctx.runtime.settings
        # Only the newest link works: a new one voids every older one still outstanding.
        await password_resets.discard_all_of_user(ctx.db, user.id)
        await password_resets.create(
            ctx.db,
            user_id=user.id,
            token_hash=fingerprint(token),
            expires_at=utcnow() + timedelta(minutes=settings.password_reset_token_expire_minutes),
        )
        ctx.activity(actor_id=user.id, target_id=user.id)
        email = user.email
        ctx.after_commit(
            lambda: ctx.runtime.mail.send(
                email,
                "Reset your HaloLight password",
                f"Open {settings.password_reset_url}?token={token} within "
                f"{settings.password_reset_token_expire_minutes} minutes to choose a new password.\n"
                "If you did not ask for this, ignore this message.",
            ),
            # Only once the token is stored, and in the background: the answer (and its timing) must be
            # the same for known and unknown addresses, and a mail failure must not change it.
            background=True,
        )
    return models.Message(message=SAME_ANSWER)


async def reset_password(ctx: PublicContext, *, body: models.ResetPasswordRequest) -> models.Message:
    # Every attempt counts against the client address, as for login: tokens cannot be guessed without end.
    await ctx.runtime.throttle.hit("reset-password", f"ip:{ctx.client_ip}")
    check_new_password(body.password.get_secret_value())
    user_id = await password_resets.consume(ctx.db, fingerprint(body.token))
    if user_id is None:
        raise BadRequest("Invalid or expired reset token")
    await users.set_password(
        ctx.db, user_id, await ctx.runtime.passwords.hash(body.password.get_secret_value())
    )
    # A new password ends every session and every other outstanding reset link.
    await auth_sessions.revoke_all_of_user(ctx.db, user_id, "password reset")
    await password_resets.discard_all_of_user(ctx.db, user_id)
    await notifications.notify(
        ctx.db,
        [user_id],
        type="password_reset",
        title="Your password was reset",
        content="Your password was reset with a reset link, and every session was signed out.",
        link="/profile/security",
    )
    ctx.activity(actor_id=user_id, target_id=user_id)
    user = await users.get(ctx.db, user_id)
    if user is not None:
        _mail_password_changed(ctx, user.email)
    return models.Message(message="Password has been reset; log in with the new password.")


async def get_current_user(ctx: AuthContext) -> models.CurrentUser:
    user = await users.current_user(ctx.reads, ctx.user_id)
    if user is None:  # deleted between authentication and now
        raise Unauthorized("User no longer exists")
    return models.CurrentUser(
        id=user.id,
        email=user.email,
        name=user.name,
        username=user.username,
        avatar=user.avatar,
        phone=user.phone,
        status=models.UserStatus(user.status),
        roles=roles_with_permissions(user.roles),
        permissions=sorted(ctx.principal.permissions),
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


async def logout(ctx: AuthContext, *, body: models.LogoutRequest | None) -> models.Message:
    if body is not None and body.allSessions:
        await auth_sessions.revoke_all_of_user(ctx.db, ctx.user_id, "logout everywhere")
    else:
        await auth_sessions.revoke(ctx.db, ctx.principal.session_id, "logout")
    return models.Message(message="Successfully logged out")


async def list_sessions(ctx: AuthContext) -> models.AuthSessionList:
    rows = await auth_sessions.live_of_user(ctx.db, ctx.user_id)
    return models.AuthSessionList(
        data=[
            models.AuthSession(
                id=row.id,
                createdAt=row.created_at,
                lastUsedAt=row.rotated_at or row.created_at,
                expiresAt=row.expires_at,
                current=row.id == ctx.principal.session_id,
                userAgent=row.user_agent,
                ipAddress=row.ip_address,
            )
            for row in rows
        ]
    )


async def revoke_session(ctx: AuthContext, *, id: str) -> None:
    if not await auth_sessions.revoke_own(ctx.db, id, ctx.user_id, "revoked by its owner"):
        raise NotFound("Session not found")


async def change_password(ctx: AuthContext, *, body: models.ChangePasswordRequest) -> models.Message:
    await ctx.runtime.throttle.hit("change-password", f"user:{ctx.user_id}")
    new_password = body.newPassword.get_secret_value()
    check_new_password(new_password, ("body", "newPassword"))
    user = await users.get(ctx.db, ctx.user_id)
    if user is None:  # deleted between authentication and now
        raise Unauthorized("User no longer exists")
    if not await ctx.runtime.passwords.verify(body.currentPassword.get_secret_value(), user.password):
        # 400, not 401: a front end reads 401 as a dead session and would log the user out.
        raise BadRequest("Current password is incorrect")
    await users.set_password(ctx.db, user.id, await ctx.runtime.passwords.hash(new_password))
    # Whoever else holds a session (or a reset link) loses it; the caller stays logged in here.
    await auth_sessions.revoke_all_of_user(
        ctx.db, user.id, "password changed", keep_session_id=ctx.principal.session_id
    )
    await password_resets.discard_all_of_user(ctx.db, user.id)
    await notifications.notify(
        ctx.db,
        [user.id],
        type="password_changed",
        title="Your password was changed",
        content="Your password was changed, and your other sessions were signed out.",
        link="/profile/security",
    )
    _mail_password_changed(ctx, user.email)
    return models.Message(message="Password changed; other sessions have been signed out.")


def _mail_password_changed(ctx: PublicContext, email: str) -> None:
    """Tell the owner, after the commit and in the background (a mail failure changes nothing)."""
    ctx.after_commit(
        lambda: ctx.runtime.mail.send(
            email,
            "Your HaloLight password was changed",
            "The password of your HaloLight account was just changed, and your other sessions were "
            "signed out.\nIf this was not you, reset your password at once and contact an administrator.",
        ),
        background=True,
    )
