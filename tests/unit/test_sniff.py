"""Media types from bytes (halolight/storage/sniff.py, libmagic through python-magic)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from halolight.settings import Settings
from halolight.storage.sniff import detect, kind

REFUSED = set(Settings(_env_file=None).files_refused_types)


@pytest.mark.parametrize(
    ("head", "declared", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "image/png", "application/pdf"),
        (b"hello\n", "image/png", "text/plain"),
        ("你好，世界\n".encode(), "", "text/plain"),
        (b"a,b\n1,2\n", "text/csv", "text/csv"),  # plain text refined into CSV: the only trust given
        (b"a,b\n1,2\n", "text/html", "text/plain"),
        (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "text/plain", "text/html"),
        (b"", "image/png", "application/octet-stream"),
        (b"PK\x05\x06" + b"\0" * 18, "", "application/zip"),
    ],
)
def test_detects_from_the_bytes(head: bytes, declared: str, expected: str) -> None:
    assert detect(head, declared) == expected


def test_executables_are_named_and_refused_by_default() -> None:
    elf = Path(sys.executable).resolve().read_bytes()[:65536]
    pe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\0" * 400
    assert detect(elf) in REFUSED
    assert detect(pe) in REFUSED


def test_a_leading_jump_byte_is_not_a_dos_program() -> None:
    """libmagic calls any file starting with 0xE9 or 0xEB a DOS .COM program: one random binary in 128
    would be refused as an executable."""
    rest = random.Random(7).randbytes(1000)  # fixed: other weak magic may match some random bytes
    for first in (b"\xe9", b"\xeb"):
        assert detect(first + rest) == "application/octet-stream"


@pytest.mark.parametrize(
    ("mime_type", "expected"),
    [
        ("image/png", "image"),
        ("video/mp4", "video"),
        ("audio/mpeg", "audio"),
        ("application/pdf", "document"),
        ("text/csv", "document"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
        ("application/zip", "archive"),
        ("application/octet-stream", "other"),
    ],
)
def test_kinds(mime_type: str, expected: str) -> None:
    assert kind(mime_type) == expected
