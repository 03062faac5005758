"""buyLabel, skipShipping, cancelLabel: the carrier I/O runs in a worker; the mutation waits for it."""

from __future__ import annotations

import base64
import logging
import uuid

import strawberry

from adapters.channels.catalog import spec_for
from adapters.persistence import mapping, models
from adapters.persistence.repositories import DuplicateIdempotencyKey, TortoiseLabelRepository
from api import ids
from api.carriers.rate_ids import decode_rate_id
from api.context import Info
from api.errors import UserError, refusals
from api.jobs import wait_for_job
from api.orders.types import Order
from api.shipments.types import Shipment
from domain import model, services
from domain.errors import DomainError, ErrorCode, NotFound
from domain.model import ChannelCapability, ShipmentStatus

log = logging.getLogger(__name__)


@strawberry.input(description="Ship some of an order's lines; omit `lines` to ship everything left.")
class LineQuantityInput:
    line_id: strawberry.ID = strawberry.field(description="An order line id.")
    quantity: int = strawberry.field(description="How many of it go in this parcel.")


@strawberry.input(description="Buy a label for an order.")
class BuyLabelInput:
    order_id: strawberry.ID = strawberry.field(description="The order to ship.")
    idempotency_key: str = strawberry.field(
        description="Your unique key for this purchase: a repeat returns the first label, never a second one."
    )
    carrier: str = strawberry.field(
        default="sandbox", description="The carrier account's name (see carrierAccounts), or 'sandbox'."
    )
    service: str = strawberry.field(default="GROUND", description="The carrier's service code.")
    rate_id: str | None = strawberry.field(
        default=None, description="A rate from `rates`: buys exactly that carrier and service (instead of both)."
    )
    lines: list[LineQuantityInput] | None = strawberry.field(default=None, description="Lines for a partial shipment.")
    location: str | None = strawberry.field(
        default=None,
        description=(
            "Your name of the warehouse the parcel leaves from. On platforms with locations (Shopify) the "
            "channel needs a location mapping for it, checked before anything is bought."
        ),
    )


def line_quantities(lines: list[LineQuantityInput] | None) -> dict[int, int] | None:
    """Order line pk -> quantity, summed; None (every line left) when no lines are given."""
    if lines is None:
        return None
    wanted: dict[int, int] = {}
    for line in lines:
        line_id = ids.decode("OrderLine", line.line_id, "lines")
        wanted[line_id] = wanted.get(line_id, 0) + line.quantity
    return wanted


async def check_location(account_id: int, order_id: int, location: str | None) -> None:
    """A write-back that would need a location mapping the channel lacks is refused before money moves."""
    if location is None:
        return
    row = await models.Channel.filter(account_id=account_id, orders__id=order_id).first()
    spec = spec_for(row.kind) if row is not None else None
    if row is None or spec is None or not spec.can(ChannelCapability.LOCATIONS):
        return
    if location not in ((row.settings or {}).get("location_mapping") or {}):
        raise DomainError(
            ErrorCode.LOCATION_MAPPING_MISSING,
            f"{spec.title} must be told which of its locations ships this parcel: add a location mapping for "
            f"'{location}' to channel '{row.name}' (updateChannel locationMapping) and buy again.",
            ["location"],
        )


@strawberry.type(description="Result of buyLabel.")
class BuyLabelPayload:
    shipment: Shipment | None = strawberry.field(description="The label (PURCHASED, or PURCHASING if still running).")
    order: Order | None = strawberry.field(description="The order after the purchase.")
    user_errors: list[UserError] = strawberry.field(description="Why the purchase was refused.")


@strawberry.input(description="Mark an order delivered by hand: no label.")
class SkipShippingInput:
    order_id: strawberry.ID = strawberry.field(description="The order.")


