"""Storage model <-> domain dataclass, both ways; pure functions so repositories stay about queries."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from adapters.persistence import models
from domain.model import (
    Address,
    Channel,
    ChannelKind,
    ChannelOrderStatus,
    ConnectionState,
    MerchantEdit,
    Order,
    OrderConflict,
    OrderLine,
    OrderStatus,
    Package,
    PaymentStatus,
    RefundStatus,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    SyncRun,
    SyncStatus,
    SyncTrigger,
    TrackingEvent,
    TrackingStatus,
)


def status_rank(status: OrderStatus) -> int:
    """Work lists sort on this: orders that can ship first, the ones on hold below them."""
    return 1 if status is OrderStatus.BACK_ORDERED else 0


# --- orders ------------------------------------------------------------------------------


def order_values(order: Order) -> dict[str, Any]:
    """Every column an order write sets, except id, version, content_hash and timestamps."""
    return {
        "account_id": order.account_id,
        "channel_id": order.channel_id,
        "external_id": order.external_id,
        "number": order.number,
        "status": order.status.value,
        "status_rank": status_rank(order.status),
        "channel_status": order.channel_status.value,
        "payment_status": order.payment_status.value,
        "raw_status": order.raw_status,
        "customer_name": order.customer_name,
        "customer_email": order.customer_email,
        "currency": order.currency,
        "total": order.total,
        "shipping_address": _address_values(order.shipping_address) if order.shipping_address else None,
        "missing_fields": list(order.missing_fields),
        "attention_reason": order.attention_reason,
        "warning": order.warning,
        "channel_created_at": order.channel_created_at,
        "channel_updated_at": order.channel_updated_at,
        "invoice_number": order.invoice_number,
        "customs_contents": order.customs_contents,
        "package": asdict(order.package) if order.package else None,
        "merchant_edits": {path: asdict(edit) for path, edit in order.merchant_edits.items()} or None,
        "conflicts": [asdict(conflict) for conflict in order.conflicts] or None,
    }


_ADDRESS_FIELDS = tuple(item.name for item in fields(Address))


def _address_values(address: Address) -> dict[str, Any]:
    """`asdict` for the flat Address, without its deep copy (one per imported order)."""
    return {name: getattr(address, name) for name in _ADDRESS_FIELDS}


_LINE_CUSTOMS = ("hs_code", "customs_description", "customs_value", "origin_country")


def line_customs(line: OrderLine) -> dict[str, Any] | None:
    values = {name: getattr(line, name) for name in _LINE_CUSTOMS}
    return values if any(value is not None for value in values.values()) else None


def line_values(line: OrderLine, position: int) -> dict[str, Any]:
    return {
        "position": position,
        "channel_line_id": line.channel_line_id,
        "sku": line.sku,
        "title": line.title,
        "quantity": line.quantity,
        "quantity_shipped": line.quantity_shipped,
        "unit_price": line.unit_price,
        "grams": line.grams,
        "customs": line_customs(line),
    }


def line_row_values(row: models.OrderLine) -> dict[str, Any]:
    """The same shape as `line_values`, read from a stored row: equal dicts mean nothing to write."""
    return {
        "position": row.position,
        "channel_line_id": row.channel_line_id,
        "sku": row.sku,
        "title": row.title,
        "quantity": row.quantity,
        "quantity_shipped": row.quantity_shipped,
        "unit_price": row.unit_price,
        "grams": row.grams,
        "customs": row.customs or None,
    }


def order_line(row: models.OrderLine) -> OrderLine:
    return OrderLine(
        id=row.id,
        channel_line_id=row.channel_line_id,
        title=row.title,
        quantity=row.quantity,
        sku=row.sku,
        quantity_shipped=row.quantity_shipped,
        unit_price=row.unit_price,
        grams=row.grams,
        **{name: (row.customs or {}).get(name) for name in _LINE_CUSTOMS},
    )


def order(row: models.Order, lines: list[models.OrderLine]) -> Order:
    address = row.shipping_address
    return Order(
        id=row.id,
        account_id=row.account_id,  # type: ignore[attr-defined]
        channel_id=row.channel_id,  # type: ignore[attr-defined]
        external_id=row.external_id,
        number=row.number,
        status=OrderStatus(row.status),
        channel_status=ChannelOrderStatus(row.channel_status),
        payment_status=PaymentStatus(row.payment_status),
        lines=[order_line(line) for line in sorted(lines, key=lambda line: (line.position, line.id))],
        shipping_address=Address(**address) if isinstance(address, dict) else None,
        channel_updated_at=row.channel_updated_at,
        channel_created_at=row.channel_created_at,
        raw_status=row.raw_status,
        customer_name=row.customer_name,
        customer_email=row.customer_email,
        currency=row.currency,
        total=row.total,
        missing_fields=list(row.missing_fields or []),
        attention_reason=row.attention_reason,
        warning=row.warning,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        invoice_number=row.invoice_number,
        customs_contents=row.customs_contents,
        package=Package(**row.package) if isinstance(row.package, dict) else None,
        merchant_edits={path: MerchantEdit(**edit) for path, edit in (row.merchant_edits or {}).items()},
        conflicts=[OrderConflict(**conflict) for conflict in row.conflicts or []],
    )


# --- shipments ---------------------------------------------------------------------------


def shipment_values(shipment: Shipment) -> dict[str, Any]:
    return {
        "account_id": shipment.account_id,
        "order_id": shipment.order_id,
        "carrier": shipment.carrier,
        "service": shipment.service,
        "idempotency_key": shipment.idempotency_key,
        "status": shipment.status.value,
        "lines": [asdict(line) for line in shipment.lines],
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url,
        "tracking_status": shipment.tracking_status.value if shipment.tracking_status else None,
        "tracking_events": [
            {
                "status": event.status.value,
                "occurred_at": event.occurred_at.isoformat(),
                "description": event.description,
                "location": event.location,
            }
            for event in shipment.tracking_events
        ],
        "carrier_label_id": shipment.carrier_label_id,
        "cost": shipment.cost,
        "currency": shipment.currency,
        "refund_status": shipment.refund_status.value if shipment.refund_status else None,
        "channel_fulfillment_id": shipment.channel_fulfillment_id,
        "error": shipment.error,
        "location": shipment.location,
        "carrier_name": shipment.carrier_name,
    }


def shipment(row: models.Shipment) -> Shipment:
    return Shipment(
        id=row.id,
        account_id=row.account_id,  # type: ignore[attr-defined]
        order_id=row.order_id,  # type: ignore[attr-defined]
        carrier=row.carrier,
        service=row.service,
        idempotency_key=row.idempotency_key,
        lines=[ShipmentLine(**line) for line in row.lines or []],
        status=ShipmentStatus(row.status),
        tracking_number=row.tracking_number,
        tracking_url=row.tracking_url,
        tracking_status=TrackingStatus(row.tracking_status) if row.tracking_status else None,
        carrier_label_id=row.carrier_label_id,
        cost=row.cost,
        currency=row.currency,
        refund_status=RefundStatus(row.refund_status) if row.refund_status else None,
        channel_fulfillment_id=row.channel_fulfillment_id,
        error=row.error,
        tracking_events=[
            TrackingEvent(
                status=TrackingStatus(event["status"]),
                occurred_at=datetime.fromisoformat(event["occurred_at"]),
                description=event.get("description", ""),
                location=event.get("location"),
            )
            for event in row.tracking_events or []
        ],
        created_at=row.created_at,
        location=row.location,
        carrier_name=row.carrier_name,
    )


# --- channels and sync runs --------------------------------------------------------------


def channel_values(channel: Channel) -> dict[str, Any]:
    """Credentials are not here: they only change through the repository's own methods."""
    return {
        "account_id": channel.account_id,
        "kind": channel.kind.value,
        "name": channel.name,
        "state": channel.state.value,
        "sync_interval_seconds": channel.sync_interval_seconds,
        "sync_cursor": channel.sync_cursor,
        "last_synced_at": channel.last_synced_at,
        "last_error": channel.last_error,
        "settings": dict(channel.settings),
    }


