"""Per-platform credential inputs, generated from each adapter's ChannelSpec, and their validation.

`ConnectChannelInput.credentials` is a @oneOf input: exactly one of `shopify`, `woocommerce`, `amazon`, …
each with that platform's own typed fields, so a partner's client knows at build time what to send.
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import urlparse

import strawberry

from adapters.channels.base import ChannelSpec, CredentialField
from adapters.channels.catalog import SPECS
from domain.errors import DomainError, ErrorCode
from domain.model import ChannelKind

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_VALUE_LENGTH = 4096


def _field_name(kind: ChannelKind) -> str:
    return kind.value.lower()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def input_type(type_name: str, description: str, fields: tuple[CredentialField, ...]) -> type:
    """A strawberry input class with one String field per CredentialField (required ones first)."""
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {}
    for item in sorted(fields, key=lambda f: not f.required):
        annotations[item.name] = str if item.required else Optional[str]  # noqa: UP045 - evaluated at runtime
        suffix = " Stored encrypted; never returned." if item.secret else ""
        namespace[item.name] = strawberry.field(
            description=item.description + suffix, **({} if item.required else {"default": None})
        )
    cls = type(type_name, (), {"__annotations__": annotations, **namespace})
    return strawberry.input(cls, description=description)


def _input_type(spec: ChannelSpec) -> type:
    name = "".join(part.title() for part in spec.kind.value.split("_")) + "CredentialsInput"
    return input_type(name, f"What Waybill needs to connect a {spec.title} store.", spec.fields)


_TYPES = {kind: _input_type(spec) for kind, spec in SPECS.items() if spec.fields}


def _one_of_type() -> type:
    annotations = {_field_name(kind): Optional[cls] for kind, cls in _TYPES.items()}  # noqa: UP045
    namespace = {
        _field_name(kind): strawberry.field(description=f"{SPECS[kind].title} credentials.") for kind in _TYPES
    }
    cls = type("ChannelCredentialsInput", (), {"__annotations__": annotations, **namespace})
    return strawberry.input(cls, one_of=True, description="The credentials of one platform: set exactly one field.")


ChannelCredentialsInput = _one_of_type()


def credentials_from_input(
    kind: ChannelKind, given: Any, legacy: dict[str, str | None] | None = None
) -> dict[str, Any]:
    """Validated plain credentials for `kind` (the spec's defaults merged in), or a DomainError naming the field."""
    spec = SPECS[kind]
    key = _field_name(kind)
    chosen = getattr(given, key, None) if given is not None else None
    others = [name for name in map(_field_name, _TYPES) if name != key and getattr(given, name, None) is not None]
    if others:
        raise DomainError(
            ErrorCode.INVALID, f"credentials.{_camel(others[0])} does not match kind {kind.value}", ["credentials"]
        )
    values: dict[str, Any] = {}
    if chosen is not None:
        values = {item.name: getattr(chosen, item.name, None) for item in spec.fields}
    elif legacy and any(legacy.values()):
        values = dict(legacy)  # the first API's top-level shopUrl/accessToken
    elif spec.fields:
        raise DomainError(
            ErrorCode.INVALID, f"credentials.{_camel(key)} is required to connect {spec.title}", ["credentials", key]
        )
    return {**spec.defaults, **validated(spec.fields, values, ["credentials", _camel(key)])}


def validated(fields: tuple[CredentialField, ...], values: dict[str, Any], path: list[str]) -> dict[str, Any]:
    """The typed values, trimmed and checked field by field; a DomainError names the first field at fault."""
    credentials: dict[str, Any] = {}
    for item in fields:
        where = [*path, _camel(item.name)]
        value = values.get(item.name)
        value = value.strip() if isinstance(value, str) else value
        if not value:
            if item.required:
                raise DomainError(ErrorCode.INVALID, f"{_camel(item.name)} is required: {item.description}", where)
            continue
        if len(value) > MAX_VALUE_LENGTH:
            raise DomainError(ErrorCode.INVALID, f"{_camel(item.name)} is too long", where)
        if item.url:
            value = _checked_url(value, item.name, item.description, where)
        if item.name == "statuses":
            value = _checked_json_object(value, where)
        credentials[item.name] = value
    return credentials


def _checked_url(value: str, name: str, description: str, path: list[str]) -> str:
    url = urlparse(value)
    local = url.hostname in LOCAL_HOSTS  # sandboxes and test stores on this machine
    if not url.netloc or not (url.scheme == "https" or (url.scheme == "http" and local)):
        # Credentials travel with every request: never in clear text over a network.
        raise DomainError(ErrorCode.INVALID, f"{_camel(name)} must be an https URL ({description})", path)
    return value.rstrip("/")


def _checked_json_object(value: str, path: list[str]) -> dict[str, str]:
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise DomainError(
            ErrorCode.INVALID, 'statuses must be a JSON object of strings, e.g. {"held": "On Hold"}', path
        )
    return parsed
