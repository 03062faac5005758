"""Pure rules of channel health: staleness and the failure backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.model import Channel, ChannelKind, ConnectionState
from jobs.sync import failure_backoff

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def channel(**overrides: object) -> Channel:
    values: dict[str, object] = {"id": 1, "account_id": 1, "kind": ChannelKind.SHOPIFY, "name": "Shop"}
    values.update(overrides)
    return Channel(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("last_synced_ago", "created_ago", "state", "stale"),
    [
        (timedelta(minutes=14), None, ConnectionState.CONNECTED, False),  # under 3 x 5 min
        (timedelta(minutes=16), None, ConnectionState.CONNECTED, True),
        (timedelta(minutes=16), None, ConnectionState.NEEDS_REAUTH, True),
        (timedelta(hours=5), None, ConnectionState.DISABLED, False),  # switched off on purpose
        (None, timedelta(minutes=5), ConnectionState.CONNECTED, False),  # just connected
        (None, timedelta(minutes=20), ConnectionState.ERROR, True),  # never synced since connecting
    ],
)
def test_stale_after_three_intervals_without_a_successful_sync(
    last_synced_ago: timedelta | None, created_ago: timedelta | None, state: ConnectionState, stale: bool
) -> None:
    subject = channel(
        state=state,
        sync_interval_seconds=300,
        last_synced_at=NOW - last_synced_ago if last_synced_ago else None,
        created_at=NOW - created_ago if created_ago else None,
    )
    assert subject.is_stale(NOW) is stale


def test_backoff_doubles_from_a_minute_is_capped_and_respects_retry_after() -> None:
    assert [failure_backoff(n, 300, None) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert failure_backoff(20, 300, None) == 3600, "capped at an hour"
    assert failure_backoff(20, 86_400, None) == 86_400, "a daily channel never retries less often than daily"
    assert failure_backoff(1, 300, 900) == 900, "never sooner than the platform asked"
