"""`halolight`: operator commands (library: click). Settings come from the environment and `.env`, as for
the server; with DATABASE_URL unset the commands use the embedded PostgreSQL of `make run`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from email_validator import EmailNotValidError, validate_email

from halolight.db import embedded, migrate
from halolight.db.engine import create_engine, create_sessionmaker, normalise_url
from halolight.db.models import UserStatus
from halolight.errors import ApiError, ValidationFailed
from halolight.repositories import roles, users
from halolight.security.passwords import PasswordHasher, check_new_password
from halolight.seed import seed
from halolight.settings import ConfigurationError, Settings, load_settings

ADMIN_ROLE = "ADMIN"


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as error:
        for line in error.lines:
            click.echo(line, err=True)
        sys.exit(2)


@contextmanager
def _database(settings: Settings) -> Iterator[str]:
    """The migrated database's URL (the embedded server when DATABASE_URL is unset), reference data seeded."""
    handle = None
    url = settings.database_url
    if not url:
        handle = embedded.start(settings.embedded_pg_dir)
        url = embedded.sqlalchemy_url(handle.get_uri())
    try:
        url = normalise_url(url)
        migrate.upgrade(url)
        yield url
    finally:
        if handle is not None:
            handle.cleanup()  # stops the server only if no other process (a running `make run`) uses it


@click.group()
def main() -> None:
    """HaloLight API operator commands."""


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
    with _database(settings) as url:
        try:
            user_id = asyncio.run(_create_admin(settings, url, address, name, password))
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
            user = await users.add(
                db,
                email=users.normalize_email(email),
                name=name[:100],
                username=await users.free_username(db, users.normalize_email(email).split("@", 1)[0]),
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
