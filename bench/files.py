# ruff: noqa: S603, S607, S608  (a benchmark driver: it runs local processes and SQL it writes)
"""Files in `make bench` / `make bench-quick` (the last part of `bench/run.py`), or alone: `make bench-files`
(`python -m bench.files [--quick]`, on a fresh bench database of its own).

1. Two `make serve` APIs (granian, WORKERS=2) on the bench database: one storing in a local folder of the
   bench's temporary folder, one in a SeaweedFS started for the run (the `weed` of the dev dependencies).
2. 10 MiB uploads and downloads through the API with curl (one client for every row, so the rows differ only
   by what stands between the bytes and the disk), median of several runs, each as a ratio to the same
   bytes moved without the API: locally `shutil.copyfile` on the same disk (uploads: plus the fsync of the
   file and its folder that the API does before it answers), on S3 curl's PUT and GET of presigned URLs
   straight to SeaweedFS. Locally, the same rounds also send the same curl commands to granian alone
   (`bench/transport.py`: `make serve`'s granian and flags, a bare ASGI app, no auth, database or parsing):
   its rows are the transport's ceiling over the copy, and a column gives the API's rate over it. And curl
   alone copies the file through `file://` (no HTTP, no server): the client's own ceiling for a download.
3. A worker's RSS, sampled every 20 ms, through a 1 GiB upload and download (512 MiB with --quick) on each
   backend.
4. `GET /api/files` of a user with 10,000 files (rows made in SQL), with wrk, as the other rows.

It returns the lines of a `### Files` section that `bench/run.py` appends to bench/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.run import (
    PASSWORD,
    ROOT,
    Run,
    descendants,
    http_json,
    log,
    lua_request,
    require_free,
    start,
    stop,
    wait_until_up,
    wrk,
)
from halolight.storage import links

LOCAL_PORT, S3_PORT, BARE_PORT = 18463, 18464, 18465
WORKERS = 2
MIB = 1024 * 1024
TRANSFER_MIB = 10
LARGE_MIB = 1024  # the memory check's transfers; 512 MiB in --quick (one is about 30 s on S3 here)
LIST_FILES = 10_000
# Bench users of bench/run.py's dataset (role USER: files:view and files:upload): one owns the 10,000 listed
# rows, the other uploads (its quota raised below), so the list never shows the transferred files.
LISTER, UPLOADER = 9, 11
JWT_SECRET = "bench-files-download-links-" + "k" * 32  # the API's key, to sign its own links for S3
RSS_PERIOD_S = 0.02
RSS_BOUND_MIB = 20
SECTION = "### Files"  # bench/readme.py splits results.md there
TARGETS = {"download": 0.8, "upload": 0.5}


def user_id(number: int) -> str:
    return "cbench" + str(number).zfill(19)


def list_dataset_sql() -> str:
    # Keys of no stored object: a list never reads bytes. One second apart, newest first by number.
    return f"""
    INSERT INTO files (id, name, path, "mimeType", size, "ownerId", "createdAt", "updatedAt")
    SELECT 'cbfile' || lpad(i::text, 19, '0'), 'Report ' || i || '.pdf',
           'files/be/bench' || lpad(i::text, 26, '0'), 'application/pdf', 100000 + i, '{user_id(LISTER)}',
           now() - make_interval(secs => i), now() - make_interval(secs => i)
    FROM generate_series(1, {LIST_FILES}) AS i;
    UPDATE users SET "quotaUsed" = (SELECT sum(size) FROM files WHERE "ownerId" = '{user_id(LISTER)}')
    WHERE id = '{user_id(LISTER)}';
    """


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# ---------------------------------------------------------------------------------------------- curl
@dataclass
class Curl:
    status: int
    seconds: float
    body: str


def curl(*args: str, output: str = "-") -> Curl:
    """One curl request; its own time (`time_total`: connect to last byte, no process start)."""
    marker = "\n@@curl@@"
    done = subprocess.run(
        ["curl", "-sS", "-o", output, "-w", marker + "%{http_code} %{time_total}", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    body, _, tail = done.stdout.rpartition(marker)
    status, seconds = tail.split()
    return Curl(int(status), float(seconds), body)


def curl_upload(api: str, token: str, path: Path, *, route: str = "/api/files/upload") -> Curl:
    # `Expect:` off: curl would wait for a "100 Continue" on large bodies first. Granian alone (no token)
    # gets the same multipart body and stores it whole, unparsed.
    answer = curl(
        *(("-H", f"Authorization: Bearer {token}") if token else ()),
        "-H",
        "Expect:",
        "-F",
        f"file=@{path};type=application/octet-stream;filename=bench.bin",
        f"{api}{route}",
    )
    if answer.status != 201:
        raise RuntimeError(f"upload answered {answer.status}: {answer.body[:500]}")
    return answer


def curl_get(url: str, output: str, *headers: str) -> Curl:
    # A new file each time, as the plain copy's target is: curl would otherwise truncate the last run's 10 MiB
    # within its timed transfer (freeing its pages), a cost of this client, not of the server.
    if output != "/dev/null":
        Path(output).unlink(missing_ok=True)
    answer = curl(*(part for header in headers for part in ("-H", header)), url, output=output)
    if answer.status != 200:
        raise RuntimeError(f"GET {url} answered {answer.status}")
    return answer


def download_url(api: str, token: str, file_id: str) -> tuple[str, float]:
    answer = curl("-H", f"Authorization: Bearer {token}", f"{api}/api/files/{file_id}/download-url")
    if answer.status != 200:
        raise RuntimeError(f"download-url answered {answer.status}: {answer.body[:500]}")
    url: str = json.loads(answer.body)["url"]
    return url, answer.seconds


# ---------------------------------------------------------------------------------------------- RSS
def worker_pids(group_pid: int) -> list[int]:
    """granian's workers under `make serve` (make → server → workers): the Python processes whose parent is
    a Python process of the tree, less multiprocessing's resource tracker (as bench/run.py counts them)."""
    info: dict[int, tuple[int, str]] = {}
    for pid in [group_pid, *descendants(group_pid)]:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        info[pid] = (int(stat.rsplit(")", 1)[1].split()[1]), cmdline)
    return sorted(
        pid
        for pid, (parent, cmdline) in info.items()
        if "python" in cmdline
        and parent in info
        and "python" in info[parent][1]
        and "resource_tracker" not in cmdline
    )


PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES


class RssSampler:
    """The highest RSS of each worker while the block runs, against its RSS when the block began."""

    def __init__(self, pids: list[int]) -> None:
        self.before = {pid: rss_bytes(pid) for pid in pids}
        self.peak = dict(self.before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for pid in self.peak:
                self.peak[pid] = max(self.peak[pid], rss_bytes(pid))
            time.sleep(RSS_PERIOD_S)

    @contextmanager
    def sampling(self) -> Iterator[RssSampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()

    @property
    def growth_mib(self) -> float:
        return max(self.peak[pid] - self.before[pid] for pid in self.before) / MIB

    @property
    def before_mib(self) -> float:
        return max(self.before.values()) / MIB


# ---------------------------------------------------------------------------------------------- measures
@dataclass
class Transfer:
    name: str
    api_s: list[float]
    plain_s: list[float]
    target: float | None = None
    bare_s: list[float] | None = None  # the same transfer through granian alone (bench/transport.py)

    @staticmethod
    def rate(seconds: list[float]) -> float:
        return TRANSFER_MIB / statistics.median(seconds)

    @property
    def ratio(self) -> float:
        return self.rate(self.api_s) / self.rate(self.plain_s)

    @property
    def bare_ratio(self) -> float | None:
        return None if self.bare_s is None else self.rate(self.api_s) / self.rate(self.bare_s)


@dataclass
class Memory:
    name: str
    growth_mib: float
    before_mib: float
    mib_s: float


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_seconds(source: Path, target: Path, *, durable: bool) -> float:
    target.unlink(missing_ok=True)
    started = time.perf_counter()
    shutil.copyfile(source, target)
    if durable:  # what the local backend does before an upload's answer: the file, then its folder
        fsync_path(target)
        fsync_path(target.parent)
    return time.perf_counter() - started


def random_file(path: Path, mib: int) -> Path:
    # A 16 MiB random block, repeated: nothing on the way compresses or deduplicates, and making it is quick.
    # Its fixed opening always sniffs as application/octet-stream (about 1 random head in 100 sniffs as a DOS
    # executable, which uploads refuse).
    block = (b"\x00halolight-bench\x00" + os.urandom(16 * MIB))[: 16 * MIB]
    with path.open("wb") as out:
        for _ in range(mib // 16):
            out.write(block)
        out.write(block[: (mib % 16) * MIB])
    return path


@dataclass
class Backend:
    name: str
    api: str
    token: str
    process: subprocess.Popen[bytes]
    database_url: str

    def object_key(self, file_id: str) -> str:
        with psycopg.connect(libpq(self.database_url)) as conn:
            row = conn.execute("SELECT path FROM files WHERE id = %s", (file_id,)).fetchone()
        assert row is not None
        return str(row[0])

    def api_link(self, file_id: str) -> str:
        """The API's own signed download URL (what the local backend hands out), made here for S3 too:
        with it the API streams the object from the store (`storage.open`)."""
        expires = int(time.time()) + 3600
        signature = links.sign(links.link_key(JWT_SECRET), file_id, self.object_key(file_id), expires)
        return f"{self.api}/api/files/{file_id}/download?expires={expires}&signature={signature}"


def transfers(
    backend: Backend, folder: Path, runs: int, plain: Any, bare: str | None = None
) -> tuple[list[Transfer], str]:
    """10 MiB up and down through the API, `runs` times after one unmeasured round; returns the rows and the
    id of one uploaded file. A client's download is two requests, the URL then its GET: the row with a
    target counts both; the link's GET alone is shown too where it goes through the API (local).

    `bare`: the address of granian alone (bench/transport.py, serving this backend's source file), measured
    in the same rounds with the same curl commands: the API's cost over the transport, run for run."""
    source = random_file(folder / f"{backend.name}-10mib.bin", TRANSFER_MIB)
    received = folder / f"{backend.name}-received.bin"
    up: list[float] = []
    down: list[float] = []
    get: list[float] = []
    bare_up: list[float] = []
    bare_get: list[float] = []
    # curl moving the same bytes between two local files by itself (file://, no HTTP, no server): the
    # client's own ceiling, which no server can pass.
    alone_get: list[float] = []
    file_id = ""
    for attempt in range(runs + 1):
        answer = curl_upload(backend.api, backend.token, source)
        file_id = json.loads(answer.body)["id"]
        link, url_s = download_url(backend.api, backend.token, file_id)
        fetched = curl_get(link, str(received))
        if received.stat().st_size != TRANSFER_MIB * MIB:
            raise RuntimeError(f"{backend.name}: downloaded {received.stat().st_size} bytes")
        if bare is not None:
            bare_answer = curl_upload(bare, "", source, route="/upload")
            bare_fetched = curl_get(f"{bare}/file", str(received))
            if received.stat().st_size != TRANSFER_MIB * MIB:
                raise RuntimeError(f"granian alone: downloaded {received.stat().st_size} bytes")
            received.unlink()
            alone_fetched = curl(f"file://{source}", output=str(received))
            if received.stat().st_size != TRANSFER_MIB * MIB:
                raise RuntimeError(f"curl alone: copied {received.stat().st_size} bytes")
        if attempt:  # the first round warms the worker, the client and the store
            up.append(answer.seconds)
            down.append(url_s + fetched.seconds)
            get.append(fetched.seconds)
            if bare is not None:
                bare_up.append(bare_answer.seconds)
                bare_get.append(bare_fetched.seconds)
                alone_get.append(alone_fetched.seconds)
    plain_up, plain_down = plain(source, runs)
    with_bare = bare is not None
    rows = [
        Transfer(
            f"{backend.name} upload",
            up,
            plain_up,
            TARGETS["upload"],
            bare_up if with_bare else None,
        ),
        Transfer(
            f"{backend.name} download (download-url + GET)",
            down,
            plain_down,
            TARGETS["download"],
            bare_get if with_bare else None,
        ),
    ]
    if backend.name == "local":
        rows.append(
            Transfer(
                "local download, the link's GET alone",
                get,
                plain_down,
                bare_s=bare_get if with_bare else None,
            )
        )
    if with_bare:
        rows += [
            Transfer("granian alone: upload (body to a file, fsync, rename; no parsing)", bare_up, plain_up),
            Transfer("granian alone: download (the file by path, pathsend)", bare_get, plain_down),
            Transfer("curl alone: the file read by file:// (no HTTP)", alone_get, plain_down),
        ]
    return rows, file_id


def memory(backend: Backend, big: Path, *, stream_link: bool) -> tuple[Memory, Memory]:
    """Worker RSS through the upload of `big`, then its download through the API (the API's own link:
    on S3 too, where clients would fetch the store's presigned URL and the worker would not see the bytes)."""
    pids = worker_pids(backend.process.pid)
    mib = big.stat().st_size // MIB
    with RssSampler(pids).sampling() as sampler:
        answer = curl_upload(backend.api, backend.token, big)
    upload = Memory(f"{backend.name} upload", sampler.growth_mib, sampler.before_mib, mib / answer.seconds)
    file_id = json.loads(answer.body)["id"]
    link = backend.api_link(file_id) if stream_link else download_url(backend.api, backend.token, file_id)[0]
    with RssSampler(pids).sampling() as sampler:
        fetched = curl_get(link, "/dev/null")
    download = Memory(
        f"{backend.name} download", sampler.growth_mib, sampler.before_mib, mib / fetched.seconds
    )
    for row in (upload, download):
        log(f"{row.name} {mib} MiB: {row.mib_s:.0f} MiB/s, worker RSS +{row.growth_mib:.1f} MiB")
    return upload, download


# ---------------------------------------------------------------------------------------------- baselines
def local_plain(store: Path) -> Any:
    def plain(source: Path, runs: int) -> tuple[list[float], list[float]]:
        target = store / "plain-copy.bin"
        copy_seconds(source, target, durable=True)  # warm, as the API's first round
        up = [copy_seconds(source, target, durable=True) for _ in range(runs)]
        down = [copy_seconds(source, target, durable=False) for _ in range(runs)]
        target.unlink(missing_ok=True)
        return up, down

    return plain


def s3_client(seaweed: Any) -> Any:
    """botocore's plain (synchronous) S3 client for the run's SeaweedFS: the bucket, the presigned URLs."""
    import botocore.session

    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=seaweed.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=seaweed.access_key_id,
        aws_secret_access_key=seaweed.secret_access_key,
    )


def s3_plain(seaweed: Any, bucket: str, folder: Path) -> Any:
    """curl PUT and GET of presigned URLs, straight to SeaweedFS: a plain S3 client's put and get."""
    client = s3_client(seaweed)

    def plain(source: Path, runs: int) -> tuple[list[float], list[float]]:
        params = {"Bucket": bucket, "Key": "plain/10mib.bin"}
        put_url = client.generate_presigned_url("put_object", Params=params, ExpiresIn=3600)
        get_url = client.generate_presigned_url("get_object", Params=params, ExpiresIn=3600)
        up, down = [], []
        for attempt in range(runs + 1):
            put = curl("-H", "Expect:", "-T", str(source), put_url)
            if put.status != 200:
                raise RuntimeError(f"plain S3 PUT answered {put.status}: {put.body[:300]}")
            got = curl_get(get_url, str(folder / "plain-received.bin"))
            if attempt:
                up.append(put.seconds)
                down.append(got.seconds)
        return up, down

    return plain


# ---------------------------------------------------------------------------------------------- main part
def access_token(port: int, user: int) -> str:
    body = {"email": f"bench{user}@example.com", "password": PASSWORD}
    token: str = http_json("POST", f"http://127.0.0.1:{port}/api/auth/login", body)["accessToken"]
    return token


def start_bare(work: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Granian alone (bench/transport.py) with `make serve`'s flags and WORKERS, on the disk of the local
    store, serving the local rows' source file (`transfers` writes it)."""
    folder = work / "bare-store"
    folder.mkdir()
    process = start(
        [sys.executable, "-m", "bench.transport", str(BARE_PORT)],
        {
            **env,
            "WORKERS": str(WORKERS),
            "TRANSPORT_FILE": str(work / "local-10mib.bin"),
            "TRANSPORT_DIR": str(folder),
        },
        work / "granian-alone.log",
    )
    wait_until_up(BARE_PORT, "/health")
    return process


def start_api(name: str, port: int, env: dict[str, str], database_url: str) -> Backend:
    api = f"http://127.0.0.1:{port}"
    process = start(
        ["make", "--no-print-directory", "serve"],
        # Absolute download URLs, as production gives them (the local backend's are the API's own).
        {**env, "PORT": str(port), "WORKERS": str(WORKERS), "PUBLIC_API_URL": api},
        Path(env["STORAGE_LOCAL_DIR"]).parent / f"api-{name}.log",
    )
    wait_until_up(port, "/health")
    token = access_token(port, UPLOADER)
    return Backend(name, api, token, process, database_url)


def measure(
    database_url: str, folder: Path, env: dict[str, str], *, quick: bool, ceiling_page: Run | None
) -> list[str]:
    """Everything above, on `database_url` (bench/run.py's dataset); the lines of the results section."""
    from tests.storage.seaweed import SeaweedServer  # the same `weed` command line as the tests

    require_free(LOCAL_PORT, S3_PORT, BARE_PORT)
    started = time.monotonic()
    runs = 3 if quick else 7
    seconds = 4 if quick else 12
    work = Path(tempfile.mkdtemp(prefix="files-", dir=folder))
    with psycopg.connect(libpq(database_url), autocommit=True) as conn:
        conn.execute(list_dataset_sql().encode())
        conn.execute("VACUUM ANALYZE files")
    env = {
        **env,
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": JWT_SECRET,
        "STORAGE_LOCAL_DIR": str(work / "store"),
        "FILES_QUOTA_MB": str(1024 * 1024),
        "FILES_MAX_UPLOAD_MB": "2048",
    }
    (work / "seaweed").mkdir()
    seaweed = SeaweedServer(work / "seaweed")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        bucket = "halolight-bench"
        s3_client(seaweed).create_bucket(Bucket=bucket)
        s3_env = {
            "STORAGE_BACKEND": "s3",
            "STORAGE_S3_ENDPOINT_URL": seaweed.endpoint_url,
            "STORAGE_S3_BUCKET": bucket,
            "STORAGE_S3_ACCESS_KEY_ID": seaweed.access_key_id,
            "STORAGE_S3_SECRET_ACCESS_KEY": seaweed.secret_access_key,
        }
        local = start_api("local", LOCAL_PORT, env, database_url)
        processes.append(local.process)
        bare = start_bare(work, env)
        processes.append(bare)
        s3 = start_api("s3", S3_PORT, {**env, **s3_env}, database_url)
        processes.append(s3.process)
        log("files: servers up")

        bare_api = f"http://127.0.0.1:{BARE_PORT}"
        rows, _ = transfers(local, work, runs, local_plain(Path(env["STORAGE_LOCAL_DIR"])), bare_api)
        s3_rows, file_id = transfers(s3, work, runs, s3_plain(seaweed, bucket, work))
        rows += s3_rows
        # The API streaming an S3 object itself (its own link): not what clients get; what storage.open does.
        streamed = []
        for attempt in range(runs + 1):
            fetched = curl_get(s3.api_link(file_id), str(work / "streamed.bin"))
            if attempt:
                streamed.append(fetched.seconds)
        rows.append(
            Transfer(
                "s3 download streamed by the API (its own signed link, `storage.open`)",
                streamed,
                s3_rows[1].plain_s,
            )
        )
        for row in rows:
            log(
                f"{row.name}: {Transfer.rate(row.api_s):.0f} MiB/s, without the API "
                f"{Transfer.rate(row.plain_s):.0f} MiB/s: {row.ratio:.2f} ×"
            )

        large_mib = LARGE_MIB // 2 if quick else LARGE_MIB
        big = random_file(work / "large.bin", large_mib)
        memories = [
            *memory(local, big, stream_link=False),
            *memory(s3, big, stream_link=True),
        ]
        big.unlink()

        lister = access_token(LOCAL_PORT, LISTER)
        lists = {
            name: wrk(name, LOCAL_PORT, lua_request("GET", path, lister), seconds)
            for name, path in (
                ("files p1", "/api/files?page=1&limit=10"),
                ("files p500", "/api/files?page=500&limit=10"),
                ("files search", "/api/files?page=1&limit=10&search=Report%204242"),
            )
        }
    finally:
        for process in processes:
            stop(process)
        seaweed.stop()
        shutil.rmtree(work, ignore_errors=True)
    return section(rows, memories, lists, ceiling_page, runs, large_mib, time.monotonic() - started)


def section(
    rows: list[Transfer],
    memories: list[Memory],
    lists: dict[str, Run],
    ceiling_page: Run | None,
    runs: int,
    large_mib: int,
    total: float,
) -> list[str]:
    lines = [
        "",
        f"{SECTION} (`bench/files.py`, {total:.0f} s)",
        "",
        f"{TRANSFER_MIB} MiB transfers with curl, median of {runs} runs after one unmeasured round,"
        " each against the same bytes moved without the API: local, `shutil.copyfile` on the same disk"
        " (for uploads plus the fsync of the file and its folder the API does before answering); S3,"
        " curl's PUT and GET of presigned URLs straight to SeaweedFS (one PutObject; the API sends 8 MiB"
        " parts). A download through the API counts its `GET /api/files/{id}/download-url` too."
        ' API: `make serve`, WORKERS=2. "granian alone" (`bench/transport.py`): the same granian, flags and'
        " workers with a bare ASGI app, no auth, no database, no framework, measured in the same rounds with"
        " the same curl commands: `POST /upload` writes the whole multipart body to a temporary file, then"
        " fsync, rename, fsync of the folder (as the plain copy: write, then fsync); `GET /file` pathsends"
        " the source file. Its rows' ratio is the transport's over the copy; the last column is the API's"
        " over the transport (its download compares with the API's link GET alone, and with download-url +"
        " GET)."
        ' "curl alone": the same curl copying the source file to a new local file through `file://`, no'
        " HTTP and no server: the client's own ceiling for a download, above which no server can bring a"
        " download measured with it."
        " Every download writes a new file (curl would otherwise truncate the last one in its timed part).",
        "",
        "| transfer | API MiB/s | without the API MiB/s | ratio | target | API ÷ granian alone |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        target = "" if row.target is None else f"≥ {row.target}"
        bare = "" if row.bare_ratio is None else f"{row.bare_ratio:.2f} ×"
        lines.append(
            f"| {row.name} | {Transfer.rate(row.api_s):.0f} | {Transfer.rate(row.plain_s):.0f}"
            f" | {row.ratio:.2f} × | {target} | {bare} |"
        )
    lines += [
        "",
        f"Worker RSS through {large_mib} MiB transfers (sampled every {RSS_PERIOD_S * 1000:.0f} ms,"
        " the largest growth of either worker over its RSS before): "
        + "; ".join(
            f"{m.name} +{m.growth_mib:.1f} MiB ({m.mib_s:.0f} MiB/s, from {m.before_mib:.0f} MiB)"
            for m in memories
        )
        + ". The S3 download is the API's own streaming link.",
        "",
        f"`GET /api/files` of a user with {LIST_FILES:,} files, wrk -t2 -c32:",
        "",
        "| request | req/s | p50 ms | p99 ms | non-2xx | ratio |",
        "|---|---|---|---|---|---|",
    ]
    titles = {
        "files p1": "`GET /api/files?page=1&limit=10`",
        "files p500": "`GET /api/files?page=500&limit=10`",
        "files search": "`GET /api/files?search=Report 4242`",
    }
    for name, run in lists.items():
        ratio = "" if ceiling_page is None else f"{run.rps / ceiling_page.rps:.2f} × ceiling page"
        figures = f"{run.rps:,.0f} | {run.p50_ms:.1f} | {run.p99_ms:.1f} | {run.errors}"
        lines.append(f"| {titles[name]} | {figures} | {ratio} |")
    checks = [
        (
            f"{kind}s ≥ {target} × without the API",
            all(r.ratio >= target for r in rows if r.target == target),
        )
        for kind, target in TARGETS.items()
    ]
    flat = all(m.growth_mib <= RSS_BOUND_MIB for m in memories)
    checks.append((f"worker RSS within {RSS_BOUND_MIB} MiB through {large_mib} MiB transfers", flat))
    lines += ["", "Files targets in this run:", ""]
    lines += [f"- {'met' if ok else '**not met**'}: {what}" for what, ok in checks]
    return lines


def append(results: Path, lines: list[str]) -> None:
    results.write_text(
        results.read_text(encoding="utf-8").rstrip("\n") + "\n" + "\n".join(lines) + "\n", "utf-8"
    )


def main() -> None:
    """`make bench-files`: a fresh bench database, this part only; prints the section."""
    from bench.run import build_database

    parser = argparse.ArgumentParser(prog="python -m bench.files")
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter wrk rows")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="halolight-bench-")
    server, url = build_database(folder)
    try:
        env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "ENVIRONMENT": "development",
            "MAIL_OUTBOX_DIR": str(Path(folder) / "outbox"),
        }
        lines = measure(url, Path(folder), env, quick=args.quick, ceiling_page=None)
    finally:
        from halolight.db import embedded

        embedded.stop(server)
        shutil.rmtree(folder, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
