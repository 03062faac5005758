"""Connecting any channel kind to a running Waybill over GraphQL, from its fake's credentials."""

from __future__ import annotations

from typing import Any

from adapters.channels.base import FakeChannel
from adapters.channels.catalog import SPECS
from domain.model import ChannelKind

CONNECT = """
mutation($input: ConnectChannelInput!) { connectChannel(input: $input) {
  channel { id kind platform state } userErrors { field message code }
} }"""
RUNS = "query($id: ID!) { syncRuns(channelId: $id) { status error } }"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def connect_input(kind: ChannelKind, fake: FakeChannel, url: str) -> dict[str, Any]:
    """connectChannel's input for the fake served at `url`: the typed fields of the kind's spec."""
    spec = SPECS[kind]
    given = fake.credentials(url)
    fields = {camel(f.name): given[f.name] for f in spec.fields if given.get(f.name) is not None}
    return {"kind": kind.value, "name": f"My {spec.title}", "credentials": {camel(kind.value.lower()): fields}}
