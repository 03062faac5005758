"""Users, sessions, API key mode/expiry/rotation, account mode and the audit log."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0005_forwarding")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AuditEntry",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="audit_entries",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("actor", fields.CharField(db_index=True, max_length=100)),
                ("action", fields.CharField(max_length=100)),
                (
                    "object_ids",
                    fields.TextField(
                        default="",
                        description="Global ids, space-separated with a space at each end, so one id is found with a plain LIKE.",
                        unique=False,
                    ),
                ),
                ("outcome", fields.CharField(default="ok", max_length=200)),
                (
                    "detail",
                    fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads),
                ),
                ("ip", fields.CharField(default="", max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "audit_entries",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Who (user or key) did what to which objects, and how it ended. Never secrets.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="User",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="users",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("email", fields.CharField(unique=True, max_length=320)),
                ("password_hash", fields.CharField(max_length=200)),
                ("role", fields.CharField(max_length=16)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("last_login_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "users",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Someone who signs in to the admin app. Emails are unique across accounts (login needs no account name).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Session",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="sessions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="sessions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("last_seen_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("ip", fields.CharField(default="", max_length=64)),
                ("user_agent", fields.CharField(default="", max_length=300)),
            ],
            options={
                "table": "sessions",
                "app": "models",
                "pk_attr": "id",
                "table_description": "An admin app sign-in. Only a hash of the cookie token is kept.",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Account",
            name="mode",
            field=fields.CharField(
                null=True,
                default="live",
                description="live or test (docs/security.md): an account takes only keys of its own mode. Null (older rows): live.",
                max_length=8,
            ),
        ),
        ops.AddField(
            model_name="ApiKey",
            name="created_by",
            field=fields.CharField(null=True, default="", max_length=100),
        ),
        ops.AddField(
            model_name="ApiKey",
            name="expires_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="ApiKey",
            name="mode",
            field=fields.CharField(
                null=True,
                default="live",
                description="live or test, as in the key itself. Null (keys made before modes): live.",
                max_length=8,
            ),
        ),
        ops.AddField(
            model_name="ApiKey",
            name="rotated_from_id",
            field=fields.IntField(null=True, description="The key this one replaced (rotateApiKey)."),
        ),
    ]
