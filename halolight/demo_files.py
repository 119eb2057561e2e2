"""The demo accounts' files: real bytes in the configured storage and rows in `files`, so `make run` shows a
file manager with something in it. Made only for a demo account the seed has just created (never again, so
a file deleted by hand stays deleted); their sizes count in the owner's `quotaUsed`, as uploads do.

The contents are generated here (a PNG drawn with zlib, SVG, CSV, Markdown, text) rather than kept as binary
files in the repository.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import AsyncIterator

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from halolight.db.models import File, User
from halolight.db.types import new_id
from halolight.errors import StorageUnavailable
from halolight.storage import Storage, sniff

log = logging.getLogger(__name__)


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A gradient from `rgb` to white, as an 8-bit RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # no filter
        for x in range(width):
            t = (x + y) / (width + height)
            rows.extend(round(c + (255 - c) * t) for c in rgb)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200" viewBox="0 0 320 200">
  <rect width="320" height="200" rx="12" fill="#f5f7fb"/>
  <rect x="16" y="16" width="288" height="32" rx="6" fill="#4f46e5"/>
  <text x="28" y="38" font-family="sans-serif" font-size="14" fill="#fff">HaloLight 2.0 · 首页</text>
  <rect x="16" y="64" width="88" height="120" rx="6" fill="#e0e7ff"/>
  <rect x="116" y="64" width="188" height="56" rx="6" fill="#fff" stroke="#c7d2fe"/>
  <rect x="116" y="128" width="188" height="56" rx="6" fill="#fff" stroke="#c7d2fe"/>
</svg>
"""

_README = """HaloLight demo files
====================

These files were created by the demo seed (halolight/demo_files.py) so the file manager has something to
show. Upload, rename, move, copy, share and delete them as you like.

这些文件由演示数据生成，可以随意上传、重命名、移动、复制、分享和删除。
"""

_PLAN = """# 营销计划 2026 / Marketing plan 2026

## 目标 Goals
- 新用户增长 30%（New users +30%）
- 文档协作功能发布（Ship document collaboration）

## 时间表 Timeline
| 季度 | 里程碑 |
|---|---|
| Q1 | 用户调研 |
| Q2 | 内测 |
| Q3 | 公开发布 |
"""


def _sales_csv() -> bytes:
    lines = ["month,region,orders,revenue"]
    for month in range(1, 13):
        for n, region in enumerate(("华东", "华南", "North America")):
            orders = 40 + (month * 7 + n * 13) % 35
            lines.append(f"2026-{month:02d},{region},{orders},{orders * 129.5:.2f}")
    return ("\n".join(lines) + "\n").encode()


# Per demo account: (folder path of names, or () for the top level; file name; bytes).
def demo_files() -> dict[str, list[tuple[tuple[str, ...], str, bytes]]]:
    return {
        "admin@halolight.h7ml.cn": [
            ((), "README.txt", _README.encode()),
            (("项目", "HaloLight 2.0", "设计稿"), "logo.png", _png(96, 96, (79, 70, 229))),
            (("项目", "HaloLight 2.0", "设计稿"), "首页.svg", _SVG.encode()),
            (("Reports",), "sales-2026.csv", _sales_csv()),
        ],
        "demo@halolight.h7ml.cn": [
            (("Drafts", "Marketing"), "营销计划.md", _PLAN.encode()),
            (("图片",), "banner.png", _png(240, 80, (14, 165, 233))),
        ],
    }


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def seed_files(
    db: AsyncSession,
    storage: Storage,
    owner_id: str,
    folders: dict[tuple[str, ...], str],
    files: list[tuple[tuple[str, ...], str, bytes]],
) -> None:
    """Store `files` for a demo account just created (`folders`: its folders' ids by path of names)."""
    total = 0
    try:
        for folder, name, data in files:
            key = storage.new_key()
            mime_type = sniff.detect(data, "text/markdown" if name.endswith(".md") else "")
            stored = await storage.put(key, _once(data), content_type=mime_type)
            db.add(
                File(
                    id=new_id(),
                    name=name,
                    path=key,
                    mime_type=mime_type,
                    size=stored.size,
                    folder_id=folders.get(folder),
                    owner_id=owner_id,
                )
            )
            total += stored.size
    except StorageUnavailable:
        # Demo data must not keep the API from starting while the store is down; `storage gc` reports any
        # bytes already written.
        log.warning("file storage unreachable: the demo account's files were not created")
        return
    await db.execute(update(User).where(User.id == owner_id).values(quota_used=User.quota_used + total))
