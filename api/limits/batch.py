"""Batched requests (a JSON array of operations): at most MAX_BATCH_OPERATIONS, each charged its own cost."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException

MAX_BATCH_OPERATIONS = 10
BATCHING_CONFIG: Any = {"max_operations": MAX_BATCH_OPERATIONS}


class BatchLimit:
    """Mixed into the GraphQL view: strawberry's own refusal ("Too many operations") names no limit."""

    def _validate_batch_request(self, request_data: list[Any], protocol: Any) -> None:
        if len(request_data) > MAX_BATCH_OPERATIONS:
            raise HTTPException(
                400, f"A batch may hold at most {MAX_BATCH_OPERATIONS} operations; this one has {len(request_data)}"
            )
        super()._validate_batch_request(request_data, protocol=protocol)  # type: ignore[misc]
