"""Mailers (a service's `Mailer` port: auth's account mails, billing's guest receipts): SMTP for production,
the log for `make run` and tests."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from voltline_chassis.logging import get_logger

log = get_logger(__name__)


@dataclass
class SmtpMailer:
    """Sends through an SMTP relay with the standard library (in a thread: smtplib blocks)."""

    host: str
    port: int = 587
    sender: str = "voltline <no-reply@localhost>"
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout_s: float = 10.0

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


class LogMailer:
    """Writes the message to the log: `make run` has no mail server, and a developer reads the code there."""

    async def send(self, to: str, subject: str, body: str) -> None:
        log.info("mail (not sent: no SMTP host configured)", to=to, subject=subject, body=body)
