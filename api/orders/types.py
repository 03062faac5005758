"""GraphQL order types, built from domain objects; nested fields go through DataLoaders."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from api import ids
from api.context import Info
from api.forwarding import types as forwarding_types
from api.orders import draft_types
from api.orders.draft_types import DraftReason, OrderConflict, OrderPackage
from domain import model
from domain.forwarding import PushStatus

if TYPE_CHECKING:
    from api.channels.types import Channel
    from api.shipments.types import Shipment

OrderStatus = strawberry.enum(model.OrderStatus, description="Waybill's status of an order (the lifecycle table).")
ChannelOrderStatus = strawberry.enum(model.ChannelOrderStatus, description="What the channel says, normalized.")
PaymentStatus = strawberry.enum(model.PaymentStatus, description="Payment status as the channel reports it.")


@strawberry.type(description="A postal address.")
class Address:
    name: str | None = strawberry.field(description="Recipient name.")
    company: str | None = strawberry.field(description="Company, if any.")
    line1: str | None = strawberry.field(description="Street and number.")
    line2: str | None = strawberry.field(description="Apartment, suite, etc.")
    city: str | None = strawberry.field(description="City or town.")
    region: str | None = strawberry.field(description="State or province code.")
    postal_code: str | None = strawberry.field(description="Postal or ZIP code.")
    country_code: str | None = strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    phone: str | None = strawberry.field(description="Phone number for the carrier.")

    @classmethod
    def from_domain(cls, address: model.Address | None) -> Address | None:
        if address is None:
            return None
        return cls(**{name: getattr(address, name) for name in model.Address.__dataclass_fields__})


@strawberry.type(description="One line of an order.")
class OrderLine:
    id: strawberry.ID = strawberry.field(description="Global id of the line.")
    sku: str | None = strawberry.field(description="Stock keeping unit.")
    title: str = strawberry.field(description="Product title as sold.")
    quantity: int = strawberry.field(description="Quantity ordered.")
    quantity_shipped: int = strawberry.field(description="Quantity on live labels of Waybill.")
    quantity_remaining: int = strawberry.field(description="Quantity still to ship.")
    unit_price: str | None = strawberry.field(description="Unit price in the order currency.")
    weight_grams: int | None = strawberry.field(description="Weight of one unit in grams, if known.")
    hs_code: str | None = strawberry.field(description="Harmonized System code for customs.")
    customs_description: str | None = strawberry.field(description="What the goods are, for customs.")
    customs_value: str | None = strawberry.field(description="Declared value of one unit for customs.")
    origin_country: str | None = strawberry.field(description="Where the goods were made (ISO code).")

    @classmethod
    def from_domain(cls, line: model.OrderLine) -> OrderLine:
        return cls(
            id=strawberry.ID(ids.encode("OrderLine", line.id or 0)),
            sku=line.sku,
            title=line.title,
            quantity=line.quantity,
            quantity_shipped=line.quantity_shipped,
            quantity_remaining=line.quantity_remaining,
            unit_price=line.unit_price,
            weight_grams=line.grams,
            hs_code=line.hs_code,
            customs_description=line.customs_description,
            customs_value=line.customs_value,
            origin_country=line.origin_country,
        )


@strawberry.type(description="An order imported from a sales channel.")
class Order:
    id: strawberry.ID = strawberry.field(description="Global id.")
    number: str = strawberry.field(description="The number the channel shows, e.g. #1001.")
    external_id: str = strawberry.field(description="The channel's own id of the order.")
    status: OrderStatus = strawberry.field(description="Waybill status.")  # type: ignore[valid-type]
    channel_status: ChannelOrderStatus = strawberry.field(  # type: ignore[valid-type]
        description="The channel's status, normalized."
    )
    raw_status: str = strawberry.field(description="The channel's status as received.")
    payment_status: PaymentStatus = strawberry.field(description="Payment status.")  # type: ignore[valid-type]
    customer_name: str | None = strawberry.field(description="Buyer's name.")
    customer_email: str | None = strawberry.field(description="Buyer's e-mail.")
    shipping_address: Address | None = strawberry.field(description="Where the parcel goes.")
    currency: str | None = strawberry.field(description="ISO 4217 currency of the total.")
    total: str | None = strawberry.field(description="Order total as the channel reports it.")
    missing_fields: list[str] = strawberry.field(description="What a DRAFT order lacks before it can ship.")
    attention_reason: str | None = strawberry.field(description="Why the order NEEDS_ATTENTION.")
    warning: str | None = strawberry.field(description="A warning for the merchant, e.g. shipped elsewhere.")
    channel_created_at: datetime = strawberry.field(description="When the order was placed.")
    channel_updated_at: datetime = strawberry.field(description="Last change on the channel.")
    updated_at: datetime | None = strawberry.field(description="Last change in Waybill.")
    version: int = strawberry.field(description="Increases on every change.")
    invoice_number: str | None = strawberry.field(description="Invoice number for customs.")
    customs_contents: str | None = strawberry.field(description="What the parcel contains, for customs.")
    package: OrderPackage | None = strawberry.field(description="The parcel as the merchant packed it.")
    edited_fields: list[str] = strawberry.field(
        description="Fields the merchant changed (updateOrder/updateDraft): later syncs keep these values."
    )
    order_id: strawberry.Private[int]
    channel_id: strawberry.Private[int]
    domain_conflicts: strawberry.Private[list[model.OrderConflict]]

    @classmethod
    def from_domain(cls, order: model.Order) -> Order:
        assert order.id is not None
        return cls(
            id=strawberry.ID(ids.encode("Order", order.id)),
            order_id=order.id,
            channel_id=order.channel_id,
            number=order.number,
            external_id=order.external_id,
            status=order.status,
            channel_status=order.channel_status,
            raw_status=order.raw_status,
            payment_status=order.payment_status,
            customer_name=order.customer_name,
            customer_email=order.customer_email,
            shipping_address=Address.from_domain(order.shipping_address),
            currency=order.currency,
            total=order.total,
            missing_fields=list(order.missing_fields),
            attention_reason=order.attention_reason,
            warning=order.warning,
            channel_created_at=order.channel_created_at,
            channel_updated_at=order.channel_updated_at,
            updated_at=order.updated_at,
            version=order.version,
            invoice_number=order.invoice_number,
            customs_contents=order.customs_contents,
            package=OrderPackage.from_domain(order.package),
            edited_fields=sorted(order.merchant_edits),
            domain_conflicts=list(order.conflicts),
        )

    @strawberry.field(description="Why the order is a DRAFT: one reason per missing field.")
    async def draft_reasons(self, info: Info) -> list[DraftReason]:
        if not self.missing_fields:
            return []
        return draft_types.draft_reasons(
            self.missing_fields, await info.context.loaders.lines_by_order.load(self.order_id)
        )

    @strawberry.field(description="Fields the channel changed after you edited them; your value is the one in use.")
    async def conflicts(self, info: Info) -> list[OrderConflict]:
        if not self.domain_conflicts:
            return []
        lines = await info.context.loaders.lines_by_order.load(self.order_id)
        return draft_types.conflicts(self.domain_conflicts, lines)

    @strawberry.field(description="The order's lines.")
    async def lines(self, info: Info) -> list[OrderLine]:
        return [OrderLine.from_domain(line) for line in await info.context.loaders.lines_by_order.load(self.order_id)]

    @strawberry.field(description="Labels bought for this order, newest last.")
    async def shipments(self, info: Info) -> list[Annotated[Shipment, strawberry.lazy("api.shipments.types")]]:
        from api.shipments.types import Shipment

        rows = await info.context.loaders.shipments_by_order.load(self.order_id)
        return [Shipment.from_domain(s) for s in rows]

    @strawberry.field(description="The channel the order came from.")
    async def channel(self, info: Info) -> Annotated[Channel, strawberry.lazy("api.channels.types")]:
        from api.channels.types import Channel

        return Channel.from_domain(await info.context.loaders.channel_by_id.load(self.channel_id))

    @strawberry.field(description="Whether the order was forwarded to the store platform: NOT_SENT, SENT or ERROR.")
    async def push_status(self, info: Info) -> forwarding_types.PushStatus:  # type: ignore[valid-type]
        push = await forwarding_types.push_of(info, self.order_id)
        return push.status if push else PushStatus.NOT_SENT

    @strawberry.field(description="The store platform's error text when forwarding failed (pushOrder retries).")
    async def push_error(self, info: Info) -> str | None:
        push = await forwarding_types.push_of(info, self.order_id)
        return push.error if push else None

    @strawberry.field(description="The store platform's id of the forwarded copy.")
    async def pushed_order_ref(self, info: Info) -> str | None:
        push = await forwarding_types.push_of(info, self.order_id)
        return push.platform_order_id if push else None

    @strawberry.field(description="A warning about the forwarded copy, e.g. cancelled on the marketplace afterwards.")
    async def push_flag(self, info: Info) -> str | None:
        push = await forwarding_types.push_of(info, self.order_id)
        return push.flag if push else None

    @strawberry.field(description="Writes to the channel that have not been accepted yet, or failed for good.")
    async def channel_writes(self, info: Info) -> list[ChannelWrite]:
        return await info.context.loaders.open_writes_by_order.load(self.order_id)


@strawberry.type(description="A write owed to the channel (tracking, fulfilled, unfulfilled).")
class ChannelWrite:
    kind: str = strawberry.field(
        description="SHIPMENT_CREATED, ORDER_FULFILLED, SHIPMENT_DELIVERED or SHIPMENT_CANCELLED."
    )
    status: str = strawberry.field(description="PENDING (being retried) or FAILED (the channel refused for good).")
    attempts: int = strawberry.field(description="Delivery attempts so far.")
    last_error: str | None = strawberry.field(description="The channel's last answer, if it refused.")


@strawberry.type(description="Paging information of a connection.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items after endCursor.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item.")


@strawberry.type(description="An order in a connection.")
class OrderEdge:
    cursor: str = strawberry.field(description="Opaque keyset cursor.")
    node: Order = strawberry.field(description="The order.")


@strawberry.type(description="A page of orders: newest first, BACK_ORDERED after the ready ones.")
class OrderConnection:
    edges: list[OrderEdge] = strawberry.field(description="The orders of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")

    @strawberry.field(description="The orders of this page, without cursors.")
    def nodes(self) -> list[Order]:
        return [edge.node for edge in self.edges]
