"""The shipped container files: compose validated by a real Compose implementation, the image's shape, and
the application running without the embedded-database extra that the image leaves out.

No Docker engine runs on these machines: tests/ops/test_image.py builds and runs the image with buildah."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.debian import debian_tool

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "JWT_SECRET_KEY": "x" * 8,
    "JWT_REFRESH_SECRET_KEY": "y" * 8,
    "STORAGE_S3_ACCESS_KEY_ID": "halolight",
    "STORAGE_S3_SECRET_ACCESS_KEY": "z" * 8,
}


def _compose() -> str:
    return debian_tool("docker-compose", "docker-compose")


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        [_compose(), "-f", str(ROOT / "docker-compose.yml"), "config"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_compose_file_is_valid_and_needs_the_secrets() -> None:
    valid = _config(SECRETS)
    assert valid.returncode == 0, valid.stderr
    assert "ENVIRONMENT: production" in valid.stdout
    missing = _config({k: v for k, v in SECRETS.items() if k.startswith("STORAGE_")})
    assert missing.returncode != 0
    assert "set JWT_SECRET_KEY" in missing.stderr
    without_store = _config({k: v for k, v in SECRETS.items() if not k.startswith("STORAGE_")})
    assert without_store.returncode != 0
    assert "set STORAGE_S3_" in without_store.stderr


def test_compose_gives_the_api_an_s3_store() -> None:
    config = yaml.safe_load(_config(SECRETS).stdout)
    storage = config["services"]["storage"]
    assert storage["image"].startswith("chrislusf/seaweedfs:")
    assert "-s3" in storage["command"]
    assert storage["environment"]["AWS_SECRET_ACCESS_KEY"] == SECRETS["STORAGE_S3_SECRET_ACCESS_KEY"]
    api = config["services"]["api"]["environment"]
    assert api["STORAGE_BACKEND"] == "s3"
    assert api["STORAGE_S3_ENDPOINT_URL"] == "http://storage:8333"
    assert api["STORAGE_S3_SECRET_ACCESS_KEY"] == SECRETS["STORAGE_S3_SECRET_ACCESS_KEY"]
    assert api["STORAGE_S3_BUCKET"] == "halolight-files"
    assert "storage" in config["services"]["api"]["depends_on"]


def test_image_is_multi_stage_non_root_with_a_readiness_healthcheck() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()]
    assert sum(line.startswith("FROM ") for line in lines) == 2
    assert all("-slim" in line for line in lines if line.startswith("FROM "))
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] not in ("USER root", "USER 0")
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert any("/health/ready" in line for line in lines)
    installs = [line for line in lines if "pip install" in line]
    assert installs and not any("embedded" in line or "dev" in line for line in installs)


def test_runs_without_the_embedded_database_extra() -> None:
    """The image has no pgserver: everything but the embedded path imports, and that path says what to do."""
    script = (
        "import sys; sys.modules['pgserver'] = None\n"
        "import halolight.app, halolight.cli, halolight.serve, halolight.server\n"
        "from halolight.db import embedded\n"
        "try:\n"
        "    embedded.start('/nonexistent-halolight-test/pg')\n"
        "except embedded.EmbeddedUnavailable as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "DATABASE_URL: not set, and this installation has no embedded PostgreSQL; set DATABASE_URL"
    )
