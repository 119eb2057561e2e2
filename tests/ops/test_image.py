"""The production image: the Dockerfile, unchanged, built with Debian's buildah and run as it ships.

No Docker engine runs here and `python:3.11-slim` cannot be pulled, so a stand-in base is made from Debian's
own packages: `debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm`, from
the Debian mirror this host's apt uses, plus `python` → `python3`, plus this host's CA bundle and the pip
settings with which the host reaches the package index (so that `pip install` inside the build does too). It
is stored under the base image's name and `buildah bud --pull=never` builds the Dockerfile as Docker would:
the stand-in replaces the base and nothing else. The image's CMD then runs (`buildah run --isolation chroot`:
podman's runtimes need setrlimit, which this sandbox refuses) as the image's user, against the test's
PostgreSQL over TCP.

The debootstrapped tree is cached as a tar file in `$XDG_CACHE_HOME/halolight/image-test/` (default
`~/.cache/…`), named after what builds it (suite, packages, mirror, architecture, this recipe's version);
everything buildah stores lives in a private temporary storage, removed at the end, so the host's own images
are never touched. buildah and debootstrap are installed with apt-get when missing; the tests are skipped,
saying why, only where that is impossible (not root, no apt-get, apt-get failing).
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from halolight.db import migrate
from halolight.serve import seed_database
from halolight.settings import Settings
from tests.debian import apt_install
from tests.ops.helpers import free_port
from tests.pg import TestServer

ROOT = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE = "docker.io/library/python:3.11-slim"  # what `FROM python:3.11-slim` names
IMAGE = "localhost/halolight-api:test"
RECIPE = 1  # bump when the stand-in's tree is made differently: the cached tar is then remade
DEFAULT_MIRROR = "http://deb.debian.org/debian"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_UID = 10001  # the Dockerfile's `useradd --uid`
STORAGE_PREFIX = "halolight-image-test-"
MB = 1_000_000
BUILDAH_LINE = re.compile(r"(DEBU|INFO|WARN|ERRO)\[\d+\] ")


# --- tools and host facts -----------------------------------------------------------------------------------


def _ensure_tools() -> str | None:
    """None when buildah and debootstrap are usable (installing them if needed), else why not."""
    if os.geteuid() != 0:
        return "building the image needs root here (debootstrap's chroot, buildah's storage); not root"
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if not missing:
        return None
    # debian-archive-keyring: debootstrap checks the mirror's signature with it.
    reason = apt_install(*missing, "debian-archive-keyring")
    if reason is not None:
        return f"{' and '.join(missing)} not installed, and apt-get could not install them: {reason}"
    still = [tool for tool in missing if shutil.which(tool) is None]
    return f"apt-get ran but {' and '.join(still)} is still missing" if still else None


def _debian_mirror() -> str:
    """The archive this host's apt takes `bookworm` from (deb822 `.sources` or one-line `.list` files)."""
    apt = Path("/etc/apt")
    found: list[str] = []
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text(errors="replace")):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if (
                "deb" in fields.get("types", "").split()
                and SUITE in fields.get("suites", "").split()
                and fields.get("enabled", "yes").lower() != "no"
            ):
                found += fields.get("uris", "").split()
    for path in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                found.append(words[1])
    usable = [uri for uri in found if uri.startswith(("http://", "https://", "file:/"))]
    return usable[0].rstrip("/") if usable else DEFAULT_MIRROR


def _pip_settings() -> tuple[dict[str, str], Path | None]:
    """The host's pip settings that decide how the package index is reached, as pip reads them (its config
    files in order, then PIP_* variables), and the CA file pip verifies with. Settings that name this host's
    own folders (find-links, constraint files, file:// indexes) mean nothing inside the build: left out."""
    home = Path.home()
    files = [
        *(Path(d) / "pip" / "pip.conf" for d in os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")),
        Path("/etc/pip.conf"),
        home / ".pip" / "pip.conf",
        Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf",
    ]
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    merged: dict[str, str] = {}
    for path in files:
        parser = configparser.RawConfigParser()
        with contextlib.suppress(OSError, configparser.Error):
            parser.read(path)
        for section in ("global", "install"):
            if parser.has_section(section):
                merged.update(parser.items(section))
    for name, value in os.environ.items():
        if name.startswith("PIP_"):
            merged[name[4:].lower().replace("_", "-")] = value
    if "default-timeout" in merged:
        merged["timeout"] = merged.pop("default-timeout")
    kept: dict[str, str] = {}
    for key in ("index-url", "extra-index-url", "trusted-host", "proxy", "timeout", "retries"):
        values = [v for v in merged.get(key, "").split() if not v.startswith(("file:", "/"))]
        if values:
            kept[key] = " ".join(values)
    cert = Path(merged["cert"]) if merged.get("cert") else None
    return kept, cert if cert is not None and cert.is_file() else None


def _architecture() -> str:
    result = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, timeout=30, check=True
    )
    return result.stdout.strip()


