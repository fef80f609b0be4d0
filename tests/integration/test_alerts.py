"""Alert channels against real servers on localhost: an SMTP server (aiosmtpd) and an HTTP
server taking webhook posts. A channel that is down fails nothing and is tried again."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import dagster as dg
import pytest
from aiosmtpd.controller import Controller

from dagster_project.defs.monitoring.sensors import daily_job_failure_alert
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.monitoring.alerts import deliver_alerts
from tests.integration.test_monitoring import DAY, RULES, Warehouse, config_with
from tests.support.database import open_database

NOW = datetime(2026, 5, 21, 6, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """aiosmtpd handler keeping every message it is sent."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd)
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode("utf-8"))
        )
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


class Posts(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Posts.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


def serve_webhook(port: int) -> HTTPServer:
    Posts.received = []
    server = HTTPServer(("127.0.0.1", port), Posts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def risky_customers(warehouse: Warehouse, count: int) -> None:
    """`count` customers entering the high tier (undeliverable e-mail 10 + far from the ID's
    region 6 + an address changed on three days 5 = 21 points)."""
    for n in range(count):
        key = f"winkel:{n}"
        warehouse.customer(
            f"G-{n}", key, email=f"x{n}@mailinator.com", placeholder_email=True,
            province_matches_id=False,
        )  # fmt: skip
        for days_ago in (20, 9, 1):
            warehouse.change(DAY - timedelta(days=days_ago), key)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    built = Warehouse(tmp_path / "custodian.duckdb")
    yield built
    built.con.close()


def test_an_alert_arrives_by_e_mail_masked_and_once(
    warehouse: Warehouse, tmp_path: Path, smtp_server
) -> None:
    inbox, port = smtp_server
    email = {"host": "127.0.0.1", "port": port, "sender": "custodian@bank.example",
             "recipients": ["risk@bank.example"]}  # fmt: skip
    config = config_with(tmp_path, RULES, alerts={"email": email})
    risky_customers(warehouse, 1)
    warehouse.monitor(config)
    delivery = deliver_alerts(warehouse.con, config.monitoring, NOW)
    assert delivery.sent == {"email": 1}
    assert delivery.failed == {}
    ((sender, recipients, content),) = inbox.messages
    assert (sender, recipients) == ("custodian@bank.example", ["risk@bank.example"])
    assert "Subject: [Custodian] high high risk customer" in content
    assert "customer G-0 entered the high risk tier with 21 points" in content
    assert "mailinator" not in content  # the e-mail itself is never in an alert
    assert warehouse.rows(
        "select channel, status, attempts from monitoring.alerts order by channel"
    ) == [("email", "sent", 1), ("log", "sent", 1)]
    # Nothing pending: a second delivery sends nothing again.
    assert deliver_alerts(warehouse.con, config.monitoring, NOW).sent == {}
    assert len(inbox.messages) == 1


def test_many_alerts_go_as_one_digest_to_a_wecom_style_webhook(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    server = serve_webhook(port)
    monkeypatch.setenv("RISK_ROBOT_URL", f"http://127.0.0.1:{port}/robot/send?key=secret")
    webhook = {"url_env": "RISK_ROBOT_URL", "format": "wecom"}
    config = config_with(tmp_path, RULES, alerts={"webhook": webhook, "digest_after": 3})
    risky_customers(warehouse, 4)
    try:
        warehouse.monitor(config)
        delivery = deliver_alerts(warehouse.con, config.monitoring, NOW)
    finally:
        server.shutdown()
    assert delivery.sent == {"webhook": 4}
    (post,) = Posts.received
    assert post["msgtype"] == "text"
    content = post["text"]["content"]
    assert content.startswith("[Custodian] 4 monitoring alerts\n")
    assert all(f"customer G-{n} entered the high risk tier" in content for n in range(4))


def test_a_channel_that_is_down_fails_nothing_and_is_tried_again(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # nobody listens there yet
    monkeypatch.setenv("RISK_HOOK", f"http://127.0.0.1:{port}/hook?token=secret")
    config = config_with(tmp_path, RULES, alerts={"webhook": {"url_env": "RISK_HOOK"}})
    risky_customers(warehouse, 1)
    warehouse.monitor(config)
    down = deliver_alerts(warehouse.con, config.monitoring, NOW)
    assert down.sent == {}
    assert down.failed["webhook"].startswith("webhook ($RISK_HOOK) failed:")
    assert "secret" not in down.failed["webhook"]  # the URL's token is not repeated
    assert warehouse.rows(
        "select status, attempts from monitoring.alerts where channel = 'webhook'"
    ) == [("failed", 1)]
    # The next run: the server is back; the alert goes out then, once.
    server = serve_webhook(port)
    try:
        back = deliver_alerts(warehouse.con, config.monitoring, NOW)
    finally:
        server.shutdown()
    assert back.sent == {"webhook": 1}
    assert [post["text"] for post in Posts.received] == [
        "[Custodian] high high risk customer\ncustomer G-0 entered the high risk tier with 21 "
        "points (address_changed_often, address_far_from_id_region, email_undeliverable)"
    ]
    assert warehouse.rows(
        "select status, attempts, last_error from monitoring.alerts where channel = 'webhook'"
    ) == [("sent", 2, None)]


def test_a_missing_secret_names_the_variable_to_set(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RISK_HOOK_UNSET", raising=False)
    config = config_with(tmp_path, RULES, alerts={"webhook": {"url_env": "RISK_HOOK_UNSET"}})
    risky_customers(warehouse, 1)
    warehouse.monitor(config)
    delivery = deliver_alerts(warehouse.con, config.monitoring, NOW)
    assert delivery.failed == {
        "webhook": "environment variable RISK_HOOK_UNSET (webhook URL) is not set"
    }


def test_a_failed_daily_run_is_alerted_through_the_channels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    server = serve_webhook(port)
    monkeypatch.setenv("RISK_HOOK", f"http://127.0.0.1:{port}/hook")
    config_with(tmp_path, RULES, alerts={"webhook": {"url_env": "RISK_HOOK"}})

    @dg.op
    def load_the_day() -> None:
        raise RuntimeError("the landing folder is not mounted")

    @dg.job(name="daily_customer_pipeline")
    def daily_customer_pipeline() -> None:
        load_the_day()

    instance = dg.DagsterInstance.ephemeral()
    result = daily_customer_pipeline.execute_in_process(
        instance=instance, raise_on_error=False, tags={"dagster/partition": "2026-05-20"}
    )
    assert not result.success
    failure = next(
        event for event in result.all_events if event.event_type_value == "PIPELINE_FAILURE"
    )
    warehouse_path = tmp_path / "custodian.duckdb"
    context = dg.build_run_status_sensor_context(
        sensor_name="daily_job_failure_alert",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={
            "warehouse": WarehouseResource(path=str(warehouse_path)),
            "governance": GovernanceResource(config_path=str(tmp_path / "governance.yaml")),
        },
    ).for_run_failure()
    try:
        daily_job_failure_alert(context)
    finally:
        server.shutdown()
    (post,) = Posts.received
    assert post["text"].startswith(
        "[Custodian] high job failed\ndaily_customer_pipeline failed for 2026-05-20 (run "
    )
    with open_database(warehouse_path, read_only=True) as con:
        assert con.execute(
            "select channel, status from monitoring.alerts where kind = 'job_failed' order by 1"
        ).fetchall() == [("log", "sent"), ("webhook", "sent")]