def channel(row: models.Channel) -> Channel:
    return Channel(
        id=row.id,
        account_id=row.account_id,  # type: ignore[attr-defined]
        kind=ChannelKind(row.kind),
        name=row.name,
        state=ConnectionState(row.state),
        sync_interval_seconds=row.sync_interval_seconds,
        sync_cursor=row.sync_cursor,
        last_synced_at=row.last_synced_at,
        last_error=row.last_error,
        settings=dict(row.settings or {}),
        consecutive_failures=row.consecutive_failures,
        next_sync_at=row.next_sync_at,
        created_at=row.created_at,
    )


_SYNC_RUN_FIELDS = (
    "direction", "started_at", "finished_at", "pages", "fetched", "created", "updated",
    "unchanged", "failed", "error", "cursor_before", "cursor_after",
)  # fmt: skip


def sync_run_values(run: SyncRun) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(run, name) for name in _SYNC_RUN_FIELDS}
    values.update(
        account_id=run.account_id, channel_id=run.channel_id, trigger=run.trigger.value, status=run.status.value
    )
    return values


def sync_run(row: models.SyncRun) -> SyncRun:
    return SyncRun(
        id=row.id,
        account_id=row.account_id,  # type: ignore[attr-defined]
        channel_id=row.channel_id,  # type: ignore[attr-defined]
        trigger=SyncTrigger(row.trigger),
        status=SyncStatus(row.status),
        **{name: getattr(row, name) for name in _SYNC_RUN_FIELDS},
    )
