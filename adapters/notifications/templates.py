"""Customer e-mail templates: packaged defaults and the merchant's own, rendered in a Jinja2 sandbox.

A merchant's template is checked when it is saved (syntax, unknown variables, a trial render on
sample data), so a mistake is reported with its line then, never discovered at send time.
"""

from __future__ import annotations

import functools
import traceback
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from adapters.notifications import NotificationKind

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
#: The name Jinja gives a template compiled from a string: its frames in a traceback carry the template's lines.
_STRING_TEMPLATE = "<template>"
MAX_SUBJECT = 300
MAX_BODY = 50_000

#: What a template may use, and what each means (shown to merchants by the API).
VARIABLES: dict[str, str] = {
    "order_number": "The order's number as the customer knows it (#1001).",
    "customer_name": "The customer's name; empty when the channel gave none.",
    "shop_name": "Your shop (the Waybill account name).",
    "carrier_name": "Who carries the parcel (USPS, Waybill Sandbox, ...).",
    "tracking_number": "The carrier's tracking number.",
    "tracking_url": "The carrier's public tracking page; empty when the carrier has none.",
    "lines": "The lines in this parcel, each with `title` and `quantity`.",
    "delivered_date": "DELIVERED only: the day the carrier delivered the parcel (a date: 2025-03-01).",
}
KIND_VARIABLES: dict[NotificationKind, tuple[str, ...]] = {
    NotificationKind.SHIPPED: tuple(name for name in VARIABLES if name != "delivered_date"),
    NotificationKind.DELIVERED: tuple(VARIABLES),
}


@dataclass(frozen=True)
class ShippedLine:
    title: str
    quantity: int


@dataclass(frozen=True)
class MessageFacts:
    """Everything a template can say about one parcel."""

    order_number: str
    customer_name: str
    shop_name: str
    carrier_name: str
    tracking_number: str
    tracking_url: str
    lines: tuple[ShippedLine, ...] = ()
    delivered_date: date | None = None

    def variables(self, kind: NotificationKind) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in KIND_VARIABLES[kind]}
        # Plain dicts: a merchant's `line.sku` is refused as "'dict object' has no attribute 'sku'".
        values["lines"] = [{"title": line.title, "quantity": line.quantity} for line in self.lines]
        return values


#: What a trial render uses when a merchant saves a template.
SAMPLE_FACTS = MessageFacts(
    order_number="#1001",
    customer_name="Ada Lovelace",
    shop_name="Sample Shop",
    carrier_name="USPS",
    tracking_number="9400100000000000000000",
    tracking_url="https://tools.usps.com/go/TrackConfirmAction?tLabels=9400100000000000000000",
    lines=(ShippedLine("Blue mug", 2), ShippedLine("Tea towel", 1)),
    delivered_date=date(2025, 3, 1),
)


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    body: str
    is_default: bool = False


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str | None = None


class TemplateProblem(Exception):
    """Why a template was refused: which part (subject or body), on which line, and what is wrong."""

    def __init__(self, part: str, problem: str, line: int | None = None) -> None:
        self.part = part
        self.problem = problem
        self.line = line
        where = f"line {line}: " if line else ""
        self.message = f"{part} {where}{problem}"
        super().__init__(self.message)


def _environment(*, html: bool) -> SandboxedEnvironment:
    # Only the packaged HTML is loaded from files: a merchant's template cannot {% include %} anything.
    return SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATE_DIR) if html else None,
        undefined=StrictUndefined,
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_TEXT = _environment(html=False)
_HTML = _environment(html=True)


@functools.cache
def default_template(kind: NotificationKind) -> TemplateSource:
    """The packaged wording, as a merchant would edit it (subject and plain-text body)."""
    stem = kind.value.lower()
    subject = (TEMPLATE_DIR / f"{stem}_subject.j2").read_text(encoding="utf-8").strip()
    body = (TEMPLATE_DIR / f"{stem}_body.txt.j2").read_text(encoding="utf-8")
    return TemplateSource(subject=subject, body=body, is_default=True)


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    return _TEXT.from_string(source)


def validate_template(kind: NotificationKind, subject: str, body: str) -> None:
    """Raises TemplateProblem for the first mistake found; a template that passes renders for any parcel."""
    if not subject.strip():
        raise TemplateProblem("subject", "must not be empty")
    if len(subject) > MAX_SUBJECT:
        raise TemplateProblem("subject", f"must be at most {MAX_SUBJECT} characters")
    if not body.strip():
        raise TemplateProblem("body", "must not be empty")
    if len(body) > MAX_BODY:
        raise TemplateProblem("body", f"must be at most {MAX_BODY} characters")
    for part, source in (("subject", subject), ("body", body)):
        _check(kind, part, source)


def _check(kind: NotificationKind, part: str, source: str) -> None:
    try:
        tree = _TEXT.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(part, exc.message or "syntax error", exc.lineno) from exc
    allowed = set(KIND_VARIABLES[kind])
    unknown = sorted(meta.find_undeclared_variables(tree) - allowed)
    if unknown:
        name = unknown[0]
        line = min((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), default=None)
        hint = (
            f"'{name}' is only known for DELIVERED e-mails"
            if name in VARIABLES
            else f"unknown variable '{name}'; use one of: {', '.join(sorted(allowed))}"
        )
        raise TemplateProblem(part, hint, line)
    try:  # what the tree cannot show: unknown attributes (line.sku), sandbox refusals, type errors
        _compiled(source).render(SAMPLE_FACTS.variables(kind))
    except TemplateError as exc:
        raise TemplateProblem(part, exc.message or type(exc).__name__, _template_line(exc)) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateProblem(part, str(exc), _template_line(exc)) from exc


def _template_line(exc: BaseException) -> int | None:
    """Jinja rewrites tracebacks so a template's frames point at the template's own lines."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == _STRING_TEMPLATE]
    return frames[-1].lineno if frames else None


def render(kind: NotificationKind, facts: MessageFacts, custom: TemplateSource | None = None) -> RenderedMessage:
    """The merchant's template (plain text) if there is one, else the packaged one with its HTML alternative."""
    variables = facts.variables(kind)
    source = custom or default_template(kind)
    subject = " ".join(_compiled(source.subject).render(variables).split())  # one header line, always
    text = _compiled(source.body).render(variables)
    html = None
    if custom is None:
        html = _HTML.get_template(f"{kind.value.lower()}_body.html.j2").render(variables)
    return RenderedMessage(subject=subject, text=text, html=html)
