"""Users (table `users`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import User
from halolight.db.types import utcnow
from halolight.errors import Conflict


async def get(db: AsyncSession, user_id: str) -> User | None:
    return await db.get(User, user_id)


async def find_by_email(db: AsyncSession, email: str) -> User | None:
    # Emails are unique as stored; the lookup ignores case because people type them in any case.
    query = select(User).where(func.lower(User.email) == email.lower()).order_by(User.created_at).limit(1)
    return (await db.scalars(query)).first()


async def email_taken(db: AsyncSession, email: str) -> bool:
    return await find_by_email(db, email) is not None


async def phone_taken(db: AsyncSession, phone: str) -> bool:
    return (await db.scalars(select(User.id).where(User.phone == phone).limit(1))).first() is not None


async def free_username(db: AsyncSession, wanted: str) -> str:
    """`wanted` if nobody has it, else `wanted` with the smallest free numeric suffix."""
    taken = set(
        (
            await db.scalars(select(User.username).where(User.username.startswith(wanted, autoescape=True)))
        ).all()
    )
    if wanted not in taken:
        return wanted
    suffix = 2
    while f"{wanted}{suffix}" in taken:
        suffix += 1
    return f"{wanted}{suffix}"


async def add(db: AsyncSession, **fields: Any) -> User:
    user = User(**fields)
    db.add(user)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError:
        # Two requests raced for the same email, username or phone.
        raise Conflict("A user with this email, username or phone already exists") from None
    return user


async def set_password(db: AsyncSession, user_id: str, password_hash: str) -> None:
    await db.execute(
        update(User).where(User.id == user_id).values(password=password_hash, updated_at=utcnow())
    )


async def record_login(db: AsyncSession, user_id: str) -> None:
    await db.execute(update(User).where(User.id == user_id).values(last_login_at=utcnow()))
