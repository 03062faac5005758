"""Forwarding marketplace orders to the store platform: push records per order, managed products."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0004_drafts")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ManagedProduct",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="managed_products",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("sku", fields.CharField(max_length=100)),
                ("title", fields.CharField(default="", max_length=300)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "managed_products",
                "app": "models",
                "unique_together": (("account", "sku"),),
                "pk_attr": "id",
                "table_description": "A product the merchant manages in Waybill, by SKU: the MANAGED forwarding mode forwards only these.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="OrderPush",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="order_pushes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "order",
                    fields.OneToOneField(
                        "models.Order",
                        source_field="order_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="push",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "target_channel",
                    fields.ForeignKeyField(
                        "models.Channel",
                        source_field="target_channel_id",
                        description="The store platform channel the copy is (to be) created on.",
                        db_constraint=True,
                        to_field="id",
                        related_name="pushes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("status", fields.CharField(default="NOT_SENT", max_length=16)),
                ("error", fields.TextField(null=True, unique=False)),
                (
                    "platform_order_id",
                    fields.CharField(
                        null=True,
                        description="The store platform's id of the copy, once created or found.",
                        max_length=100,
                    ),
                ),
                ("attempts", fields.IntField(default=0)),
                (
                    "flag",
                    fields.TextField(
                        null=True,
                        description="Set when the marketplace cancelled the order after it was forwarded.",
                        unique=False,
                    ),
                ),
                (
                    "trigger",
                    fields.CharField(
                        default="AUTO",
                        description="MANUAL (pushOrder) or AUTO (the channel's forwarding mode).",
                        max_length=16,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "order_pushes",
                "app": "models",
                "indexes": [
                    Index(fields=["target_channel_id", "platform_order_id"]),
                    Index(fields=["status", "updated_at"]),
                ],
                "pk_attr": "id",
                "table_description": "Forwarding of one marketplace order into a store platform (docs/forwarding.md): no row means NOT_SENT.",
            },
            bases=["Model"],
        ),
    ]
