"""The fast read path (`halolight.db.reads`): what SQLAlchemy would do, without it at run time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import ARRAY, Select, Text, any_, bindparam, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import Role, User, UserStatus
from halolight.db.reads import SessionReads, Statement, fetch_all, fetch_scalar
from halolight.db.types import utcnow


async def _user(db: AsyncSession, name: str, status: UserStatus = UserStatus.ACTIVE) -> User:
    user = User(email=f"{name}@fast.example", username=name, name=name, password="x", status=status)
    db.add(user)
    await db.flush()
    return user


class TestStatement:
    def test_literals_become_defaults_and_the_rest_is_required(self) -> None:
        statement = Statement(
            select(User.id).where(User.status == UserStatus.ACTIVE, User.id == bindparam("id"))
        )
        with pytest.raises(TypeError, match="id"):
            statement._params({})
        # The enum goes through the column type's own conversion (its name), as SQLAlchemy sends it.
        assert statement._params({"id": "x"}) == {"status_1": "ACTIVE", "id": "x"}

    def test_expanding_in_lists_are_refused_when_built(self) -> None:
        with pytest.raises(ValueError, match="expanding"):
            Statement(select(User.id).where(User.id.in_(["a", "b"])))

    async def test_reads_see_the_session_s_uncommitted_writes_and_types_come_back_as_the_orm_s(
        self, db: AsyncSession
    ) -> None:
        user = await _user(db, "fastread")
        statement = Statement(
            select(User.id, User.status, User.created_at.label("created_at")).where(
                User.id == bindparam("id")
            )
        )
        row = await statement.first(SessionReads(db), id=user.id)
        assert row is not None and row.id == user.id
        assert UserStatus(row.status) is UserStatus.ACTIVE
        # `timestamp(3)` holds UTC: aware UTC datetimes, equal to what the ORM flushed.
        assert row.created_at == user.created_at and row.created_at.tzinfo is UTC

    async def test_aware_datetimes_are_compared_as_utc(self, db: AsyncSession) -> None:
        user = await _user(db, "fastclock")
        newer = Statement(
            select(func.count()).where(User.id == user.id, User.created_at > bindparam("after"))
        )
        reads = SessionReads(db)
        east = UTC if False else datetime.now(UTC).astimezone().tzinfo  # any zone: converted to UTC first
        before = (user.created_at - timedelta(seconds=1)).astimezone(east)
        assert await newer.scalar(reads, after=before) == 1
        assert await newer.scalar(reads, after=utcnow() + timedelta(minutes=1)) == 0
        with pytest.raises(ValueError, match="naive"):
            await newer.scalar(reads, after=datetime(2026, 1, 1))


class TestQueriesBuiltPerRequest:
    async def test_one_shape_is_compiled_once_with_each_call_s_values(self, db: AsyncSession) -> None:
        first, second = await _user(db, "fastshape1"), await _user(db, "fastshape2")
        reads = SessionReads(db)

        def named(name: str) -> Select[str]:
            return select(User.id).where(User.name == literal(name))

        assert [r.id for r in await fetch_all(reads, named("fastshape1"))] == [first.id]
        assert [r.id for r in await fetch_all(reads, named("fastshape2"))] == [second.id]

    async def test_arrays_stand_for_in_lists(self, db: AsyncSession) -> None:
        role = Role(name="FASTROLE", label="Fast role")
        db.add(role)
        await db.flush()
        ids = bindparam("ids", [role.id, "missing"], type_=ARRAY(Text))
        assert await fetch_scalar(SessionReads(db), select(func.count()).where(Role.id == any_(ids))) == 1
