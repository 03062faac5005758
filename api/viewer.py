"""`viewer` and `shipments`: who is calling, and labels across orders."""

from __future__ import annotations

import strawberry

from adapters.persistence import mapping, models
from api import ids
from api.context import Info
from api.limits.pages import page_size
from api.shipments.types import Shipment


@strawberry.type(description="The caller: account and key.")
class Viewer:
    account_id: strawberry.ID = strawberry.field(description="Your account.")
    account_name: str = strawberry.field(description="Your account's name.")
    scopes: list[str] = strawberry.field(description="What this API key may do.")


@strawberry.type
class ViewerQueries:
    @strawberry.field(description="Who is calling.")
    async def viewer(self, info: Info) -> Viewer:
        account = await models.Account.get(id=info.context.account_id)
        principal = info.context.principal
        return Viewer(
            account_id=strawberry.ID(ids.encode("Account", account.id)),
            account_name=account.name,
            scopes=list(principal.scopes) if principal else [],
        )

    @strawberry.field(description="Labels of your account, newest first; optionally of one order.")
    async def shipments(self, info: Info, order_id: strawberry.ID | None = None, first: int = 50) -> list[Shipment]:
        rows = models.Shipment.filter(account_id=info.context.account_id)
        if order_id is not None:
            rows = rows.filter(order_id=ids.decode("Order", order_id, "orderId"))
        found = await rows.order_by("-id").limit(page_size(first))
        return [Shipment.from_domain(mapping.shipment(row)) for row in found]
