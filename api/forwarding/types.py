"""GraphQL types of forwarding: a channel's forwarding settings, an order's push, managed products."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

import strawberry
from strawberry.dataloader import DataLoader

from adapters.persistence import forwarding as store
from api import ids
from api.loaders import Loaders
from domain import forwarding as rules

ForwardMode = strawberry.enum(
    rules.ForwardMode,
    description="Automatic forwarding: ALWAYS, MANAGED (every line a managed product, by SKU) or OFF.",
)
ForwardWhen = strawberry.enum(
    rules.ForwardWhen, description="Forward once the marketplace says PAID, or as soon as the buyer COMMITTED."
)
PushStatus = strawberry.enum(
    rules.PushStatus, description="Whether the order was forwarded to the store platform: NOT_SENT, SENT or ERROR."
)


@strawberry.type(description="How a marketplace channel forwards its orders into a store platform.")
class ChannelForwarding:
    mode: ForwardMode = strawberry.field(description="Automatic forwarding mode.")  # type: ignore[valid-type]
    when: ForwardWhen = strawberry.field(description="When an order becomes eligible.")  # type: ignore[valid-type]
    to_channel_id: strawberry.ID | None = strawberry.field(
        description="The store platform channel (Shopify, WooCommerce) that receives the orders."
    )

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> ChannelForwarding:
        parsed = rules.ForwardingSettings.from_settings(settings)
        target = parsed.to_channel_id
        return cls(
            mode=parsed.mode,
            when=parsed.when,
            to_channel_id=strawberry.ID(ids.encode("Channel", target)) if target is not None else None,
        )


@strawberry.type(description="The forwarding of one order into the store platform.")
class OrderPush:
    order_id: strawberry.ID = strawberry.field(description="The marketplace order.")
    status: PushStatus = strawberry.field(description="NOT_SENT, SENT or ERROR.")  # type: ignore[valid-type]
    error: str | None = strawberry.field(description="The store platform's words when it refused, or why not sent.")
    pushed_order_ref: str | None = strawberry.field(description="The store platform's id of the forwarded copy.")
    to_channel_id: strawberry.ID = strawberry.field(description="The store platform channel.")
    attempts: int = strawberry.field(description="Attempts so far.")
    flag: str | None = strawberry.field(
        description="Set when the marketplace cancelled the order after it was forwarded (cancel the copy too)."
    )

    @classmethod
    def from_push(cls, push: store.Push) -> OrderPush:
        return cls(
            order_id=strawberry.ID(ids.encode("Order", push.order_id)),
            status=push.status,
            error=push.error,
            pushed_order_ref=push.platform_order_id,
            to_channel_id=strawberry.ID(ids.encode("Channel", push.target_channel_id)),
            attempts=push.attempts,
            flag=push.flag,
        )


@strawberry.type(description="A product you manage in Waybill, matched to order lines by SKU.")
class Product:
    sku: str = strawberry.field(description="Stock keeping unit, as on the order lines.")
    title: str = strawberry.field(description="Your name for it.")


@strawberry.type(description="A product in a connection.")
class ProductEdge:
    cursor: str = strawberry.field(description="Opaque cursor.")
    node: Product = strawberry.field(description="The product.")


@strawberry.type(description="A page of managed products, by SKU.")
class ProductConnection:
    edges: list[ProductEdge] = strawberry.field(description="The products of this page.")
    has_next_page: bool = strawberry.field(description="More products after the last cursor.")


# One loader per request's Loaders (api/loaders.py stays untouched): an order page costs one query for its pushes.
_PUSH_LOADERS: WeakKeyDictionary[Loaders, DataLoader[int, store.Push | None]] = WeakKeyDictionary()


def push_loader(loaders: Loaders) -> DataLoader[int, store.Push | None]:
    loader = _PUSH_LOADERS.get(loaders)
    if loader is None:
        account_id = loaders.account_id

        async def load(order_ids: list[int]) -> list[store.Push | None]:
            found = await store.pushes_for(account_id or 0, order_ids)
            return [found.get(order_id) for order_id in order_ids]

        # No cache: a subscription keeps its context (and loaders) for the whole connection.
        loader = _PUSH_LOADERS[loaders] = DataLoader(load, cache=False)
    return loader


async def push_of(info: Any, order_id: int) -> store.Push | None:
    return await push_loader(info.context.loaders).load(order_id)
