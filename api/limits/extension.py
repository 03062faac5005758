"""QueryLimits: introspection switch, maximum query cost and the per-key cost bucket, as one extension.

It works on the document strawberry has already parsed and validated (through the parser and
validation caches, untouched): the cost is computed in `on_execute`, and a refused operation gets
its error as the execution result, so it never runs. Every executed response carries Shopify's
`extensions.cost`.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import ExecutionResult, GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from redis.exceptions import RedisError
from strawberry.extensions import SchemaExtension

from api.limits.bucket import CostBucket, ThrottleStatus
from api.limits.cost import actual_cost, is_subscription, requested_cost

log = logging.getLogger(__name__)

#: A single operation costing more than this is refused before it runs, whatever the bucket holds.
MAX_QUERY_COST = 1000
NO_INTROSPECTION = (NoSchemaIntrospectionCustomRule,)

_BUCKETS: weakref.WeakKeyDictionary[Any, CostBucket] = weakref.WeakKeyDictionary()


def bucket_for(runtime: Any) -> CostBucket:
    """One bucket (one registered script) per runtime; its Redis client lives as long as the runtime."""
    bucket = _BUCKETS.get(runtime)
    if bucket is None:
        settings = runtime.settings
        bucket = CostBucket(
            runtime.redis, runtime.key("cost:"), settings.cost_bucket_capacity, settings.cost_restore_rate
        )
        _BUCKETS[runtime] = bucket
    return bucket


def limit_error(message: str, code: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


class QueryLimits(SchemaExtension):
    def __init__(self) -> None:
        self.requested: int | None = None
        self.actual: int | None = None
        self.status: ThrottleStatus | None = None

    def _runtime(self) -> Any:
        return getattr(self.execution_context.context, "runtime", None)

    def on_operation(self) -> Iterator[None]:
        runtime = self._runtime()
        if runtime is not None and not runtime.settings.introspection_enabled:
            # A tuple of the same rule classes each time: the validation cache still hits.
            self.execution_context.validation_rules = self.execution_context.validation_rules + NO_INTROSPECTION
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is None or is_subscription(document, context.operation_name):
            yield
            return
        schema = context.schema._schema
        self.requested = requested_cost(schema, document, context.operation_name, context.variables)
        if self.requested is not None and self.requested > MAX_QUERY_COST:
            context.result = ExecutionResult(
                data=None,
                errors=[
                    limit_error(
                        f"This query would cost {self.requested} points; a single query may cost at most "
                        f"{MAX_QUERY_COST}. Ask for smaller pages (first) or fewer fields.",
                        "MAX_COST_EXCEEDED",
                        cost=self.requested,
                        maximumCost=MAX_QUERY_COST,
                    )
                ],
            )
            yield
            return
        refused = await self._charge()
        if refused is not None:
            context.result = refused
            yield
            return
        yield
        result = context.result
        data = getattr(result, "data", None)
        self.actual = actual_cost(schema, document, context.operation_name, context.variables, data)
        await self._settle()

    async def _charge(self) -> ExecutionResult | None:
        runtime, principal = self._runtime(), getattr(self.execution_context.context, "principal", None)
        if runtime is None or principal is None or self.requested is None:
            return None
        try:
            self.status = await bucket_for(runtime).charge(principal.actor, self.requested)
        except (RedisError, OSError) as exc:  # throttling is protection, not a reason to refuse all traffic
            log.warning("query cost bucket unavailable (%s); request let through", exc)
            return None
        if self.status.granted:
            return None
        wait = self.status.retry_after(self.requested)
        response = getattr(self.execution_context.context, "response", None)
        if response is not None and hasattr(response, "headers"):
            response.headers["Retry-After"] = str(max(1, round(wait + 0.49)))
        return ExecutionResult(
            data=None,
            errors=[
                limit_error(
                    f"Throttled: this query costs {self.requested} points and {self.status.currently_available:.0f} "
                    f"are available; {self.status.restore_rate:g} come back each second. Retry in {wait:g} s.",
                    "THROTTLED",
                    retryAfterSeconds=wait,
                )
            ],
        )

    async def _settle(self) -> None:
        """Refund what was requested and not used; charge (always) what was used beyond the request."""
        if self.status is None or not self.status.granted or self.requested is None or self.actual is None:
            return
        difference = self.actual - self.requested
        if difference == 0:
            return
        principal = self.execution_context.context.principal
        try:
            self.status = await bucket_for(self._runtime()).charge(principal.actor, difference, force=difference > 0)
        except (RedisError, OSError) as exc:
            log.warning("query cost settlement lost (%s)", exc)

    def get_results(self) -> dict[str, Any]:
        if self.requested is None:
            return {}
        cost: dict[str, Any] = {"requestedQueryCost": self.requested, "actualQueryCost": self.actual}
        if self.status is not None:
            cost["throttleStatus"] = self.status.as_extension()
        return {"cost": cost}
