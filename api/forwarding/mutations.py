"""pushOrder, updateForwarding, upsertProducts, deleteProducts."""

from __future__ import annotations

import strawberry

from adapters.persistence import forwarding as store
from adapters.persistence import mapping, models
from api import ids
from api.channels.types import Channel
from api.context import Info
from api.errors import UserError, refusals, user_error
from api.forwarding.types import ForwardMode, ForwardWhen, OrderPush, Product
from domain import forwarding as rules
from domain.errors import DomainError, ErrorCode, NotFound
from domain.model import ChannelKind
from jobs import forwarding as jobs

PUSH_SCOPE = "write_shipments"
SETTINGS_SCOPE = "manage_channels"
MAX_ORDERS = 100
MAX_PRODUCTS = 250


@strawberry.input(description="Orders to forward to their channel's store platform now, whatever its mode.")
class PushOrderInput:
    order_ids: list[strawberry.ID] = strawberry.field(description="Marketplace orders (at most 100).")


@strawberry.type(description="Result of pushOrder: one push per accepted order; refused orders in userErrors.")
class PushOrderPayload:
    pushes: list[OrderPush] = strawberry.field(description="The accepted orders' pushes (NOT_SENT until the job ran).")
    user_errors: list[UserError] = strawberry.field(description="Orders that cannot be forwarded, and why.")


@strawberry.input(description="A marketplace channel's forwarding; fields left out stay as they are.")
class UpdateForwardingInput:
    channel_id: strawberry.ID = strawberry.field(description="The marketplace channel (Amazon, eBay, Etsy).")
    mode: ForwardMode | None = strawberry.field(default=None, description="ALWAYS, MANAGED or OFF.")  # type: ignore[valid-type]
    when: ForwardWhen | None = strawberry.field(default=None, description="PAID or COMMITTED.")  # type: ignore[valid-type]
    to_channel_id: strawberry.ID | None = strawberry.field(
        default=None, description="The store platform channel of this account that receives the orders."
    )


@strawberry.type(description="Result of updateForwarding.")
class UpdateForwardingPayload:
    channel: Channel | None = strawberry.field(description="The channel with its forwarding now.")
    user_errors: list[UserError] = strawberry.field(description="What is wrong with the input.")


@strawberry.input(description="A product you manage, by SKU.")
class ProductInput:
    sku: str = strawberry.field(description="Stock keeping unit (1-100 characters).")
    title: str = strawberry.field(default="", description="Your name for it.")


@strawberry.input(description="Add or rename managed products (all or nothing).")
class UpsertProductsInput:
    products: list[ProductInput] = strawberry.field(description="At most 250 products.")


@strawberry.type(description="Result of upsertProducts.")
class UpsertProductsPayload:
    products: list[Product] = strawberry.field(description="The products as saved.")
    user_errors: list[UserError] = strawberry.field(description="What is wrong with the input.")


@strawberry.input(description="Stop managing products, by SKU.")
class DeleteProductsInput:
    skus: list[str] = strawberry.field(description="SKUs to remove (unknown ones are ignored).")


@strawberry.type(description="Result of deleteProducts.")
class DeleteProductsPayload:
    deleted_count: int = strawberry.field(description="How many products were removed.")
    user_errors: list[UserError] = strawberry.field(description="What is wrong with the input.")


async def push_order(info: Info, input: PushOrderInput) -> PushOrderPayload:
    context = info.context
    try:
        context.require(PUSH_SCOPE)
        if not input.order_ids or len(input.order_ids) > MAX_ORDERS:
            raise DomainError(ErrorCode.INVALID, f"Give between 1 and {MAX_ORDERS} order ids", ["orderIds"])
        wanted = [ids.decode("Order", value, f"orderIds.{n}") for n, value in enumerate(input.order_ids)]
    except DomainError as exc:
        return PushOrderPayload(pushes=[], user_errors=[user_error(exc)])
    account_id = context.account_id
    orders = {order.id: order for order in await store.orders(account_id, wanted)}
    channels = {
        row.id: row
        for row in await models.Channel.filter(account_id=account_id, id__in={o.channel_id for o in orders.values()})
    }
    pushes: list[OrderPush] = []
    errors: list[UserError] = []
    for n, order_id in enumerate(dict.fromkeys(wanted)):
        field = ["orderIds", str(wanted.index(order_id))]
        try:
            order = orders.get(order_id)
            if order is None:
                raise NotFound("Order", field)
            channel = channels[order.channel_id]
            settings = rules.ForwardingSettings.from_settings(channel.settings)
            target_id = rules.check_manual(order, ChannelKind(channel.kind), settings, field)
            if await jobs.forward_target(account_id, target_id) is None:
                raise DomainError(
                    ErrorCode.INVALID, "The channel's forwarding.toChannelId is no longer a store platform", field
                )
            push = await jobs.request_push(context.runtime, account_id, order_id, target_id, "MANUAL")
            pushes.append(OrderPush.from_push(push))
        except DomainError as exc:
            errors.append(user_error(exc))
        del n
    return PushOrderPayload(pushes=pushes, user_errors=errors)


