"""`halolight`: operator commands (library: click). Settings come from the environment and `.env`, as for
the server; with DATABASE_URL unset the commands use the embedded PostgreSQL of `make run`: when a server
owns it they share it and leave it running, otherwise they start it and stop it again when done."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import yaml
from email_validator import EmailNotValidError, validate_email

from halolight import serve as serving
from halolight.db import embedded
from halolight.db.engine import create_engine, create_sessionmaker
from halolight.db.models import UserStatus
from halolight.errors import ApiError, ValidationFailed
from halolight.repositories import roles, users
from halolight.security.passwords import PasswordHasher, check_new_password
from halolight.seed import seed
from halolight.services import storage_gc
from halolight.settings import ConfigurationError, Settings, load_settings
from halolight.storage import FILES_PREFIX, StorageError, build_storage

ADMIN_ROLE = "ADMIN"
SPEC = Path(__file__).resolve().parent.parent / "spec" / "openapi.yaml"


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as error:
        serving.refuse(error.lines)


@contextmanager
def _database(settings: Settings, *, seed_data: bool = False) -> Iterator[serving.Database]:
    """The migrated database (the embedded server when DATABASE_URL is unset); problems are one line."""
    try:
        database = serving.open_database(settings, role="command", allow_guest=True)
    except ConfigurationError as error:
        serving.refuse(error.lines)
    try:
        try:
            serving.migrate_and_seed(settings, database, seed_data=seed_data)
        except ConfigurationError as error:
            serving.refuse(error.lines)
        except serving.StartupRefused as error:
            serving.refuse(str(error).splitlines())
        yield database
    finally:
        database.close()  # stops the embedded server only if this command started it


@click.group()
def main() -> None:
    """HaloLight API operator commands."""


@main.command("serve")
@click.option(
    "--production-server",
    is_flag=True,
    help="granian with WORKERS processes, bounded header size and read times (as `make serve`).",
)
def serve_command(production_server: bool) -> None:
    """Migrate, seed and serve the API on HOST:PORT (as `make run`).

    With DATABASE_URL unset it starts the embedded PostgreSQL 16 in EMBEDDED_PG_DIR and stops it on exit
    (SIGINT, SIGTERM or SIGHUP).
    """
    serving.run(production_server=production_server)


@main.group("db")
def db_group() -> None:
    """The database: migrations, reference data, the embedded server's data."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations (`alembic upgrade head`), nothing else."""
    settings = _settings()
    with _database(settings) as database:
        for line in serving.report(settings, database, serving=False)[:2]:
            click.echo(line)


@db_group.command("seed")
def db_seed() -> None:
    """Apply the migrations, then add the missing roles, permissions and (SEED_DEMO_USERS) demo accounts.

    Idempotent; in production it refuses while an account still accepts the demo password.
    """
    settings = _settings()
    with _database(settings, seed_data=True) as database:
        for line in serving.report(settings, database, serving=False):
            click.echo(line)


@db_group.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_reset(yes: bool) -> None:
    """Delete the embedded PostgreSQL's data folder (EMBEDDED_PG_DIR), on purpose.

    Only for the embedded database: with DATABASE_URL set it refuses. It refuses too while a server uses
    the folder. The next `make run` creates, migrates and seeds a fresh database.
    """
    settings = _settings()
    if settings.database_url:
        serving.refuse(
            ["DATABASE_URL: is set; `db reset` only deletes the embedded database (EMBEDDED_PG_DIR)"]
        )
    folder = Path(settings.embedded_pg_dir).resolve()
    if not yes:
        click.confirm(f"Delete every table and row of the embedded database in {folder}?", abort=True)
    try:
        embedded.reset(folder)
    except embedded.EmbeddedInUse as error:
        serving.refuse([str(error)])
    click.echo(f"deleted {folder}; the next `make run` starts on a fresh database")


@main.group("openapi")
def openapi_group() -> None:
    """The contract, spec/openapi.yaml."""


@openapi_group.command("lint")
def openapi_lint() -> None:
    """Check the spec against what the generator implements (as `make lint-spec`)."""
    from codegen.spec import SpecError, lint, load

    try:
        lint(load(SPEC))
    except SpecError as error:
        serving.refuse([f"spec/openapi.yaml: {problem}" for problem in error.problems])
    click.echo("spec/openapi.yaml: OK")


@openapi_group.command("bundle")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (default: standard output).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml"]),
    help="Default: from the output's extension, else json.",
)
def openapi_bundle(output: Path | None, fmt: str | None) -> None:
    """Write the spec as one self-contained JSON or YAML document (what /api/openapi.json serves)."""
    with SPEC.open(encoding="utf-8") as fh:
        document = yaml.safe_load(fh)
    if fmt is None:
        fmt = "yaml" if output is not None and output.suffix in (".yaml", ".yml") else "json"
    if fmt == "json":
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    else:
        text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=110)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@main.group("storage")
def storage_group() -> None:
    """Stored file bytes (STORAGE_BACKEND): a local folder or an S3-compatible store."""


REPORT_LINES = 50  # per kind; the counts are always whole


