"""Files end to end against real server processes: upload → download URL → download, the bytes compared by
SHA-256, with the local folder and with S3 (the session's SeaweedFS), by hand and through the generated Python
client; and what the API answers when the store goes away.

`make serve`'s granian (one worker), a database of its own per server, a file of a few MiB that is not a
multiple of any chunk or part size (with 5 MiB parts, S3 takes it as a two-part multipart upload).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from halolight.storage import content_disposition, links
from tests.ops.helpers import Server, free_port, serve
from tests.pg import TestServer
from tests.sdk.helpers import SDK, make
from tests.storage.conftest import drop_bucket, new_bucket
from tests.storage.seaweed import SeaweedServer

MIB = 1024 * 1024
SIZE = 6 * MIB + 12_345
NAME = "报告 2026.pdf"
ADMIN = {"email": "admin@halolight.h7ml.cn", "password": "123456"}
JWT_SECRET = "roundtrip-test-secret-" + "x" * 32  # the servers' key: these tests sign an API link with it
# A bound on every request, so a hung server fails the test instead of holding it; not a timed assertion.
TIMEOUT = httpx.Timeout(60)
OPENING = b"\x00halolight-test\x00"


def random_bytes(size: int = SIZE) -> bytes:
    # A fixed opening: about 1 in 100 random heads sniffs as some file type (a DOS executable most often,
    # which uploads refuse); this one is always application/octet-stream.
    return (OPENING + os.urandom(size))[:size]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Api:
    backend: str
    url: str
    headers: dict[str, str]
    store_url: str | None  # the S3 endpoint (None: local)
    bucket: str | None


def s3_env(server: SeaweedServer, bucket: str) -> dict[str, str]:
    return {
        "STORAGE_BACKEND": "s3",
        "STORAGE_S3_ENDPOINT_URL": server.endpoint_url,
        "STORAGE_S3_BUCKET": bucket,
        "STORAGE_S3_ACCESS_KEY_ID": server.access_key_id,
        "STORAGE_S3_SECRET_ACCESS_KEY": server.secret_access_key,
        "STORAGE_S3_PART_SIZE_MB": "5",
        "STORAGE_CONNECT_TIMEOUT_S": "1",
        "STORAGE_READ_TIMEOUT_S": "5",
    }


@dataclass
class Running:
    server: Server
    url: str
    database_url: str


def start_api(pg_server: TestServer, tmp: Path, **env: str) -> Running:
    """`make serve`'s server (granian, one worker) on a fresh database; local files under `tmp`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database_url = pg_server.create_database("files")
    # Absolute URLs, as production gives them: the local backend's URL must name the API's host.
    env.setdefault("PUBLIC_API_URL", url)
    server = serve(
        port,
        tmp,
        "--production-server",
        DATABASE_URL=database_url,
        WORKERS="1",
        JWT_SECRET_KEY=JWT_SECRET,
        STORAGE_LOCAL_DIR=str(tmp / "files"),
        **env,
    )
    try:
        server.wait_ready(port)
    except BaseException:
        server.stop()
        raise
    return Running(server, url, database_url)


def login(url: str) -> dict[str, str]:
    answer = httpx.post(f"{url}/api/auth/login", json=ADMIN, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['accessToken']}"}


