"""E-mail over SMTP: plain text with an HTML alternative, and the attachments a message's payload
lists (``attachments``: filename, content type, base64 data).
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from repoclimate.alerts.notify import DeliveryError, Message


class SmtpSettings(BaseModel):
    """How to reach the mail server."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = "repoclimate@localhost"
    timeout_s: float = Field(default=15.0, gt=0)


class SmtpChannel:
    """Sends each message as one e-mail to one address."""

    kind = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def build(self, target: str, message: Message) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.settings.from_address
        email["To"] = target
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        domain = self.settings.from_address.rpartition("@")[2] or "repoclimate"
        email["Message-ID"] = (
            f"<{message.key}@{domain}>" if message.key else make_msgid(domain=domain)
        )
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
        for item in message.payload.get("attachments", []):
            # {"filename", "content_type", "data_base64"}: the monthly report's PDF
            main, _, sub = str(item["content_type"]).partition("/")
            email.add_attachment(
                base64.b64decode(item["data_base64"]),
                maintype=main,
                subtype=sub,
                filename=str(item["filename"]),
            )
        return email

    def send(self, target: str, message: Message) -> None:
        s = self.settings
        email = self.build(target, message)
        try:
            if s.security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout_s, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            with client:
                if s.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if s.username and s.password:
                    client.login(s.username, s.password.get_secret_value())
                client.send_message(email, to_addrs=[target])
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(
                f"SMTP refused {target}: {exc.recipients}", permanent=all(c >= 500 for c in codes)
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP authentication failed: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code >= 500
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {s.host}:{s.port}: {exc}") from exc
