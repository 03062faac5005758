"""The merchant's corrections to an order before its label (updateDraft, updateOrder), and how later syncs
treat them.

Every edited field is remembered with what the channel said at the time. A later sync keeps the
merchant's value unless the channel changes that same field; then the merchant's value still stays,
and the order shows the conflict until the merchant picks one. An empty channel value never
overwrites the merchant's.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from domain import addresses, drafts
from domain.errors import DomainError, ErrorCode
from domain.model import Address, DomainEvent, MerchantEdit, Order, OrderConflict, OrderLine, OrderStatus, Package

#: Statuses whose data can be edited: no label of ours exists yet and the order still ships.
EDITABLE = frozenset(
    {OrderStatus.DRAFT, OrderStatus.READY_TO_SHIP, OrderStatus.BACK_ORDERED, OrderStatus.NEEDS_ATTENTION}
)
#: Statuses an edit (or a sync) recomputes from the data: the merchant never has to "release" a draft.
RECOMPUTED = frozenset({OrderStatus.DRAFT, OrderStatus.READY_TO_SHIP, OrderStatus.BACK_ORDERED})

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HS_CODE = re.compile(r"\d{4}(\.?\d{2}){1,3}")
_LINE_FIELDS = {
    "weightGrams": "grams",
    "hsCode": "hs_code",
    "customsDescription": "customs_description",
    "customsValue": "customs_value",
    "originCountry": "origin_country",
}
_ORDER_FIELDS = {
    "customerName": "customer_name",
    "customerEmail": "customer_email",
    "invoiceNumber": "invoice_number",
    "customs.contents": "customs_contents",
}
_ADDRESS_ATTRS = {camel: attr for attr, camel in addresses.FIELD_NAMES.items()}


@dataclass
class LineEdit:
    line_id: int
    weight_grams: int | None = None
    hs_code: str | None = None
    customs_description: str | None = None
    customs_value: str | None = None
    origin_country: str | None = None


@dataclass
class OrderEdit:
    """What the merchant typed; None means "leave as it is", "" clears an optional text field."""

    shipping_address: dict[str, str | None] | None = None  # Address attribute -> value
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    invoice_number: str | None = None
    customs_contents: str | None = None
    lines: list[LineEdit] = field(default_factory=list)
    package: Package | None = None
    #: (field path as in `conflicts`, "MERCHANT" or "CHANNEL")
    resolve: list[tuple[str, str]] = field(default_factory=list)


class InvalidEdit(Exception):
    """Everything wrong with an edit, field by field; nothing of it was applied."""

    def __init__(self, errors: list[tuple[list[str], str]]) -> None:
        super().__init__("; ".join(message for _, message in errors))
        self.errors = errors


# --- reading and writing one field by its path ----------------------------------------------


def read_field(order: Order, path: str) -> Any:
    if path.startswith("shippingAddress."):
        address = order.shipping_address
        return getattr(address, _ADDRESS_ATTRS[path.split(".", 1)[1]]) if address else None
    if path in _ORDER_FIELDS:
        return getattr(order, _ORDER_FIELDS[path])
    if path == "package":
        return asdict(order.package) if order.package else None
    line, attr = _line_field(order, path)
    return getattr(line, attr) if line else None


def write_field(order: Order, path: str, value: Any) -> None:
    if path.startswith("shippingAddress."):
        if order.shipping_address is None:
            order.shipping_address = Address()
        setattr(order.shipping_address, _ADDRESS_ATTRS[path.split(".", 1)[1]], value)
    elif path in _ORDER_FIELDS:
        setattr(order, _ORDER_FIELDS[path], value)
    elif path == "package":
        order.package = Package(**value) if value else None
    else:
        line, attr = _line_field(order, path)
        if line is not None:
            setattr(line, attr, value)


def from_channel(path: str) -> bool:
    """Fields a channel sends; the rest (customs, invoice, parcel) only ever come from the merchant."""
    return (
        path.startswith("shippingAddress.")
        or path in ("customerName", "customerEmail")
        or path.endswith(".weightGrams")
    )


def _line_field(order: Order, path: str) -> tuple[OrderLine | None, str]:
    _, rest = path.split(".", 1)
    channel_line_id, name = rest.rsplit(".", 1)
    line = next((line for line in order.lines if line.channel_line_id == channel_line_id), None)
    return line, _LINE_FIELDS[name]


# --- the merchant's edit ----------------------------------------------------------------------


def apply_edit(order: Order, edit: OrderEdit, rules: drafts.DraftRules) -> list[str]:
    """Validates the whole edit first (InvalidEdit names every bad field), then applies it, remembers
    each changed field against the channel's value, and recomputes what the order still lacks.

    Returns the changed field paths (what the audit trail records; never the values)."""
    changes, errors = _changes(order, edit)
    resolutions = _resolutions(order, edit, errors)
    if errors:
        raise InvalidEdit(errors)
    changed: list[str] = []
    for path, keep in resolutions:
        conflict = _drop_conflict(order, path)
        assert conflict is not None
        if keep == "CHANNEL":
            order.merchant_edits.pop(path, None)
            write_field(order, path, conflict.channel_value)
        else:
            order.merchant_edits[path] = MerchantEdit(conflict.merchant_value, conflict.channel_value)
        changed.append(path)
    for path, value in changes.items():
        if read_field(order, path) == value and path not in order.merchant_edits:
            continue
        conflict = _drop_conflict(order, path)
        previous = order.merchant_edits.get(path)
        if conflict is not None:
            channel_value = conflict.channel_value
        elif previous is not None:
            channel_value = previous.channel_value
        else:
            channel_value = read_field(order, path)
        if value == channel_value:
            order.merchant_edits.pop(path, None)  # back to what the channel says: nothing to remember
        else:
            order.merchant_edits[path] = MerchantEdit(value, channel_value)
        if read_field(order, path) != value or conflict is not None:
            write_field(order, path, value)
            changed.append(path)
    if changed:
        before = order.status
        refresh(order, rules)
        order.events.append(
            DomainEvent(
                "ORDER_EDITED",
                {
                    "from": before.value,
                    "status": order.status.value,
                    "fields": sorted(set(changed)),
                    "source": "merchant",
                },
            )
        )
    return changed


def refresh(order: Order, rules: drafts.DraftRules) -> None:
    """What the order lacks under the account's rules; a complete draft becomes READY_TO_SHIP by itself."""
    order.missing_fields = drafts.missing_for(order, rules)
    if order.status in RECOMPUTED:
        order.status = drafts.status_for(order.channel_status, order.missing_fields)


