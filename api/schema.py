"""The GraphQL schema. Validation rules are built once here, so the validation cache keeps working."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ParserCache, ValidationCache
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule
from strawberry.schema.config import StrawberryConfig

from api.audit.queries import AuditQueries
from api.audit.recorder import AuditMutations, install_audit
from api.auth.permissions import ScopeGate
from api.carriers.resolvers import CarrierQueries, ConnectCarrierPayload, connect_carrier
from api.channels.resolvers import (
    ChannelQueries,
    ConnectChannelPayload,
    ReconnectChannelPayload,
    SyncChannelPayload,
    TestChannelConnectionPayload,
    UpdateChannelPayload,
    connect_channel,
    reconnect_channel,
    sync_channel,
    test_channel_connection,
    update_channel,
)
from api.forwarding.mutations import ForwardingMutations
from api.forwarding.queries import ForwardingQueries
from api.imports.mutations import ImportOrdersCsvPayload, import_orders_csv
from api.keys.mutations import KeyMutations
from api.keys.queries import KeyQueries
from api.limits.batch import BATCHING_CONFIG
from api.limits.extension import QueryLimits
from api.masking import MaskBugs
from api.notifications.mutations import NotificationMutations
from api.notifications.queries import NotificationQueries
from api.observability import OperationMetrics
from api.orders.mutations import OrderMutations
from api.orders.queries import OrderQueries
from api.shipments.batch import BatchQueries, BuyLabelsPayload, buy_labels
from api.shipments.mutations import (
    BuyLabelPayload,
    CancelLabelPayload,
    ReprintLabelPayload,
    SkipShippingPayload,
    buy_label,
    cancel_label,
    reprint_label,
    skip_shipping,
)
from api.subscriptions import Subscription
from api.viewer import ViewerQueries

MAX_DEPTH = 10
MAX_ALIASES = 30
MAX_TOKENS = 2000

# strawberry issue 4635: the limiter extensions rebuild their rules per request, which
# defeats the validation cache; rules made once and added with AddValidationRules do not.
VALIDATION_RULES = [max_depth_rule(MAX_DEPTH, None, None), max_aliases_rule(MAX_ALIASES)]


@strawberry.type(description="Read your orders, labels, channels and sync runs.")
class Query(
    OrderQueries,
    ChannelQueries,
    CarrierQueries,
    BatchQueries,
    ViewerQueries,
    NotificationQueries,
    KeyQueries,
    AuditQueries,
    ForwardingQueries,
):
    pass


@strawberry.type(description="Change things. Refusals come back in each payload's userErrors.")
class Mutation(NotificationMutations, OrderMutations, KeyMutations, ForwardingMutations):
    buy_label: BuyLabelPayload = strawberry.mutation(resolver=buy_label, description="Buy a label (idempotent).")
    skip_shipping: SkipShippingPayload = strawberry.mutation(
        resolver=skip_shipping, description="Hand delivery: the order is delivered and the channel fulfilled."
    )
    buy_labels: BuyLabelsPayload = strawberry.mutation(
        resolver=buy_labels,
        description="Buy labels for many orders at once (idempotent); one merged PDF; per-order failures reported.",
    )
    reprint_label: ReprintLabelPayload = strawberry.mutation(
        resolver=reprint_label, description="The stored label again (PDF or ZPL): never a second purchase."
    )
    cancel_label: CancelLabelPayload = strawberry.mutation(
        resolver=cancel_label, description="Void a label; the order goes back to READY_TO_SHIP."
    )
    connect_carrier: ConnectCarrierPayload = strawberry.mutation(
        resolver=connect_carrier, description="Add an EasyPost- or Shippo-compatible carrier account."
    )
    connect_channel: ConnectChannelPayload = strawberry.mutation(
        resolver=connect_channel, description="Check a store's credentials, connect it and start its first sync."
    )
    sync_channel: SyncChannelPayload = strawberry.mutation(resolver=sync_channel, description="Sync a channel now.")
    import_orders_csv: ImportOrdersCsvPayload = strawberry.mutation(
        resolver=import_orders_csv,
        description="Import a CSV file of orders (multipart request); bad rows are reported, good ones imported.",
    )
    reconnect_channel: ReconnectChannelPayload = strawberry.mutation(
        resolver=reconnect_channel,
        description="After NEEDS_REAUTH: check (new) credentials, mark the channel CONNECTED and resume syncing.",
    )
    update_channel: UpdateChannelPayload = strawberry.mutation(
        resolver=update_channel,
        description="Rename a channel, change its sync interval, or its location and carrier mappings.",
    )
    test_channel_connection: TestChannelConnectionPayload = strawberry.mutation(
        resolver=test_channel_connection,
        description="Call the platform once with the stored credentials and say whether it accepts them.",
    )


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    # Factories: strawberry builds fresh extensions per request; the caches live at module level.
    extensions=[
        lambda: MaxTokensLimiter(MAX_TOKENS),
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        lambda: AddValidationRules(VALIDATION_RULES),
        ScopeGate,  # reads need read_orders (or their own scope): api/auth/permissions.py
        AuditMutations,  # one audit entry per mutation field: api/audit/recorder.py
        QueryLimits,  # introspection switch, query cost, per-key bucket (api/limits)
        MaskBugs,
        OperationMetrics,  # Prometheus: operations by type and name, errors (api/observability.py)
    ],
    config=StrawberryConfig(batching_config=BATCHING_CONFIG),
)

install_audit(schema._schema)

__all__ = ["GraphQLError", "schema"]
