"""Settings: production refuses unsafe values with one `SETTING: rule` line each, never printing a value."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from halolight.settings import (
    DEV_ACCESS_SECRET,
    KNOWN_PLACEHOLDER_SECRETS,
    ConfigurationError,
    Settings,
    estimated_secret_bits,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]


def strong() -> str:
    return secrets.token_urlsafe(48)


def production(**overrides: Any) -> dict[str, Any]:
    """A production configuration that passes; tests spoil one value at a time."""
    values: dict[str, Any] = {
        "environment": "production",
        "jwt_secret_key": strong(),
        "jwt_refresh_secret_key": strong(),
        "mail_backend": "smtp",
        "smtp_host": "smtp.example.org",
        "password_reset_url": "https://admin.example.org/reset-password",
        "files_share_url": "https://admin.example.org/share",
    }
    return {**values, **overrides}


def problems(**values: Any) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None, **values)
    return caught.value.lines


def published_secrets() -> set[str]:
    """Every JWT secret value printed in the repository's docs and examples: `KEY=value` (.env.example, the
    README), `KEY: value` and `${KEY:-default}` (docker-compose.yml)."""
    found: set[str] = set()
    for name in (".env.example", "docker-compose.yml", "README.md"):
        text = (ROOT / name).read_text(encoding="utf-8")
        for key in ("JWT_SECRET_KEY", "JWT_REFRESH_SECRET_KEY"):
            found |= set(re.findall(rf"(?<![A-Z_]){key}=([^\s`'\"]+)", text))
            found |= set(re.findall(rf"\$\{{{key}:?-([^}}]+)\}}", text))
            found |= set(re.findall(rf"^\s*{key}:\s*([^\s$]\S*)\s*$", text, re.MULTILINE))
    return found


class TestProductionSecrets:
    def test_a_real_configuration_loads(self) -> None:
        settings = load_settings(_env_file=None, **production())
        assert settings.environment == "production"
        assert settings.docs_enabled is False
        assert settings.seed_demo_users is False

    @pytest.mark.parametrize("placeholder", sorted(KNOWN_PLACEHOLDER_SECRETS))
    def test_known_placeholders_are_refused_without_their_value(self, placeholder: str) -> None:
        lines = problems(**production(jwt_refresh_secret_key=placeholder))
        if len(placeholder) < 32:
            assert lines == ["JWT_REFRESH_SECRET_KEY: String should have at least 32 characters"]
        else:
            assert len(lines) == 1
            assert lines[0].startswith("JWT_REFRESH_SECRET_KEY: ")
            assert "placeholder" in lines[0]
        assert all(placeholder not in line for line in lines)

    def test_every_secret_printed_in_the_docs_is_a_known_placeholder(self) -> None:
        printed = published_secrets()
        assert printed <= KNOWN_PLACEHOLDER_SECRETS, printed - KNOWN_PLACEHOLDER_SECRETS

    def test_anything_that_looks_like_a_placeholder_is_refused(self) -> None:
        lines = problems(**production(jwt_secret_key="please-change-me-" + strong()))
        assert lines == [
            "JWT_SECRET_KEY: looks like a placeholder; set a random secret, e.g. `openssl rand -base64 48`"
        ]

    @pytest.mark.parametrize(
        "weak",
        [
            "a" * 32,
            "a" * 64,
            "ab" * 20,
            "0123456789abcdef" * 3,
            "abcdefghijklmnopqrstuvwxyz0123456789",
            "83920174652918374650192837465019283",  # digits only: 116 bits at best
            "Aa1!" * 10,
        ],
    )
    def test_low_entropy_secrets_are_refused(self, weak: str) -> None:
        lines = problems(**production(jwt_secret_key=weak))
        assert len(lines) == 1
        assert lines[0].startswith("JWT_SECRET_KEY: too predictable (fewer than 128 bits estimated")
        assert weak not in lines[0]

    @pytest.mark.parametrize(
        "secret",
        [
            # Fresh each run; stable ids, so that every pytest-xdist worker collects the same tests.
            pytest.param(secrets.token_hex(16), id="token_hex16"),  # 128 bits, 32 hex characters
            pytest.param(secrets.token_hex(32), id="token_hex32"),
            pytest.param(secrets.token_urlsafe(32), id="token_urlsafe32"),
            "tR9#vLq2@zX8!mWp4$kN7^bJ6&hG3*fD",
        ],
    )
    def test_random_secrets_pass(self, secret: str) -> None:
        assert estimated_secret_bits(secret) >= 128
        load_settings(_env_file=None, **production(jwt_secret_key=secret))

    def test_equal_secrets_are_refused(self) -> None:
        same = strong()
        lines = problems(**production(jwt_secret_key=same, jwt_refresh_secret_key=same))
        assert lines == ["JWT_REFRESH_SECRET_KEY: must differ from JWT_SECRET_KEY"]

    def test_development_accepts_its_defaults(self) -> None:
        assert load_settings(_env_file=None).jwt_secret_key == DEV_ACCESS_SECRET


class TestProductionRules:
    def test_bcrypt_cost_below_10(self) -> None:
        assert problems(**production(bcrypt_rounds=4)) == ["BCRYPT_ROUNDS: must be at least 10 in production"]
        assert load_settings(_env_file=None, **production(bcrypt_rounds=10)).bcrypt_rounds == 10

    def test_outbox_mail(self) -> None:
        assert problems(**production(mail_backend="outbox")) == [
            "MAIL_BACKEND: outbox only writes files; production needs smtp"
        ]

    def test_smtp_needs_a_host_everywhere(self) -> None:
        assert problems(mail_backend="smtp") == ["SMTP_HOST: required when MAIL_BACKEND is smtp"]

    def test_smtp_needs_a_sender_address(self) -> None:
        assert problems(mail_backend="smtp", smtp_host="smtp.example.org", mail_from="HaloLight") == [
            "MAIL_FROM: needs an address, e.g. `HaloLight <no-reply@example.org>`"
        ]

    def test_empty_smtp_variables_mean_unset(self) -> None:
        settings = load_settings(
            _env_file=None, **production(smtp_username="", smtp_password="", smtp_port="")
        )
        assert (settings.smtp_username, settings.smtp_password, settings.smtp_port) == (None, None, None)
        assert problems(**production(smtp_host="")) == ["SMTP_HOST: required when MAIL_BACKEND is smtp"]

    @pytest.mark.parametrize(
        "url", ["http://localhost:3000/reset-password", "", "https://", "javascript:alert(1)", "ftp://x/y"]
    )
    def test_reset_links_must_be_https(self, url: str) -> None:
        assert problems(**production(password_reset_url=url)) == [
            "PASSWORD_RESET_URL: must be the front end's https:// URL in production"
        ]

    def test_smtp_password_in_clear_text(self) -> None:
        lines = problems(**production(smtp_security="none", smtp_password="hunter2-smtp"))
        assert lines == ["SMTP_SECURITY: none would send SMTP_PASSWORD in clear text; use starttls or tls"]

    def test_demo_users_opt_in_is_refused(self) -> None:
        assert problems(**production(seed_demo_users=True)) == [
            "SEED_DEMO_USERS: demo accounts (password 123456) are never created in production"
        ]
        assert load_settings(_env_file=None, **production(seed_demo_users=False)).seed_demo_users is False

    def test_every_problem_is_its_own_line(self) -> None:
        lines = problems(
            environment="production", bcrypt_rounds=4, debug=True, cors_origins=["*"], seed_demo_users=True
        )
        names = [line.split(":", 1)[0] for line in lines]
        assert names == [
            "SEED_DEMO_USERS",
            "JWT_SECRET_KEY",
            "JWT_REFRESH_SECRET_KEY",
            "BCRYPT_ROUNDS",
            "PASSWORD_RESET_URL",
            "FILES_SHARE_URL",
            "MAIL_BACKEND",
            "CORS_ORIGINS",
            "DEBUG",
        ]

    def test_field_errors_name_the_setting_without_the_value(self) -> None:
        secret = "s3cr3t-" + strong()[:10]
        lines = problems(jwt_secret_key=secret, bcrypt_rounds=99)
        assert lines == [
            "JWT_SECRET_KEY: String should have at least 32 characters",
            "BCRYPT_ROUNDS: Input should be less than or equal to 16",
        ]
        assert all(secret not in line and "input" not in line for line in lines)


class TestDefaultsByEnvironment:
    @pytest.mark.parametrize("environment", ["development", "test"])
    def test_development_and_test(self, environment: str) -> None:
        settings = Settings(_env_file=None, environment=environment)
        assert settings.docs_enabled is True
        assert settings.seed_demo_users is True

    def test_production_may_turn_docs_on(self) -> None:
        assert load_settings(_env_file=None, **production(docs_enabled=True)).docs_enabled is True

    def test_development_may_turn_demo_users_off(self) -> None:
        assert load_settings(_env_file=None, seed_demo_users=False).seed_demo_users is False


class TestServingEdge:
    """The connection budget of a `make serve` worker and the pace of request bodies (README, "Serving")."""

    def test_defaults(self) -> None:
        settings = Settings(_env_file=None)
        assert settings.http_body_idle_timeout_s == 5
        assert settings.http_body_min_rate_bytes_s == 1024
        assert settings.http_max_connections == 1024
        assert settings.http_backlog == 1024
        assert settings.http_max_requests_per_client == 64

    def test_read_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HTTP_BODY_IDLE_TIMEOUT_S", "2.5")
        monkeypatch.setenv("HTTP_MAX_REQUESTS_PER_CLIENT", "0")
        settings = load_settings(_env_file=None)
        assert settings.http_body_idle_timeout_s == 2.5
        assert settings.http_max_requests_per_client == 0  # no cap: every client behind one proxy

    def test_one_address_may_take_at_most_half_a_worker(self) -> None:
        assert problems(http_max_connections=100, http_max_requests_per_client=51) == [
            "HTTP_MAX_REQUESTS_PER_CLIENT: at most half of HTTP_MAX_CONNECTIONS, so that one address cannot "
            "take a worker's connections"
        ]
        assert load_settings(_env_file=None, http_max_connections=100, http_max_requests_per_client=50)

    def test_bounds(self) -> None:
        assert problems(
            http_body_idle_timeout_s=0, http_body_min_rate_bytes_s=-1, http_backlog=10, http_max_connections=1
        ) == [
            "HTTP_BODY_IDLE_TIMEOUT_S: Input should be greater than 0",
            "HTTP_BODY_MIN_RATE_BYTES_S: Input should be greater than or equal to 0",
            "HTTP_MAX_CONNECTIONS: Input should be greater than or equal to 2",
            "HTTP_BACKLOG: Input should be greater than or equal to 128",
        ]


class TestStorage:
    """Where file bytes live (halolight/storage/): a folder by default, or an S3-compatible store."""

    S3: ClassVar[dict[str, str]] = {
        "storage_backend": "s3",
        "storage_s3_endpoint_url": "http://localhost:8333",
        "storage_s3_bucket": "halolight-files",
        "storage_s3_access_key_id": "halolight",
    }

    def test_defaults(self) -> None:
        settings = Settings(_env_file=None)
        assert settings.storage_backend == "local"
        assert settings.storage_local_dir == "var/files"
        assert settings.storage_s3_part_size_mb == 8
        assert (settings.storage_connect_timeout_s, settings.storage_read_timeout_s) == (2, 10)
        assert settings.storage_gc_grace_minutes == 60

    def test_s3_needs_a_bucket_and_credentials(self) -> None:
        assert problems(storage_backend="s3") == [
            "STORAGE_S3_BUCKET: required when STORAGE_BACKEND is s3",
            "STORAGE_S3_ACCESS_KEY_ID: required when STORAGE_BACKEND is s3",
            "STORAGE_S3_SECRET_ACCESS_KEY: required when STORAGE_BACKEND is s3",
        ]

    def test_s3_from_the_environment_keeps_the_secret_out_of_sight(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        secret = strong()
        monkeypatch.setenv("STORAGE_BACKEND", "s3")
        monkeypatch.setenv("STORAGE_S3_BUCKET", "halolight-files")
        monkeypatch.setenv("STORAGE_S3_ACCESS_KEY_ID", "halolight")
        monkeypatch.setenv("STORAGE_S3_SECRET_ACCESS_KEY", secret)
        monkeypatch.setenv("STORAGE_S3_ENDPOINT_URL", "")  # compose's `${VAR:-}`: unset, so AWS
        settings = load_settings(_env_file=None)
        assert settings.storage_s3_secret_access_key is not None
        assert settings.storage_s3_secret_access_key.get_secret_value() == secret
        assert settings.storage_s3_endpoint_url is None
        assert secret not in repr(settings) and secret not in str(settings.model_dump())

    @pytest.mark.parametrize("bucket", ["hl", "Halolight", "halolight_files", "-halolight", "a" * 64])
    def test_bucket_names_are_dns_labels(self, bucket: str) -> None:
        lines = problems(**{**self.S3, "storage_s3_bucket": bucket}, storage_s3_secret_access_key=strong())
        assert len(lines) == 1 and lines[0].startswith("STORAGE_S3_BUCKET: String should match pattern")

    def test_production_refuses_a_predictable_secret_key(self) -> None:
        lines = problems(**production(**self.S3, storage_s3_secret_access_key="halolight-secret"))
        assert lines == [
            "STORAGE_S3_SECRET_ACCESS_KEY: too predictable (fewer than 128 bits estimated: too few distinct "
            "characters, a repeated pattern or a sequence); use e.g. `openssl rand -base64 48`"
        ]
        load_settings(_env_file=None, **production(**self.S3, storage_s3_secret_access_key=strong()))

    def test_bounds(self) -> None:
        assert problems(
            storage_s3_part_size_mb=4, storage_connect_timeout_s=0, storage_gc_grace_minutes=-1
        ) == [
            "STORAGE_S3_PART_SIZE_MB: Input should be greater than or equal to 5",
            "STORAGE_CONNECT_TIMEOUT_S: Input should be greater than 0",
            "STORAGE_GC_GRACE_MINUTES: Input should be greater than or equal to 0",
        ]


class TestSeedDocumentSettings:
    """The environment block of the shared seed document (its README), as a `.env` file."""

    SEED_ENV = """\
