"""Email over a mail server that requires STARTTLS and a login, as partnership relays do.

The server is aiosmtpd on loopback with a self-signed certificate made here; the mailer is given a TLS context
that trusts exactly that certificate. The message a challenged professional gets is read back: it names the
reference, stage, deadline, what is needed and how to act, and nothing about the child.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.mailer import Mailer, MailError, MailSettings
from process.policy import Role
from storage.outbox import DeliveryStatus
from tests.delivery.conftest import Delivery, free_port
from tests.support.people import INVENTED_CHILD, holder, raise_request

USER = "challenge-bot"
PASSWORD = "relay-password-for-tests"
SENDER = "challenges@partnership.example"


@dataclass
class Received:
    """One accepted message and how its session was secured."""

    rcpt_tos: list[str]
    raw: bytes
    message: Message
    tls: bool
    login: bytes | None


@dataclass
class _TlsCollector:
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        self.received.append(
            Received(
                list(envelope.rcpt_tos),
                raw,
                message_from_bytes(raw),
                session.ssl is not None,
                login if session.authenticated else None,
            )
        )
        return "250 Message accepted for delivery"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    # handled=False: the server itself answers a refusal with 535.
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@dataclass
class TlsMailServer:
    """The running server, the certificate it presents (PEM) and what it accepted."""

    port: int
    certificate_pem: bytes
    collector: _TlsCollector

    @property
    def received(self) -> list[Received]:
        return self.collector.received

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting only this server's self-signed certificate."""
        return ssl.create_default_context(cadata=self.certificate_pem.decode())

    def settings(self, password: str = PASSWORD) -> MailSettings:
        return MailSettings(
            host="127.0.0.1", port=self.port, sender=SENDER, starttls=True, user=USER, password=password
        )


def self_signed_certificate(folder: Path) -> tuple[Path, Path, bytes]:
    """A key and a certificate for 127.0.0.1 and localhost, valid for a day; returns (cert, key, cert PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = folder / "smtp.crt", folder / "smtp.key"
    cert_path.write_bytes(pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, pem


@pytest.fixture
def tls_mail_server(tmp_path: Path) -> Iterator[TlsMailServer]:
    cert, key, pem = self_signed_certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    collector = _TlsCollector()
    port = free_port()
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=_authenticate,
    )
    controller.start()
    try:
        yield TlsMailServer(port, pem, collector)
    finally:
        controller.stop()


def _body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8").replace("\r\n", "\n")


def _child_data_patterns() -> list[str]:
    child = INVENTED_CHILD
    dob = child.date_of_birth
    assert dob is not None
    return [
        child.name,
        *child.name.split(),
        child.agency_reference or "INV-0001",
        dob.isoformat(),
        dob.strftime("%d/%m/%Y"),
        f"{dob.day} {dob.strftime('%B')} {dob.year}",
        dob.strftime("%d %B %Y"),
    ]


async def test_email_goes_over_starttls_with_a_login_and_says_what_is_needed_without_child_data(
    delivery_factory: Callable[..., Delivery], tls_mail_server: TlsMailServer
) -> None:
    mailer = Mailer(tls_mail_server.settings(), tls_context=tls_mail_server.client_context())
    d = delivery_factory(mailer=mailer)
    decision = await d.service.raise_challenge(
        holder("durham", Role.RAISER), "durham", raise_request("durham")
    )
    report = await d.notifier.drain()

    rows = await d.outbox.for_challenge(decision.challenge.id)
    assert report.delivered_email == len(rows) > 0 and report.failed == 0
    assert {row.status for row in rows} == {DeliveryStatus.DELIVERED}
    assert len(tls_mail_server.received) == len(rows)
    assert all(r.tls and r.login == USER.encode() for r in tls_mail_server.received)

    reference = decision.challenge.reference
    challenged = next(r for r in tls_mail_server.received if r.rcpt_tos == ["challenged@durham.example"])
    subject = str(challenged.message["Subject"])
    body = _body(challenged.message)
    assert subject.startswith(f"{reference}:")
    assert f"Reference: {reference}" in body
    assert "Stage: Stage 1 of 5 — Informal discussion" in body
    # The deadline: the next working day at 17:00 (raised Monday 10:00), with the time left.
    assert "Due: Tue 24 Nov 2026, 17:00 (1 working day left)" in body
    assert "Please respond by Tue 24 Nov 2026, 17:00." in body  # what is needed
    assert f"open Microsoft Teams and type: show {reference}" in body  # how to act
    assert "no details of the child" in body

    for received in tls_mail_server.received:
        text = received.raw.decode("utf-8", "replace")
        decoded = _body(received.message) + str(received.message["Subject"])
        for pattern in _child_data_patterns():
            assert pattern not in text and pattern not in decoded, (pattern, received.rcpt_tos)


async def test_a_wrong_password_is_a_permanent_mail_error(tls_mail_server: TlsMailServer) -> None:
    mailer = Mailer(tls_mail_server.settings(password="wrong"), tls_context=tls_mail_server.client_context())
    with pytest.raises(MailError) as refused:
        await mailer.send("someone@partnership.example", "CH-1: test", "Body")
    assert refused.value.permanent
    assert tls_mail_server.received == []


async def test_a_certificate_the_mailer_does_not_trust_is_refused_before_anything_is_sent(
    tls_mail_server: TlsMailServer,
) -> None:
    mailer = Mailer(tls_mail_server.settings())  # the system's trust store: the self-signed cert fails
    with pytest.raises(MailError) as failed:
        await mailer.send("someone@partnership.example", "CH-1: test", "Body")
    assert not failed.value.permanent  # retried later: a certificate can be fixed
    assert tls_mail_server.received == []
