"""E-mail over SMTP: STARTTLS (or implicit TLS) before any login, one connection per message.

A server that does not offer STARTTLS when it is required is refused rather than spoken to in
clear: credentials and caller numbers would cross the network unprotected.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from backline.config import Config
from backline.core.messages import Message
from backline.notify.channels import (
    ChannelSpec,
    DeliveryError,
    Transport,
    ascii_header_value,
    header_value,
)

__all__ = ["EmailTransport", "build", "missing_settings", "transport"]


def build(message: Message, sender: str, recipient: str, delivery_id: str) -> EmailMessage:
    mail = EmailMessage()
    # The title and the id carry caller-supplied text; a line break in a header is refused
    # by the email package (and would start a header of its own), so each is one clean line.
    mail["Subject"] = header_value(message.title, 200)
    mail["From"] = sender
    mail["To"] = recipient
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail["X-Backline-Delivery"] = ascii_header_value(delivery_id)
    mail.set_content("\n".join(message.lines) + "\n\n-- \nbackline\n")
    return mail


def missing_settings(_spec: ChannelSpec, config: Config) -> tuple[str, ...]:
    """What an e-mail channel needs from the sending process's environment and does not have."""
    missing = []
    if not config.smtp_host:
        missing.append("BACKLINE_SMTP_HOST")
    if not (config.smtp_from or config.smtp_user):
        missing.append("BACKLINE_SMTP_FROM (or BACKLINE_SMTP_USER)")
    return tuple(missing)


class EmailTransport:
    def __init__(self, spec: ChannelSpec, config: Config) -> None:
        self.missing = missing_settings(spec, config)
        self.recipient = spec.target
        self.host = config.smtp_host
        self.port = config.smtp_port
        self.user = config.smtp_user
        self.password = config.smtp_password
        self.sender = config.smtp_from or config.smtp_user
        self.security = config.smtp_security
        self.ca_file = config.smtp_ca_file or None
        self.timeout = config.notify_send_timeout_seconds

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def send(self, message: Message, delivery_id: str) -> str:
        import smtplib

        if self.missing:
            raise DeliveryError(f"e-mail needs {', '.join(self.missing)}", permanent=True)
        mail = build(message, self.sender, self.recipient, delivery_id)
        try:
            smtp: smtplib.SMTP
            if self.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if self.security == "starttls":
                    if not smtp.has_extn("starttls"):
                        raise DeliveryError(
                            f"{self.host}:{self.port} does not offer STARTTLS", permanent=True
                        )
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password)
                refused = smtp.send_message(mail)
            if refused:
                raise DeliveryError(f"recipient refused: {refused}", permanent=True)
            return f"250 accepted for {self.recipient} by {self.host}"
        except DeliveryError:
            raise
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryError(
                f"SMTP login refused: {error.smtp_code} {_text(error.smtp_error)}", permanent=True
            ) from None
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryError(f"recipient refused: {error.recipients}", permanent=True) from None
        except smtplib.SMTPDataError as error:
            # Refused after reading it: this message (its content or size), not the channel.
            detail = f"SMTP {error.smtp_code} {_text(error.smtp_error)}"
            raise DeliveryError(detail, rejected=500 <= error.smtp_code < 600) from None
        except smtplib.SMTPResponseException as error:
            # 5xx: the server will say the same again; 4xx: try later.
            detail = f"SMTP {error.smtp_code} {_text(error.smtp_error)}"
            raise DeliveryError(detail, permanent=500 <= error.smtp_code < 600) from None
        except ssl.SSLCertVerificationError as error:
            raise DeliveryError(
                f"SMTP server certificate not trusted: {error.verify_message}", permanent=True
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"no answer from the SMTP server: {error}") from None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def transport(spec: ChannelSpec, config: Config) -> Transport:
    return EmailTransport(spec, config)
