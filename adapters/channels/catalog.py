"""Every channel kind Waybill speaks, by kind: the one place that lists them."""

from __future__ import annotations

from adapters.channels import amazon, back_office, csv_upload, ebay, etsy, magento, shopify, woocommerce
from adapters.channels.base import ChannelSpec
from domain.model import ChannelKind

SPECS: dict[ChannelKind, ChannelSpec] = {
    spec.kind: spec
    for spec in (
        shopify.SPEC,
        woocommerce.SPEC,
        amazon.SPEC,
        ebay.SPEC,
        etsy.SPEC,
        magento.SPEC,
        back_office.SPEC,
        csv_upload.SPEC,
    )
}


def spec_for(kind: ChannelKind | str) -> ChannelSpec | None:
    try:
        return SPECS.get(ChannelKind(kind))
    except ValueError:
        return None
