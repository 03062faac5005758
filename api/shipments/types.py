"""GraphQL shipment types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from api import ids
from api.context import Info
from domain import model

if TYPE_CHECKING:
    from api.notifications.types import Notification

ShipmentStatus = strawberry.enum(model.ShipmentStatus, description="Where a label stands.")
TrackingStatus = strawberry.enum(model.TrackingStatus, description="The carrier's news, normalized.")
RefundStatus = strawberry.enum(model.RefundStatus, description="The carrier's answer to a void.")


@strawberry.type(description="One scan or status change reported by the carrier.")
class TrackingEvent:
    status: TrackingStatus = strawberry.field(description="Normalized status.")  # type: ignore[valid-type]
    occurred_at: datetime = strawberry.field(description="When it happened.")
    description: str = strawberry.field(description="The carrier's words.")
    location: str | None = strawberry.field(description="Where, if the carrier says.")


@strawberry.type(description="Lines and quantities a label carries.")
class ShipmentLine:
    order_line_id: strawberry.ID = strawberry.field(description="The order line.")
    quantity: int = strawberry.field(description="Quantity in this parcel.")


@strawberry.type(description="A shipping label bought for an order, and the parcel it follows.")
class Shipment:
    id: strawberry.ID = strawberry.field(description="Global id.")
    order_id: strawberry.ID = strawberry.field(description="The order it ships.")
    carrier: str = strawberry.field(description="Carrier name.")
    service: str = strawberry.field(description="Carrier service code.")
    status: ShipmentStatus = strawberry.field(description="Label status.")  # type: ignore[valid-type]
    tracking_number: str | None = strawberry.field(description="Carrier tracking number.")
    tracking_url: str | None = strawberry.field(description="Public tracking page.")
    tracking_status: TrackingStatus | None = strawberry.field(  # type: ignore[valid-type]
        description="Latest carrier status."
    )
    tracking_events: list[TrackingEvent] = strawberry.field(description="Carrier scans, oldest first.")
    cost: str | None = strawberry.field(description="Postage paid.")
    currency: str | None = strawberry.field(description="Currency of the cost.")
    refund_status: RefundStatus | None = strawberry.field(  # type: ignore[valid-type]
        description="Set once a void was asked for."
    )
    error: str | None = strawberry.field(description="Why the purchase or the void failed.")
    idempotency_key: str = strawberry.field(description="The key the purchase was made with.")
    lines: list[ShipmentLine] = strawberry.field(description="What the parcel carries.")
    label_pdf_url: str | None = strawberry.field(description="4x6 PDF label; needs your API key.")
    label_zpl_url: str | None = strawberry.field(description="ZPL label for thermal printers; needs your API key.")
    created_at: datetime | None = strawberry.field(description="When the purchase was asked for.")
    location: str | None = strawberry.field(description="The warehouse it leaves from (your name for it).")
    carrier_name: str | None = strawberry.field(
        description="Who moves the parcel (e.g. USPS) when an aggregator such as EasyPost sold the label."
    )

    @strawberry.field(description="Customer e-mails about this parcel (shipped, delivered), oldest first.")
    async def notifications(
        self, info: Info
    ) -> list[Annotated[Notification, strawberry.lazy("api.notifications.types")]]:
        from api.notifications.queries import notifications_by_shipment
        from api.notifications.types import Notification

        records = await notifications_by_shipment(info).load(ids.decode("Shipment", self.id, "id"))
        return [Notification.from_record(record) for record in records]

    @classmethod
    def from_domain(cls, shipment: model.Shipment) -> Shipment:
        assert shipment.id is not None
        has_label = shipment.status not in (model.ShipmentStatus.PURCHASING, model.ShipmentStatus.FAILED)
        return cls(
            id=strawberry.ID(ids.encode("Shipment", shipment.id)),
            order_id=strawberry.ID(ids.encode("Order", shipment.order_id)),
            carrier=shipment.carrier,
            carrier_name=shipment.carrier_name,
            location=shipment.location,
            service=shipment.service,
            status=shipment.status,
            tracking_number=shipment.tracking_number,
            tracking_url=shipment.tracking_url,
            tracking_status=shipment.tracking_status,
            tracking_events=[
                TrackingEvent(
                    status=e.status, occurred_at=e.occurred_at, description=e.description, location=e.location
                )
                for e in shipment.tracking_events
            ],
            cost=shipment.cost,
            currency=shipment.currency,
            refund_status=shipment.refund_status,
            error=shipment.error,
            idempotency_key=shipment.idempotency_key,
            lines=[
                ShipmentLine(order_line_id=strawberry.ID(ids.encode("OrderLine", s.order_line_id)), quantity=s.quantity)
                for s in shipment.lines
            ],
            label_pdf_url=f"/labels/{shipment.id}.pdf" if has_label else None,
            label_zpl_url=f"/labels/{shipment.id}.zpl" if has_label else None,
            created_at=shipment.created_at,
        )
