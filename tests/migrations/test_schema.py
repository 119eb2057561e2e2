"""The migrations build exactly the schema Prisma builds, also over a database Prisma built first.

`prisma-schema.json` is a byte-for-byte copy of the shared reference: what PostgreSQL 16 reports after the
NestJS backend's Prisma migration. The catalog is read back here in the same shape and compared with it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, select, text
from sqlalchemy.exc import InvalidRequestError, StatementError
from sqlalchemy.orm import Session, selectinload

from halolight.db.migrate import alembic_config, upgrade
from halolight.db.models import Base, Role, User
from tests.migrations.conftest import Database

REFERENCE: dict[str, Any] = json.loads((Path(__file__).parent / "prisma-schema.json").read_text())
SHARED_TABLES = frozenset(REFERENCE["tables"])
OUR_TABLES = frozenset(
    {
        "auth_sessions",
        "password_reset_tokens",
        "halolight_row_counts",
        "halolight_counts",
        "halolight_folder_sizes",
        "halolight_file_shares",
        "halolight_file_access_logs",
        "halolight_document_vectors",
        "halolight_stream_events",
        "halolight_stream_tickets",
        "halolight_stream_leases",
        "halolight_conversation_hidden",
        "halolight_conversation_activity",
        "halolight_document_share_order",
        "alembic_version",
    }
)
SECTIONS = ("tables", "indexes", "constraints")
# Indexes of our own on the shared tables (migration 0004: list orders, lookups, search): allowed by prefix.
OUR_INDEX_PREFIX = "halolight_"

Catalog = dict[str, dict[str, Any]]


def read_catalog(conn: Connection) -> Catalog:
    """The public schema in the reference's shape: enums, and per table its columns, indexes, constraints."""
    catalog: Catalog = {"enums": {}, "tables": {}, "indexes": {}, "constraints": {}}
    columns = conn.execute(
        text(
            """
            SELECT c.table_name, c.column_name,
                   CASE WHEN c.data_type = 'USER-DEFINED' THEN c.udt_name ELSE c.data_type END,
                   c.column_default, c.is_nullable = 'YES'
            FROM information_schema.columns c
            JOIN information_schema.tables t USING (table_schema, table_name)
            WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
            """
        )
    )
    for table, column, type_, default, nullable in columns:
        catalog["tables"].setdefault(table, {})[column] = {
            "default": default,
            "nullable": nullable,
            "type": type_,
        }
    enums = conn.execute(
        text(
            """
            SELECT t.typname, e.enumlabel
            FROM pg_type t
            JOIN pg_enum e ON e.enumtypid = t.oid
            JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE n.nspname = 'public'
            ORDER BY t.typname, e.enumsortorder
            """
        )
    )
    for name, label in enums:
        catalog["enums"].setdefault(name, []).append(label)
    indexes = conn.execute(
        text("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
    )
    for table, name, definition in indexes:
        catalog["indexes"].setdefault(table, {})[name] = definition
    constraints = conn.execute(
        text(
            """
            SELECT rel.relname, con.conname, pg_get_constraintdef(con.oid)
            FROM pg_constraint con
            JOIN pg_class rel ON rel.oid = con.conrelid
            JOIN pg_namespace n ON n.oid = rel.relnamespace
            WHERE n.nspname = 'public'
            """
        )
    )
    for table, name, definition in constraints:
        catalog["constraints"].setdefault(table, {})[name] = definition
    return catalog


def assert_shared_schema_matches_reference(catalog: Catalog) -> None:
    assert catalog["enums"] == REFERENCE["enums"]
    assert set(catalog["tables"]) - SHARED_TABLES <= OUR_TABLES
    for section in SECTIONS:
        for table in sorted(SHARED_TABLES):
            found = catalog[section].get(table)
            if section == "indexes" and found is not None:
                found = {name: d for name, d in found.items() if not name.startswith(OUR_INDEX_PREFIX)}
            assert found == REFERENCE[section][table], (section, table)


def our_indexes(catalog: Catalog) -> set[str]:
    """Our indexes on the shared tables."""
    names = (
        name for table, indexes in catalog["indexes"].items() if table in SHARED_TABLES for name in indexes
    )
    return {name for name in names if name.startswith(OUR_INDEX_PREFIX)}


def model_differences(conn: Connection, metadata: MetaData = Base.metadata) -> list[Any]:
    # compare_type is on by default. Server defaults are compared too: the models spell each default as
    # PostgreSQL reports it, so this raises no noise, and a changed default is real drift.
    # Our hot-path indexes (migration 0004) are expression and GIN indexes the models do not declare.
    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (type_ == "index" and (name or "").startswith(OUR_INDEX_PREFIX))

    context = MigrationContext.configure(
        conn, opts={"compare_server_default": True, "include_object": include_object}
    )
    differences: list[Any] = compare_metadata(context, metadata)
    return differences


def build_prisma_schema(conn: Connection) -> None:
    """What `prisma migrate deploy` of the NestJS backend leaves behind, rebuilt from the reference."""
    for name, labels in REFERENCE["enums"].items():
        conn.exec_driver_sql(f'CREATE TYPE "{name}" AS ENUM ({", ".join(f"{label!r}" for label in labels)})')
    for table, columns in REFERENCE["tables"].items():
        definitions = []
        for column, spec in columns.items():
            type_ = spec["type"]
            if type_ in REFERENCE["enums"]:
                type_ = f'"{type_}"'
            elif type_ == "timestamp without time zone":
                # Prisma's DateTime is TIMESTAMP(3); the reference's data_type does not show the precision.
                type_ = "timestamp(3) without time zone"
            not_null = "" if spec["nullable"] else " NOT NULL"
            default = "" if spec["default"] is None else f" DEFAULT {spec['default']}"
            definitions.append(f'"{column}" {type_}{not_null}{default}')
        conn.exec_driver_sql(f'CREATE TABLE "{table}" ({", ".join(definitions)})')
    for table, constraints in REFERENCE["constraints"].items():
        for name, definition in constraints.items():
            if definition.startswith("PRIMARY KEY"):
                conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for table, indexes in REFERENCE["indexes"].items():
        for name, definition in indexes.items():
            if name not in REFERENCE["constraints"][table]:
                conn.exec_driver_sql(definition)
    for table, constraints in REFERENCE["constraints"].items():
        for name, definition in constraints.items():
            if definition.startswith("FOREIGN KEY"):
                conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')


def insert_prisma_rows(conn: Connection) -> None:
    """A user and a role as the NestJS backend writes them (cuid ids, millisecond UTC timestamps)."""
    conn.execute(
        text(
            """
            INSERT INTO users (id, email, username, name, password, status, "quotaUsed", "updatedAt")
            VALUES ('cm4a1b2c3d4e5f6g7h8i9j0k1', 'admin@halolight.h7ml.cn', 'admin', 'Admin',
                    '$2b$10$abcdefghijklmnopqrstuuZ7d7dK1jW3bQh6u5t0yq3vVv5cW1nW2', 'SUSPENDED', 1024,
                    '2025-12-04 09:44:37.123')
            """
        )
    )
    conn.execute(
        text(
            """
            INSERT INTO roles (id, name, label, description, "updatedAt")
            VALUES ('cm4a1b2c3d4e5f6g7h8i9j0k2', 'admin', '超级管理员', 'all permissions',
                    '2025-12-04 09:44:37.456')
            """
        )
    )


def rows(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    users = conn.execute(text("SELECT row_to_json(u)::text FROM users u ORDER BY id")).scalars()
    roles = conn.execute(text("SELECT row_to_json(r)::text FROM roles r ORDER BY id")).scalars()
    return {"users": [json.loads(row) for row in users], "roles": [json.loads(row) for row in roles]}


class TestEmptyDatabase:
    def test_upgrade_creates_the_reference_schema_plus_our_tables(self, database: Database) -> None:
        upgrade(database.url)

        with database.engine.connect() as conn:
            catalog = read_catalog(conn)
        assert_shared_schema_matches_reference(catalog)
        assert set(catalog["tables"]) == SHARED_TABLES | OUR_TABLES
        # 0004: 9, 0006: folders 1, 0007: documents 6, 0009: files 1, 0011: calendar 2,
        # 0012: messages and notifications 3, 0013: dashboard 5, 0015: dashboard 2
        assert len(our_indexes(catalog)) == 29

    def test_timestamps_have_prismas_millisecond_precision(self, database: Database) -> None:
        upgrade(database.url)

        with database.engine.connect() as conn:
            precisions = conn.execute(
                text(
                    """
                    SELECT DISTINCT datetime_precision FROM information_schema.columns
                    WHERE table_schema = 'public' AND data_type LIKE 'timestamp%'
                    """
                )
            ).scalars()
            assert list(precisions) == [3]

    def test_models_agree_with_migrations(self, database: Database) -> None:
        upgrade(database.url)

        with database.engine.connect() as conn:
            assert model_differences(conn) == []

    def test_model_drift_would_be_detected(self, database: Database) -> None:
        """The comparison above is not vacuous: a default and an index changed in the models show up."""
        upgrade(database.url)
        drifted = MetaData(naming_convention=Base.metadata.naming_convention)
        for table in Base.metadata.tables.values():
            table.to_metadata(drifted)
        users = drifted.tables["users"]
        users.c.status.server_default = None
        next(index for index in users.indexes if index.name == "users_email_idx").unique = True

        with database.engine.connect() as conn:
            differences = model_differences(conn, drifted)
        kinds = {
            difference[0] if isinstance(difference, tuple) else difference[0][0] for difference in differences
        }
        assert {"add_index", "remove_index", "modify_default"} <= kinds

    def test_downgrade_to_0001_then_upgrade_again(self, database: Database) -> None:
        upgrade(database.url)
        command.downgrade(alembic_config(database.url), "0001")

        with database.engine.connect() as conn:
            catalog = read_catalog(conn)
        assert set(catalog["tables"]) == SHARED_TABLES | {"alembic_version"}
        assert_shared_schema_matches_reference(catalog)

        upgrade(database.url)
        with database.engine.connect() as conn:
            catalog = read_catalog(conn)
            assert model_differences(conn) == []
        assert_shared_schema_matches_reference(catalog)
        assert set(catalog["tables"]) == SHARED_TABLES | OUR_TABLES

    def test_downgrading_0001_is_refused_and_keeps_the_shared_tables(self, database: Database) -> None:
        upgrade(database.url)
        with database.engine.connect() as conn:
            conn.execute(
                text("""INSERT INTO roles (id, name, label, "createdAt", "updatedAt")
                                 VALUES ('keep-me', 'KEEP', 'Keep', now(), now())""")
            )

        with pytest.raises(RuntimeError, match="refusing to downgrade 0001"):
            command.downgrade(alembic_config(database.url), "base")

        with database.engine.connect() as conn:
            catalog = read_catalog(conn)
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            kept = conn.execute(text("SELECT name FROM roles WHERE id = 'keep-me'")).scalar_one()
        # The whole downgrade ran in one transaction: 0002's tables (and 0003's columns) are back too.
        assert set(catalog["tables"]) == SHARED_TABLES | OUR_TABLES
        assert_shared_schema_matches_reference(catalog)
        assert version == "0018"
        assert kept == "KEEP"


class TestPrismaFirstDatabase:
    def test_upgrade_adds_only_our_tables_and_keeps_the_rows(self, database: Database) -> None:
        with database.engine.connect() as conn:
            build_prisma_schema(conn)
            insert_prisma_rows(conn)
            assert_shared_schema_matches_reference(read_catalog(conn))
            before = rows(conn)

        upgrade(database.url)

        with database.engine.connect() as conn:
            catalog = read_catalog(conn)
            assert rows(conn) == before
            assert model_differences(conn) == []
        assert_shared_schema_matches_reference(catalog)
        assert set(catalog["tables"]) == SHARED_TABLES | OUR_TABLES

    def test_upgrade_twice_is_a_no_op(self, database: Database) -> None:
        with database.engine.connect() as conn:
            build_prisma_schema(conn)
            insert_prisma_rows(conn)
        upgrade(database.url)
        with database.engine.connect() as conn:
            catalog, before = read_catalog(conn), rows(conn)

        upgrade(database.url)
        # Alembic skips applied revisions, so also replay 0001 itself over the complete schema.
        cfg = alembic_config(database.url)
        command.stamp(cfg, "base")
        command.upgrade(cfg, "0001")
        command.stamp(cfg, "head")

        with database.engine.connect() as conn:
            assert read_catalog(conn) == catalog
            assert rows(conn) == before

    def test_upgrade_completes_an_older_prisma_schema(self, database: Database) -> None:
        with database.engine.connect() as conn:
            build_prisma_schema(conn)
            insert_prisma_rows(conn)
            before = rows(conn)
            # As if the database came from an older Prisma schema: a table, a column, an index, a foreign key
            # and an enum label are missing.
            conn.exec_driver_sql("DROP TABLE messages")
            conn.exec_driver_sql("ALTER TABLE users DROP COLUMN bio")
            conn.exec_driver_sql("DROP INDEX users_username_idx")
            conn.exec_driver_sql('ALTER TABLE files DROP CONSTRAINT "files_folderId_fkey"')
            conn.exec_driver_sql("DROP TABLE event_attendees")
            conn.exec_driver_sql('DROP TYPE "AttendeeStatus"')
            conn.exec_driver_sql("""CREATE TYPE "AttendeeStatus" AS ENUM ('PENDING', 'ACCEPTED')""")

        upgrade(database.url)

        with database.engine.connect() as conn:
            catalog = read_catalog(conn)
            # The user had no bio, so the re-added (nullable) column leaves the row as it was.
            assert rows(conn) == before
        assert_shared_schema_matches_reference(catalog)


class TestModelsOnTheMigratedSchema:
    def test_round_trip_of_defaults_ids_and_utc_timestamps(self, database: Database) -> None:
        upgrade(database.url)
        with Session(database.engine) as session:
            user = User(
                email="a@example.com", username="a", name="A", password="x", roles=[Role(name="r", label="R")]
            )
            user.last_login_at = datetime(2025, 1, 1, 12, 0, 0, 123000, tzinfo=timezone(timedelta(hours=8)))
            session.add(user)
            session.flush()
            created = (user.id, user.status, user.quota_used, user.created_at, user.updated_at)
            session.expunge_all()

            loaded = session.scalars(select(User).options(selectinload(User.roles))).one()
            assert (
                loaded.id,
                loaded.status,
                loaded.quota_used,
                loaded.created_at,
                loaded.updated_at,
            ) == created
            assert len(loaded.id) == 25 and loaded.id.startswith("c")
            assert loaded.last_login_at == datetime(2025, 1, 1, 4, 0, 0, 123000, tzinfo=UTC)
            assert loaded.last_login_at.tzinfo is UTC
            assert [role.name for role in loaded.roles] == ["r"]
            # What the Prisma-based backends read: naive UTC.
            stored = session.execute(text('SELECT "lastLoginAt"::text FROM users')).scalar_one()
            assert stored == "2025-01-01 04:00:00.123"

    def test_naive_datetimes_are_refused(self, database: Database) -> None:
        upgrade(database.url)
        with Session(database.engine) as session:
            user = User(email="a@example.com", username="a", name="A", password="x")
            user.last_login_at = datetime(2025, 1, 1, 12, 0)
            session.add(user)
            with pytest.raises(StatementError, match="naive datetime"):
                session.flush()

    def test_relationships_refuse_lazy_loads(self, database: Database) -> None:
        upgrade(database.url)
        with Session(database.engine) as session:
            session.add(User(email="a@example.com", username="a", name="A", password="x"))
            session.commit()
            user = session.scalars(select(User)).one()
            with pytest.raises(InvalidRequestError, match="lazy='raise'"):
                _ = user.roles