def _run(command: list[str], *, timeout: float, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`command` in a session of its own, whose processes all die when it times out or the test stops."""
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException as error:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            if isinstance(error, subprocess.TimeoutExpired):
                raise AssertionError(f"{' '.join(command[:6])} … did not finish in {timeout:.0f} s") from None
            raise
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command[:6])} … exited with {result.returncode}:\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-3000:]}"
        )
    return result


# --- folders that may hold mounts ---------------------------------------------------------------------------


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def _kill_sessions_using(path: Path) -> None:
    """SIGKILL the sessions of the processes whose command line names `path`: `_run` and `Container` start
    each command (buildah, debootstrap) in a session of its own, which its children (a container's server,
    dpkg in the chroot) share. Only a run killed before its clean-up leaves any."""
    sessions = set()
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if str(path) in (proc / "cmdline").read_bytes().decode(errors="replace"):
                sessions.add(int((proc / "stat").read_text().rsplit(") ", 1)[1].split()[3]))
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int((proc / "stat").read_text().rsplit(") ", 1)[1].split()[3]) in sessions - {os.getsid(0)}:
                os.kill(int(proc.name), signal.SIGKILL)


def _remove_tree(path: Path) -> None:
    """Unmount whatever is mounted below `path` (debootstrap's /proc, buildah's overlays), then delete it.
    A folder that still has a mount is left alone rather than deleted through it."""
    if not path.exists():
        return
    for point in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=60, check=False)
    if _mounts_under(path):
        return
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path, timeout: float = 900) -> Iterator[None]:
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{path} stayed locked for {timeout:.0f} s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the stand-in base --------------------------------------------------------------------------------------


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "halolight" / "image-test"


def _base_tree() -> tuple[Path, float | None]:
    """The debootstrapped tree as a tar file, made once per recipe; debootstrap's seconds (None: cached)."""
    mirror = _debian_mirror()
    recipe = {
        "recipe": RECIPE,
        "suite": SUITE,
        "variant": "minbase",
        "packages": PACKAGES,
        "mirror": mirror,
        "arch": _architecture(),
    }
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    tar = cache / f"{SUITE}-minbase-{key}.tar"
    with _locked(cache / ".lock"):
        if tar.exists():
            return tar, None
        # What a killed run left, and trees of older recipes: whoever holds the lock owns the folder.
        for stale in cache.glob("work-*"):
            _kill_sessions_using(stale)
            _remove_tree(stale)
        for old in cache.glob("*.tar"):
            old.unlink()
        work = Path(tempfile.mkdtemp(prefix="work-", dir=cache))
        try:
            target = work / "rootfs"
            started = time.monotonic()
            _run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(PACKAGES)}",
                    SUITE,
                    str(target),
                    mirror,
                ],
                timeout=480,
            )
            seconds = time.monotonic() - started
            # As Debian's own slim images: no package lists or downloaded packages.
            for leftovers in ("var/lib/apt/lists", "var/cache/apt"):
                for entry in (target / leftovers).glob("**/*"):
                    if entry.is_file() and entry.name != "lock":
                        entry.unlink()
            partial = work / "rootfs.tar"
            _run(["tar", "-C", str(target), "--numeric-owner", "-cf", str(partial), "."], timeout=300)
            partial.rename(tar)
        finally:
            _remove_tree(work)
    return tar, seconds


# --- buildah in a private storage ---------------------------------------------------------------------------