@storage_group.command("gc")
@click.option("--yes", is_flag=True, help="Remove the orphan objects found (otherwise only report them).")
@click.option(
    "--grace-minutes",
    type=click.IntRange(min=0),
    help="Leave objects younger than this alone (default: STORAGE_GC_GRACE_MINUTES).",
)
def storage_gc_command(yes: bool, grace_minutes: int | None) -> None:
    """Find where stored bytes and `files` rows disagree, in both directions (as `make storage-gc`).

    Objects no `files.path` names, older than the grace period (uploads in flight have bytes before their
    row), are reported, and removed with --yes. Rows whose object is missing are reported, never deleted.
    """
    settings = _settings()
    grace = timedelta(minutes=settings.storage_gc_grace_minutes if grace_minutes is None else grace_minutes)
    with _database(settings) as database:
        report = asyncio.run(_storage_gc(settings, database.url, grace, remove=yes))
    for line in gc_lines(settings, report, grace, removing=yes):
        click.echo(line)


async def _storage_gc(settings: Settings, url: str, grace: timedelta, *, remove: bool) -> storage_gc.GcReport:
    engine = create_engine(settings, url)
    storage = build_storage(settings)
    try:
        async with create_sessionmaker(engine)() as db:
            return await storage_gc.collect(storage, db, grace=grace, remove=remove)
    except ApiError as error:  # StorageUnavailable
        raise click.ClickException(f"storage: {error.message}") from None
    except StorageError as error:
        raise click.ClickException(f"storage: {error}") from None
    finally:
        await storage.close()
        await engine.dispose()


def gc_lines(
    settings: Settings, report: storage_gc.GcReport, grace: timedelta, *, removing: bool
) -> list[str]:
    where = (
        f"s3 bucket {settings.storage_s3_bucket}"
        if settings.storage_backend == "s3"
        else f"local folder {Path(settings.storage_local_dir).resolve()}"
    )
    minutes = int(grace.total_seconds() // 60)
    lines = [f"storage gc: {where}: {report.objects} objects under {FILES_PREFIX}"]
    lines.append(f"objects without a row, older than {minutes} min: {len(report.orphans)}")
    lines += [
        f"  {o.key} {o.size} bytes {o.modified:%Y-%m-%dT%H:%M:%SZ}" for o in report.orphans[:REPORT_LINES]
    ]
    lines += _more(report.orphans)
    lines.append(f"objects without a row, younger (left alone): {len(report.young_orphans)}")
    lines.append(f"rows without an object (reported only, never deleted): {len(report.rows_without_bytes)}")
    lines += [
        f"  file {r.id} owner {r.owner_id} path {r.path!r} name {r.name!r}"
        for r in report.rows_without_bytes[:REPORT_LINES]
    ]
    lines += _more(report.rows_without_bytes)
    if removing:
        lines.append(f"removed {report.removed} objects")
    elif report.orphans:
        lines.append(f"nothing removed; run with --yes to remove the {len(report.orphans)} objects")
    return lines


def _more(items: list[Any]) -> list[str]:
    return [f"  … and {len(items) - REPORT_LINES} more"] if len(items) > REPORT_LINES else []


@main.group("users")
def users_group() -> None:
    """Accounts."""


@users_group.command("create-admin")
@click.option("--email", required=True, help="The administrator's email address.")
@click.option("--name", default="Administrator", show_default=True, help="Display name.")
def create_admin(email: str, name: str) -> None:
    """Create an ACTIVE account with the ADMIN role (permission `*`).

    The password is asked for on the terminal (twice), never taken from the command line, where shell
    history and the process list would keep it.
    """
    settings = _settings()
    try:
        address = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise click.BadParameter(str(error), param_hint="--email") from None
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_new_password(password)
    except ValidationFailed as error:
        raise click.ClickException(error.message) from None
    with _database(settings) as database:
        try:
            user_id = asyncio.run(_create_admin(settings, database.url, address, name, password))
        except ApiError as error:
            raise click.ClickException(error.message) from None
    click.echo(f"created administrator {users.normalize_email(address)} (id {user_id})")


async def _create_admin(settings: Settings, url: str, email: str, name: str, password: str) -> str:
    engine = create_engine(settings, url)
    try:
        hasher = PasswordHasher(settings.bcrypt_rounds, settings.bcrypt_max_concurrency)
        async with create_sessionmaker(engine)() as db:
            await seed(db, hasher, demo_users=bool(settings.seed_demo_users))
            await users.ensure_available(db, {"email": email})
            role = await roles.find_by_name(db, ADMIN_ROLE)
            if role is None:
                raise click.ClickException(f"the {ADMIN_ROLE} role is missing; it is created by the seed")
            address = users.normalize_email(email)
            user = await users.add(
                db,
                email=address,
                name=name[:100],
                username=await users.free_username(db, address.split("@", 1)[0]),
                password=await hasher.hash(password),
                status=UserStatus.ACTIVE,
            )
            await roles.assign_to_user(db, user.id, role.id)
            await db.commit()
            return user.id
    finally:
        await engine.dispose()


if __name__ == "__main__":
    main()
