"""Drafts and order edits: invoice number, customs contents, package, merchant edits and conflicts, line customs."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0003_shipping")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Order",
            name="conflicts",
            field=fields.JSONField(
                null=True,
                description="[{field, merchant_value, channel_value}]: the channel changed a field the merchant had edited.",
                encoder=functools.partial(dumps, separators=(",", ":")),
                decoder=loads,
            ),
        ),
        ops.AddField(
            model_name="Order",
            name="customs_contents",
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AddField(
            model_name="Order",
            name="invoice_number",
            field=fields.CharField(
                null=True,
                description="Typed by the merchant (updateDraft/updateOrder): customs invoice number and contents, the parcel.",
                max_length=100,
            ),
        ),
        ops.AddField(
            model_name="Order",
            name="merchant_edits",
            field=fields.JSONField(
                null=True,
                description="Field path -> {value, channel_value}: the merchant's edits, kept over later syncs (domain/edits.py).",
                encoder=functools.partial(dumps, separators=(",", ":")),
                decoder=loads,
            ),
        ),
        ops.AddField(
            model_name="Order",
            name="package",
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads),
        ),
        ops.AddField(
            model_name="OrderLine",
            name="customs",
            field=fields.JSONField(
                null=True,
                description="{hs_code, customs_description, customs_value, origin_country} as the merchant typed them, or null.",
                encoder=functools.partial(dumps, separators=(",", ":")),
                decoder=loads,
            ),
        ),
    ]
