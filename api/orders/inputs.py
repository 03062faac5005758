"""Inputs of the order mutations (updateDraft, updateOrder, archive, draft rules) and their domain shape."""

from __future__ import annotations

from enum import StrEnum

import strawberry

from api import ids
from domain import edits
from domain.errors import DomainError
from domain.model import Package


@strawberry.enum(description="What an international parcel contains, for the customs declaration.")
class CustomsContents(StrEnum):
    MERCHANDISE = "MERCHANDISE"
    GIFT = "GIFT"
    DOCUMENTS = "DOCUMENTS"
    SAMPLE = "SAMPLE"
    RETURN = "RETURN"


@strawberry.enum(description="Which value a conflict keeps.")
class ConflictSide(StrEnum):
    MERCHANT = "MERCHANT"
    CHANNEL = "CHANNEL"


@strawberry.input(description="Address fields to change; fields left out stay, an empty string clears an optional one.")
class AddressInput:
    name: str | None = strawberry.field(default=None, description="Recipient name.")
    company: str | None = strawberry.field(default=None, description="Company, if any.")
    line1: str | None = strawberry.field(default=None, description="Street and number.")
    line2: str | None = strawberry.field(default=None, description="Apartment, suite, etc.")
    city: str | None = strawberry.field(default=None, description="City or town.")
    region: str | None = strawberry.field(default=None, description="State or province code.")
    postal_code: str | None = strawberry.field(default=None, description="Postal or ZIP code, checked per country.")
    country_code: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2 country code.")
    phone: str | None = strawberry.field(default=None, description="Phone number for the carrier.")


@strawberry.input(description="How to reach the buyer.")
class ContactInput:
    name: str | None = strawberry.field(default=None, description="The buyer's name.")
    email: str | None = strawberry.field(default=None, description="The buyer's e-mail.")
    phone: str | None = strawberry.field(default=None, description="Phone for the carrier (the address's phone).")


@strawberry.input(description="Weight and customs data of one order line.")
class LineEditInput:
    line_id: strawberry.ID = strawberry.field(description="The order line.")
    weight_grams: int | None = strawberry.field(default=None, description="Weight of one unit in grams.")
    hs_code: str | None = strawberry.field(default=None, description="Harmonized System code, 6 to 10 digits.")
    customs_description: str | None = strawberry.field(
        default=None, description="What the goods are, in words customs accept (instead of an HS code)."
    )
    customs_value: str | None = strawberry.field(default=None, description="Declared value of one unit.")
    origin_country: str | None = strawberry.field(default=None, description="Where the goods were made (ISO code).")


@strawberry.input(description="The parcel as you packed it.")
class ParcelEditInput:
    weight_grams: int | None = strawberry.field(default=None, description="Total weight in grams.")
    length_cm: float | None = strawberry.field(default=None, description="Length in cm.")
    width_cm: float | None = strawberry.field(default=None, description="Width in cm.")
    height_cm: float | None = strawberry.field(default=None, description="Height in cm.")


@strawberry.input(description="Settle a conflict between your edit and the channel's later change.")
class ResolveConflictInput:
    field: str = strawberry.field(description="The conflict's field, as in Order.conflicts.")
    keep: ConflictSide = strawberry.field(description="MERCHANT keeps your value, CHANNEL takes the channel's.")


@strawberry.input(description="Corrections to an order before its label; fields left out stay as they are.")
class OrderEditInput:
    order_id: strawberry.ID = strawberry.field(description="The order.")
    shipping_address: AddressInput | None = strawberry.field(
        default=None, description="Address fields to change; the result is checked for the country."
    )
    contact: ContactInput | None = strawberry.field(default=None, description="The buyer's contact details.")
    invoice_number: str | None = strawberry.field(default=None, description="Invoice number for customs.")
    customs_contents: CustomsContents | None = strawberry.field(
        default=None, description="What the parcel contains, for customs."
    )
    lines: list[LineEditInput] | None = strawberry.field(default=None, description="Per-line weight and customs.")
    package: ParcelEditInput | None = strawberry.field(default=None, description="The parcel's weight and size.")
    resolve_conflicts: list[ResolveConflictInput] | None = strawberry.field(
        default=None, description="Conflicts to settle (see Order.conflicts)."
    )


@strawberry.input(description="Fill in what a DRAFT order lacks; once complete it becomes READY_TO_SHIP.")
class UpdateDraftInput(OrderEditInput):
    pass


@strawberry.input(description="Correct any order before its label exists: address, contact, parcel, customs.")
class UpdateOrderInput(OrderEditInput):
    pass


@strawberry.input(description="Take an order out of, or back into, the work lists.")
class ArchiveOrderInput:
    order_id: strawberry.ID = strawberry.field(description="The order.")


@strawberry.input(description="Change the account's draft rules; fields left out stay as they are.")
class UpdateDraftRulesInput:
    origin_country: str | None = strawberry.field(
        default=None,
        description="Where your parcels leave from (ISO code): orders to another country are international. "
        "An empty string unsets it (then no order counts as international).",
    )
    customs: bool | None = strawberry.field(
        default=None,
        description="International orders need contents, and per line a value and an HS code or description.",
    )
    invoice_number: bool | None = strawberry.field(
        default=None, description="International orders need an invoice number."
    )
    line_weight: bool | None = strawberry.field(
        default=None, description="Every line needs a weight, unless a default line weight is set."
    )
    default_line_weight_grams: int | None = strawberry.field(
        default=None, description="Weight for lines the channel sends without one; 0 unsets it."
    )
    default_customs_contents: CustomsContents | None = strawberry.field(
        default=None, description="Contents assumed when an international order has none."
    )


ADDRESS_ATTRS = ("name", "company", "line1", "line2", "city", "region", "postal_code", "country_code", "phone")


def to_edit(data: OrderEditInput) -> edits.OrderEdit:
    """The domain's edit; a line id of the wrong type is refused naming its place in the input."""
    address = None
    if data.shipping_address is not None:
        given = data.shipping_address
        address = {attr: getattr(given, attr) for attr in ADDRESS_ATTRS if getattr(given, attr) is not None}
    contact = data.contact
    lines = []
    for index, line in enumerate(data.lines or []):
        try:
            line_pk = ids.decode("OrderLine", line.line_id, "lineId")
        except DomainError as exc:
            raise DomainError(exc.code, exc.message, ["input", "lines", str(index), "lineId"]) from exc
        lines.append(
            edits.LineEdit(
                line_id=line_pk,
                weight_grams=line.weight_grams,
                hs_code=line.hs_code,
                customs_description=line.customs_description,
                customs_value=line.customs_value,
                origin_country=line.origin_country,
            )
        )
    package = None
    if data.package is not None:
        p = data.package
        package = Package(
            weight_grams=p.weight_grams, length_cm=p.length_cm, width_cm=p.width_cm, height_cm=p.height_cm
        )
    return edits.OrderEdit(
        shipping_address=address,
        contact_name=contact.name if contact else None,
        contact_email=contact.email if contact else None,
        contact_phone=contact.phone if contact else None,
        invoice_number=data.invoice_number,
        customs_contents=data.customs_contents.value if data.customs_contents else None,
        lines=lines,
        package=package,
        resolve=[(r.field, ConflictSide(r.keep).value) for r in data.resolve_conflicts or []],
    )
