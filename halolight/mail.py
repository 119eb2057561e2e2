"""Outgoing mail behind one small interface: SMTP (`aiosmtplib`) in production, an outbox folder elsewhere."""

from __future__ import annotations

import asyncio
import json
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol

import aiosmtplib

from halolight.db.types import utcnow
from halolight.settings import Settings


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


class SmtpMailSender:
    """Sends through an SMTP server: `none` (plain, e.g. a local relay), `starttls` (required, usually port
    587) or `tls` (implicit TLS, usually port 465); certificates are always verified."""

    def __init__(
        self,
        *,
        host: str,
        port: int | None,
        security: str,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10,
    ) -> None:
        self.host = host
        self.security = security
        self.port = port or {"tls": 465, "starttls": 587}.get(security, 25)
        self.sender = sender
        self.username = username
        self.password = password
        self.timeout_s = timeout_s

    def build(self, to: str, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=parseaddr(self.sender)[1].rpartition("@")[2] or None)
        message.set_content(body)
        return message

    async def send(self, to: str, subject: str, body: str) -> None:
        await aiosmtplib.send(
            self.build(to, subject, body),
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            timeout=self.timeout_s,
        )


def build_mail_sender(settings: Settings) -> MailSender:
    if settings.mail_backend == "smtp":
        assert settings.smtp_host  # the settings refuse smtp without a host
        return SmtpMailSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            sender=settings.mail_from,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout_s=settings.smtp_timeout_s,
        )
    return OutboxMailSender(settings.mail_outbox_dir)
