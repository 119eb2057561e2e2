"""Run the Alembic migrations from code (app start-up, tests) with the repository's `alembic.ini`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

# The repository root: alembic.ini and alembic/ sit beside the package (an editable install or a checkout).
_ROOT = Path(__file__).resolve().parents[2]


def sync_url(url: str) -> str:
    """The psycopg 3 SQLAlchemy URL for `url`; a bare libpq `postgresql://` URL would select psycopg2."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def alembic_config(url: str) -> Config:
    cfg = Config(str(_ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    # The caller owns logging; alembic.ini's fileConfig would replace its handlers.
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(url: str) -> None:
    """`alembic upgrade head` against `url`."""
    command.upgrade(alembic_config(url), "head")
