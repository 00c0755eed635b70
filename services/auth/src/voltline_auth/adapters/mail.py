"""Mailers (service_layer.account_ports.Mailer): SMTP for production, the log for `make run` and tests.

They live in voltline_chassis.mail now (billing mails guests' receipts too); this name stays for compatibility."""

from __future__ import annotations

from voltline_chassis.mail import LogMailer, SmtpMailer

__all__ = ["LogMailer", "SmtpMailer"]
