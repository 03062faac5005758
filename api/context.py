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
    #: Per mutation field: what its resolver returned, and details it adds to its audit entry (api.audit).
    mutation_results: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def account_id(self) -> int:
        """Every resolver scopes its queries with this; no principal never gets this far."""
        if self.principal is None:
            raise PermissionError("Not authenticated")
        return self.principal.account_id

    def require(self, scope: str) -> None:
        """Writes check their scope here (admin implies all); a refusal names the scope.

        Reads are checked before execution by api.auth.permissions.ScopeGate.
        """
        principal = self.principal
        if principal is None or not principal.has(scope):
            who = "Your role" if principal is not None and principal.user_id is not None else "This API key"
            raise DomainError(ErrorCode.FORBIDDEN, f"{who} does not have the {scope} scope")

    def require_any(self, *scopes: str) -> None:
        """For actions two scopes allow (printing a label: whoever may read orders or buy labels)."""
        principal = self.principal
        if principal is None or not any(principal.has(scope) for scope in scopes):
            who = "Your role" if principal is not None and principal.user_id is not None else "This API key"
            raise DomainError(ErrorCode.FORBIDDEN, f"{who} needs the {' or '.join(scopes)} scope")

    @property
    def actor(self) -> str:
        """`user:<id>` or `api_key:<id>`: recorded with every change and in the audit log."""
        return self.principal.actor if self.principal else "anonymous"


Info = strawberry.Info[Context, None]
