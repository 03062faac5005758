"""GraphQL types of drafts and edits: why an order is a draft, edit conflicts, the parcel, the draft rules."""

from __future__ import annotations

import json
from typing import Any

import strawberry

from api import ids
from domain import drafts, model


@strawberry.type(description="One thing a DRAFT order lacks before it can ship.")
class DraftReason:
    field: str = strawberry.field(description="The missing field, as in missingFields (e.g. shippingAddress.city).")
    message: str = strawberry.field(description="What is missing, in words a merchant understands.")
    line_id: strawberry.ID | None = strawberry.field(description="The order line it is about, if any.")


@strawberry.type(description="The channel changed a field you had edited; your value stays until you choose.")
class OrderConflict:
    field: str = strawberry.field(description="The field, e.g. shippingAddress.postalCode.")
    merchant_value: str | None = strawberry.field(description="Your value (the one in use).")
    channel_value: str | None = strawberry.field(description="The channel's new value.")
    line_id: strawberry.ID | None = strawberry.field(description="The order line it is about, if any.")


@strawberry.type(description="The parcel as the merchant packed it.")
class OrderPackage:
    weight_grams: int | None = strawberry.field(description="Total weight in grams.")
    length_cm: float | None = strawberry.field(description="Length in cm.")
    width_cm: float | None = strawberry.field(description="Width in cm.")
    height_cm: float | None = strawberry.field(description="Height in cm.")

    @classmethod
    def from_domain(cls, package: model.Package | None) -> OrderPackage | None:
        if package is None:
            return None
        return cls(
            weight_grams=package.weight_grams,
            length_cm=package.length_cm,
            width_cm=package.width_cm,
            height_cm=package.height_cm,
        )


@strawberry.type(description="When an imported order becomes a DRAFT, for your account.")
class DraftRules:
    origin_country: str | None = strawberry.field(
        description="Where parcels leave from; orders to another country are international. Unset: none is."
    )
    customs: bool = strawberry.field(
        description="International orders need contents, and per line a value and an HS code or description."
    )
    invoice_number: bool = strawberry.field(description="International orders need an invoice number.")
    line_weight: bool = strawberry.field(description="Every line needs a weight unless a default is set.")
    default_line_weight_grams: int | None = strawberry.field(description="Weight assumed for lines without one.")
    default_customs_contents: str | None = strawberry.field(description="Contents assumed when none are given.")

    @classmethod
    def from_domain(cls, rules: drafts.DraftRules) -> DraftRules:
        return cls(**rules.to_settings())


def line_gid(channel_line_id: str, lines: list[model.OrderLine]) -> strawberry.ID | None:
    line = next((line for line in lines if line.channel_line_id == channel_line_id), None)
    return strawberry.ID(ids.encode("OrderLine", line.id)) if line and line.id is not None else None


def _line_of(field: str) -> str | None:
    if field.startswith("lines.") and field.count(".") >= 2:
        return field[len("lines.") :].rsplit(".", 1)[0]
    return None


def draft_reasons(missing: list[str], lines: list[model.OrderLine]) -> list[DraftReason]:
    found = []
    for name, message in drafts.reasons(missing, lines):
        channel_line_id = _line_of(name)
        line_id = line_gid(channel_line_id, lines) if channel_line_id else None
        found.append(DraftReason(field=name, message=message, line_id=line_id))
    return found


def conflicts(found: list[model.OrderConflict], lines: list[model.OrderLine]) -> list[OrderConflict]:
    result = []
    for conflict in found:
        channel_line_id = _line_of(conflict.field)
        result.append(
            OrderConflict(
                field=conflict.field,
                merchant_value=_text(conflict.merchant_value),
                channel_value=_text(conflict.channel_value),
                line_id=line_gid(channel_line_id, lines) if channel_line_id else None,
            )
        )
    return result


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)