async def update_forwarding(info: Info, input: UpdateForwardingInput) -> UpdateForwardingPayload:
    context = info.context

    async def run() -> Channel:
        context.require(SETTINGS_SCOPE)
        channel_id = ids.decode("Channel", input.channel_id, "channelId")
        row = await models.Channel.get_or_none(id=channel_id, account_id=context.account_id)
        if row is None:
            raise NotFound("Channel", ["channelId"])
        current = rules.ForwardingSettings.from_settings(row.settings)
        target = current.to_channel_id
        if input.to_channel_id is not None:
            target = ids.decode("Channel", input.to_channel_id, "toChannelId")
        wanted = rules.ForwardingSettings(
            mode=rules.ForwardMode(input.mode.value) if input.mode is not None else current.mode,
            when=rules.ForwardWhen(input.when.value) if input.when is not None else current.when,
            to_channel_id=target,
        )
        if wanted.mode is not rules.ForwardMode.OFF and wanted.to_channel_id is None:
            raise DomainError(ErrorCode.INVALID, "Say which store receives the orders (toChannelId)", ["toChannelId"])
        if wanted.to_channel_id is not None:
            accepts = await jobs.forward_target(context.account_id, wanted.to_channel_id) is not None
            try:
                rules.check_target(row.id, ChannelKind(row.kind), wanted.to_channel_id, accepts)
            except DomainError as exc:
                exc.field = ["toChannelId"] if exc.field == ["forwarding", "toChannelId"] else ["channelId"]
                raise
        settings = {**(row.settings or {}), "forwarding": wanted.as_settings()}
        await models.Channel.filter(id=row.id).update(settings=settings)
        row.settings = settings
        return Channel.from_domain(mapping.channel(row))

    channel, errors = await refusals(run)
    return UpdateForwardingPayload(channel=channel, user_errors=errors)


def _sku(value: str, field: list[str]) -> str:
    sku = value.strip()
    if not sku or len(sku) > 100:
        raise DomainError(ErrorCode.INVALID, "A SKU must have 1 to 100 characters", field)
    return sku


async def upsert_products(info: Info, input: UpsertProductsInput) -> UpsertProductsPayload:
    context = info.context

    async def run() -> list[Product]:
        context.require(SETTINGS_SCOPE)
        if not input.products or len(input.products) > MAX_PRODUCTS:
            raise DomainError(ErrorCode.INVALID, f"Give between 1 and {MAX_PRODUCTS} products", ["products"])
        items: dict[str, store.Product] = {}
        for n, item in enumerate(input.products):
            sku = _sku(item.sku, ["products", str(n), "sku"])
            if len(item.title) > 300:
                raise DomainError(
                    ErrorCode.INVALID, "A title has at most 300 characters", ["products", str(n), "title"]
                )
            items[sku] = store.Product(sku, item.title.strip())
        saved = await store.upsert_products(context.account_id, list(items.values()))
        return [Product(sku=p.sku, title=p.title) for p in saved]

    products, errors = await refusals(run)
    return UpsertProductsPayload(products=products or [], user_errors=errors)


async def delete_products(info: Info, input: DeleteProductsInput) -> DeleteProductsPayload:
    context = info.context

    async def run() -> int:
        context.require(SETTINGS_SCOPE)
        if not input.skus or len(input.skus) > MAX_PRODUCTS:
            raise DomainError(ErrorCode.INVALID, f"Give between 1 and {MAX_PRODUCTS} SKUs", ["skus"])
        skus = [_sku(value, ["skus", str(n)]) for n, value in enumerate(input.skus)]
        return await store.delete_products(context.account_id, skus)

    deleted, errors = await refusals(run)
    return DeleteProductsPayload(deleted_count=deleted or 0, user_errors=errors)


@strawberry.type
class ForwardingMutations:
    push_order: PushOrderPayload = strawberry.mutation(
        resolver=push_order,
        description="Forward orders to their store platform now (whatever the mode); retries an ERROR one.",
    )
    update_forwarding: UpdateForwardingPayload = strawberry.mutation(
        resolver=update_forwarding,
        description="Set a marketplace channel's forwarding: mode, when, and the store that receives the orders.",
    )
    upsert_products: UpsertProductsPayload = strawberry.mutation(
        resolver=upsert_products, description="Add or rename the products you manage (the MANAGED forwarding mode)."
    )
    delete_products: DeleteProductsPayload = strawberry.mutation(
        resolver=delete_products, description="Stop managing products, by SKU."
    )
