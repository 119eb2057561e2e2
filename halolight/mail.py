"""Outgoing mail behind one small interface; the development sender writes to an outbox folder."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Protocol

from halolight.db.types import utcnow


class MailSender(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...


class OutboxMailSender:
    """Writes each message as a JSON file (read by tests, and by developers in place of an inbox)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    async def send(self, to: str, subject: str, body: str) -> None:
        sent_at = utcnow()
        message = {"to": to, "subject": subject, "body": body, "sentAt": sent_at.isoformat()}
        name = f"{sent_at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.json"
        await asyncio.to_thread(self._write, name, json.dumps(message, ensure_ascii=False))

    def _write(self, name: str, text: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / name).write_text(text, encoding="utf-8")

    def messages(self, to: str | None = None) -> list[dict[str, str]]:
        if not self.folder.exists():
            return []
        found = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(self.folder.glob("*.json"))]
        return [m for m in found if to is None or m["to"] == to]
