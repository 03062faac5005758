"""Every API channel kind with its fake platform server: the contract suite runs over all of them.

A kind added to adapters/channels/catalog.py must appear here (test_every_kind_is_covered fails otherwise).
"""

from __future__ import annotations

from collections.abc import Callable

from adapters.channels.amazon.fake import FakeAmazon
from adapters.channels.back_office.fake import FakeBackOffice
from adapters.channels.base import FakeChannel
from adapters.channels.ebay.fake import FakeEbay
from adapters.channels.etsy.fake import FakeEtsy
from adapters.channels.magento.fake import FakeMagento
from adapters.channels.shopify.fake import FakeShopify
from adapters.channels.woocommerce.fake import FakeWooCommerce
from domain.model import ChannelKind

#: Amazon's real getOrders rate (one a minute) turns every injected 429 into a minute's wait; the
#: contract runs its buckets fast (the Amazon client tests cover the real rates).
FAST_AMAZON = {"getOrders": (50.0, 20), "getOrderItems": (50.0, 30), "confirmShipment": (50.0, 10)}

FAKES: dict[ChannelKind, Callable[[], FakeChannel]] = {
    ChannelKind.SHOPIFY: FakeShopify,
    ChannelKind.AMAZON: lambda: FakeAmazon(usage_plans=FAST_AMAZON),
    ChannelKind.EBAY: FakeEbay,
    ChannelKind.BACK_OFFICE: FakeBackOffice,
    ChannelKind.ETSY: FakeEtsy,
    ChannelKind.MAGENTO: FakeMagento,
    ChannelKind.WOOCOMMERCE: FakeWooCommerce,
}

#: Kinds without a remote API (orders arrive by upload): outside the HTTP contract, tested on their own.
NO_REMOTE_API = frozenset({ChannelKind.CSV})

#: Platforms whose 429 carries no Retry-After (Amazon): the client waits out its own token bucket instead.
NO_RETRY_AFTER = frozenset({ChannelKind.AMAZON})