def _changes(order: Order, edit: OrderEdit) -> tuple[dict[str, Any], list[tuple[list[str], str]]]:
    changes: dict[str, Any] = {}
    errors: list[tuple[list[str], str]] = []
    if edit.shipping_address is not None:
        current = order.shipping_address or Address()
        merged = addresses.normalized(Address(**{**asdict(current), **edit.shipping_address}))
        for attr, message in addresses.problems(merged):
            errors.append((["input", "shippingAddress", addresses.FIELD_NAMES[attr]], message))
        for attr in edit.shipping_address:
            changes[f"shippingAddress.{addresses.FIELD_NAMES[attr]}"] = getattr(merged, attr)
    if edit.contact_name is not None:
        _text(changes, errors, "customerName", ["input", "contact", "name"], edit.contact_name, 300, required=True)
    if edit.contact_email is not None:
        email = edit.contact_email.strip()
        if email and not _EMAIL.fullmatch(email):
            errors.append((["input", "contact", "email"], f"'{edit.contact_email}' is not an e-mail address"))
        changes["customerEmail"] = email or None
    if edit.contact_phone is not None:
        phone = edit.contact_phone.strip()
        if phone and not addresses.PHONE.fullmatch(phone):
            errors.append((["input", "contact", "phone"], f"'{edit.contact_phone}' is not a phone number"))
        changes["shippingAddress.phone"] = phone or None
    if edit.invoice_number is not None:
        _text(changes, errors, "invoiceNumber", ["input", "invoiceNumber"], edit.invoice_number, 100)
    if edit.customs_contents is not None:
        contents = edit.customs_contents.strip().upper()
        if contents and contents not in drafts.CUSTOMS_CONTENTS:
            message = "Must be one of " + ", ".join(drafts.CUSTOMS_CONTENTS)
            errors.append((["input", "customs", "contents"], message))
        changes["customs.contents"] = contents or None
    for index, line_edit in enumerate(edit.lines):
        _line_changes(order, index, line_edit, changes, errors)
    if edit.package is not None:
        _package_changes(edit.package, changes, errors)
    return changes, errors


