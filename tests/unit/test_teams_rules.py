"""Team visibility and write rules, and the query budget of the list (session rolled back after each test)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

import handlers.teams
from generated import models
from halolight import authz
from halolight.db.models import User
from halolight.errors import Forbidden, NotFound
from halolight.repositories import teams, users
from tests.conftest import CountStatements, MakeCtx


async def _user(db: AsyncSession, name: str) -> User:
    return await users.add(db, email=f"{name}@teams-unit.example", username=name, name=name, password="x")


class TestVisibility:
    @pytest.mark.parametrize(
        ("caller", "permissions", "visible"),
        [
            ("owner", ("teams:view",), True),
            ("member", ("teams:view",), True),
            ("stranger", ("teams:view",), False),
            ("stranger", ("teams:view", "teams:create", "teams:edit", "teams:delete"), False),
            ("stranger", ("teams:*",), True),
            ("stranger", ("*",), True),
        ],
    )
    async def test_who_sees_a_team(
        self, db: AsyncSession, make_ctx: MakeCtx, caller: str, permissions: tuple[str, ...], visible: bool
    ) -> None:
        people = {name: await _user(db, f"vis-{name}") for name in ("owner", "member", "stranger")}
        team = await teams.create(db, owner_id=people["owner"].id, name="Visible")
        await teams.add_member(db, team.id, people["member"].id, None)
        ctx = make_ctx(*permissions, user_id=people[caller].id)

        if visible:
            assert (await authz.visible_team_or_404(ctx, team.id)).id == team.id
        else:
            with pytest.raises(NotFound, match="Team not found"):
                await authz.visible_team_or_404(ctx, team.id)
        listed = await handlers.teams.list_teams(ctx, page=1, limit=100, search="Visible")
        assert [t.id for t in listed.data] == ([team.id] if visible else [])

    @pytest.mark.parametrize(
        ("caller", "permissions", "writer"),
        [
            ("owner", ("teams:edit",), True),
            ("member", ("teams:edit", "teams:delete"), False),
            ("member", ("teams:*",), True),
            ("member", ("*",), True),
        ],
    )
    async def test_who_changes_a_team(
        self, db: AsyncSession, make_ctx: MakeCtx, caller: str, permissions: tuple[str, ...], writer: bool
    ) -> None:
        people = {name: await _user(db, f"wr-{name}") for name in ("owner", "member")}
        team = await teams.create(db, owner_id=people["owner"].id, name="Writable")
        ctx = make_ctx(*permissions, user_id=people[caller].id)
        if writer:
            authz.ensure_team_writer(ctx, team)
        else:
            with pytest.raises(Forbidden):
                authz.ensure_team_writer(ctx, team)


class TestListQueries:
    async def test_the_number_of_queries_does_not_grow_with_the_page(
        self, db: AsyncSession, make_ctx: MakeCtx, count_statements: CountStatements
    ) -> None:
        owner = await _user(db, "budget-owner")
        ctx = make_ctx("teams:view", user_id=owner.id)

        async def statements_for_list() -> int:
            db.expunge_all()
            with count_statements(db) as statements:
                result = await handlers.teams.list_teams(ctx, page=1, limit=100, search=None)
            assert all(isinstance(t, models.Team) for t in result.data)
            return len(statements)

        await teams.create(db, owner_id=owner.id, name="Budget 0")
        one_team = await statements_for_list()
        for n in range(1, 6):
            other = await _user(db, f"budget-other-{n}")
            team = await teams.create(db, owner_id=other.id, name=f"Budget {n}")
            await teams.add_member(db, team.id, owner.id, None)
        many_teams = await statements_for_list()

        # One statement: the page with owners and member counts; a page shorter than the limit needs no COUNT.
        assert one_team == many_teams == 1
