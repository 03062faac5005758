"""connectCarrier, carrierAccounts and rates: the merchant's carriers and what they would charge."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Optional

import strawberry

from adapters.carriers.catalog import SANDBOX, SPECS, CarrierKind
from adapters.persistence import models
from api import ids
from api.carriers.rate_ids import rate_id
from api.channels.credentials import input_type, validated
from api.context import Info
from api.errors import UserError, refusals
from api.jobs import wait_for_job
from api.shipments.mutations import LineQuantityInput, line_quantities
from domain.errors import DomainError, ErrorCode, NotFound

GraphQLCarrierKind = strawberry.enum(CarrierKind, name="CarrierKind", description="A carrier or aggregator API.")
RATES_WAIT_SECONDS = 25.0

_TYPES = {
    kind: input_type(f"{spec.title}CredentialsInput", f"Your {spec.title} account.", spec.fields)
    for kind, spec in SPECS.items()
}
_cls = type(
    "CarrierCredentialsInput",
    (),
    {
        "__annotations__": {kind.value.lower(): Optional[cls] for kind, cls in _TYPES.items()},  # noqa: UP045
        **{kind.value.lower(): strawberry.field(description=f"{SPECS[kind].title} credentials.") for kind in _TYPES},
    },
)
CarrierCredentialsInput = strawberry.input(_cls, one_of=True, description="Set exactly one carrier's credentials.")


@strawberry.type(description="A carrier account the merchant buys labels with.")
class CarrierAccount:
    id: strawberry.ID = strawberry.field(description="Global id.")
    kind: GraphQLCarrierKind = strawberry.field(description="Which API it speaks.")  # type: ignore[valid-type]
    name: str = strawberry.field(description="Your name for it: pass it as buyLabel's `carrier`.")
    enabled: bool = strawberry.field(description="Offered in rates and buyLabel.")
    created_at: datetime = strawberry.field(description="When it was added.")

    @strawberry.field(description="Where the carrier should send tracking webhooks (signed with your webhookSecret).")
    def webhook_url(self, info: strawberry.Info) -> str:
        context = info.context
        base = context.runtime.settings.public_url or (str(context.request.base_url) if context.request else "")
        return f"{base.rstrip('/')}/webhooks/carriers/{ids.decode('CarrierAccount', self.id, 'id')}"

    @classmethod
    def from_row(cls, row: models.CarrierAccount) -> CarrierAccount:
        return cls(
            id=strawberry.ID(ids.encode("CarrierAccount", row.id)),
            kind=CarrierKind(row.carrier),
            name=row.name,
            enabled=row.enabled,
            created_at=row.created_at,
        )


@strawberry.input(description="Add a carrier account (EasyPost- or Shippo-compatible).")
class ConnectCarrierInput:
    kind: GraphQLCarrierKind = strawberry.field(description="Which API.")  # type: ignore[valid-type]
    name: str = strawberry.field(description="Your name for it, unique in your account (e.g. 'easypost-main').")
    credentials: CarrierCredentialsInput = strawberry.field(  # type: ignore[valid-type]
        description="Set the field named after `kind`."
    )


@strawberry.type(description="Result of connectCarrier.")
class ConnectCarrierPayload:
    carrier_account: CarrierAccount | None = strawberry.field(description="The new account.")
    user_errors: list[UserError] = strawberry.field(description="What is wrong with the input.")


@strawberry.input(description="Describe the parcel instead of letting Waybill weigh the order's lines.")
class PackageInput:
    weight_grams: int = strawberry.field(description="Gross weight in grams.")
    length_cm: float = strawberry.field(default=30.0, description="Length in cm.")
    width_cm: float = strawberry.field(default=20.0, description="Width in cm.")
    height_cm: float = strawberry.field(default=10.0, description="Height in cm.")


@strawberry.type(description="What one carrier service would charge.")
class Rate:
    id: strawberry.ID = strawberry.field(description="Pass as buyLabel's rateId to buy exactly this.")
    carrier: str = strawberry.field(description="The carrier account's name ('sandbox' for the built-in one).")
    service: str = strawberry.field(description="The carrier's service code.")
    service_name: str = strawberry.field(description="The service as the carrier names it.")
    amount: str = strawberry.field(description="Price, as a decimal string.")
    currency: str = strawberry.field(description="ISO 4217 currency.")
    delivery_days: int | None = strawberry.field(description="Transit days the carrier quotes.")
    cheapest: bool = strawberry.field(description="The lowest price of all.")
    fastest: bool = strawberry.field(description="The fewest transit days (the cheaper of equals).")


@strawberry.type(description="A carrier that could not quote, and why.")
class RateError:
    carrier: str = strawberry.field(description="The carrier account's name.")
    message: str = strawberry.field(description="The carrier's answer, in plain words.")


@strawberry.type(description="Rates across all your carriers, cheapest first.")
class Rates:
    rates: list[Rate] = strawberry.field(description="Sorted by price, then transit days.")
    errors: list[RateError] = strawberry.field(description="Carriers that could not quote; the others still did.")
    user_errors: list[UserError] = strawberry.field(description="Why no rates could be asked for at all.")


async def connect_carrier(info: Info, input: ConnectCarrierInput) -> ConnectCarrierPayload:
    context = info.context

    async def run() -> CarrierAccount:
        context.require("manage_channels")
        name = input.name.strip()
        if not name or len(name) > 100 or name == SANDBOX:
            raise DomainError(ErrorCode.INVALID, "name must be 1 to 100 characters and not 'sandbox'", ["name"])
        kind = CarrierKind(input.kind.value)
        key = kind.value.lower()
        chosen = getattr(input.credentials, key, None)
        if chosen is None:
            raise DomainError(ErrorCode.INVALID, f"credentials.{key} is required for {kind.value}", ["credentials"])
        spec = SPECS[kind]
        values = {item.name: getattr(chosen, item.name, None) for item in spec.fields}
        credentials = validated(spec.fields, values, ["credentials", key])
        if await models.CarrierAccount.exists(account_id=context.account_id, name=name):
            raise DomainError(ErrorCode.CONFLICT, f"You already have a carrier named '{name}'", ["name"])
        row = await models.CarrierAccount.create(
            account_id=context.account_id,
            carrier=kind.value,
            name=name,
            credentials=context.runtime.secrets.encrypt(credentials),
        )
        return CarrierAccount.from_row(row)

    account, errors = await refusals(run)
    return ConnectCarrierPayload(carrier_account=account, user_errors=errors)


def _rates_from(found: list[dict[str, Any]]) -> list[Rate]:
    ordered = sorted(found, key=lambda r: (float(r["amount"]), r.get("delivery_days") or 99))
    if not ordered:
        return []
    cheapest = ordered[0]
    fastest = min(ordered, key=lambda r: (r.get("delivery_days") or 99, float(r["amount"])))
    return [
        Rate(
            id=strawberry.ID(rate_id(r["carrier"], r["service"])),
            carrier=r["carrier"],
            service=r["service"],
            service_name=r["service_name"],
            amount=r["amount"],
            currency=r["currency"],
            delivery_days=r.get("delivery_days"),
            cheapest=r is cheapest,
            fastest=r is fastest,
        )
        for r in ordered
    ]


@strawberry.type
class CarrierQueries:
    @strawberry.field(description="Your carrier accounts (credentials are never returned).")
    async def carrier_accounts(self, info: Info) -> list[CarrierAccount]:
        rows = await models.CarrierAccount.filter(account_id=info.context.account_id).order_by("name")
        return [CarrierAccount.from_row(row) for row in rows]

    @strawberry.field(description="What every configured carrier would charge to ship an order (or some of its lines).")
    async def rates(
        self,
        info: Info,
        order_id: strawberry.ID,
        lines: list[LineQuantityInput] | None = None,
        package: PackageInput | None = None,
    ) -> Rates:
        context = info.context

        async def run() -> dict[str, Any]:
            pk = ids.decode("Order", order_id, "orderId")
            if not await models.Order.exists(id=pk, account_id=context.account_id):
                raise NotFound("Order", ["orderId"])
            wanted = line_quantities(lines)
            shipment_lines = [{"order_line_id": k, "quantity": v} for k, v in wanted.items()] if wanted else None
            parcel = None
            if package is not None:
                if not 1 <= package.weight_grams <= 150_000:
                    raise DomainError(ErrorCode.INVALID, "weightGrams must be 1 to 150000", ["package", "weightGrams"])
                parcel = {
                    "weight_grams": str(package.weight_grams),
                    "length_cm": str(package.length_cm),
                    "width_cm": str(package.width_cm),
                    "height_cm": str(package.height_cm),
                }
            job_id = f"rates:{uuid.uuid4().hex}"
            await context.runtime.enqueue("quote_rates", context.account_id, pk, shipment_lines, parcel, job_id=job_id)
            outcome = await wait_for_job(context.runtime, job_id, RATES_WAIT_SECONDS)
            if not isinstance(outcome, dict):
                raise DomainError(ErrorCode.CARRIER_UNAVAILABLE, "The carriers did not answer in time; try again")
            return outcome

        outcome, errors = await refusals(run)
        if outcome is None:
            return Rates(rates=[], errors=[], user_errors=errors)
        return Rates(
            rates=_rates_from(outcome["rates"]),
            errors=[RateError(carrier=e["carrier"], message=e["message"]) for e in outcome["errors"]],
            user_errors=[],
        )
