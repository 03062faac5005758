"""Every channel kind Waybill speaks, by kind: the one place that lists them."""

from __future__ import annotations

from adapters.channels import amazon, csv_upload, ebay, shopify
from adapters.channels.base import ChannelSpec
from domain.model import ChannelKind

SPECS: dict[ChannelKind, ChannelSpec] = {spec.kind: spec for spec in (shopify.SPEC, amazon.SPEC, ebay.SPEC, csv_upload.SPEC)}


def spec_for(kind: ChannelKind | str) -> ChannelSpec | None:
    try:
        return SPECS.get(ChannelKind(kind))
    except ValueError:
        return None
