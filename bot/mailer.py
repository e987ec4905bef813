"""Email over SMTP, for people the bot cannot reach in Teams: other agencies' tenants, NHSmail, the police,
and mailboxes such as a partnership's admin.

A message carries no child-identifying data: the notifier gives it a subject and body made from the
challenge's reference, stage, deadline, what is needed and how to act
(`cards.notification.notification_text`).
`smtplib` runs in a worker thread so a slow mail server never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from bot.config import Settings

#: How long one SMTP conversation may take before it counts as failed (and is retried later).
SMTP_TIMEOUT_SECONDS = 30.0


class MailError(Exception):
    """The mail server did not accept a message.

    `permanent` is True when trying again cannot help (the server refused the recipient or the sender, or
    authentication failed); otherwise the notifier retries with backoff.
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class MailSettings:
    """Where and how to send mail; made from the environment's `SMTP_*` settings."""

    host: str
    port: int
    sender: str
    starttls: bool = True
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> MailSettings | None:
        """The mail settings, or None when no SMTP host is configured (email is then unavailable)."""
        if settings.smtp_host is None or settings.smtp_from is None:
            return None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            user=settings.smtp_user,
            password=settings.smtp_password,
        )


class Mailer:
    """Sends plain-text messages through one SMTP server; one connection per message, opened in a thread."""

    def __init__(self, settings: MailSettings, tls_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self._tls = tls_context

    async def send(self, to: str, subject: str, body: str) -> str:
        """Send one message; return its Message-ID once the server has accepted it, or raise `MailError`."""
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        domain = self.settings.sender.rpartition("@")[2] or None
        message["Message-ID"] = make_msgid(domain=domain)
        message.set_content(body)
        await asyncio.to_thread(self._send_blocking, message)
        return str(message["Message-ID"])

    def _send_blocking(self, message: EmailMessage) -> None:
        import smtplib  # here: a bot that sends no mail never loads it

        s = self.settings
        try:
            with smtplib.SMTP(s.host, s.port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
                if s.starttls:
                    smtp.starttls(context=self._tls or ssl.create_default_context())
                if s.user is not None and s.password is not None:
                    smtp.login(s.user, s.password)
                refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as error:
            raise MailError(f"SMTP login refused ({error.smtp_code})", permanent=True) from error
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as error:
            raise MailError(f"SMTP refused the message: {type(error).__name__}", permanent=True) from error
        except smtplib.SMTPResponseException as error:
            permanent = 500 <= error.smtp_code < 600
            raise MailError(f"SMTP error {error.smtp_code}", permanent=permanent) from error
        except (smtplib.SMTPException, OSError) as error:
            raise MailError(f"SMTP unavailable: {type(error).__name__}", permanent=False) from error
        if refused:
            raise MailError("SMTP refused the recipient", permanent=True)
