"""Per-request context: who is calling, the process runtime, and fresh DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import strawberry

from adapters.persistence.accounts import ApiPrincipal
from adapters.runtime import Runtime
from api.loaders import Loaders
from domain.errors import DomainError, ErrorCode


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

    def require(self, scope: str) -> None:
        """Writes need their scope (or admin); any valid key of the account may read."""
        scopes = self.principal.scopes if self.principal else ()
        if scope not in scopes and "admin" not in scopes:
            raise DomainError(ErrorCode.FORBIDDEN, f"This API key does not have the {scope} scope")

    @property
    def actor(self) -> str:
        return f"api_key:{self.principal.key_id}" if self.principal else "anonymous"


Info = strawberry.Info[Context, None]
