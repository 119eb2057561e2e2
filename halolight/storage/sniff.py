"""What an upload is, judged from its first bytes with libmagic (python-magic), never from the client.

libmagic is what `file(1)` uses: it tells text from binary, a plain zip from an office document, and an ELF or
PE executable from an octet stream (puremagic, the pure-Python alternative, named a zip a Word document and an
ELF binary nothing, when tried here). The client's declared type only refines plain text into one of a few
text formats libmagic cannot tell apart (CSV, Markdown); it never turns bytes into something they are not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import magic

# libmagic reads at most this much of a file for its tests by default; more is wasted work.
SNIFF_BYTES = 64 * 1024
_REFINABLE = {"text/plain": {"text/csv", "text/markdown", "text/tab-separated-values", "text/x-markdown"}}
_EMPTY = {"application/x-empty", "inode/x-empty"}

DOCUMENT_TYPES = (
    "application/pdf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/rtf",
    "application/json",
    "application/xml",
    "application/epub+zip",
)
DOCUMENT_PREFIXES = (
    "text/",
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
)
ARCHIVE_TYPES = (
    "application/zip",
    "application/x-tar",
    "application/gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-7z-compressed",
    "application/x-rar",
    "application/vnd.rar",
    "application/zstd",
)
MEDIA_PREFIXES = {"image": "image/", "video": "video/", "audio": "audio/"}


def detect(head: bytes, declared: str = "") -> str:
    """The media type of a file that starts with `head` (at most SNIFF_BYTES are looked at)."""
    found = str(magic.from_buffer(head[:SNIFF_BYTES], mime=True)).lower()
    if found in _EMPTY or not found:
        return "application/octet-stream"
    if found == "application/x-dosexec" and not head.startswith(b"MZ"):
        # libmagic's guess at a DOS .COM program: any file whose first byte is a jump (0xE9, 0xEB), so one
        # random binary (an encrypted or compressed file) in 128. Real executables start with "MZ".
        return "application/octet-stream"
    declared = declared.split(";", 1)[0].strip().lower()
    if declared in _REFINABLE.get(found, ()):
        return declared
    return found


def kind(mime_type: str) -> str:
    """The FileKind of a media type (the spec's `FileKind`); `repositories.files.of_kind` is its SQL twin."""
    for name, prefix in MEDIA_PREFIXES.items():
        if mime_type.startswith(prefix):
            return name
    if mime_type in DOCUMENT_TYPES or mime_type.startswith(DOCUMENT_PREFIXES):
        return "document"
    if mime_type in ARCHIVE_TYPES:
        return "archive"
    return "other"


class Sniffed:
    """An upload's chunks, with the first SNIFF_BYTES read ahead to detect its type before it is stored.

    `await Sniffed.start(chunks)` reads ahead; iterating the instance yields every byte, the read-ahead first.
    """

    def __init__(self, head: bytes, rest: AsyncIterator[bytes]) -> None:
        self.head = head
        self._rest = rest

    @classmethod
    async def start(cls, chunks: AsyncIterator[bytes]) -> Sniffed:
        head = b""
        while len(head) < SNIFF_BYTES:
            chunk = await anext(chunks, None)
            if chunk is None:
                break
            head += chunk
        return cls(head, chunks)

    async def media_type(self, declared: str = "") -> str:
        # libmagic's text tests are regular expressions over the buffer: off the event loop.
        return await asyncio.to_thread(detect, self.head, declared)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            yield self.head
        async for chunk in self._rest:
            yield chunk
