"""Customer e-mails through a real SMTP server (aiosmtpd on loopback): what arrives, once, and only when it should."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from adapters.notifications import NotificationKind
from adapters.notifications.triggers import enqueue_notification, job_id
from adapters.persistence import models
from adapters.persistence.accounts import create_api_key
from api.jobs import wait_for_job
from jobs import notify
from jobs.notify import due_notifications, send_shipment_notifications
from tests.conftest import Database
from tests.integration.test_query_count import counting_queries, execute, seed_account
from tests.support import harness
from tests.support.harness import Harness, eventually
from tests.support.servers import free_port

pytestmark = [pytest.mark.db, pytest.mark.queue]

CONNECT = """
mutation($url: String!, $token: String!) { connectChannel(input: {
  kind: SHOPIFY, name: "Test store", shopUrl: $url, accessToken: $token
}) { channel { id } userErrors { field message code } } }"""
ORDERS = "query { orders(first: 50) { edges { node { id number } } } }"
BUY = """
mutation($input: BuyLabelInput!) { buyLabel(input: $input) {
  shipment { id status trackingNumber trackingUrl } userErrors { field message code }
} }"""
SHIPMENT_NOTICES = """
query($id: ID!) { order(id: $id) { status shipments { id status notifications {
  kind status recipient sentAt error attempts
} } } }"""
SETTINGS_FIELDS = """
enabled fromAddress effectiveFromAddress smtpConfigured
channels { channelId channelName notifyCustomers }
templates { kind subject body isDefault variables { name } }
"""
SETTINGS = f"query {{ notificationSettings {{ {SETTINGS_FIELDS} }} }}"
UPDATE_SETTINGS = f"""
mutation($input: UpdateNotificationSettingsInput!) {{ updateNotificationSettings(input: $input) {{
  notificationSettings {{ {SETTINGS_FIELDS} }} userErrors {{ field message code }}
}} }}"""
UPDATE_TEMPLATE = """
mutation($input: UpdateNotificationTemplateInput!) { updateNotificationTemplate(input: $input) {
  template { kind subject body isDefault } userErrors { field message code }
} }"""
RESET_TEMPLATE = """
mutation($kind: NotificationKind!) { resetNotificationTemplate(input: {kind: $kind}) {
  template { kind subject isDefault } userErrors { field message code }
} }"""


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content()).replace("\r\n", "\n")


@dataclass
class Mailbox:
    """A real SMTP server on loopback (aiosmtpd runs it in its own thread) and what it received."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
