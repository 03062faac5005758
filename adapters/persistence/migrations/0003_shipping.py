"""Shipping: carrier accounts, label batches, customer notifications, shipment carrier/location/tracking schedule."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0002_sync_engine")]

    initial = False

    operations = [
        ops.CreateModel(
            name="CarrierAccount",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="carrier_accounts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("carrier", fields.CharField(max_length=32)),
                ("name", fields.CharField(max_length=100)),
                ("credentials", fields.TextField(default="", unique=False)),
                ("enabled", fields.BooleanField(default=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "carrier_accounts",
                "app": "models",
                "unique_together": (("account", "name"),),
                "pk_attr": "id",
                "table_description": "A merchant's account with a carrier or aggregator (EasyPost, Shippo), credentials encrypted.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="LabelBatch",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="label_batches",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("idempotency_key", fields.CharField(max_length=200)),
                ("carrier", fields.CharField(max_length=100)),
                ("service", fields.CharField(max_length=64)),
                ("status", fields.CharField(default="RUNNING", max_length=16)),
                ("total", fields.IntField(default=0)),
                ("succeeded", fields.IntField(default=0)),
                ("failed", fields.IntField(default=0)),
                (
                    "items",
                    fields.JSONField(
                        default=list,
                        description="[{order_id, shipment_id | null, error | null}] in the order asked.",
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("merged_pdf", fields.BinaryField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("finished_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "label_batches",
                "app": "models",
                "unique_together": (("account", "idempotency_key"),),
                "pk_attr": "id",
                "table_description": "buyLabels: many orders, one merged PDF, per-order outcomes.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="NotificationSent",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "shipment",
                    fields.ForeignKeyField(
                        "models.Shipment",
                        source_field="shipment_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notifications",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("kind", fields.CharField(max_length=16)),
                ("recipient", fields.CharField(max_length=320)),
                ("status", fields.CharField(default="SENDING", max_length=16)),
                ("error", fields.TextField(null=True, unique=False)),
                ("message_id", fields.CharField(null=True, max_length=200)),
                ("attempts", fields.IntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "notifications_sent",
                "app": "models",
                "unique_together": (("shipment", "kind"),),
                "pk_attr": "id",
                "table_description": "One customer e-mail per shipment and kind, ever: the row is claimed before the message is sent.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="NotificationTemplate",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="notification_templates",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("kind", fields.CharField(max_length=16)),
                ("subject", fields.TextField(unique=False)),
                ("body", fields.TextField(unique=False)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "notification_templates",
                "app": "models",
                "unique_together": (("account", "kind"),),
                "pk_attr": "id",
                "table_description": "A merchant's own wording of a customer e-mail (Jinja2), used instead of the packaged default.",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Account",
            name="settings",
            field=fields.JSONField(
                null=True,
                description="Account-wide preferences (customer notifications: on/off, sender, reply-to, ...). Nullable so",
                encoder=functools.partial(dumps, separators=(",", ":")),
                decoder=loads,
            ),
        ),
        ops.AddField(
            model_name="Shipment",
            name="carrier_account_id",
            field=fields.IntField(
                null=True,
                description="The configured carrier account that sold the label (null: the built-in sandbox).",
            ),
        ),
        ops.AddField(
            model_name="Shipment",
            name="carrier_name",
            field=fields.CharField(
                null=True, description='Who moves the parcel ("USPS") when an aggregator sold the label.', max_length=64
            ),
        ),
        ops.AddField(
            model_name="Shipment",
            name="location",
            field=fields.CharField(
                null=True,
                description="Waybill's name of the location (warehouse) the parcel leaves from.",
                max_length=100,
            ),
        ),
        ops.AddField(
            model_name="Shipment",
            name="next_track_at",
            field=fields.DatetimeField(
                null=True,
                description="When the carrier should next be asked for tracking news (sooner when out for delivery).",
                auto_now=False,
                auto_now_add=False,
            ),
        ),
    ]
