"""Tortoise models: the storage shape. Only repositories and read queries touch these."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Account(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    #: Account-wide preferences (customer notifications: on/off, sender, reply-to, ...). Nullable so
    #: that adding it to an existing table works on SQLite; read it as `row.settings or {}`.
    settings = fields.JSONField(null=True)
    #: live or test (docs/security.md): an account takes only keys of its own mode. Null (older rows): live.
    mode = fields.CharField(max_length=8, null=True, default="live")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "accounts"


class ApiKey(Model):
    """Partner and admin access. Only a hash of the secret is kept."""

    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="api_keys", on_delete=fields.CASCADE)
    name = fields.CharField(max_length=200, default="")
    prefix = fields.CharField(max_length=32, unique=True)
    secret_hash = fields.CharField(max_length=128)
    scopes = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    #: live or test, as in the key itself. Null (keys made before modes): live.
    mode = fields.CharField(max_length=8, null=True, default="live")
    expires_at = fields.DatetimeField(null=True)
    created_by = fields.CharField(max_length=100, null=True, default="")
    #: The key this one replaced (rotateApiKey).
    rotated_from_id = fields.IntField(null=True)

    class Meta:
        table = "api_keys"


class User(Model):
    """Someone who signs in to the admin app. Emails are unique across accounts (login needs no account name)."""

    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="users", on_delete=fields.CASCADE)
    email = fields.CharField(max_length=320, unique=True)
    password_hash = fields.CharField(max_length=200)
    role = fields.CharField(max_length=16)  # OWNER, STAFF, READ_ONLY
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "users"


class Session(Model):
    """An admin app sign-in. Only a hash of the cookie token is kept."""

    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("models.User", related_name="sessions", on_delete=fields.CASCADE)
    account = fields.ForeignKeyField("models.Account", related_name="sessions", on_delete=fields.CASCADE)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    ip = fields.CharField(max_length=64, default="")
    user_agent = fields.CharField(max_length=300, default="")

    class Meta:
        table = "sessions"


class AuditEntry(Model):
    """Who (user or key) did what to which objects, and how it ended. Never secrets."""

    id = fields.BigIntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="audit_entries", on_delete=fields.CASCADE)
    actor = fields.CharField(max_length=100, db_index=True)
    action = fields.CharField(max_length=100)
    #: Global ids, space-separated with a space at each end, so one id is found with a plain LIKE.
    object_ids = fields.TextField(default="")
    outcome = fields.CharField(max_length=200, default="ok")
    detail = fields.JSONField(null=True)
    ip = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_entries"


class Channel(Model):
    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="channels", on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=32)
    name = fields.CharField(max_length=200)
    state = fields.CharField(max_length=32, default="CONNECTED")
    credentials = fields.TextField(default="")  # Fernet token, never plain text
    settings = fields.JSONField(default=dict)
    sync_interval_seconds = fields.IntField(default=300)
    sync_cursor = fields.DatetimeField(null=True)
    last_synced_at = fields.DatetimeField(null=True)
    next_sync_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    #: Syncs failed in a row (reset by a success): drives the backoff and shows on the channel.
    consecutive_failures = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "channels"


class WebhookDelivery(Model):
    """A platform's webhook, recorded under its event id before anything else: a redelivery is dropped."""

    id = fields.BigIntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="webhook_deliveries", on_delete=fields.CASCADE)
    channel = fields.ForeignKeyField("models.Channel", related_name="webhook_deliveries", on_delete=fields.CASCADE)
    event_id = fields.CharField(max_length=200)
    topic = fields.CharField(max_length=100, default="")
    body = fields.TextField()  # the verified payload, for the worker that imports it
    status = fields.CharField(max_length=16, default="RECEIVED")  # RECEIVED, PROCESSED, FAILED
    error = fields.TextField(null=True)
    received_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_deliveries"
        unique_together = (("channel", "event_id"),)


