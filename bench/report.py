"""Turns the measurements into the table printed to stdout and written to docs/BENCHMARKS.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.caches import CacheMeasure
from bench.caches import rows as cache_rows
from bench.fanout import FanoutMeasure
from bench.fanout import rows as fanout_rows
from bench.importing import ImportMeasure
from bench.labels import LabelMeasure
from bench.labels import rows as label_rows
from bench.machine import Machine
from bench.profiling import Profile, describe
from bench.query import QueryMeasure
from bench.stats import median, ratio, spread
from bench.webhooks import WebhookMeasure
from bench.webhooks import rows as webhook_rows
from bench.writeback import WritebackMeasure
from bench.writeback import rows as writeback_rows

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"


@dataclass
class BackendResult:
    kind: str
    imports: list[ImportMeasure]
    query: QueryMeasure | None = None
    profiles: list[Profile] = field(default_factory=list)
    webhooks: WebhookMeasure | None = None
    labels: LabelMeasure | None = None
    caches: CacheMeasure | None = None
    fanout: FanoutMeasure | None = None
    writeback: WritebackMeasure | None = None


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def import_rows(result: BackendResult) -> list[str]:
    runs = result.imports
    n, lines = runs[0].orders, runs[0].lines

    def med(pick: str) -> tuple[float, str]:
        values = [_pick(run, pick) for run in runs]
        return median(values), spread(values)

    e2e, e2e_spread = med("first.seconds")
    persist_inside, _ = med("first.persist_seconds")
    raw, raw_spread = med("raw_insert")
    raw_ev, raw_ev_spread = med("raw_insert_events")
    fetch, fetch_spread = med("fetch_only")
    full, full_spread = med("full_reread.seconds")
    incr, _ = med("incremental.seconds")
    first = runs[-1].first
    fo = first.requests.get("GET fulfillment_orders.json", 0)
    gql = first.requests.get("POST graphql.json", 0)
    listing = first.requests.get("GET orders.json", 0)
    other = sum(v for k, v in first.requests.items() if k.endswith("other")) + gql
    floor = fetch + raw
    # The sync reads the next page while it writes this one, so time inside import_orders also runs the
    # read: what storing costs is what the import takes beyond reading the same pages.
    persist = max(e2e - fetch, 1e-9)
    full_ok = all(r.full_reread.created == r.full_reread.updated == 0 and r.full_reread.wrote_nothing for r in runs)
    incr_ok = all(r.incremental.created == r.incremental.updated == 0 and r.incremental.wrote_nothing for r in runs)
    rows = [
        _row(["Import measure", "Waybill", "Baseline (same run)", "Ratio"]),
        _row(["---", "---:", "---:", "---:"]),
        _row(
            [
                f"First sync, end to end ({n} orders, {lines} lines)",
                f"{_s(e2e)} = **{n / e2e:.0f} orders/s** ({e2e_spread} s)",
                f"fetch-only + raw insert: {_s(floor)} ({n / floor:.0f} orders/s)",
                f"{ratio(e2e, floor):.1f}x",
            ]
        ),
        _row(
            [
                "  of which persistence (end to end minus fetch-only)",
                f"{_s(persist)} = {n / persist:.0f} orders/s (wall time inside `import_orders`, read-ahead"
                f" running alongside: {_s(persist_inside)})",
                f"{_driver(result.kind)}, orders + lines: {_s(raw)} ({raw_spread} s)",
                f"**{ratio(persist, raw):.0f}x**",
            ]
        ),
        _row(
            [
                "  persistence vs raw incl. the ORDER_IMPORTED event rows",
                _s(persist),
                f"{_driver(result.kind)}, orders + lines + events: {_s(raw_ev)} ({raw_ev_spread} s)",
                f"{ratio(persist, raw_ev):.0f}x",
            ]
        ),
        _row(
            [
                "  of which fetch + map",
                "-",
                f"fetch-only, same client: {_s(fetch)} ({fetch_spread} s)",
                "-",
            ]
        ),
        _row(
            [
                "Shopify requests per order",
                f"{(listing + fo + other) / n:.3f} ({listing} list pages + {gql} GraphQL fulfillment-order batches"
                f" + {fo} REST fulfillment_orders + {other - gql} other)",
                "1 list call per 250 orders: 0.004",
                f"{ratio((listing + fo + other) / n, listing / n if listing else 0):.0f}x",
            ]
        ),
        _row(
            [
                "Re-sync, cursor cleared (all orders re-read, unchanged)",
                f"{_s(full)} = {full / e2e:.0%} of the first sync ({full_spread} s); "
                f"created=updated=0 and no row changed: {'yes' if full_ok else '**NO**'}",
                f"fetch-only: {_s(fetch)}",
                f"{ratio(full, fetch):.1f}x",
            ]
        ),
        _row(
            [
                f"Re-sync, incremental ({runs[-1].incremental.fetched} orders in the 5-min overlap)",
                f"{_s(incr)}; wrote nothing: {'yes' if incr_ok else '**NO**'}",
                "-",
                "-",
            ]
        ),
        _row(
            [
                "Peak RSS during the first sync",
                f"+{runs[0].rss_growth_mib:.0f} MiB (process peak {runs[0].rss_peak_mib:.0f} MiB)",
                "-",
                "-",
            ]
        ),
    ]
    return rows


def _driver(kind: str) -> str:
    return "sqlite3 `executemany`" if kind == "sqlite" else "asyncpg `copy_records_to_table`"


def _pick(run: ImportMeasure, path: str) -> float:
    value: object = run
    for name in path.split("."):
        value = getattr(value, name)
    return float(value)  # type: ignore[arg-type]


def query_rows(query: QueryMeasure) -> list[str]:
    app, raw = query.app, query.raw
    return [
        _row([f"`orders(first: {query.page_size})` over HTTP", "Waybill (GraphQL)", "Raw Starlette + SQL", "Ratio"]),
        _row(["---", "---:", "---:", "---:"]),
        _row(
            [
                "p50 latency",
                f"**{app.p50 * 1000:.1f} ms**",
                f"{raw.p50 * 1000:.1f} ms",
                f"**{ratio(app.p50, raw.p50):.1f}x**",
            ]
        ),
        _row(
            ["p95 latency", f"{app.p95 * 1000:.1f} ms", f"{raw.p95 * 1000:.1f} ms", f"{ratio(app.p95, raw.p95):.1f}x"]
        ),
        _row(
            ["requests/s (1 client, sequential)", f"{app.rps:.1f}", f"{raw.rps:.1f}", f"{ratio(app.rps, raw.rps):.2f}x"]
        ),
        _row(["SQL queries per request", f"{app.queries_per_request:g}", f"{raw.queries_per_request:g}", "-"]),
        _row(["SQL queries per request at `first: 10`", f"{query.queries_at_10:g}", "-", "-"]),
        _row(["response size", f"{app.bytes_per_response} B", f"{raw.bytes_per_response} B", "-"]),
        _row(["same JSON data", "yes" if query.same_json else "**NO**", "", ""]),
    ]


def section(machine: Machine, command: str, repeat: int, results: list[BackendResult]) -> list[str]:
    if any(result.kind == "postgres" for result in results):
        command = f"DATABASE_URL=postgres://... {command}"
    out = [
        f"Machine: {machine.line()}",
        "",
        f"Command: `{command}` - import numbers are medians of {repeat} runs (min..max in brackets); "
        "query latencies are over interleaved requests after a warm-up.",
    ]
    for result in results:
        out += ["", f"### {result.kind}", ""]
        if result.imports:
            out += import_rows(result)
        if result.query is not None:
            out += ["", *query_rows(result.query)]
            out += ["", "Statements per GraphQL request:", ""]
            out += [f"- `{statement}`" for statement in result.query.query_log]
        if result.caches is not None:
            out += ["", *cache_rows(result.caches)]
        if result.webhooks is not None:
            out += [*([""] if result.imports else []), *webhook_rows(result.webhooks)]
        if result.fanout is not None:
            out += ["", *fanout_rows(result.fanout)]
        if result.writeback is not None:
            out += ["", *writeback_rows(result.writeback)]
        if result.labels is not None:
            out += [*([""] if result.imports or result.webhooks else []), *label_rows(result.labels)]
        for profile in result.profiles:
            out += ["", "```", *describe(profile), "```"]
    return out


TEMPLATE = """# Benchmarks

`make bench` (or `.venv/bin/python -m bench --orders 20000 --repeat 5`; env `WAYBILL_BENCH_ORDERS`,
`WAYBILL_BENCH_REPEAT`, `WAYBILL_BENCH_REQUESTS`). Set `DATABASE_URL` to a PostgreSQL server to measure it too
(a throwaway database is created and dropped). Benchmarks never gate CI; speed is never asserted in tests.

## Latest results

{start}
{end}
"""


def write(path: Path, lines: list[str]) -> None:
    """Replace the generated block; everything outside the markers (the notes) is kept."""
    text = path.read_text(encoding="utf-8") if path.exists() else TEMPLATE.format(start=START, end=END)
    if START not in text or END not in text:
        text = text.rstrip() + f"\n\n## Latest results\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + START + "\n" + "\n".join(lines) + "\n" + END + tail, encoding="utf-8")