async def mailing(
    blank_database: Database, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    """The whole app, as the `waybill` fixture runs it, with WAYBILL_SMTP_URL pointing at the mailbox."""
    monkeypatch.setattr(harness, "test_settings", functools.partial(harness.test_settings, smtp_url=mailbox.url))
    async with harness.running_waybill(blank_database.data_dir, blank_database.url) as running:
        yield running


@dataclass
class Bought:
    order_id: str
    number: str
    email: str
    customer: str
    shipment_id: str
    shipment_pk: int
    tracking_number: str
    tracking_url: str


async def connect_store(waybill: Harness) -> str:
    result = await waybill.gql(CONNECT, {"url": waybill.shop_url, "token": waybill.shop.access_token})
    assert result["connectChannel"]["userErrors"] == []
    return str(result["connectChannel"]["channel"]["id"])


async def buy_label(waybill: Harness, placed: dict[str, Any], key: str = "label-1") -> Bought:
    # The order may be placed after the connect's first sync ran: sync again rather than wait for the schedule.
    for channel in (await waybill.gql("{ channels { id } }"))["channels"]:
        await waybill.gql(
            "mutation($id: ID!) { syncChannel(input: {channelId: $id}) { userErrors { message } } }",
            {"id": channel["id"]},
        )

    async def imported() -> dict[str, Any]:
        nodes = [e["node"] for e in (await waybill.gql(ORDERS))["orders"]["edges"]]
        found = [node for node in nodes if node["number"] == placed["name"]]
        assert found, nodes
        return found[0]  # type: ignore[no-any-return]

    order = await eventually(imported)
    bought = (await waybill.gql(BUY, {"input": {"orderId": order["id"], "idempotencyKey": key}}))["buyLabel"]
    assert bought["userErrors"] == [] and bought["shipment"]["status"] == "PURCHASED", bought
    shipment = bought["shipment"]
    address = placed["shipping_address"]
    return Bought(
        order_id=order["id"],
        number=placed["name"],
        email=placed["email"],
        customer=f"{address['first_name']} {address['last_name']}",
        shipment_id=shipment["id"],
        shipment_pk=int(shipment["id"].rsplit("/", 1)[1]),
        tracking_number=shipment["trackingNumber"],
        tracking_url=shipment["trackingUrl"],
    )


async def ship_one(waybill: Harness, key: str = "label-1") -> Bought:
    placed = waybill.shop.add_order()
    if not (await waybill.gql(ORDERS))["orders"]["edges"]:
        await connect_store(waybill)
    return await buy_label(waybill, placed, key)


async def notice(waybill: Harness, bought: Bought, kind: NotificationKind, until: str | None = None) -> dict[str, Any]:
    """The shipment's e-mail of `kind` once it is settled (not SENDING, or `until`), as the API shows it."""

    async def settled() -> dict[str, Any]:
        order = (await waybill.gql(SHIPMENT_NOTICES, {"id": bought.order_id}))["order"]
        [shipment] = [s for s in order["shipments"] if s["id"] == bought.shipment_id]
        found = [n for n in shipment["notifications"] if n["kind"] == kind.value]
        assert found and found[0]["status"] != "SENDING", shipment["notifications"]
        assert until is None or found[0]["status"] == until, found
        return found[0]  # type: ignore[no-any-return]

    return await eventually(settled)


async def notify_now(waybill: Harness, bought: Bought, kind: NotificationKind) -> object:
    """What the after-commit trigger does (the same job id), then waits for that job to finish."""
    await enqueue_notification(waybill.runtime, bought.shipment_pk, kind)
    return await wait_for_job(waybill.runtime, job_id(bought.shipment_pk, kind), 20)


async def deliver(waybill: Harness, bought: Bought) -> None:
    waybill.carrier.force_status(bought.tracking_number, "delivered")

    async def delivered() -> bool:
        order = (await waybill.gql(SHIPMENT_NOTICES, {"id": bought.order_id}))["order"]
        assert order["shipments"][0]["status"] == "DELIVERED", order
        return True

    await eventually(delivered)


async def test_the_customer_gets_shipped_then_delivered_with_the_tracking_link(
    mailing: Harness, mailbox: Mailbox
) -> None:
    bought = await ship_one(mailing)
    await notify_now(mailing, bought, NotificationKind.SHIPPED)

    shipped = await notice(mailing, bought, NotificationKind.SHIPPED)
    assert shipped["status"] == "SENT" and shipped["recipient"] == bought.email and shipped["sentAt"]
    [first] = mailbox.messages()
    assert first.recipients == [bought.email]
    assert first.message["To"] == bought.email
    assert first.message["Subject"] == f"Your order {bought.number} from Test shop is on its way"
    assert first.message["From"] == "Test shop <waybill@localhost>"
    assert first.message["Message-ID"] == f"<waybill.shipment-{bought.shipment_pk}.shipped@localhost>"
    assert f"Hello {bought.customer}," in first.text
    assert f"Follow your parcel: {bought.tracking_url}\n" in first.text
    assert f"Tracking number: {bought.tracking_number}" in first.text
    assert "shipped with Waybill Sandbox" in first.text
    html = first.message.get_body(preferencelist=("html",))
    assert html is not None and f'href="{bought.tracking_url}"' in html.get_content()

    await deliver(mailing, bought)
    # The delivery's after-commit trigger or the tick's sweep, whichever comes first (the sweep on its own
    # is tested with the SMTP server down below): either way exactly one e-mail.
    await due_notifications(mailing.runtime)
    await notice(mailing, bought, NotificationKind.DELIVERED, until="SENT")
    first_again, second = await eventually(lambda: _exactly(mailbox, 2))
    assert first_again.message["Message-ID"] == first.message["Message-ID"]
    assert second.recipients == [bought.email]
    assert second.message["Subject"] == f"Your order {bought.number} from Test shop has been delivered"
    assert f"Delivery details: {bought.tracking_url}\n" in second.text
    assert f"on {datetime.now(UTC).date().isoformat()}." in second.text
    assert await due_notifications(mailing.runtime) == 0, "nothing more is owed"


async def test_one_message_however_often_and_however_concurrently_the_job_runs(
    mailing: Harness, mailbox: Mailbox
) -> None:
    bought = await ship_one(mailing)
    ctx = {"runtime": mailing.runtime}
    outcomes = await asyncio.gather(*(send_shipment_notifications(ctx, bought.shipment_pk) for _ in range(4)))
    await notify_now(mailing, bought, NotificationKind.SHIPPED)
    again = await send_shipment_notifications(ctx, bought.shipment_pk)

    assert "SENT" in {o.get("SHIPPED") for o in outcomes}, outcomes
    assert again == {"SHIPPED": "SENT"}
    assert len(mailbox.messages()) == 1
    rows = await models.NotificationSent.filter(shipment_id=bought.shipment_pk)
    assert [(r.kind, r.status, r.attempts) for r in rows] == [("SHIPPED", "SENT", 1)]


async def test_a_channel_that_emails_its_buyers_itself_gets_no_email(mailing: Harness, mailbox: Mailbox) -> None:
    channel_id = await connect_store(mailing)
    result = (
        await mailing.gql(
            UPDATE_SETTINGS, {"input": {"channels": [{"channelId": channel_id, "notifyCustomers": False}]}}
        )
    )["updateNotificationSettings"]
    assert result["userErrors"] == []
    assert result["notificationSettings"]["channels"] == [
        {"channelId": channel_id, "channelName": "Test store", "notifyCustomers": False}
    ]
    assert result["notificationSettings"]["enabled"] is True

    bought = await buy_label(mailing, mailing.shop.add_order())
    await notify_now(mailing, bought, NotificationKind.SHIPPED)
    skipped = await notice(mailing, bought, NotificationKind.SHIPPED)
    assert skipped["status"] == "SKIPPED"
    assert skipped["error"] == "customer notifications are switched off for this channel"
    await deliver(mailing, bought)
    await due_notifications(mailing.runtime)  # or the after-commit trigger already did: the outcome is the same
    assert (await notice(mailing, bought, NotificationKind.DELIVERED))["status"] == "SKIPPED"
    assert mailbox.messages() == []


async def test_an_account_that_switched_emails_off_gets_none(mailing: Harness, mailbox: Mailbox) -> None:
    result = (await mailing.gql(UPDATE_SETTINGS, {"input": {"enabled": False}}))["updateNotificationSettings"]
    assert result["userErrors"] == [] and result["notificationSettings"]["enabled"] is False

    bought = await ship_one(mailing)
    await notify_now(mailing, bought, NotificationKind.SHIPPED)
    skipped = await notice(mailing, bought, NotificationKind.SHIPPED)
    assert (skipped["status"], skipped["error"]) == (
        "SKIPPED",
        "customer notifications are switched off for the account",
    )
    assert skipped["sentAt"] is None
    assert mailbox.messages() == []


async def test_without_an_smtp_server_emails_are_recorded_as_skipped(waybill: Harness) -> None:
    settings = (await waybill.gql(SETTINGS))["notificationSettings"]
    assert settings["smtpConfigured"] is False
    bought = await ship_one(waybill)
    await notify_now(waybill, bought, NotificationKind.SHIPPED)
    skipped = await notice(waybill, bought, NotificationKind.SHIPPED)
    assert (skipped["status"], skipped["error"], skipped["recipient"]) == (
        "SKIPPED",
        "no SMTP server configured",
        bought.email,
    )


async def test_smtp_down_is_retried_then_failed_then_sent_by_the_sweep_once_it_is_back(
    mailing: Harness, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notify, "RETRY_BASE_S", 0.05)  # arq's backoff, shortened: the tries are what is tested
    mailbox.stop()
    bought = await ship_one(mailing)
    outcome = await notify_now(mailing, bought, NotificationKind.SHIPPED)

    assert outcome == {"SHIPPED": "FAILED"}
    failed = await notice(mailing, bought, NotificationKind.SHIPPED)
    assert failed["status"] == "FAILED"
    assert failed["attempts"] == notify.MAX_TRIES
    assert f"could not reach the SMTP server at 127.0.0.1:{mailbox.port}" in failed["error"]
    assert await due_notifications(mailing.runtime) == 0, "a failed e-mail rests before the sweep tries again"

    mailbox.start()
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await due_notifications(mailing.runtime, now=later) == 1
    sent = await notice(mailing, bought, NotificationKind.SHIPPED, until="SENT")
    assert (sent["status"], sent["error"], sent["attempts"]) == ("SENT", None, notify.MAX_TRIES + 1)
    [message] = await eventually(lambda: _exactly(mailbox, 1))
    assert message.recipients == [bought.email]
    assert message.message["Message-ID"] == f"<waybill.shipment-{bought.shipment_pk}.shipped@localhost>"
    assert await due_notifications(mailing.runtime, now=later + timedelta(hours=1)) == 0
    assert len(mailbox.messages()) == 1


async def test_an_email_stuck_in_sending_is_sent_again_with_the_same_message_id(
    mailing: Harness, mailbox: Mailbox
) -> None:
    bought = await ship_one(mailing)
    await notify_now(mailing, bought, NotificationKind.SHIPPED)
    assert (await notice(mailing, bought, NotificationKind.SHIPPED))["status"] == "SENT"
    # A worker that died after the server took the message but before it recorded SENT:
    crashed_at = datetime.now(UTC) - notify.STALE_SENDING - timedelta(seconds=1)
    await models.NotificationSent.filter(shipment_id=bought.shipment_pk).update(status="SENDING", sent_at=crashed_at)

    assert await due_notifications(mailing.runtime) == 1
    assert (await notice(mailing, bought, NotificationKind.SHIPPED))["attempts"] == 2
    first, resent = await eventually(lambda: _exactly(mailbox, 2))
    assert resent.message["Message-ID"] == first.message["Message-ID"], "the customer's client can tell it is one"


async def test_a_merchant_template_is_checked_when_saved_and_used_when_sent(mailing: Harness, mailbox: Mailbox) -> None:
    bad = (
        await mailing.gql(
            UPDATE_TEMPLATE,
            {
                "input": {
                    "kind": "SHIPPED",
                    "subject": "Shipped",
                    "body": "Hi {{ customer_name }}\n\n{{ tracking_link }}",
                }
            },
        )
    )["updateNotificationTemplate"]
    assert bad["template"] is None
    [error] = bad["userErrors"]
    assert error["field"] == ["body"] and error["code"] == "INVALID"
    assert error["message"].startswith("body line 3: unknown variable 'tracking_link'")

    body = "Hi {{ customer_name }}, {{ order_number }} is with {{ carrier_name }}: {{ tracking_url }}\n"
    saved = (
        await mailing.gql(
            UPDATE_TEMPLATE,
            {"input": {"kind": "SHIPPED", "subject": "{{ shop_name }} shipped {{ order_number }}", "body": body}},
        )
    )["updateNotificationTemplate"]
    assert saved["userErrors"] == [] and saved["template"]["isDefault"] is False
    templates = {t["kind"]: t for t in (await mailing.gql(SETTINGS))["notificationSettings"]["templates"]}
    assert templates["SHIPPED"]["body"] == body and templates["DELIVERED"]["isDefault"] is True
    assert "delivered_date" not in {v["name"] for v in templates["SHIPPED"]["variables"]}

    bought = await ship_one(mailing)
    await notify_now(mailing, bought, NotificationKind.SHIPPED)
    [message] = await eventually(lambda: _exactly(mailbox, 1))
    assert message.message["Subject"] == f"Test shop shipped {bought.number}"
    assert message.text == f"Hi {bought.customer}, {bought.number} is with Waybill Sandbox: {bought.tracking_url}\n"
    assert message.message.get_body(preferencelist=("html",)) is None

    reset = (await mailing.gql(RESET_TEMPLATE, {"kind": "SHIPPED"}))["resetNotificationTemplate"]
    assert reset["userErrors"] == [] and reset["template"]["isDefault"] is True
    assert reset["template"]["subject"] == "Your order {{ order_number }} from {{ shop_name }} is on its way"


async def test_settings_writes_need_manage_channels_and_stay_in_the_account(mailing: Harness) -> None:
    reader = await create_api_key(mailing.account_id, "reader", ["read_orders"])
    refused = await mailing.gql(UPDATE_SETTINGS, {"input": {"enabled": False}}, key=reader)
    assert refused["updateNotificationSettings"]["userErrors"][0]["code"] == "FORBIDDEN"
    refused = await mailing.gql(RESET_TEMPLATE, {"kind": "DELIVERED"}, key=reader)
    assert refused["resetNotificationTemplate"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert (await mailing.gql(SETTINGS, key=reader))["notificationSettings"]["enabled"] is True

    their_channel = await connect_store(mailing)
    other = await mailing.new_key("Other shop")
    theirs = (
        await mailing.gql(
            UPDATE_SETTINGS,
            {"input": {"channels": [{"channelId": their_channel, "notifyCustomers": False}]}},
            key=other,
        )
    )["updateNotificationSettings"]
    assert theirs["userErrors"] == [
        {"field": ["channels.0.channelId"], "message": "Channel not found", "code": "NOT_FOUND"}
    ]
    mine = (await mailing.gql(SETTINGS))["notificationSettings"]
    assert mine["channels"][0]["notifyCustomers"] is True

    bad_sender = await mailing.gql(UPDATE_SETTINGS, {"input": {"fromAddress": "not an address"}})
    assert bad_sender["updateNotificationSettings"]["userErrors"][0]["field"] == ["fromAddress"]
    sender = (await mailing.gql(UPDATE_SETTINGS, {"input": {"fromAddress": "Tea Co <orders@tea.example>"}}))[
        "updateNotificationSettings"
    ]["notificationSettings"]
    assert (sender["fromAddress"], sender["effectiveFromAddress"]) == ("Tea Co <orders@tea.example>",) * 2
    assert (await mailing.gql(SETTINGS, key=other))["notificationSettings"]["fromAddress"] is None


async def test_shipment_notifications_cost_one_query_for_a_whole_page(db: Database) -> None:
    small = await seed_account("small", 5)
    large = await seed_account("large", 60)
    for seeded in (small, large):
        for shipment in await models.Shipment.filter(account_id=seeded.account_id):
            await models.NotificationSent.create(
                account_id=seeded.account_id,
                shipment_id=shipment.id,
                kind="SHIPPED",
                recipient="a@b.example",
                status="SENT",
            )
    # first: 60 returns the large account whole within the 1000-point query cost (100 would cost 1301).
    query = "{ orders(first: 60) { edges { node { shipments { trackingNumber notifications { kind status } } } } } }"
    counts = []
    for seeded in (small, large):
        with counting_queries() as queries:
            data = await execute(query, seeded.account_id)
        counts.append(len(queries))
        notices = [s["notifications"] for e in data["orders"]["edges"] for s in e["node"]["shipments"]]
        assert notices and all(n == [{"kind": "SHIPPED", "status": "SENT"}] for n in notices)
    assert counts[0] == counts[1], counts


async def _exactly(mailbox: Mailbox, count: int) -> list[Received]:
    messages = mailbox.messages()
    assert len(messages) == count, [m.message["Subject"] for m in messages]
    return messages
