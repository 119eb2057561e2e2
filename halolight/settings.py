from __future__ import annotations

import itertools
import math
import re
from email.utils import parseaddr
from functools import lru_cache
from typing import Any, Literal

from limits import parse as parse_rate
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

# Development-only defaults. Production refuses to start with them (see `_refuse_unsafe_production`).
DEV_ACCESS_SECRET = "dev-access-secret-change-me-0123456789abcdef"  # noqa: S105
DEV_REFRESH_SECRET = "dev-refresh-secret-change-me-0123456789abcdef"  # noqa: S105

# Every secret that was ever printed in this repository or the shared seed document: a copy of any of them
# is public, whatever its length. Production refuses them (and anything that looks like a placeholder).
KNOWN_PLACEHOLDER_SECRETS = frozenset(
    {
        DEV_ACCESS_SECRET,
        DEV_REFRESH_SECRET,
        # .env.example (old and current)
        "change-me-to-a-random-string-of-32-or-more-characters",
        "change-me-to-another-random-string-of-32-or-more",
        # docker-compose.yml (old defaults)
        "compose-access-secret-change-me-0123456789",
        "compose-refresh-secret-change-me-0123456789",
        # the shared seed document (README of the HaloLight Python backend)
        "your-super-secret-jwt-key-change-in-production-min-32-chars",
        "your-refresh-secret-key",
    }
)
_PLACEHOLDER_MARKERS = (
    "change-me",
    "changeme",
    "change_me",
    "change-in-production",
    "replace-me",
    "placeholder",
)

MIN_SECRET_BITS = 128
MIN_PRODUCTION_BCRYPT_ROUNDS = 10
ONE_DAY_MINUTES = 24 * 60


