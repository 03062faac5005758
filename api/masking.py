"""Bugs never reach clients as stack traces or internal messages: they get an id to quote.

Refusals a client can act on (DomainError, authentication) and GraphQL validation errors
pass through unchanged; anything else is logged with a fresh id and answered with only that id.
In production, graphql-core's "Did you mean ...?" suggestions are cut from every message (they
would spell out the schema with introspection off). The errors are copied, never changed in place:
the validation cache keeps the full ones, and development still gets them.
"""

from __future__ import annotations

import logging
import re
import uuid

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from domain.errors import DomainError

log = logging.getLogger("waybill.api.bugs")


#: graphql-core's did_you_mean(): " Did you mean 'a', 'b', or 'c'?" (names never hold a '?').
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def without_suggestions(error: GraphQLError) -> GraphQLError:
    message = _SUGGESTION.sub("", error.message)
    if message == error.message:
        return error
    return GraphQLError(
        message=message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )


def _is_bug(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, DomainError | PermissionError | GraphQLError)


class MaskBugs(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_bug)

    def _production(self) -> bool:
        runtime = getattr(self.execution_context.context, "runtime", None)
        return bool(getattr(getattr(runtime, "settings", None), "production", False))

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        return [without_suggestions(error) for error in processed] if self._production() else processed

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        error_id = uuid.uuid4().hex[:12]
        log.error("bug %s at %s", error_id, error.path, exc_info=error.original_error)
        return GraphQLError(
            message=f"Internal error (reference {error_id}); it has been logged.",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_ERROR", "errorId": error_id},
        )
