"""Sync engine: webhook deliveries recorded under their event id; consecutive sync failures per channel."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    initial = False

    operations = [
        ops.CreateModel(
            name="WebhookDelivery",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="webhook_deliveries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "channel",
                    fields.ForeignKeyField(
                        "models.Channel",
                        source_field="channel_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="webhook_deliveries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("event_id", fields.CharField(max_length=200)),
                ("topic", fields.CharField(default="", max_length=100)),
                ("body", fields.TextField(unique=False)),
                ("status", fields.CharField(default="RECEIVED", max_length=16)),
                ("error", fields.TextField(null=True, unique=False)),
                ("received_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("processed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "webhook_deliveries",
                "app": "models",
                "unique_together": (("channel", "event_id"),),
                "pk_attr": "id",
                "table_description": "A platform's webhook, recorded under its event id before anything else: a redelivery is dropped.",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Channel",
            name="consecutive_failures",
            field=fields.IntField(
                default=0,
                description="Syncs failed in a row (reset by a success): drives the backoff and shows on the channel.",
            ),
        ),
    ]
