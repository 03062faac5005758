"""Built-in sandbox carrier: ships test orders with no carrier account (fake server + client)."""

from __future__ import annotations

from adapters.carriers.sandbox.client import SandboxCarrierClient, SandboxRequestRejected
from adapters.carriers.sandbox.fake import SandboxCarrier
from adapters.carriers.sandbox.labels import LabelData, render_pdf, render_zpl
from adapters.carriers.sandbox.rules import SandboxSchedule

__all__ = [
    "LabelData",
    "SandboxCarrier",
    "SandboxCarrierClient",
    "SandboxRequestRejected",
    "SandboxSchedule",
    "render_pdf",
    "render_zpl",
]
