"""Drafts and order edits (placeholder: filled by the drafts work)."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [("models", "0003_shipping")]

    initial = False

    operations: list[object] = []
