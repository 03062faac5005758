"""Every API channel kind with its fake platform server: the contract suite runs over all of them.

A kind added to adapters/channels/catalog.py must appear here (test_every_kind_is_covered fails otherwise).
"""

from __future__ import annotations

from collections.abc import Callable

from adapters.channels.base import FakeChannel
from adapters.channels.shopify.fake import FakeShopify
from domain.model import ChannelKind

FAKES: dict[ChannelKind, Callable[[], FakeChannel]] = {
    ChannelKind.SHOPIFY: FakeShopify,
}

#: Kinds without a remote API (orders arrive by upload): outside the HTTP contract, tested on their own.
NO_REMOTE_API = frozenset({ChannelKind.CSV})
