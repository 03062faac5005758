"""FakeShopify with order listing that stays cheap at 100,000 orders: the bench's store, not Waybill's cost.

The test fake filters, parses and sorts every order on every page and deep-copies what it serves: at
100,000 orders that is ~0.6 s a page in the store process, 400 pages an import, and the client would be
measured waiting for it. The store is never changed while the import benchmark reads it, so the sorted
rows and their keys are computed once per filter set (and again only if the number of orders changed);
a page is found by bisection; the answer is the same JSON (same orders, order, Link header cursors).
"""

from __future__ import annotations

import bisect
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from adapters.channels.shopify.fake import (
    PAGE_INFO_COMPANIONS,
    ApiError,
    FakeShopify,
    _decode_cursor,
    _encode_cursor,
    _limit,
    _project,
)
from adapters.channels.shopify.fake_store import Json


class FastListingShop(FakeShopify):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing: dict[tuple[tuple[str, str], ...], tuple[int, list[Json], list[tuple[float, int]]]] = {}

    def _sorted(self, filters: dict[str, str]) -> tuple[list[Json], list[tuple[float, int]]]:
        key = tuple(sorted(filters.items()))
        hit = self._listing.get(key)
        if hit is None or hit[0] != len(self._orders):
            rows = self.query(filters)
            hit = (len(self._orders), rows, [self.sort_key(row, filters) for row in rows])
            self._listing[key] = hit
        return hit[1], hit[2]

    async def _list_orders(self, request: Request) -> tuple[Any, int]:
        query = dict(request.query_params)
        limit = _limit(query.get("limit"))
        if "page_info" in query:
            extra = sorted(set(query) - PAGE_INFO_COMPANIONS)
            if extra:
                raise ApiError(400, {"page_info": [f"{extra[0]} cannot be passed when page_info is present"]})
            cursor = _decode_cursor(query["page_info"])
            filters, direction = cursor["filters"], cursor["direction"]
            anchor: tuple[float, int] | None = (float(cursor["anchor"][0]), int(cursor["anchor"][1]))
        else:
            filters = {k: v for k, v in query.items() if k not in PAGE_INFO_COMPANIONS}
            anchor, direction = None, "next"
        rows, keys = self._sorted(filters)
        if anchor is None:
            start, end = 0, limit
        elif direction == "next":
            start = bisect.bisect_right(keys, anchor)
            end = start + limit
        else:
            end = bisect.bisect_left(keys, anchor)
            start = max(0, end - limit)
        page = rows[start:end]
        fields = query.get("fields")
        base = {"limit": str(limit), **({"fields": fields} if fields else {})}
        links = []
        if page and start > 0:
            before = _encode_cursor(filters, keys[start], "previous")
            links.append(f'<{request.url.replace(query=urlencode({**base, "page_info": before}))}>; rel="previous"')
        if page and end < len(rows):
            after = _encode_cursor(filters, keys[end - 1], "next")
            links.append(f'<{request.url.replace(query=urlencode({**base, "page_info": after}))}>; rel="next"')
        request.state.link = ", ".join(links)
        # Serialised at once and never changed meanwhile: no deep copy needed.
        return {"orders": [_project(row, fields) if fields else row for row in page]}, 200