@pytest.fixture(scope="module", params=["local", "s3"])
def api(
    request: pytest.FixtureRequest, pg_server: TestServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp(f"files-{request.param}")
    store_url = bucket = None
    env: dict[str, str] = {}
    if request.param == "s3":
        seaweed: SeaweedServer = request.getfixturevalue("seaweed")
        bucket = asyncio.run(new_bucket(seaweed))
        store_url, env = seaweed.endpoint_url, s3_env(seaweed, bucket)
    running = start_api(pg_server, tmp, **env)
    with running.server:
        yield Api(request.param, running.url, login(running.url), store_url, bucket)
    if bucket is not None:
        asyncio.run(drop_bucket(request.getfixturevalue("seaweed"), bucket))


def upload(api: Api, data: bytes, name: str = NAME) -> dict[str, Any]:
    answer = httpx.post(
        f"{api.url}/api/files/upload",
        files={"file": (name, data, "application/pdf")},
        headers=api.headers,
        timeout=TIMEOUT,
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def download_url(api: Api, file_id: str) -> str:
    answer = httpx.get(f"{api.url}/api/files/{file_id}/download-url", headers=api.headers, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    url: str = answer.json()["url"]
    return url


def check_download_url(api: Api, url: str) -> None:
    """S3: the store's own presigned URL (the bytes never pass through the API); local: the API's."""
    if api.backend == "s3":
        assert api.store_url is not None and api.bucket is not None
        assert url.startswith(f"{api.store_url}/{api.bucket}/files/")
        assert "X-Amz-Signature=" in url
        assert urlsplit(url).netloc != urlsplit(api.url).netloc
    else:
        assert url.startswith(f"{api.url}/api/files/")


class TestRoundTrip:
    def test_upload_then_download_gives_the_same_bytes(self, api: Api) -> None:
        data = random_bytes()
        created = upload(api, data)
        assert (created["name"], created["size"]) == (NAME, SIZE)
        url = download_url(api, created["id"])
        check_download_url(api, url)

        answer = httpx.get(url, timeout=TIMEOUT)
        assert answer.status_code == 200
        assert sha256(answer.content) == sha256(data)
        assert answer.headers["content-length"] == str(SIZE)
        assert answer.headers["content-disposition"] == content_disposition(NAME)
        assert "filename*=UTF-8''%E6%8A%A5%E5%91%8A%202026.pdf" in answer.headers["content-disposition"]

    def test_ranges(self, api: Api) -> None:
        data = random_bytes()
        url = download_url(api, upload(api, data)["id"])
        with httpx.Client(timeout=TIMEOUT) as client:
            # Across the 1 MiB chunks of a read and the 5 MiB boundary of the S3 parts.
            for first, last in (
                (0, 0),
                (MIB - 10, MIB + 10),
                (5 * MIB - 3, 5 * MIB + 2),
                (SIZE - 7, SIZE - 1),
            ):
                answer = client.get(url, headers={"Range": f"bytes={first}-{last}"})
                assert answer.status_code == 206
                assert answer.content == data[first : last + 1]
                assert answer.headers["content-range"] == f"bytes {first}-{last}/{SIZE}"
            suffix = client.get(url, headers={"Range": "bytes=-100"})
            assert (suffix.status_code, suffix.content) == (206, data[-100:])
            past = client.get(url, headers={"Range": f"bytes={SIZE}-"})
            assert past.status_code == 416

    # Local only: an S3 download is the store's own answer (tests/storage/test_s3.py checks its URLs).
    @pytest.mark.parametrize("api", ["local"], indirect=True)
    def test_head_and_conditional_requests_of_the_api_link(self, api: Api) -> None:
        data = random_bytes(100_000)
        url = download_url(api, upload(api, data)["id"])
        with httpx.Client(timeout=TIMEOUT) as client:
            head = client.head(url)
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == "100000"
            etag = head.headers["etag"]
            assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
            stale = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
            assert (stale.status_code, sha256(stale.content)) == (200, sha256(data))


@pytest.fixture(scope="module")
def client_package() -> Iterator[ModuleType]:
    make("sdk/python/.generated")
    sys.path.insert(0, str(SDK / "python"))
    try:
        yield importlib.import_module("halolight_api_client")
    finally:
        sys.path.remove(str(SDK / "python"))


def test_the_generated_python_client_round_trip(client_package: ModuleType, api: Api) -> None:
    from halolight_api_client import AuthenticatedClient
    from halolight_api_client.api.files import get_file_download_url, upload_file
    from halolight_api_client.models import DownloadUrl, UploadFileBody
    from halolight_api_client.models import File as FileModel
    from halolight_api_client.types import File

    data = random_bytes()
    token = api.headers["Authorization"].removeprefix("Bearer ")
    with AuthenticatedClient(base_url=api.url, token=token, raise_on_unexpected_status=True) as client:
        body = UploadFileBody(
            file=File(payload=BytesIO(data), file_name="upload.bin", mime_type="application/octet-stream"),
            name=NAME,
        )
        created = upload_file.sync(client=client, body=body)
        assert isinstance(created, FileModel)
        assert (created.name, created.size) == (NAME, SIZE)
        link = get_file_download_url.sync(client=client, id=created.id)
        assert isinstance(link, DownloadUrl)
    check_download_url(api, link.url)
    answer = httpx.get(link.url, timeout=TIMEOUT)
    assert answer.status_code == 200
    assert sha256(answer.content) == sha256(data)
    assert answer.headers["content-disposition"] == content_disposition(NAME)


def test_a_storage_outage(pg_server: TestServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    """SeaweedFS stops under a running API: what touches bytes answers 503 with Retry-After at once (a
    refused connection), the rest of the API keeps answering. A download URL of S3 is signed without asking
    the store, so it is still given (the store refuses it until it is back)."""
    seaweed = SeaweedServer(tmp_path_factory.mktemp("outage-seaweed"))
    try:
        bucket = asyncio.run(new_bucket(seaweed))
        tmp = tmp_path_factory.mktemp("outage")
        running = start_api(pg_server, tmp, **s3_env(seaweed, bucket))
        url = running.url
        with running.server:
            api = Api("s3", url, login(url), seaweed.endpoint_url, bucket)
            file_id = upload(api, random_bytes(MIB))["id"]
            seaweed.stop()

            refused = httpx.post(
                f"{url}/api/files/upload",
                files={"file": ("a.bin", random_bytes(MIB), "application/octet-stream")},
                headers=api.headers,
                timeout=TIMEOUT,
            )
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "5"
            assert refused.json() == {"detail": "File storage temporarily unavailable"}

            link = download_url(api, file_id)
            check_download_url(api, link)
            with pytest.raises(httpx.ConnectError):
                httpx.get(link, timeout=TIMEOUT)

            # The API's own signed link (what the local backend hands out) streams from the store: 503.
            expires = int(time.time()) + 600
            object_key = stored_key(running.database_url, file_id)
            signature = links.sign(links.link_key(JWT_SECRET), file_id, object_key, expires)
            through_api = httpx.get(
                f"{url}/api/files/{file_id}/download",
                params={"expires": expires, "signature": signature},
                timeout=TIMEOUT,
            )
            assert through_api.status_code == 503, through_api.text
            assert through_api.headers["retry-after"] == "5"

            me = httpx.get(f"{url}/api/auth/me", headers=api.headers, timeout=TIMEOUT)
            assert me.status_code == 200
            assert httpx.get(f"{url}/health/ready", timeout=TIMEOUT).status_code == 200
            files = httpx.get(f"{url}/api/files", headers=api.headers, timeout=TIMEOUT)
            assert files.status_code == 200 and file_id in [f["id"] for f in files.json()["data"]]
    finally:
        seaweed.stop()


def stored_key(database_url: str, file_id: str) -> str:
    """The row's storage key (never shown to clients), from the server's database."""
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        row = conn.execute("SELECT path FROM files WHERE id = %s", (file_id,)).fetchone()
    assert row is not None
    return str(row[0])
