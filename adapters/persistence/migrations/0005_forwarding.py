"""Forwarding marketplace orders to the store platform (placeholder)."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [("models", "0004_drafts")]

    initial = False

    operations: list[object] = []
