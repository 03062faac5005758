"""CSV upload: merchants without an API upload a file of order lines; `parser` reads it, `client` is a no-op port."""

from __future__ import annotations

import httpx

from adapters.channels.base import ChannelSpec, Credentials, CredentialStore
from adapters.channels.csv_upload.client import CsvUploadClient
from adapters.channels.csv_upload.parser import CsvResult, RowError, parse_csv, parse_document
from domain.model import ChannelKind


def build_client(
    credentials: Credentials, *, http: httpx.AsyncClient, store: CredentialStore, page_size: int | None = None
) -> CsvUploadClient:
    """Nothing to connect to: every argument is accepted for the ClientFactory shape and ignored."""
    return CsvUploadClient()


SPEC = ChannelSpec(
    kind=ChannelKind.CSV,
    title="CSV upload",
    fields=(),
    capabilities=frozenset(),
    build_client=build_client,
    parse_document=parse_document,
    limitations=(
        "Orders arrive only when you upload a CSV file; Waybill never fetches them by itself.",
        "Shipments and tracking numbers stay in Waybill: nothing is sent back to where the orders came from "
        "(they can be exported later).",
        "To correct an order, fix its rows and upload the file again: orders are matched by order_number.",
    ),
)

__all__ = ["SPEC", "CsvResult", "CsvUploadClient", "RowError", "build_client", "parse_csv", "parse_document"]
