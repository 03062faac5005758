"""Users, sessions, API key scopes/expiry/rotation and the audit log (placeholder)."""

from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [("models", "0005_forwarding")]

    initial = False

    operations: list[object] = []
