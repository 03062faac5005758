"""The public tracking page a sandbox label's tracking_url points at, so demo customers can click through."""

from __future__ import annotations

import html
from typing import Any


def _place(location: dict[str, Any]) -> str:
    return ", ".join(str(location[key]) for key in ("city", "state", "country") if location.get(key))


def render_tracking_page(tracker: dict[str, Any]) -> str:
    """HTML for one tracker JSON (as served by /v1/trackers), newest event first; every value escaped."""
    rows = "".join(
        f"<tr><td>{html.escape(detail['datetime'])}</td><td>{html.escape(detail['message'])}</td>"
        f"<td>{html.escape(_place(detail['tracking_location']))}</td></tr>"
        for detail in reversed(tracker["tracking_details"])
    )
    code = html.escape(tracker["tracking_code"])
    status = html.escape(tracker["status"].replace("_", " "))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Tracking {code}</title></head><body>"
        f"<h1>Sandbox tracking {code}</h1><p>Status: <strong>{status}</strong></p>"
        "<p><em>Sandbox carrier: test shipments only, nothing really moves.</em></p>"
        f"<table><tr><th>When</th><th>What</th><th>Where</th></tr>{rows}</table></body></html>"
    )
