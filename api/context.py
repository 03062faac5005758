"""Per-request context: who is calling, the process runtime, and fresh DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import strawberry

from adapters.persistence.accounts import ApiPrincipal
from adapters.runtime import Runtime
from api.loaders import Loaders


@dataclass
class Context:
    runtime: Runtime
    principal: ApiPrincipal | None
    loaders: Loaders
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] = field(default_factory=dict)

    @property
    def account_id(self) -> int:
        """Every resolver scopes its queries with this; no principal never gets this far."""
        if self.principal is None:
            raise PermissionError("Not authenticated")
        return self.principal.account_id

    @property
    def actor(self) -> str:
        return f"api_key:{self.principal.key_id}" if self.principal else "anonymous"


Info = strawberry.Info[Context, None]