class Order(Model):
    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="orders", on_delete=fields.CASCADE)
    channel = fields.ForeignKeyField("models.Channel", related_name="orders", on_delete=fields.CASCADE)
    external_id = fields.CharField(max_length=100)
    number = fields.CharField(max_length=100)
    status = fields.CharField(max_length=32)
    # Sort key for work lists: ready orders first, BACK_ORDERED below them (see api/orders).
    status_rank = fields.SmallIntField(default=0)
    channel_status = fields.CharField(max_length=32)
    payment_status = fields.CharField(max_length=32)
    raw_status = fields.CharField(max_length=100, default="")
    customer_name = fields.CharField(max_length=300, null=True)
    customer_email = fields.CharField(max_length=300, null=True)
    currency = fields.CharField(max_length=3, null=True)
    total = fields.CharField(max_length=32, null=True)
    shipping_address = fields.JSONField(null=True)
    missing_fields = fields.JSONField(default=list)
    attention_reason = fields.TextField(null=True)
    warning = fields.TextField(null=True)
    content_hash = fields.CharField(max_length=64, default="")
    version = fields.IntField(default=0)
    #: Typed by the merchant (updateDraft/updateOrder): customs invoice number and contents, the parcel.
    invoice_number = fields.CharField(max_length=100, null=True)
    customs_contents = fields.CharField(max_length=32, null=True)
    package = fields.JSONField(null=True)
    #: Field path -> {value, channel_value}: the merchant's edits, kept over later syncs (domain/edits.py).
    merchant_edits = fields.JSONField(null=True)
    #: [{field, merchant_value, channel_value}]: the channel changed a field the merchant had edited.
    conflicts = fields.JSONField(null=True)
    channel_created_at = fields.DatetimeField()
    channel_updated_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "orders"
        unique_together = (("channel", "external_id"),)
        indexes = (("account_id", "status_rank", "channel_created_at", "id"),)


class OrderLine(Model):
    id = fields.IntField(primary_key=True)
    order = fields.ForeignKeyField("models.Order", related_name="lines", on_delete=fields.CASCADE)
    position = fields.SmallIntField(default=0)
    channel_line_id = fields.CharField(max_length=100)
    sku = fields.CharField(max_length=200, null=True)
    title = fields.CharField(max_length=500)
    quantity = fields.IntField()
    quantity_shipped = fields.IntField(default=0)
    unit_price = fields.CharField(max_length=32, null=True)
    grams = fields.IntField(null=True)
    #: {hs_code, customs_description, customs_value, origin_country} as the merchant typed them, or null.
    customs = fields.JSONField(null=True)

    class Meta:
        table = "order_lines"


class Shipment(Model):
    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="shipments", on_delete=fields.CASCADE)
    order = fields.ForeignKeyField("models.Order", related_name="shipments", on_delete=fields.CASCADE)
    carrier = fields.CharField(max_length=64)
    service = fields.CharField(max_length=64)
    idempotency_key = fields.CharField(max_length=200)
    status = fields.CharField(max_length=32)
    lines = fields.JSONField(default=list)
    tracking_number = fields.CharField(max_length=100, null=True)
    tracking_url = fields.CharField(max_length=500, null=True)
    tracking_status = fields.CharField(max_length=32, null=True)
    tracking_events = fields.JSONField(default=list)
    carrier_label_id = fields.CharField(max_length=100, null=True)
    cost = fields.CharField(max_length=32, null=True)
    currency = fields.CharField(max_length=3, null=True)
    refund_status = fields.CharField(max_length=32, null=True)
    channel_fulfillment_id = fields.CharField(max_length=100, null=True)
    error = fields.TextField(null=True)
    #: The configured carrier account that sold the label (null: the built-in sandbox).
    carrier_account_id = fields.IntField(null=True)
    #: Who moves the parcel ("USPS") when an aggregator sold the label.
    carrier_name = fields.CharField(max_length=64, null=True)
    #: Waybill's name of the location (warehouse) the parcel leaves from.
    location = fields.CharField(max_length=100, null=True)
    #: When the carrier should next be asked for tracking news (sooner when out for delivery).
    next_track_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "shipments"
        # A retried or concurrent buyLabel with the same key can never make a second row.
        unique_together = (("account", "idempotency_key"),)


class Label(Model):
    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="labels", on_delete=fields.CASCADE)
    shipment = fields.ForeignKeyField("models.Shipment", related_name="labels", on_delete=fields.CASCADE)
    format = fields.CharField(max_length=8)  # PDF | ZPL
    content = fields.BinaryField()

    class Meta:
        table = "labels"
        unique_together = (("shipment", "format"),)


class OutboxWrite(Model):
    """A write owed to a channel, committed with the change that caused it (see jobs/outbox.py)."""

    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="outbox", on_delete=fields.CASCADE)
    order = fields.ForeignKeyField("models.Order", related_name="outbox", on_delete=fields.CASCADE)
    channel = fields.ForeignKeyField("models.Channel", related_name="outbox", on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=32)
    payload = fields.JSONField(default=dict)
    status = fields.CharField(max_length=16, default="PENDING")
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_writes"
        indexes = (("status", "next_attempt_at"), ("order_id", "status", "id"))


class Event(Model):
    """The event log: every state change in order. Subscriptions resume from an id."""

    id = fields.BigIntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="events", on_delete=fields.CASCADE)
    type = fields.CharField(max_length=64)
    order_id = fields.IntField(null=True)
    shipment_id = fields.IntField(null=True)
    channel_id = fields.IntField(null=True)
    sync_run_id = fields.IntField(null=True)
    actor = fields.CharField(max_length=200, default="system")
    data = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "events"
        indexes = (("account_id", "id"),)


