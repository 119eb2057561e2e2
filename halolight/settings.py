from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only defaults. Production refuses to start with them (see `_refuse_unsafe_production`).
DEV_ACCESS_SECRET = "dev-access-secret-change-me-0123456789abcdef"  # noqa: S105
DEV_REFRESH_SECRET = "dev-refresh-secret-change-me-0123456789abcdef"  # noqa: S105


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    debug: bool = False

    # Unset: `make run` / `make test` start the embedded PostgreSQL 16 (pgserver) and fill this in.
    database_url: str | None = None
    database_echo: bool = False
    database_pool_size: int = Field(default=10, ge=1, le=100)
    database_connect_timeout_s: int = Field(default=5, ge=1, le=60)
    database_statement_timeout_ms: int = Field(default=15_000, ge=100)
    embedded_pg_dir: str = "var/pgdata"

    jwt_secret_key: str = Field(default=DEV_ACCESS_SECRET, min_length=32)
    jwt_refresh_secret_key: str = Field(default=DEV_REFRESH_SECRET, min_length=32)
    jwt_access_token_expire_minutes: int = Field(default=15, ge=1, le=24 * 60)
    jwt_refresh_token_expire_days: int = Field(default=30, ge=1, le=365)
    jwt_issuer: str = "halolight-api"

    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    bcrypt_max_concurrency: int = Field(default=4, ge=1, le=64)
    password_reset_token_expire_minutes: int = Field(default=30, ge=5, le=24 * 60)
    password_reset_url: str = "http://localhost:3000/reset-password"  # noqa: S105 - a URL, not a secret

    mail_backend: Literal["outbox"] = "outbox"
    mail_outbox_dir: str = "var/outbox"

    # Throttling of login and forgot-password, per account and per client address (library: `limits`).
    auth_rate_limit: str = "10/minute"

    cors_origins: list[str] = ["http://localhost:3000", "http://localhost:5173"]
    docs_enabled: bool = True
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment != "production":
            return self
        problems = []
        if self.jwt_secret_key in (DEV_ACCESS_SECRET, DEV_REFRESH_SECRET):
            problems.append("JWT_SECRET_KEY is the development default")
        if self.jwt_refresh_secret_key in (DEV_ACCESS_SECRET, DEV_REFRESH_SECRET):
            problems.append("JWT_REFRESH_SECRET_KEY is the development default")
        if self.jwt_secret_key == self.jwt_refresh_secret_key:
            problems.append("access and refresh secrets must differ")
        if "*" in self.cors_origins:
            problems.append("wildcard CORS origin with credentials")
        if self.debug:
            problems.append("DEBUG is on")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