def _line_changes(
    order: Order, index: int, edit: LineEdit, changes: dict[str, Any], errors: list[tuple[list[str], str]]
) -> None:
    where = ["input", "lines", str(index)]
    line = order.line(edit.line_id)
    if line is None:
        errors.append(([*where, "lineId"], "This line is not part of the order"))
        return
    prefix = f"lines.{line.channel_line_id}."
    if edit.weight_grams is not None:
        if not 0 < edit.weight_grams <= 1_000_000:
            errors.append(([*where, "weightGrams"], "Must be between 1 and 1000000 grams"))
        changes[prefix + "weightGrams"] = edit.weight_grams
    if edit.hs_code is not None:
        code = edit.hs_code.strip()
        if code and not _HS_CODE.fullmatch(code):
            errors.append(([*where, "hsCode"], f"'{edit.hs_code}' is not an HS code (6 to 10 digits, e.g. 6302.60)"))
        changes[prefix + "hsCode"] = code.replace(".", "") or None
    if edit.customs_description is not None:
        _text(
            changes,
            errors,
            prefix + "customsDescription",
            [*where, "customsDescription"],
            edit.customs_description,
            200,
        )
    if edit.customs_value is not None:
        value = edit.customs_value.strip()
        try:
            ok = not value or (Decimal(value).is_finite() and Decimal(value) >= 0)
        except InvalidOperation:
            ok = False
        if not ok:
            errors.append(([*where, "customsValue"], f"'{edit.customs_value}' is not an amount, e.g. 12.50"))
        changes[prefix + "customsValue"] = value or None
    if edit.origin_country is not None:
        country = edit.origin_country.strip().upper()
        if country and not re.fullmatch(r"[A-Z]{2}", country):
            errors.append(([*where, "originCountry"], "Must be an ISO 3166-1 alpha-2 country code, e.g. CN"))
        changes[prefix + "originCountry"] = country or None


def _package_changes(package: Package, changes: dict[str, Any], errors: list[tuple[list[str], str]]) -> None:
    limits = {"weight_grams": ("weightGrams", 1_000_000), "length_cm": ("lengthCm", 300), "width_cm": ("widthCm", 300)}
    limits["height_cm"] = ("heightCm", 300)
    for attr, (name, top) in limits.items():
        value = getattr(package, attr)
        if value is not None and not 0 < value <= top:
            errors.append((["input", "package", name], f"Must be more than 0 and at most {top}"))
    changes["package"] = asdict(package) if any(v is not None for v in asdict(package).values()) else None


def _text(
    changes: dict[str, Any],
    errors: list[tuple[list[str], str]],
    path: str,
    where: list[str],
    value: str,
    limit: int,
    *,
    required: bool = False,
) -> None:
    text = value.strip()
    if required and not text:
        errors.append((where, "Must not be empty"))
    elif len(text) > limit:
        errors.append((where, f"At most {limit} characters"))
    changes[path] = text or None


def _resolutions(order: Order, edit: OrderEdit, errors: list[tuple[list[str], str]]) -> list[tuple[str, str]]:
    known = {conflict.field for conflict in order.conflicts}
    wanted: list[tuple[str, str]] = []
    for index, (path, keep) in enumerate(edit.resolve):
        if path not in known:
            errors.append((["input", "resolveConflicts", str(index), "field"], f"The order has no conflict on {path}"))
        else:
            wanted.append((path, keep))
    return wanted


def _drop_conflict(order: Order, path: str) -> OrderConflict | None:
    found = next((conflict for conflict in order.conflicts if conflict.field == path), None)
    order.conflicts = [conflict for conflict in order.conflicts if conflict.field != path]
    return found


# --- later syncs ------------------------------------------------------------------------------


def reapply(order: Order) -> list[str]:
    """After the channel's content was copied onto the order: put the merchant's edits back.

    Returns the fields where the channel now disagrees with the merchant (new or still open conflicts)."""
    disagreeing: list[str] = []
    for path, edit in list(order.merchant_edits.items()):
        channel_now = read_field(order, path) if from_channel(path) else None
        if addresses.blank(channel_now) or channel_now == edit.channel_value:
            write_field(order, path, edit.value)  # the channel did not touch it: the merchant's value stands
            _drop_conflict(order, path)
        elif channel_now == edit.value:
            del order.merchant_edits[path]  # the channel caught up with the merchant
            _drop_conflict(order, path)
        else:
            write_field(order, path, edit.value)
            _drop_conflict(order, path)
            order.conflicts.append(OrderConflict(path, edit.value, channel_now))
            disagreeing.append(path)
    return disagreeing


# --- archive ------------------------------------------------------------------------------


def unarchive(order: Order, rules: drafts.DraftRules) -> None:
    """Back to what the order's data says: DRAFT, READY_TO_SHIP, DELIVERED, ..."""
    if order.status is not OrderStatus.ARCHIVED:
        raise DomainError(ErrorCode.INVALID, "The order is not archived", ["input", "orderId"])
    order.missing_fields = drafts.missing_for(order, rules)
    if order.lines and any(line.quantity_shipped for line in order.lines):
        # Archiving refuses a live label, so shipped lines mean the order had been delivered.
        order.status = OrderStatus.DELIVERED
    else:
        order.status = drafts.status_for(order.channel_status, order.missing_fields)
    order.events.append(
        DomainEvent("ORDER_UNARCHIVED", {"from": OrderStatus.ARCHIVED.value, "status": order.status.value})
    )