class Buildah:
    """buildah with its own storage folder (root, run root), so nothing of the host's storage is touched."""

    def __init__(self, top: Path, driver: str = "overlay") -> None:
        self.top = top
        self.argv = [
            "buildah",
            "--root",
            str(top / "root"),
            "--runroot",
            str(top / "run"),
            "--storage-driver",
            driver,
        ]

    def works(self) -> bool:
        """Whether this storage driver can mount a container here (overlay needs the kernel's support)."""
        container = self("from", "scratch", timeout=60, check=False)
        if not container:
            return False
        mounted = _run([*self.argv, "mount", container], timeout=60, check=False).returncode == 0
        self("umount", container, timeout=60, check=False)
        self("rm", container, timeout=60, check=False)
        return mounted

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        return _run([*self.argv, *args], timeout=timeout, check=check).stdout.strip()

    def inspect(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self("inspect", "--type", "image", name))
        return found

    def size(self, name: str) -> int:
        """The bytes of the image's layers (uncompressed, as stored)."""
        manifest = json.loads(self.inspect(name)["Manifest"])
        return sum(int(layer["size"]) for layer in manifest["layers"])

    def close(self) -> None:
        self("rm", "--all", timeout=120, check=False)
        self("rmi", "--all", "--force", timeout=120, check=False)
        _remove_tree(self.top)


