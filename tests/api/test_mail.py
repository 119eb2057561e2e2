"""Mail over SMTP (aiosmtplib) against a real SMTP server (aiosmtpd) that the tests start; a mail failure
never changes the forgot-password answer."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import ssl
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI

from halolight.app import create_app
from halolight.mail import OutboxMailSender, SmtpMailSender, build_mail_sender
from halolight.settings import Settings
from tests.api.helpers import unique_email
from tests.ops.helpers import free_port

ACTIVE_USER = "user@halolight.h7ml.cn"  # seeded, active
RESET_URL = "https://app.example.org/reset-password"


class Inbox:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpt, message in self.received if address in rcpt]


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def smtp_settings(port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "bcrypt_rounds": 4,
        "auth_rate_limit": "1000/minute",
        "mail_backend": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_timeout_s": 5,
        "mail_from": "HaloLight <no-reply@halolight.example>",
        "password_reset_url": RESET_URL,
    }
    return Settings(_env_file=None, **{**values, **overrides})


@pytest.fixture
async def make_client(database_url: str) -> AsyncIterator[Any]:
    apps: list[FastAPI] = []
    clients: list[httpx.AsyncClient] = []

    def make(settings: Settings) -> tuple[FastAPI, httpx.AsyncClient]:
        app = create_app(settings, database_url)
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        apps.append(app)
        clients.append(client)
        return app, client

    yield make
    for client in clients:
        await client.aclose()
    for app in apps:
        await app.state.runtime.close()


async def forgot(client: httpx.AsyncClient, address: str) -> httpx.Response:
    return await client.post("/api/auth/forgot-password", json={"email": address})


class TestSmtpSender:
    def test_selected_by_the_settings(self, tmp_path: Path) -> None:
        sender = build_mail_sender(smtp_settings(2525, smtp_security="tls", smtp_port=None))
        assert isinstance(sender, SmtpMailSender)
        assert (sender.host, sender.port, sender.security) == ("127.0.0.1", 465, "tls")
        assert build_mail_sender(smtp_settings(2525, smtp_security="starttls", smtp_port=None)).port == 587  # type: ignore[attr-defined]
        outbox = Settings(_env_file=None, environment="test", mail_outbox_dir=str(tmp_path))
        assert isinstance(build_mail_sender(outbox), OutboxMailSender)

    async def test_reset_link_reaches_the_smtp_server(
        self, smtp_server: tuple[Inbox, int], make_client: Any
    ) -> None:
        inbox, port = smtp_server
        app, client = make_client(smtp_settings(port))
        response = await forgot(client, ACTIVE_USER)
        assert response.status_code == 200
        await app.state.runtime.drain()

        [message] = inbox.to(ACTIVE_USER)
        assert message["To"] == ACTIVE_USER
        assert message["From"] == "HaloLight <no-reply@halolight.example>"
        assert message["Subject"] == "Reset your HaloLight password"
        assert message["Message-ID"].endswith("@halolight.example>")
        assert message["Date"]
        body = message.get_content()
        assert re.search(re.escape(RESET_URL) + r"\?token=[A-Za-z0-9_-]{20,}", body)

    async def test_unknown_address_gets_no_mail(
        self, smtp_server: tuple[Inbox, int], make_client: Any
    ) -> None:
        inbox, port = smtp_server
        app, client = make_client(smtp_settings(port))
        ghost = unique_email("ghost")
        assert (await forgot(client, ghost)).status_code == 200
        await app.state.runtime.drain()
        assert inbox.received == []


class TestMailFailureDoesNotChangeTheAnswer:
    async def test_smtp_server_down(
        self, smtp_server: tuple[Inbox, int], make_client: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        inbox, port = smtp_server
        app, client = make_client(smtp_settings(port))
        reference = await forgot(client, ACTIVE_USER)
        await app.state.runtime.drain()
        assert len(inbox.to(ACTIVE_USER)) == 1

        down_app, down = make_client(smtp_settings(free_port()))  # nothing listens there
        with caplog.at_level(logging.ERROR):
            known = await forgot(down, ACTIVE_USER)
            unknown = await forgot(down, unique_email("ghost"))
            await down_app.state.runtime.drain()
        assert known.status_code == unknown.status_code == reference.status_code == 200
        assert known.json() == unknown.json() == reference.json()
        assert any(record.levelno >= logging.ERROR and record.exc_info for record in caplog.records)

    async def test_unwritable_outbox(
        self, make_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the outbox folder should be", encoding="utf-8")
        settings = Settings(
            _env_file=None,
            environment="test",
            bcrypt_rounds=4,
            auth_rate_limit="1000/minute",
            mail_outbox_dir=str(blocker / "outbox"),
        )
        app, client = make_client(settings)
        with caplog.at_level(logging.ERROR):
            known = await forgot(client, ACTIVE_USER)
            unknown = await forgot(client, unique_email("ghost"))
            await app.state.runtime.drain()
        assert known.status_code == unknown.status_code == 200
        assert known.json() == unknown.json()
        assert not (blocker / "outbox").exists()
        assert any(record.levelno >= logging.ERROR and record.exc_info for record in caplog.records)


# TLS: a test CA, trusted through SSL_CERT_FILE (read by ssl.create_default_context, which aiosmtplib uses).


def _write_test_pki(folder: Path) -> tuple[Path, Path, Path]:
    """A CA certificate, and a certificate for 127.0.0.1 / localhost that it signed, with the latter's key."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("HaloLight test CA"))
        .issuer_name(name("HaloLight test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_path, cert_path, key_path


class Logins:
    """aiosmtpd authenticator: accepts one account and records who logged in."""

    def __init__(self, username: str, password: str) -> None:
        self.expected = (username.encode(), password.encode())
        self.seen: list[bytes] = []

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = isinstance(data, LoginPassword) and (data.login, data.password) == self.expected
        if ok:
            self.seen.append(data.login)
        return AuthResult(success=ok)


@pytest.fixture
def pki(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    ca_path, cert_path, key_path = _write_test_pki(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_path, key_path)
    return ca_path, server_context


@pytest.fixture
def tls_servers(pki: tuple[Path, ssl.SSLContext]) -> Iterator[dict[str, Any]]:
    """Three servers: STARTTLS required with AUTH, implicit TLS, and one that offers no STARTTLS."""
    _, context = pki
    logins = Logins("mailer", "smtp-password-1")
    started: dict[str, Any] = {"logins": logins}
    controllers = []
    servers: dict[str, dict[str, Any]] = {
        "starttls": {"tls_context": context, "require_starttls": True, "authenticator": logins,
                     "auth_required": True},
        "tls": {"ssl_context": context, "server_hostname": "localhost"},
        "plain": {},
    }  # fmt: skip
    for kind, kwargs in servers.items():
        inbox, port = Inbox(), free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        started[kind] = (inbox, port)
    try:
        yield started
    finally:
        for controller in controllers:
            controller.stop()


def tls_sender(port: int, security: str, **overrides: Any) -> SmtpMailSender:
    sender = build_mail_sender(smtp_settings(port, smtp_security=security, **overrides))
    assert isinstance(sender, SmtpMailSender)
    return sender


class TestTls:
    async def test_starttls_with_login(
        self, tls_servers: dict[str, Any], pki: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SSL_CERT_FILE", str(pki[0]))
        inbox, port = tls_servers["starttls"]
        sender = tls_sender(port, "starttls", smtp_username="mailer", smtp_password="smtp-password-1")
        await sender.send("someone@example.org", "Hello", "over STARTTLS")
        assert [m.get_content().strip() for m in inbox.to("someone@example.org")] == ["over STARTTLS"]
        assert tls_servers["logins"].seen == [b"mailer"]

    async def test_implicit_tls(
        self, tls_servers: dict[str, Any], pki: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SSL_CERT_FILE", str(pki[0]))
        inbox, port = tls_servers["tls"]
        await tls_sender(port, "tls").send("someone@example.org", "Hello", "over TLS")
        assert len(inbox.to("someone@example.org")) == 1

    async def test_untrusted_certificate_is_refused(self, tls_servers: dict[str, Any]) -> None:
        inbox, port = tls_servers["starttls"]
        sender = tls_sender(port, "starttls", smtp_username="mailer", smtp_password="smtp-password-1")
        with pytest.raises(ssl.SSLCertVerificationError):
            await sender.send("someone@example.org", "Hello", "must not be sent")
        assert inbox.received == []
        assert tls_servers["logins"].seen == []

    async def test_starttls_is_never_skipped(self, tls_servers: dict[str, Any]) -> None:
        inbox, port = tls_servers["plain"]  # offers no STARTTLS: no fallback to plain text
        with pytest.raises(aiosmtplib.SMTPException):
            await tls_sender(port, "starttls").send("someone@example.org", "Hello", "must not be sent")
        assert inbox.received == []