def estimated_secret_bits(value: str) -> float:
    """A deliberately rough upper bound of a secret's entropy: its length times log2 of the alphabet its
    character classes suggest, and zero when it is a run, a short repeated pattern or mostly a sequence.
    It only has to catch secrets a person typed (`aaaa…`, `abcabc…`, `0123…`, digits only, too short)."""
    if len(set(value)) < 8:
        return 0.0
    for period in range(1, len(value) // 2 + 1):
        if all(value[i] == value[i % period] for i in range(len(value))):
            return 0.0
    steps = [ord(b) - ord(a) for a, b in itertools.pairwise(value)]
    if steps and sum(1 for s in steps if abs(s) <= 1) * 2 > len(steps):
        return 0.0
    pool = 0
    pool += 26 if any(c.islower() for c in value) else 0
    pool += 26 if any(c.isupper() for c in value) else 0
    pool += 10 if any(c.isdigit() for c in value) else 0
    pool += 33 if any(not c.isalnum() for c in value) else 0
    pool += 100 if any(not c.isascii() for c in value) else 0
    return len(value) * math.log2(max(pool, 2))


def secret_problems(name: str, value: str) -> list[str]:
    """Production rules for one secret, as `SETTING: rule` lines that never contain the value."""
    lowered = value.lower()
    if value in KNOWN_PLACEHOLDER_SECRETS:
        which = "the development default" if value in (DEV_ACCESS_SECRET, DEV_REFRESH_SECRET) else "published"
        return [
            f"{name}: is a known placeholder ({which}); set a random secret, e.g. `openssl rand -base64 48`"
        ]
    if any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
        return [f"{name}: looks like a placeholder; set a random secret, e.g. `openssl rand -base64 48`"]
    if estimated_secret_bits(value) < MIN_SECRET_BITS:
        return [
            f"{name}: too predictable (fewer than {MIN_SECRET_BITS} bits estimated: too few distinct "
            "characters, a repeated pattern or a sequence); use e.g. `openssl rand -base64 48`"
        ]
    return []


class ConfigurationError(Exception):
    """Bad configuration: one `SETTING_NAME: rule` line per problem, never a value."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    debug: bool = False

    # Unset: `make run` / `make test` start the embedded PostgreSQL 16 (pgserver) and fill this in.
    database_url: str | None = Field(default=None, repr=False)
    database_echo: bool = False
    database_pool_size: int = Field(default=10, ge=1, le=100)
    database_connect_timeout_s: int = Field(default=5, ge=1, le=60)
    database_statement_timeout_ms: int = Field(default=15_000, ge=100)
    embedded_pg_dir: str = "var/pgdata"

    jwt_secret_key: str = Field(default=DEV_ACCESS_SECRET, min_length=32, repr=False)
    jwt_refresh_secret_key: str = Field(default=DEV_REFRESH_SECRET, min_length=32, repr=False)
    # Only HS256 is implemented; the setting exists because the seed document sets it.
    jwt_algorithm: Literal["HS256"] = "HS256"
    # Up to 30 days: every request checks the live session, so a long access token does not outlive a
    # logout or a disabled account (the seed document uses 10080, 7 days). Above a day is logged at start.
    jwt_access_token_expire_minutes: int = Field(default=15, ge=1, le=30 * ONE_DAY_MINUTES)
    jwt_refresh_token_expire_days: int = Field(default=30, ge=1, le=365)
    # Absolute lifetime of a login session (refresh-token family): rotation never extends it past this.
    jwt_session_max_days: int = Field(default=90, ge=1, le=3650)
    jwt_issuer: str = "halolight-api"

    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    bcrypt_max_concurrency: int = Field(default=4, ge=1, le=64)
    password_reset_token_expire_minutes: int = Field(default=30, ge=5, le=24 * 60)
    password_reset_url: str = "http://localhost:3000/reset-password"  # noqa: S105 - a URL, not a secret
    # Reset mails per (normalized) address, whether or not an account has it; beyond it nothing is sent.
    password_reset_mail_limit: str = "3/15 minutes"  # noqa: S105 - a rate, not a secret
    # Where the throttle counts: `memory://` (this process only) or `redis://host:port/db` / `rediss://…`
    # (shared by every worker and host; needed as soon as there is more than one worker).
    rate_limit_storage_url: str = Field(default="memory://", pattern=r"^(memory://|rediss?://\S+)$")

    # Demo accounts (password 123456, one of them with `*`). Unset: on, except in production, which
    # refuses `true`. Permissions and roles are reference data and are always seeded.
    seed_demo_users: bool | None = None

    # `outbox` writes JSON files to MAIL_OUTBOX_DIR (development, tests); `smtp` sends (production).
    mail_backend: Literal["outbox", "smtp"] = "outbox"
    mail_outbox_dir: str = "var/outbox"
    mail_from: str = "HaloLight <no-reply@localhost>"
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)  # unset: 465 with `tls`, else 587/25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_timeout_s: float = Field(default=10, gt=0, le=300)

    # Throttling of login and forgot-password, per account and per client address (library: `limits`).
    auth_rate_limit: str = "10/minute"

    cors_origins: list[str] = ["http://localhost:3000", "http://localhost:5173"]
    # Unset: on in development and test, off in production (explicit `true` is allowed there).
    docs_enabled: bool | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Slow clients (`make serve`): a request's headers, and its body, must arrive within these bounds; an
    # idle keep-alive connection is closed after the header timeout; larger header blocks get 431.
    http_header_read_timeout_s: float = Field(default=10.0, gt=0, le=60)
    http_body_read_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    http_max_header_bytes: int = Field(default=16_384, ge=8192, le=1_048_576)
    # granian's read buffer per connection (`make serve`): request bodies arrive in pieces of at most this
    # size, so a small one makes uploads slow (16 KiB: about half the upload speed of 256 KiB, measured);
    # it is also the most a header block can take before the app's HTTP_MAX_HEADER_BYTES check (431) runs.
    http_read_buffer_bytes: int = Field(default=262_144, ge=65_536, le=4_194_304)
    # A body that makes no progress for this long (no byte arrives) gets 408 and the connection is closed; so
    # does one arriving, after that first grace, slower than the minimum rate (0: no rate rule). Time the app
    # spends between reads does not count against the client.
    http_body_idle_timeout_s: float = Field(default=5.0, gt=0, le=600)
    http_body_min_rate_bytes_s: int = Field(default=1024, ge=0, le=1_048_576)
    # The connection budget of one `make serve` worker (see README, "Serving"): connections it holds at once
    # (granian's backpressure; more wait in the kernel's accept queue, HTTP_BACKLOG long), and requests in
    # flight per client address, past which the answer is an immediate 429 with `Connection: close` (0: no
    # cap, for a server that sees every client as one reverse proxy's address).
    http_max_connections: int = Field(default=1024, ge=2, le=65_536)
    http_backlog: int = Field(default=1024, ge=128, le=65_535)
    http_max_requests_per_client: int = Field(default=64, ge=0, le=65_536)
    # `make serve` worker processes; 0 means one per CPU core.
    workers: int = Field(default=0, ge=0, le=64)

    # Where `make run` / `make serve` / `halolight serve` listen.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # In-flight requests get this long to finish after SIGINT/SIGTERM/SIGHUP.
    shutdown_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # `auto`: JSON lines in production, plain text elsewhere.
    log_format: Literal["auto", "plain", "json"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Prometheus metrics at /metrics. Unset: on outside production; in production on when METRICS_TOKEN is
    # set. With METRICS_TOKEN, scrapes must send `Authorization: Bearer <token>`.
    metrics_enabled: bool | None = None
    metrics_token: SecretStr | None = Field(default=None, repr=False)
    # Shared folder of the granian workers' metrics (prometheus_client multiprocess mode). Unset: `make serve`
    # uses a fresh private folder per run.
    prometheus_multiproc_dir: str | None = None

    # Where file bytes live (halolight/storage/): `local`, a folder on this host, or `s3`, any S3-compatible
    # object store. Keys are made by the server, never taken from a client's file name.
    storage_backend: Literal["local", "s3"] = "local"
    storage_local_dir: str = "var/files"
    # Unset: AWS's own endpoint for STORAGE_S3_REGION. SeaweedFS, MinIO, Ceph, R2, ...: their URL.
    storage_s3_endpoint_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # The store's URL as browsers reach it, for presigned download URLs (unset: STORAGE_S3_ENDPOINT_URL).
    storage_s3_public_endpoint_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # A DNS label (3-63 of a-z 0-9 . -), as every S3 implementation requires.
    storage_s3_bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    storage_s3_region: str = "us-east-1"
    storage_s3_access_key_id: str | None = Field(default=None, repr=False)
    storage_s3_secret_access_key: SecretStr | None = Field(default=None, repr=False)
    # `path` (https://host/bucket/key: SeaweedFS, MinIO) or `virtual` (https://bucket.host/key: AWS).
    storage_s3_addressing_style: Literal["path", "virtual"] = "path"
    # Uploads larger than one part go up as S3 multipart uploads of this size (S3's minimum part is 5 MiB);
    # a worker holds about two parts of each upload in memory at once.
    storage_s3_part_size_mb: int = Field(default=8, ge=5, le=512)
    # An unreachable store answers 503 within these bounds (each request is tried once).
    storage_connect_timeout_s: float = Field(default=2.0, gt=0, le=60)
    storage_read_timeout_s: float = Field(default=10.0, gt=0, le=600)
    # Files: each user's storage quota (`users.quotaUsed` counts against it), the largest upload (the spec's
    # x-max-body-bytes of uploadFile, 4 GiB, is the hard ceiling above this), the media types uploads may not
    # have (detected from the bytes, never taken from the client; 415), and how long a download URL works.
    files_quota_mb: int = Field(default=10 * 1024, ge=1, le=1024 * 1024 * 1024)
    files_max_upload_mb: int = Field(default=2048, ge=1, le=4096)
    files_refused_types: list[str] = Field(
        default=[
            "application/x-dosexec",
            "application/x-msdownload",
            "application/x-executable",
            "application/x-sharedlib",
            "application/x-pie-executable",
            "application/x-mach-binary",
        ],
        max_length=200,
    )
    files_download_url_ttl_s: int = Field(default=300, ge=10, le=7 * 24 * 3600)
    # The API's own URL as browsers reach it (https://api.example.com), for the download URLs the `local`
    # backend signs; unset: they are paths (`/api/files/…/download?…`) that clients put after their base URL.
    public_api_url: str | None = Field(default=None, pattern=r"^https?://[^\s?#]+[^/\s?#]$")
    # `halolight storage gc` leaves stored objects younger than this alone: an upload in flight has its
    # bytes before its row commits.
    storage_gc_grace_minutes: int = Field(default=60, ge=0, le=7 * ONE_DAY_MINUTES)
    # File share links: where the HaloLight front end opens one (the token is appended as `/<token>`; give
    # production the front end's https:// URL), and how many resolutions one client address may make (429
    # beyond it).
    files_share_url: str = Field(
        default="http://localhost:3000/share", pattern=r"^https?://[^\s?#]+[^/\s?#]$"
    )
    files_share_rate_limit: str = "60/minute"

    # Live updates (halolight/events, the Events tag). A stream ends after this long at most (and when its
    # access token or session does); the client reconnects with Last-Event-ID and misses nothing.
    events_stream_max_seconds: float = Field(default=3600, gt=0, le=24 * 3600)
    # Comment lines on an idle stream, so proxies (often 60 s idle timeouts) keep it open.
    events_heartbeat_seconds: float = Field(default=15, gt=0, le=300)
    # Open streams per user across every worker and host (429 beyond).
    events_streams_per_user: int = Field(default=5, ge=1, le=100)
    # Events waiting for one slow client; beyond it the stream is ended (`end`: `slow`), never grown.
    events_queue_size: int = Field(default=256, ge=1, le=10_000)
    # Events one answer replays after Last-Event-ID (more: the stream ends with `end`: `replay`).
    events_replay_limit: int = Field(default=500, ge=1, le=10_000)
    # How long events are kept for replay (the hub prunes older rows).
    events_retention_hours: float = Field(default=24, gt=0, le=90 * 24)
    # How often the hub checks, in one statement, that its streams' sessions are still live.
    events_session_check_seconds: float = Field(default=2, gt=0, le=60)
    # How long a stream ticket works.
    events_ticket_seconds: int = Field(default=30, ge=1, le=600)

    @field_validator(
        "smtp_host",
        "smtp_port",
        "smtp_username",
        "smtp_password",
        "metrics_token",
        "storage_s3_endpoint_url",
        "storage_s3_public_endpoint_url",
        "storage_s3_bucket",
        "storage_s3_access_key_id",
        "storage_s3_secret_access_key",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `SMTP_PASSWORD: ${SMTP_PASSWORD:-}` in a compose file sets an empty variable: that means none.
        return None if value == "" else value

    @field_validator("files_share_rate_limit")
    @classmethod
    def _a_rate(cls, value: str) -> str:
        try:
            parse_rate(value)
        except ValueError:
            raise ValueError("a rate such as `60/minute` or `1000/hour`") from None
        return value

    @model_validator(mode="after")
    def _defaults_and_unsafe_production(self) -> Settings:
        production = self.environment == "production"
        if self.docs_enabled is None:
            self.docs_enabled = not production
        problems = []
        if self.metrics_enabled is None:
            self.metrics_enabled = not production or self.metrics_token is not None
        if production and self.metrics_enabled and self.metrics_token is None:
            problems.append("METRICS_TOKEN: required in production while METRICS_ENABLED is true")
        if production and self.metrics_token is not None:
            problems += secret_problems("METRICS_TOKEN", self.metrics_token.get_secret_value())
        if 2 * self.http_max_requests_per_client > self.http_max_connections:
            problems.append(
                "HTTP_MAX_REQUESTS_PER_CLIENT: at most half of HTTP_MAX_CONNECTIONS, so that one address "
                "cannot take a worker's connections"
            )
        problems += self._storage_problems()
        if self.mail_backend == "smtp" and not self.smtp_host:
            problems.append("SMTP_HOST: required when MAIL_BACKEND is smtp")
        if self.mail_backend == "smtp" and "@" not in parseaddr(self.mail_from)[1]:
            problems.append("MAIL_FROM: needs an address, e.g. `HaloLight <no-reply@example.org>`")
        if production:
            if self.seed_demo_users:
                problems.append(
                    "SEED_DEMO_USERS: demo accounts (password 123456) are never created in production"
                )
            problems += secret_problems("JWT_SECRET_KEY", self.jwt_secret_key)
            problems += secret_problems("JWT_REFRESH_SECRET_KEY", self.jwt_refresh_secret_key)
            if self.jwt_secret_key == self.jwt_refresh_secret_key:
                problems.append("JWT_REFRESH_SECRET_KEY: must differ from JWT_SECRET_KEY")
            if self.bcrypt_rounds < MIN_PRODUCTION_BCRYPT_ROUNDS:
                problems.append(
                    f"BCRYPT_ROUNDS: must be at least {MIN_PRODUCTION_BCRYPT_ROUNDS} in production"
                )
            if not re.fullmatch(r"https://[^\s/?#]+[^\s?#]*", self.password_reset_url):
                problems.append("PASSWORD_RESET_URL: must be the front end's https:// URL in production")
            # Share links carry a bearer secret in their path: never over plain http.
            if not re.fullmatch(r"https://[^\s/?#]+[^\s?#]*", self.files_share_url):
                problems.append("FILES_SHARE_URL: must be the front end's https:// URL in production")
            if self.public_api_url is not None and not self.public_api_url.startswith("https://"):
                problems.append(
                    "PUBLIC_API_URL: must be an https:// URL in production (signed download links)"
                )
            if self.mail_backend == "outbox":
                problems.append("MAIL_BACKEND: outbox only writes files; production needs smtp")
            if self.smtp_password is not None and self.smtp_security == "none":
                problems.append(
                    "SMTP_SECURITY: none would send SMTP_PASSWORD in clear text; use starttls or tls"
                )
            if "*" in self.cors_origins:
                problems.append("CORS_ORIGINS: wildcard origin with credentials")
            if self.debug:
                problems.append("DEBUG: must be off in production")
        if self.seed_demo_users is None:
            self.seed_demo_users = not production
        if problems:
            # One error whose message is the lines; `format_errors` splits it again.
            raise PydanticCustomError(
                "unsafe_settings", "\n".join(problems).replace("{", "(").replace("}", ")")
            )
        return self

    def _storage_problems(self) -> list[str]:
        if self.storage_backend != "s3":
            return []
        problems = [
            f"{name.upper()}: required when STORAGE_BACKEND is s3"
            for name in ("storage_s3_bucket", "storage_s3_access_key_id", "storage_s3_secret_access_key")
            if getattr(self, name) is None
        ]
        if self.environment == "production" and self.storage_s3_secret_access_key is not None:
            secret = self.storage_s3_secret_access_key.get_secret_value()
            problems += secret_problems("STORAGE_S3_SECRET_ACCESS_KEY", secret)
        return problems

    def startup_warnings(self) -> list[str]:
        warnings = []
        if self.environment == "production" and self.rate_limit_storage_url == "memory://":
            warnings.append(
                "RATE_LIMIT_STORAGE_URL: memory:// counts per worker process; with several workers or hosts "
                "set a redis:// URL so login throttling is shared"
            )
        if self.jwt_access_token_expire_minutes > ONE_DAY_MINUTES:
            warnings.append(
                "JWT_ACCESS_TOKEN_EXPIRE_MINUTES: above one day; sessions are still checked on every request"
            )
        return warnings


def format_errors(error: ValidationError) -> list[str]:
    """`SETTING_NAME: rule` lines, built without the inputs (pydantic's text would print the values)."""
    lines = []
    for item in error.errors(include_input=False, include_url=False, include_context=False):
        loc = [str(part) for part in item["loc"] if not isinstance(part, int)]
        if not loc:  # the model validator: already `SETTING: rule` lines
            lines += item["msg"].splitlines()
        else:
            lines.append(f"{loc[0].upper()}: {item['msg']}")
    return lines


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and `.env`; bad ones raise `ConfigurationError`, never echoing values."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigurationError(format_errors(error)) from None
    except SourceError as error:  # a complex value (a JSON list) that does not parse
        field = re.search(r'field "([^"]+)"', str(error))
        name = field.group(1).upper() if field else "SETTINGS"
        raise ConfigurationError([f"{name}: not valid JSON"]) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
