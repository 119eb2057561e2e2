"""Roles and permissions handlers called directly on a rolled-back session: query counts and the rules."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import handlers.permissions
import handlers.roles
from generated import models
from halolight.db.models import Permission, UserRole
from halolight.errors import Conflict, Forbidden, NotFound, UnknownReference
from halolight.repositories import permissions, roles, users
from tests.conftest import CountStatements, MakeCtx

pytestmark = pytest.mark.asyncio

_names = itertools.count(1)


def _name(prefix: str = "Unit") -> str:
    return f"{prefix}{next(_names)}x{id(_names)}"


async def _permission_ids(db: AsyncSession, *actions: str) -> list[str]:
    rows = (await db.scalars(select(Permission).where(Permission.action.in_(actions)))).all()
    by_action = {p.action: p.id for p in rows}
    return [by_action[a] for a in actions]


async def _user_with_roles(db: AsyncSession, *role_ids: str) -> str:
    tag = _name("u").lower()
    user = await users.add(db, email=f"{tag}@example.com", username=tag, name="Unit", password="x")
    await users.set_roles(db, user.id, role_ids)
    return user.id


class TestRoleQueries:
    async def test_list_loads_permissions_and_counts_in_a_fixed_number_of_queries(
        self, db: AsyncSession, make_ctx: MakeCtx, count_statements: CountStatements
    ) -> None:
        ctx = make_ctx("*")
        tag = _name("Nplus")
        ids = await _permission_ids(db, "users:view", "files:view", "teams:view")
        for i in range(6):
            role = await handlers.roles.create_role(
                ctx, body=models.RoleCreate(name=f"{tag}r{i}", permissionIds=ids[: i % 3 + 1])
            )
            for _ in range(i % 3):
                await _user_with_roles(db, role.id)
        with count_statements(db, select_only=True) as statements:
            result = await handlers.roles.list_roles(ctx, page=1, limit=100, search=tag)
        # The page (shorter than the limit: its total needs no COUNT), its permissions, grouped user counts.
        assert len(statements) == 3
        assert [r.name for r in result.data] == [f"{tag}r{i}" for i in range(6)]
        assert [len(r.permissions) for r in result.data] == [1, 2, 3, 1, 2, 3]
        assert [r.userCount for r in result.data] == [0, 1, 2, 0, 1, 2]
        assert result.meta == models.PaginationMeta(total=6, page=1, limit=100, totalPages=1)

        with count_statements(db, select_only=True) as statements:
            full = await handlers.roles.list_roles(ctx, page=1, limit=4, search=tag)
        assert len(statements) == 4  # a full page cannot tell the total: the COUNT as well
        assert full.meta == models.PaginationMeta(total=6, page=1, limit=4, totalPages=2)

    async def test_empty_page_needs_no_detail_queries(
        self, db: AsyncSession, make_ctx: MakeCtx, count_statements: CountStatements
    ) -> None:
        with count_statements(db, select_only=True) as statements:
            result = await handlers.roles.list_roles(make_ctx("*"), page=1, limit=10, search="no-such-zz")
        assert result.data == [] and len(statements) == 1  # an empty first page: the total is 0

    async def test_get_is_three_queries(
        self, db: AsyncSession, make_ctx: MakeCtx, count_statements: CountStatements
    ) -> None:
        ctx = make_ctx("*")
        role = await handlers.roles.create_role(ctx, body=models.RoleCreate(name=_name()))
        db.expunge_all()
        with count_statements(db, select_only=True) as statements:
            fetched = await handlers.roles.get_role(ctx, id=role.id)
        assert fetched == role
        assert len(statements) == 3


class TestRoleRules:
    async def test_holder_of_a_resource_wildcard_grants_its_verbs_not_star(
        self, db: AsyncSession, make_ctx: MakeCtx
    ) -> None:
        ctx = make_ctx("roles:create", "documents:*")
        view, delete, star = await _permission_ids(db, "documents:view", "documents:delete", "*")
        role = await handlers.roles.create_role(
            ctx, body=models.RoleCreate(name=_name(), permissionIds=[view, delete, view])
        )
        assert [p.action for p in role.permissions] == ["documents:delete", "documents:view"]
        assert role.label == role.name and role.description is None
        with pytest.raises(Forbidden):
            await handlers.roles.create_role(ctx, body=models.RoleCreate(name=_name(), permissionIds=[star]))

    async def test_unknown_permission_is_an_unknown_reference(
        self, db: AsyncSession, make_ctx: MakeCtx
    ) -> None:
        with pytest.raises(UnknownReference, match="Permission not found"):
            await handlers.roles.create_role(
                make_ctx("*"), body=models.RoleCreate(name=_name(), permissionIds=["cmissing"])
            )

    async def test_before_and_after_both_count_for_set_permissions(
        self, db: AsyncSession, make_ctx: MakeCtx
    ) -> None:
        admin = make_ctx("*")
        limited = make_ctx("roles:edit", "users:view", "users:edit")
        view, edit, delete = await _permission_ids(db, "users:view", "users:edit", "users:delete")
        role = await handlers.roles.create_role(
            admin, body=models.RoleCreate(name=_name(), permissionIds=[delete])
        )
        with pytest.raises(Forbidden):  # before: the role grants users:delete
            await handlers.roles.set_role_permissions(
                limited, id=role.id, body=models.RolePermissionsUpdate(permissionIds=[view])
            )
        await handlers.roles.set_role_permissions(
            admin, id=role.id, body=models.RolePermissionsUpdate(permissionIds=[view])
        )
        with pytest.raises(Forbidden):  # after: it would grant users:delete
            await handlers.roles.set_role_permissions(
                limited, id=role.id, body=models.RolePermissionsUpdate(permissionIds=[view, delete])
            )
        updated = await handlers.roles.set_role_permissions(
            limited, id=role.id, body=models.RolePermissionsUpdate(permissionIds=[edit, view])
        )
        assert [p.action for p in updated.permissions] == ["users:edit", "users:view"]

    async def test_update_is_forbidden_on_a_role_with_more_power(
        self, db: AsyncSession, make_ctx: MakeCtx
    ) -> None:
        [star] = await _permission_ids(db, "*")
        role = await handlers.roles.create_role(
            make_ctx("*"), body=models.RoleCreate(name=_name(), permissionIds=[star])
        )
        with pytest.raises(Forbidden):
            await handlers.roles.update_role(
                make_ctx("roles:edit", "users:*"), id=role.id, body=models.RoleUpdate(label="x")
            )

    async def test_update_renames_and_keeps_names_unique(self, db: AsyncSession, make_ctx: MakeCtx) -> None:
        ctx = make_ctx("*")
        first = await handlers.roles.create_role(ctx, body=models.RoleCreate(name=_name()))
        second = await handlers.roles.create_role(ctx, body=models.RoleCreate(name=_name()))
        with pytest.raises(Conflict, match="Role name is already taken"):
            await handlers.roles.update_role(
                ctx, id=second.id, body=models.RoleUpdate(name=first.name.upper())
            )
        renamed = await handlers.roles.update_role(
            ctx, id=second.id, body=models.RoleUpdate(name=second.name.lower(), description="d")
        )
        assert (renamed.name, renamed.label, renamed.description) == (second.name.lower(), second.name, "d")

    async def test_delete_refuses_held_roles_unless_forced(self, db: AsyncSession, make_ctx: MakeCtx) -> None:
        ctx = make_ctx("*")
        role = await handlers.roles.create_role(ctx, body=models.RoleCreate(name=_name()))
        user_id = await _user_with_roles(db, role.id)
        with pytest.raises(Conflict):
            await handlers.roles.delete_role(ctx, id=role.id, force=False)
        await handlers.roles.delete_role(ctx, id=role.id, force=True)
        assert await roles.get(db, role.id) is None
        assert (await db.scalars(select(UserRole).where(UserRole.user_id == user_id))).all() == []
        with pytest.raises(NotFound, match="Role not found"):
            await handlers.roles.delete_role(ctx, id=role.id, force=True)

    async def test_duplicate_name_race_is_a_conflict_and_the_session_survives(
        self, db: AsyncSession, make_ctx: MakeCtx
    ) -> None:
        name = _name()
        await roles.add(db, name=name, label=name)
        with pytest.raises(Conflict, match="Role name is already taken"):
            await roles.add(db, name=name, label=name)  # what a concurrent request would hit
        other = await roles.add(db, name=_name(), label="other")
        with pytest.raises(Conflict, match="Role name is already taken"):
            await roles.update_fields(db, other, {"name": name, "label": "renamed"})
        assert (await roles.find_by_name(db, name)) is not None
        await db.refresh(other)
        assert other.label == "other"


class TestPermissionRules:
    async def test_resource_is_taken_from_the_action(self, db: AsyncSession, make_ctx: MakeCtx) -> None:
        ctx = make_ctx("*")
        tag = _name("res").lower()
        created = await handlers.permissions.create_permission(
            ctx, body=models.PermissionCreate(action=f"{tag}:*")
        )
        assert (created.resource, created.description) == (tag, None)
        assert await handlers.permissions.get_permission(ctx, id=created.id) == created

    async def test_star_and_duplicates_are_conflicts(self, db: AsyncSession, make_ctx: MakeCtx) -> None:
        ctx = make_ctx("*")
        with pytest.raises(Conflict, match="Permission already exists"):
            await handlers.permissions.create_permission(ctx, body=models.PermissionCreate(action="*"))
        [star] = await _permission_ids(db, "*")
        with pytest.raises(Conflict, match=r"The \* permission cannot be deleted"):
            await handlers.permissions.delete_permission(ctx, id=star)

    async def test_duplicate_action_race_is_a_conflict(self, db: AsyncSession) -> None:
        action = f"{_name('race').lower()}:view"
        await permissions.add(db, action=action, resource=action.split(":")[0])
        with pytest.raises(Conflict, match="Permission already exists"):
            await permissions.add(db, action=action, resource=action.split(":")[0])
        assert await permissions.action_taken(db, action)

    async def test_delete_needs_the_permission_and_cascades(
        self, db: AsyncSession, make_ctx: MakeCtx
    ) -> None:
        admin = make_ctx("*")
        tag = _name("del").lower()
        created = await handlers.permissions.create_permission(
            admin, body=models.PermissionCreate(action=f"{tag}:view")
        )
        role = await handlers.roles.create_role(
            admin, body=models.RoleCreate(name=_name(), permissionIds=[created.id])
        )
        with pytest.raises(Forbidden):
            await handlers.permissions.delete_permission(make_ctx("permissions:delete"), id=created.id)
        await handlers.permissions.delete_permission(
            make_ctx("permissions:delete", f"{tag}:*"), id=created.id
        )
        db.expunge_all()
        assert (await handlers.roles.get_role(admin, id=role.id)).permissions == []
        with pytest.raises(NotFound, match="Permission not found"):
            await handlers.permissions.get_permission(admin, id=created.id)


class TestIdentityNormalization:
    @pytest.mark.parametrize(
        ("typed", "stored"),
        [
            ("ａｄｍｉｎ@halolight.h7ml.cn", "admin@halolight.h7ml.cn"),  # fullwidth letters
            ("ADMIN@Halolight.H7ML.cn", "admin@halolight.h7ml.cn"),
            ("ﬁle@example.com", "file@example.com"),  # the ligature ﬁ
            ("Ä@example.com", "ä@example.com"),  # A + combining diaeresis composes
        ],
    )
    async def test_normalize_email_is_nfkc_then_lower_case(self, typed: str, stored: str) -> None:
        assert users.normalize_email(typed) == stored

    async def test_postgresql_normalizes_the_same_way(self, db: AsyncSession) -> None:
        """Rows the other backends wrote are compared through `lower(normalize(email, NFKC))`."""
        for typed in ("ＡＤＭＩＮ@halolight.h7ml.cn", "ﬁle@Example.com"):
            found = await db.scalar(select(users._email_key(typed)))
            assert found == users.normalize_email(typed)

    async def test_find_by_email_matches_every_form(self, db: AsyncSession) -> None:
        admin = await users.find_by_email(db, "admin@halolight.h7ml.cn")
        assert admin is not None
        assert await users.find_by_email(db, "ＡＤＭＩＮ@ＨＡＬＯＬＩＧＨＴ.h7ml.cn") is admin