def _private_storage() -> Buildah:
    """A fresh storage folder; first removes those of earlier runs whose process is gone (killed runs)."""
    tmp = Path(tempfile.gettempdir())
    for old in tmp.glob(f"{STORAGE_PREFIX}*"):
        try:
            pid = int((old / "pid").read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            _kill_sessions_using(old)
            _remove_tree(old)
    top = Path(tempfile.mkdtemp(prefix=STORAGE_PREFIX, dir=tmp))
    (top / "pid").write_text(str(os.getpid()))
    overlay = Buildah(top)
    if overlay.works():
        return overlay
    # A kernel (or sandbox) without overlay mounts: vfs copies each layer, slower but it works anywhere.
    overlay.close()
    top.mkdir()
    (top / "pid").write_text(str(os.getpid()))
    return Buildah(top, "vfs")


def _import_base(buildah: Buildah, tar: Path) -> None:
    """The cached tree under the base image's name, with `python`, the host's CA bundle and pip settings."""
    container = buildah("from", "scratch")
    try:
        mount = Path(buildah("mount", container))
        _run(["tar", "-C", str(mount), "--numeric-owner", "-xpf", str(tar)], timeout=300)
        (mount / "usr/bin/python").symlink_to("python3")  # python:3.11-slim has `python`
        settings, pip_cert = _pip_settings()
        bundle = HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.is_file() else b""
        if pip_cert is not None and pip_cert.resolve() != HOST_CA_BUNDLE.resolve():
            bundle += b"\n" + pip_cert.read_bytes()
        if bundle:
            (mount / "etc/ssl/certs/ca-certificates.crt").write_bytes(bundle)
            settings["cert"] = "/etc/ssl/certs/ca-certificates.crt"
        lines = ["# The build host's way to the package index (tests/ops/test_image.py)", "[global]"]
        lines += [f"{key} = {value}" for key, value in sorted(settings.items())]
        (mount / "etc/pip.conf").write_text("\n".join(lines) + "\n")
        buildah("umount", container)
        buildah(
            "config",
            "--env",
            "PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--env",
            "LANG=C.UTF-8",
            "--cmd",
            "python3",
            container,
        )
        buildah("commit", "--quiet", "--format", "docker", container, BASE, timeout=300)
    finally:
        buildah("rm", container, check=False)


@dataclass
class Image:
    buildah: Buildah
    config: dict[str, Any]  # the Docker config: Cmd, Env, User, Healthcheck, ...
    size: int
    base_size: int


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    reason = _ensure_tools()
    if reason is not None:
        pytest.skip(reason)
    tar, debootstrap_s = _base_tree()
    buildah = _private_storage()
    try:
        started = time.monotonic()
        _import_base(buildah, tar)
        import_s = time.monotonic() - started
        started = time.monotonic()
        buildah(
            "bud",
            "--isolation",
            "chroot",
            "--pull=never",
            "--layers=false",
            "--format",
            "docker",  # keeps HEALTHCHECK, as Docker's own builds do
            "--file",
            str(ROOT / "Dockerfile"),
            "--tag",
            IMAGE,
            str(ROOT),
            timeout=600,
        )
        build_s = time.monotonic() - started
        built = Image(
            buildah,
            buildah.inspect(IMAGE)["Docker"]["config"],
            buildah.size(IMAGE),
            buildah.size(BASE),
        )
        base = "cached" if debootstrap_s is None else f"debootstrap {debootstrap_s:.0f} s"
        REPORT.append(
            f"image {built.size / MB:.0f} MB, of which {built.base_size / MB:.0f} MB the stand-in base "
            f"({base}, imported in {import_s:.0f} s); buildah bud {build_s:.0f} s"
        )
        yield built
    finally:
        buildah.close()


REPORT: list[str] = []


@pytest.fixture(autouse=True)
def _report(record_property: Any) -> Iterator[None]:
    yield
    for line in REPORT:
        record_property("report", line)  # shown at the end of `make test` (tests/conftest.py)
    REPORT.clear()


# --- the test's PostgreSQL over TCP -------------------------------------------------------------------------


class TcpToUnix:
    """127.0.0.1:<port> forwarded to the embedded PostgreSQL's Unix socket: the image reaches the test's
    server over TCP, as it would reach any database (`buildah run --isolation chroot` shares this network)."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port: int = self.listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            try:
                upstream.connect(self.socket_path)
            except OSError:
                client.close()
                upstream.close()
                continue
            self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stopping.set()
        self.listener.close()
        self._thread.join(timeout=5)
        for sock in list(self._open):
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture(scope="module")
def tcp(pg_server: TestServer) -> Iterator[TcpToUnix]:
    uri = urlsplit(pg_server.libpq_uri)
    query = parse_qs(uri.query)
    port = query.get("port", [str(uri.port or 5432)])[0]
    forwarder = TcpToUnix(f"{query['host'][0]}/.s.PGSQL.{port}")
    try:
        yield forwarder
    finally:
        forwarder.close()


def _database(pg_server: TestServer, tcp: TcpToUnix, prefix: str) -> tuple[str, str]:
    """A fresh database: its URL here (Unix socket) and its URL for the image (TCP)."""
    url = pg_server.create_database(prefix)
    name = urlsplit(url).path.lstrip("/")
    return url, f"postgresql://postgres@127.0.0.1:{tcp.port}/{name}"


# --- running the image --------------------------------------------------------------------------------------


def _production_env(database_url: str, port: int) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_REFRESH_SECRET_KEY": secrets.token_urlsafe(48),
        "PASSWORD_RESET_URL": "https://admin.example.org/reset-password",
        "FILES_SHARE_URL": "https://admin.example.org/share",
        "MAIL_FROM": "HaloLight <no-reply@example.org>",
        "SMTP_HOST": "127.0.0.1",
        "WORKERS": "2",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "SHUTDOWN_TIMEOUT_S": "5",
    }


class Container:
    """A working container of the image; `start` runs the image's CMD in it, `run` any other command."""

    def __init__(self, image: Image, env: dict[str, str], log: Path) -> None:
        self.buildah = image.buildah
        self.config = image.config
        self.env = [f"--env={name}={value}" for name, value in env.items()]
        self.name = self.buildah("from", "--pull=never", IMAGE)
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    def _argv(self, command: list[str]) -> list[str]:
        return [*self.buildah.argv, "run", "--isolation", "chroot", *self.env, self.name, "--", *command]

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self._argv(list(self.config["Cmd"])),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def run(
        self, command: list[str], *, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        extra = [f"--env={name}={value}" for name, value in (env or {}).items()]
        argv = self._argv(command)
        at = argv.index(self.name)
        return _run([*argv[:at], *extra, *argv[at:]], timeout=timeout, check=False)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> int | None:
        """SIGTERM to the CMD's processes (graceful), SIGKILL after 30 s; then the container goes."""
        code = None
        if self.process is not None:
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=30)
            code = self.process.returncode
            with contextlib.suppress(ProcessLookupError):  # anything of the session left behind
                os.killpg(self.process.pid, signal.SIGKILL)
        self.buildah("rm", self.name, check=False)
        return code


def _json_lines(output: str) -> list[dict[str, Any]]:
    """Every line the container wrote, parsed; buildah's own warnings (`WARN[0000] …`) are not the image's."""
    lines = [line for line in output.splitlines() if line.strip() and not BUILDAH_LINE.match(line)]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return parsed


@dataclass
class Served:
    container: Container
    port: int
    stopped_with: int | None = None


@pytest.fixture(scope="module")
def served(image: Image, pg_server: TestServer, tcp: TcpToUnix) -> Iterator[Served]:
    _, url = _database(pg_server, tcp, "image")
    port = free_port()
    log = image.buildah.top / "served.log"
    container = Container(image, _production_env(url, port), log)
    served = Served(container, port)
    try:
        container.start()
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                    break
            assert container.process is not None
            if container.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the image did not get ready:\n{container.output[-4000:]}")
            time.sleep(0.3)
        yield served
    finally:
        served.stopped_with = container.stop()


# --- the tests ----------------------------------------------------------------------------------------------


def test_ready_from_two_granian_workers_as_the_image_user(served: Served) -> None:
    for _ in range(10):  # a new connection each time: granian spreads them over its workers
        ready = httpx.get(f"http://127.0.0.1:{served.port}/health/ready", timeout=5)
        assert ready.status_code == 200, ready.text
    lines = _json_lines(served.container.output)
    # granian names each worker it spawns, with its pid; this sandbox shares the host's pid namespace.
    spawned = [
        re.fullmatch(r"Spawning worker-(\d) with PID: (\d+)", str(line.get("message"))) for line in lines
    ]
    workers = {int(match.group(1)): int(match.group(2)) for match in spawned if match}
    assert sorted(workers) == [1, 2], [line.get("message") for line in lines]
    pids = set(workers.values())
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        uid = re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE)
        assert uid and int(uid.group(1)) == IMAGE_UID, status
    assert served.container.config["User"] == "halolight"


