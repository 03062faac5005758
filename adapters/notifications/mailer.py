"""Sending a customer e-mail over SMTP (aiosmtplib), configured by WAYBILL_SMTP_URL and WAYBILL_MAIL_FROM.

WAYBILL_SMTP_URL: smtp://user:pass@host:port (plain), smtps://... (TLS from the first byte),
smtp://...?starttls=1 (upgrade with STARTTLS, refused if the server cannot). The password is
only ever handed to aiosmtplib: `SmtpServer` hides it from repr and `describe()`.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr

import aiosmtplib

from adapters.notifications import NotificationKind
from adapters.notifications.templates import RenderedMessage

SEND_TIMEOUT_S = 30.0
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
NO_SMTP = "no SMTP server configured"


class MailError(Exception):
    """The server did not take the message; `permanent` when it refused (5xx) rather than being unreachable."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    use_tls: bool = False
    start_tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """Raises ValueError naming the problem (never echoing the URL, which holds the password)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS:
            raise ValueError("WAYBILL_SMTP_URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("WAYBILL_SMTP_URL has no host")
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError as exc:
            raise ValueError("WAYBILL_SMTP_URL has an invalid port") from exc
        query = urllib.parse.parse_qs(parts.query)
        start_tls = query.get("starttls", ["0"])[-1].lower() in ("1", "true", "yes")
        return cls(
            host=parts.hostname,
            port=port,
            username=urllib.parse.unquote(parts.username) if parts.username else None,
            password=urllib.parse.unquote(parts.password) if parts.password else None,
            use_tls=parts.scheme == "smtps",
            start_tls=start_tls and parts.scheme == "smtp",
        )

    def describe(self) -> str:
        """For logs and error messages: no password."""
        scheme = "smtps" if self.use_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}{'?starttls=1' if self.start_tls else ''}"

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                timeout=SEND_TIMEOUT_S,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refusal.code for refusal in exc.recipients]
            words = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise MailError(f"the SMTP server refused the recipient: {words}", permanent=min(codes) >= 500) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise MailError(f"the SMTP server answered {exc.code} {exc.message}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailError(f"could not reach the SMTP server at {self.host}:{self.port}: {exc}") from exc


def sender_address(configured: str, account_name: str) -> str:
    """A bare configured address gets the shop's name as its display name ("Shop <orders@...>")."""
    name, address = parseaddr(configured)
    return configured if name else formataddr((account_name, address))


def message_id(shipment_id: int, kind: NotificationKind, sender: str) -> str:
    """The same for every attempt at one e-mail: a resend after a crash is recognisable as the same message."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "waybill.localhost"
    return f"<waybill.shipment-{shipment_id}.{kind.value.lower()}@{domain}>"


def build_message(*, sender: str, recipient: str, rendered: RenderedMessage, msg_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    name, address = parseaddr(recipient)
    message["To"] = Address(display_name=name, addr_spec=address) if name else address
    message["Subject"] = rendered.subject
    message["Message-ID"] = msg_id
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a shipping notice
    message.set_content(rendered.text)
    if rendered.html is not None:
        message.add_alternative(rendered.html, subtype="html")
    return message