class SyncRun(Model):
    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="sync_runs", on_delete=fields.CASCADE)
    channel = fields.ForeignKeyField("models.Channel", related_name="sync_runs", on_delete=fields.CASCADE)
    direction = fields.CharField(max_length=16, default="IMPORT")
    trigger = fields.CharField(max_length=16)
    status = fields.CharField(max_length=16)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    pages = fields.IntField(default=0)
    fetched = fields.IntField(default=0)
    created = fields.IntField(default=0)
    updated = fields.IntField(default=0)
    unchanged = fields.IntField(default=0)
    failed = fields.IntField(default=0)
    error = fields.TextField(null=True)
    cursor_before = fields.DatetimeField(null=True)
    cursor_after = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "sync_runs"


class CarrierAccount(Model):
    """A merchant's account with a carrier or aggregator (EasyPost, Shippo), credentials encrypted."""

    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="carrier_accounts", on_delete=fields.CASCADE)
    carrier = fields.CharField(max_length=32)  # easypost | shippo | sandbox
    name = fields.CharField(max_length=100)  # the merchant's name for it, unique in the account
    credentials = fields.TextField(default="")  # Fernet token, never plain text
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "carrier_accounts"
        unique_together = (("account", "name"),)


class LabelBatch(Model):
    """buyLabels: many orders, one merged PDF, per-order outcomes."""

    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="label_batches", on_delete=fields.CASCADE)
    idempotency_key = fields.CharField(max_length=200)
    carrier = fields.CharField(max_length=100)  # the carrier account's name, or "sandbox"
    service = fields.CharField(max_length=64)
    status = fields.CharField(max_length=16, default="RUNNING")  # RUNNING, DONE
    total = fields.IntField(default=0)
    succeeded = fields.IntField(default=0)
    failed = fields.IntField(default=0)
    #: [{order_id, shipment_id | null, error | null}] in the order asked.
    items = fields.JSONField(default=list)
    merged_pdf = fields.BinaryField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "label_batches"
        unique_together = (("account", "idempotency_key"),)


class NotificationTemplate(Model):
    """A merchant's own wording of a customer e-mail (Jinja2), used instead of the packaged default."""

    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="notification_templates", on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=16)  # SHIPPED | DELIVERED
    subject = fields.TextField()
    body = fields.TextField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "notification_templates"
        unique_together = (("account", "kind"),)


class NotificationSent(Model):
    """One customer e-mail per shipment and kind, ever: the row is claimed before the message is sent."""

    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="notifications", on_delete=fields.CASCADE)
    shipment = fields.ForeignKeyField("models.Shipment", related_name="notifications", on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=16)
    recipient = fields.CharField(max_length=320)
    status = fields.CharField(max_length=16, default="SENDING")  # SENDING, SENT, FAILED, SKIPPED
    error = fields.TextField(null=True)
    message_id = fields.CharField(max_length=200, null=True)
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notifications_sent"
        unique_together = (("shipment", "kind"),)


class OrderPush(Model):
    """Forwarding of one marketplace order into a store platform (docs/forwarding.md): no row means NOT_SENT."""

    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="order_pushes", on_delete=fields.CASCADE)
    order = fields.OneToOneField("models.Order", related_name="push", on_delete=fields.CASCADE)
    #: The store platform channel the copy is (to be) created on.
    target_channel = fields.ForeignKeyField("models.Channel", related_name="pushes", on_delete=fields.CASCADE)
    status = fields.CharField(max_length=16, default="NOT_SENT")  # NOT_SENT (queued), SENT, ERROR
    error = fields.TextField(null=True)
    #: The store platform's id of the copy, once created or found.
    platform_order_id = fields.CharField(max_length=100, null=True)
    attempts = fields.IntField(default=0)
    #: Set when the marketplace cancelled the order after it was forwarded.
    flag = fields.TextField(null=True)
    #: MANUAL (pushOrder) or AUTO (the channel's forwarding mode).
    trigger = fields.CharField(max_length=16, default="AUTO")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "order_pushes"
        indexes = (("target_channel_id", "platform_order_id"), ("status", "updated_at"))


class ManagedProduct(Model):
    """A product the merchant manages in Waybill, by SKU: the MANAGED forwarding mode forwards only these."""

    id = fields.IntField(primary_key=True)
    account = fields.ForeignKeyField("models.Account", related_name="managed_products", on_delete=fields.CASCADE)
    sku = fields.CharField(max_length=100)
    title = fields.CharField(max_length=300, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "managed_products"
        unique_together = (("account", "sku"),)