@strawberry.type(description="Result of skipShipping.")
class SkipShippingPayload:
    order: Order | None = strawberry.field(description="The order, now DELIVERED.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.input(description="Void a label with the carrier and put the order back to ready.")
class CancelLabelInput:
    shipment_id: strawberry.ID = strawberry.field(description="The label to void.")
    void_on_carrier_only: bool = strawberry.field(
        default=False,
        description=(
            "For channels that cannot take a shipment back (eBay, Amazon, Etsy, Magento): void the label with the "
            "carrier anyway, knowing the order stays shipped on the channel. Without it such a void is refused "
            "with UNSUPPORTED."
        ),
    )


@strawberry.type(description="Result of cancelLabel.")
class CancelLabelPayload:
    shipment: Shipment | None = strawberry.field(description="The label, VOIDED when the carrier agreed.")
    order: Order | None = strawberry.field(description="The order after the void.")
    user_errors: list[UserError] = strawberry.field(description="Why the void was refused.")


async def _shipment(account_id: int, shipment_id: int) -> Shipment:
    row = await models.Shipment.get(id=shipment_id, account_id=account_id)
    return Shipment.from_domain(mapping.shipment(row))


async def _order(account_id: int, order_id: int) -> Order:
    row = await models.Order.get(id=order_id, account_id=account_id)
    return Order.from_domain(mapping.order(row, []))


async def buy_label(info: Info, input: BuyLabelInput) -> BuyLabelPayload:
    runtime, account_id = info.context.runtime, info.context.account_id

    async def run() -> tuple[Shipment, Order]:
        info.context.require("write_shipments")
        order_id = ids.decode("Order", input.order_id, "orderId")
        if not input.idempotency_key.strip() or len(input.idempotency_key) > 200:
            raise DomainError(ErrorCode.INVALID, "idempotencyKey must be 1 to 200 characters", ["idempotencyKey"])
        wanted = line_quantities(input.lines)
        carrier, service = decode_rate_id(input.rate_id) if input.rate_id else (input.carrier, input.service)
        await runtime.carrier_client(account_id, carrier)  # unknown carrier: refused before anything is recorded
        await check_location(account_id, order_id, input.location)
        begin = (account_id, order_id, wanted, carrier, service, input.idempotency_key, input.location)
        try:
            shipment, _ = await services.begin_label_purchase(runtime.uow(info.context.actor), *begin)
        except DuplicateIdempotencyKey:  # a concurrent request with this key won the insert
            shipment, _ = await services.begin_label_purchase(runtime.uow(info.context.actor), *begin)
        assert shipment.id is not None
        if shipment.status is ShipmentStatus.PURCHASING:
            job_id = f"purchase:{shipment.id}"
            await runtime.enqueue("purchase_label", account_id, shipment.id, job_id=job_id)
            await wait_for_job(runtime, job_id)
        result = await _shipment(account_id, shipment.id)
        order = await _order(account_id, shipment.order_id)
        if result.status == ShipmentStatus.FAILED:
            raise _WithError(result, order, ErrorCode.LABEL_PURCHASE_FAILED, result.error or "")
        if result.status == ShipmentStatus.PURCHASING and result.error:
            # Not a refusal: the purchase stays open under this key and completes when the carrier answers.
            message = f"{result.error}. Waybill keeps asking the carrier with this idempotency key; no second label will be bought."
            raise _WithError(result, order, ErrorCode.CARRIER_UNAVAILABLE, message)
        return result, order

    try:
        done, errors = await refusals(run)
    except _WithError as answer:
        return BuyLabelPayload(shipment=answer.shipment, order=answer.order, user_errors=[answer.user_error])
    if done is None:
        return BuyLabelPayload(shipment=None, order=None, user_errors=errors)
    return BuyLabelPayload(shipment=done[0], order=done[1], user_errors=[])


async def skip_shipping(info: Info, input: SkipShippingInput) -> SkipShippingPayload:
    runtime, account_id = info.context.runtime, info.context.account_id

    async def run() -> Order:
        info.context.require("write_shipments")
        order_id = ids.decode("Order", input.order_id, "orderId")
        order = await services.skip_shipping(runtime.uow(info.context.actor), account_id, order_id)
        return Order.from_domain(order)

    order, errors = await refusals(run)
    return SkipShippingPayload(order=order, user_errors=errors)


async def cancel_label(info: Info, input: CancelLabelInput) -> CancelLabelPayload:
    runtime, account_id = info.context.runtime, info.context.account_id

    async def run() -> tuple[Shipment, Order]:
        info.context.require("write_shipments")
        shipment_id = ids.decode("Shipment", input.shipment_id, "shipmentId")
        shipment = await services.check_cancel_label(runtime.uow(info.context.actor), account_id, shipment_id)
        if not input.void_on_carrier_only:
            await _refuse_if_channel_cannot_undo(account_id, shipment.order_id)
        job_id = f"void:{shipment_id}:{uuid.uuid4().hex}"
        await runtime.enqueue("void_label", account_id, shipment_id, job_id=job_id)
        outcome = await wait_for_job(runtime, job_id)
        result = await _shipment(account_id, shipment_id)
        order = await _order(account_id, shipment.order_id)
        if isinstance(outcome, dict) and outcome.get("status") == "rejected":
            raise _WithError(result, order, ErrorCode.LABEL_VOID_REJECTED, str(outcome["message"]))
        if isinstance(outcome, dict) and outcome.get("status") == "error":
            raise _WithError(result, order, ErrorCode.CARRIER_UNAVAILABLE, str(outcome["message"]))
        return result, order

    try:
        done, errors = await refusals(run)
    except _WithError as answer:
        return CancelLabelPayload(shipment=answer.shipment, order=answer.order, user_errors=[answer.user_error])
    if done is None:
        return CancelLabelPayload(shipment=None, order=None, user_errors=errors)
    return CancelLabelPayload(shipment=done[0], order=done[1], user_errors=[])


async def _refuse_if_channel_cannot_undo(account_id: int, order_id: int) -> None:
    """Before any money moves: a void the channel can never mirror would leave it showing a dead tracking number."""
    kind = await (
        models.Channel.filter(account_id=account_id, orders__id=order_id).first().values_list("kind", flat=True)
    )
    spec = spec_for(str(kind)) if kind else None
    if spec is None or not spec.can(ChannelCapability.WRITE_BACK) or spec.can(ChannelCapability.UNDO_SHIPMENT):
        return
    raise DomainError(
        ErrorCode.UNSUPPORTED,
        f"{spec.title} cannot take a shipment back once its tracking is uploaded, so voiding this label would leave "
        f"the order shipped on {spec.title} with a tracking number that will never move. To void it anyway, repeat "
        "with voidOnCarrierOnly: true, then correct the order on the channel yourself.",
        ["shipmentId"],
    )


class _WithError(Exception):
    """The carrier's answer: the payload carries the shipment and order as they are, plus why."""

    def __init__(self, shipment: Shipment, order: Order, code: ErrorCode, message: str) -> None:
        self.shipment, self.order = shipment, order
        self.user_error = UserError(field=None, message=message, code=code)


LabelFormat = strawberry.enum(
    model.LabelFormat, description="A label file format: 4x6 PDF or ZPL for thermal printers."
)


@strawberry.input(description="Print a bought label again: the stored file, never a new purchase.")
class ReprintLabelInput:
    shipment_id: strawberry.ID = strawberry.field(description="The label.")
    format: LabelFormat = strawberry.field(  # type: ignore[valid-type]
        default=model.LabelFormat.PDF, description="PDF or ZPL."
    )


@strawberry.type(description="Result of reprintLabel.")
class ReprintLabelPayload:
    shipment: Shipment | None = strawberry.field(description="The label's shipment.")
    url: str | None = strawberry.field(description="Where to download the file (with your API key).")
    content_base64: str | None = strawberry.field(description="The file itself, base64-encoded.")
    user_errors: list[UserError] = strawberry.field(description="Why there is nothing to print.")


async def reprint_label(info: Info, input: ReprintLabelInput) -> ReprintLabelPayload:
    context = info.context

    async def run() -> tuple[Shipment, str, str]:
        context.require_any("read_orders", "write_shipments")
        shipment_id = ids.decode("Shipment", input.shipment_id, "shipmentId")
        row = await models.Shipment.get_or_none(id=shipment_id, account_id=context.account_id)
        if row is None:
            raise NotFound("Shipment", ["shipmentId"])
        if row.status in (ShipmentStatus.PURCHASING.value, ShipmentStatus.FAILED.value, ShipmentStatus.VOIDED.value):
            raise DomainError(
                ErrorCode.LABEL_NOT_PURCHASED,
                f"The label is {row.status.lower()}: there is nothing to print",
                ["shipmentId"],
            )
        kind = model.LabelFormat(input.format.value).value
        content = await TortoiseLabelRepository().get(context.account_id, shipment_id, kind)
        if content is None:
            raise DomainError(
                ErrorCode.NOT_FOUND,
                f"The carrier sold this label as {'PDF' if kind == 'ZPL' else 'ZPL'} only",
                ["format"],
            )
        shipment = Shipment.from_domain(mapping.shipment(row))
        return shipment, f"/labels/{shipment_id}.{kind.lower()}", base64.b64encode(content).decode()

    done, errors = await refusals(run)
    if done is None:
        return ReprintLabelPayload(shipment=None, url=None, content_base64=None, user_errors=errors)
    return ReprintLabelPayload(shipment=done[0], url=done[1], content_base64=done[2], user_errors=[])
