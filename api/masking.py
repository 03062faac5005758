"""Bugs never reach clients as stack traces or internal messages: they get an id to quote.

Refusals a client can act on (DomainError, authentication) and GraphQL validation errors
pass through unchanged; anything else is logged with a fresh id and answered with only that id.
"""

from __future__ import annotations

import logging
import uuid

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from domain.errors import DomainError

log = logging.getLogger("waybill.api.bugs")


def _is_bug(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, DomainError | PermissionError | GraphQLError)


class MaskBugs(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_bug)

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
