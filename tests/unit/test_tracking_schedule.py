"""When a parcel is asked about again, and when its silence becomes a problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.model import TrackingEvent, TrackingStatus
from jobs.shipping import STALL_AFTER, TRACK_EVERY, _stalled_since

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_parcel_out_for_delivery_is_asked_about_most_often() -> None:
    assert TRACK_EVERY[TrackingStatus.OUT_FOR_DELIVERY] < TRACK_EVERY[TrackingStatus.IN_TRANSIT]
    assert TRACK_EVERY[TrackingStatus.IN_TRANSIT] < TRACK_EVERY[TrackingStatus.PENDING]


def test_silence_counts_from_the_latest_scan_or_from_the_purchase() -> None:
    old_scan = [TrackingEvent(TrackingStatus.IN_TRANSIT, NOW - STALL_AFTER - timedelta(hours=1))]
    fresh_scan = [*old_scan, TrackingEvent(TrackingStatus.IN_TRANSIT, NOW - timedelta(days=1))]
    bought_long_ago = NOW - timedelta(days=30)

    assert _stalled_since(old_scan, bought_long_ago, NOW)
    assert not _stalled_since(fresh_scan, bought_long_ago, NOW)
    assert _stalled_since([], bought_long_ago, NOW), "never scanned since the purchase"
    assert not _stalled_since([], NOW - timedelta(days=2), NOW)
