"""Delivering alerts by e-mail (SMTP) and webhook (R21), with retry on the next run.

`monitor_day` writes one `monitoring.alerts` row per alert and channel: 'log' rows are sent by
the run's log itself; 'email' and 'webhook' rows start 'pending'. `deliver_alerts` sends every
pending or failed row of each configured channel: one message per alert, or one digest when
there are more than `digest_after`. A channel that is down does not fail the run: its rows are
marked 'failed' with the error and the attempt count, and the next run tries them again. Texts
hold no personal values (the evidence is masked when written); secrets come from environment
variables only.
"""

from __future__ import annotations

import json
import os
import smtplib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

import duckdb

from dagster_project.config import EmailAlerts, MonitoringConfig, WebhookAlerts

ALERTS = "monitoring.alerts"
DIGEST_LINES = 20


class DeliveryError(RuntimeError):
    """A channel could not take the alerts; the message says what to fix."""


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


@dataclass
class Delivery:
    sent: dict[str, int] = field(default_factory=dict)  # channel -> alerts delivered
    failed: dict[str, str] = field(default_factory=dict)  # channel -> why, retried next run


def configured_channels(monitoring: MonitoringConfig) -> list[str]:
    """The channels every alert goes to: always the log, then the configured ones."""
    alerts = monitoring.alerts
    return ["log"] + [name for name in ("email", "webhook") if getattr(alerts, name) is not None]


def compose(rows: list[tuple[str, str, str]], digest_after: int) -> list[Message]:
    """Messages for alerts (kind, severity, text): one each, or one digest past digest_after."""
    if len(rows) <= digest_after:
        return [
            Message(f"[Custodian] {severity} {kind.replace('_', ' ')}", text)
            for kind, severity, text in rows
        ]
    lines = [f"- {kind}: {text}" for kind, _, text in rows[:DIGEST_LINES]]
    if len(rows) > DIGEST_LINES:
        lines.append(
            f"... and {len(rows) - DIGEST_LINES} more: select * from monitoring.alerts "
            "where status <> 'sent'"
        )
    return [Message(f"[Custodian] {len(rows)} monitoring alerts", "\n".join(lines))]


def _secret(variable: str | None, what: str) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise DeliveryError(f"environment variable {variable} ({what}) is not set")
    return value


def send_email(settings: EmailAlerts, messages: list[Message]) -> None:
    username = _secret(settings.username_env, "SMTP user name")
    password = _secret(settings.password_env, "SMTP password")
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds) as smtp:
            if settings.starttls:
                smtp.starttls()
            if username is not None:
                smtp.login(username, password or "")
            for message in messages:
                mail = EmailMessage()
                mail["From"] = settings.sender
                mail["To"] = ", ".join(settings.recipients)
                mail["Subject"] = message.subject
                mail.set_content(message.body)
                smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(
            f"SMTP server {settings.host}:{settings.port} refused or is unreachable: {exc}"
        ) from exc


def webhook_body(settings: WebhookAlerts, message: Message) -> bytes:
    text = f"{message.subject}\n{message.body}"
    if settings.format == "slack":
        document: dict = {"text": text}
    else:  # WeCom and DingTalk group robots take the same text message
        document = {"msgtype": "text", "text": {"content": text}}
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def send_webhook(settings: WebhookAlerts, messages: list[Message]) -> None:
    url = _secret(settings.url_env, "webhook URL")
    for message in messages:
        request = urllib.request.Request(
            url or "",
            data=webhook_body(settings, message),
            headers={"Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.timeout_seconds) as response:
                response.read()
        except (OSError, ValueError) as exc:
            # The URL holds the token: name the variable, never the address.
            raise DeliveryError(f"webhook (${settings.url_env}) failed: {exc}") from exc


def deliver_alerts(
    con: duckdb.DuckDBPyConnection, monitoring: MonitoringConfig, now: datetime
) -> Delivery:
    """Send every pending or failed alert of the configured channels; record the outcome."""
    delivery = Delivery()
    senders = {
        "email": (monitoring.alerts.email, send_email),
        "webhook": (monitoring.alerts.webhook, send_webhook),
    }
    for channel, (settings, send) in senders.items():
        if settings is None:
            continue
        rows = con.execute(
            f"select alert_id, kind, severity, message from {ALERTS} "
            "where channel = ? and status in ('pending', 'failed') order by created_at, alert_id",
            [channel],
        ).fetchall()
        if not rows:
            continue
        ids = [row[0] for row in rows]
        messages = compose([row[1:] for row in rows], monitoring.alerts.digest_after)
        try:
            send(settings, messages)
        except DeliveryError as exc:
            delivery.failed[channel] = str(exc)
            con.execute(
                f"update {ALERTS} set status = 'failed', attempts = attempts + 1, "
                "last_error = ? where channel = ? and list_contains(?, alert_id)",
                [str(exc), channel, ids],
            )
            continue
        delivery.sent[channel] = len(ids)
        con.execute(
            f"update {ALERTS} set status = 'sent', attempts = attempts + 1, last_error = null, "
            "sent_at = ? where channel = ? and list_contains(?, alert_id)",
            [now, channel, ids],
        )
    return delivery