# 应用配置
DEBUG=false
ENVIRONMENT=production
API_PREFIX=/api

# 数据库（PostgreSQL）
DATABASE_URL=postgresql://user:password@localhost:5432/halolight_db
DATABASE_ECHO=false

# JWT 认证
JWT_SECRET_KEY=your-super-secret-jwt-key-change-in-production-min-32-chars
JWT_REFRESH_SECRET_KEY=your-refresh-secret-key
JWT_ALGORITHM=HS256
JWT_ACCESS_TOKEN_EXPIRE_MINUTES=10080  # 7 天
JWT_REFRESH_TOKEN_EXPIRE_DAYS=30

# CORS 配置
CORS_ORIGINS=["http://localhost:3000","https://halolight.h7ml.cn"]

# 安全
PASSWORD_MIN_LENGTH=8
"""

    def test_accepted_with_real_secrets(self, tmp_path: Path) -> None:
        env = tmp_path / ".env"
        env.write_text(
            self.SEED_ENV.replace(
                "your-super-secret-jwt-key-change-in-production-min-32-chars", strong()
            ).replace("your-refresh-secret-key", strong())
            + "MAIL_BACKEND=smtp\nSMTP_HOST=smtp.example.org\n"
            + "PASSWORD_RESET_URL=https://halolight.h7ml.cn/reset-password\n"
            + "FILES_SHARE_URL=https://halolight.h7ml.cn/share\n",
            encoding="utf-8",
        )
        settings = load_settings(_env_file=env)
        assert settings.environment == "production"
        assert settings.jwt_access_token_expire_minutes == 10080
        assert settings.jwt_refresh_token_expire_days == 30
        assert settings.jwt_algorithm == "HS256"
        assert settings.cors_origins == ["http://localhost:3000", "https://halolight.h7ml.cn"]
        assert settings.startup_warnings() == [
            "RATE_LIMIT_STORAGE_URL: memory:// counts per worker process; with several workers or hosts "
            "set a redis:// URL so login throttling is shared",
            "JWT_ACCESS_TOKEN_EXPIRE_MINUTES: above one day; sessions are still checked on every request",
        ]

    def test_its_placeholder_secrets_are_refused_in_production(self, tmp_path: Path) -> None:
        env = tmp_path / ".env"
        env.write_text(self.SEED_ENV, encoding="utf-8")
        with pytest.raises(ConfigurationError) as caught:
            load_settings(_env_file=env)
        assert caught.value.lines == ["JWT_REFRESH_SECRET_KEY: String should have at least 32 characters"]

    def test_long_access_tokens_are_accepted_in_development(self) -> None:
        assert load_settings(_env_file=None, jwt_access_token_expire_minutes=10080).startup_warnings()
        assert not load_settings(_env_file=None).startup_warnings()


class TestServeEntryPoint:
    """`python -m halolight.serve` on a bad configuration: status 2, the lines, no traceback, no value."""

    def run(self, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "halolight.serve", "--prepare-only"],
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **env},
            cwd=tmp_path,  # no `.env` here
            capture_output=True,
            text=True,
            timeout=120,
        )

    def test_bad_production_configuration(self, tmp_path: Path) -> None:
        weak = "a" * 40
        short = "tail-of-a-real-secret-XYZ"
        result = self.run(
            tmp_path,
            ENVIRONMENT="production",
            JWT_SECRET_KEY=weak,
            JWT_REFRESH_SECRET_KEY=short,
            BCRYPT_ROUNDS="4",
        )
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            "JWT_REFRESH_SECRET_KEY: String should have at least 32 characters"
        ]

        result = self.run(
            tmp_path,
            ENVIRONMENT="production",
            JWT_SECRET_KEY=weak,
            JWT_REFRESH_SECRET_KEY=short + "-" + "0123456789",
            BCRYPT_ROUNDS="4",
        )
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            "JWT_SECRET_KEY: too predictable (fewer than 128 bits estimated: too few distinct characters, "
            "a repeated pattern or a sequence); use e.g. `openssl rand -base64 48`",
            "BCRYPT_ROUNDS: must be at least 10 in production",
            "PASSWORD_RESET_URL: must be the front end's https:// URL in production",
            "FILES_SHARE_URL: must be the front end's https:// URL in production",
            "MAIL_BACKEND: outbox only writes files; production needs smtp",
        ]
        for output in (result.stdout, result.stderr):
            assert "Traceback" not in output
            assert weak not in output and "XYZ" not in output and "input_value" not in output

    def test_unparsable_value(self, tmp_path: Path) -> None:
        result = self.run(tmp_path, CORS_ORIGINS="[not json")
        assert (result.returncode, result.stderr.splitlines()) == (2, ["CORS_ORIGINS: not valid JSON"])


class TestShippedContainer:
    """No Docker engine here: check the files say what the API needs (they are not built by the tests)."""

    def test_compose_runs_the_api_in_production_with_required_secrets(self) -> None:
        import yaml

        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
        env = compose["services"]["api"]["environment"]
        assert env["ENVIRONMENT"] == "production"
        assert env["MAIL_BACKEND"] == "smtp"
        for name in ("JWT_SECRET_KEY", "JWT_REFRESH_SECRET_KEY"):
            assert re.fullmatch(r"\$\{" + name + r":\?[^}]+\}", env[name]), env[name]

    def test_dockerfile_defaults_to_production(self) -> None:
        dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
        env_lines = [line for line in dockerfile.splitlines() if line.startswith("ENV ")]
        assert any("ENVIRONMENT=production" in line.split() for line in env_lines)
        assert any("MAIL_BACKEND=smtp" in line.split() for line in env_lines)