def test_the_demo_password_is_refused(served: Served) -> None:
    login = httpx.post(
        f"http://127.0.0.1:{served.port}/api/auth/login",
        json={"email": "admin@halolight.h7ml.cn", "password": "123456"},
        timeout=10,
    )
    assert login.status_code == 401, login.text


def test_logs_are_json_lines(served: Served) -> None:
    httpx.get(f"http://127.0.0.1:{served.port}/health", headers={"X-Request-ID": "image-log-1"}, timeout=5)
    deadline = time.monotonic() + 10
    while True:
        lines = _json_lines(served.container.output)
        access = [line for line in lines if line.get("request_id") == "image-log-1"]
        if access or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [line["logger"] for line in access] == ["halolight.access"], lines[-5:]
    assert access[0]["status"] == 200
    assert any(line.get("logger") == "halolight.startup" for line in lines)


def test_the_healthcheck_command_succeeds_inside(served: Served) -> None:
    test = served.container.config["Healthcheck"]["Test"]
    assert test[0] == "CMD", test
    check = served.container.run(test[1:])
    assert check.returncode == 0, check.stderr
    nothing_there = served.container.run(test[1:], env={"PORT": str(free_port())})
    assert nothing_there.returncode != 0  # it does check something


def test_no_dev_dependencies_nor_pgserver(image: Image, tmp_path: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[\[=<>~! ;]", requirement, maxsplit=1)[0].lower() for requirement in requirements}

    container = Container(image, {}, tmp_path / "unused.log")
    try:
        listed = container.run(
            [
                "python",
                "-c",
                "import importlib.metadata as m, json; "
                "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))",
            ]
        )
    finally:
        container.stop()
    assert listed.returncode == 0, listed.stderr
    installed = {re.sub(r"[-_.]+", "-", name).lower() for name in json.loads(listed.stdout)}
    normal = {re.sub(r"[-_.]+", "-", name) for name in names(project["dependencies"])}
    assert normal <= installed, normal - installed
    unwanted = names(project["optional-dependencies"]["dev"]) | names(
        project["optional-dependencies"]["embedded"]
    )
    assert not {re.sub(r"[-_.]+", "-", name) for name in unwanted} & installed
    assert "pgserver" not in installed
    # What the Dockerfile adds to the base (a real python:3.11-slim is smaller than the stand-in).
    assert image.size - image.base_size < 400 * MB


def test_production_start_refuses_a_database_with_the_demo_password(
    image: Image, pg_server: TestServer, tcp: TcpToUnix, tmp_path: Path
) -> None:
    here, url = _database(pg_server, tcp, "imagedemo")
    migrate.upgrade(here)
    asyncio.run(seed_database(Settings(_env_file=None, environment="test", bcrypt_rounds=4), here))
    container = Container(image, _production_env(url, free_port()), tmp_path / "refused.log")
    try:
        container.start()
        code = container.wait(timeout=120)
    finally:
        container.stop()
    assert code == 2, container.output[-3000:]
    assert "admin@halolight.h7ml.cn: still accepts the demo password" in container.output
