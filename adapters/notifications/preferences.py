"""The switches, as stored: `Account.settings["notifications"]` and `Channel.settings["notify_customers"]`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.notifications import NotificationKind
from adapters.notifications.mailer import NO_SMTP


@dataclass(frozen=True)
class AccountPreferences:
    enabled: bool = True
    #: The account's own sender; None: WAYBILL_MAIL_FROM with the account's name.
    from_address: str | None = None


def account_preferences(settings: dict[str, Any] | None) -> AccountPreferences:
    """`settings` is the account's JSON column, which is null on accounts created before it existed."""
    raw = (settings or {}).get("notifications") or {}
    return AccountPreferences(
        enabled=raw.get("enabled", True) is not False, from_address=raw.get("from_address") or None
    )


def with_account_preferences(settings: dict[str, Any] | None, preferences: AccountPreferences) -> dict[str, Any]:
    """The account's settings with the notification part replaced; other keys are kept."""
    merged = dict(settings or {})
    merged["notifications"] = {
        **(merged.get("notifications") or {}),
        "enabled": preferences.enabled,
        "from_address": preferences.from_address,
    }
    return merged


def channel_notifies(settings: dict[str, Any] | None) -> bool:
    """False for a channel whose platform e-mails the buyer itself (the merchant switches Waybill's off)."""
    return (settings or {}).get("notify_customers", True) is not False


def skip_reason(
    *,
    account: AccountPreferences,
    channel_settings: dict[str, Any] | None,
    recipient: str | None,
    smtp_configured: bool,
) -> str | None:
    """Why no e-mail goes out, in the words the shipment shows; None when one should."""
    if not account.enabled:
        return "customer notifications are switched off for the account"
    if not channel_notifies(channel_settings):
        return "customer notifications are switched off for this channel"
    if not recipient or "@" not in recipient:
        return "the order has no customer e-mail"
    if not smtp_configured:
        return NO_SMTP
    return None


__all__ = ["AccountPreferences", "NotificationKind", "account_preferences", "channel_notifies", "skip_reason"]
