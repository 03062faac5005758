"""`python -m bench`: the import and query benchmarks, on SQLite and (with DATABASE_URL) PostgreSQL.

Prints a summary and rewrites the results block of docs/BENCHMARKS.md. Defaults finish in well
under three minutes on a 2-core machine; `--orders 20000 --repeat 5` for a bigger run.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from adapters.persistence.secrets import SECRET_KEY_ENV, SecretBox
from api.shipments.batch import MAX_BATCH
from bench import fanout, labels, machine, report, run, webhooks, writeback
from bench.profiling import REPO


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--orders", type=int, default=_env_int("WAYBILL_BENCH_ORDERS", 100_000))
    parser.add_argument("--repeat", type=int, default=_env_int("WAYBILL_BENCH_REPEAT", 1))
    parser.add_argument("--requests", type=int, default=_env_int("WAYBILL_BENCH_REQUESTS", 200))
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument(
        "--backends",
        default="sqlite,postgres" if os.environ.get("DATABASE_URL") else "sqlite",
        help="comma-separated: sqlite, postgres (needs DATABASE_URL)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled runs")
    parser.add_argument("--webhooks", type=int, default=_env_int("WAYBILL_BENCH_WEBHOOKS", 200))
    parser.add_argument(
        "--webhooks-only",
        action="store_true",
        help="only the webhook benchmark; prints, leaves docs/BENCHMARKS.md alone (its block holds every section)",
    )
    parser.add_argument(
        "--labels", type=int, default=_env_int("WAYBILL_BENCH_LABELS", 200), help="orders in the buyLabels batch"
    )
    parser.add_argument(
        "--labels-only",
        action="store_true",
        help="only the label batch benchmark (with --webhooks-only: both); prints, leaves docs/BENCHMARKS.md alone",
    )
    parser.add_argument(
        "--subscribers",
        type=int,
        default=_env_int("WAYBILL_BENCH_SUBSCRIBERS", 1000),
        help="orderChanged subscribers for the fan-out (0: skip)",
    )
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.repeat < 1 or args.requests < 1 or args.webhooks < 1:
        parser.error("--orders, --repeat, --requests and --webhooks must be at least 1")
    if not 1 <= args.labels <= MAX_BATCH:
        parser.error(f"--labels must be 1 to {MAX_BATCH} (one buyLabels batch)")
    if "postgres" in args.backends and not os.environ.get("DATABASE_URL"):
        parser.error("the postgres backend needs DATABASE_URL (a server where databases may be created)")
    return args


def _only(args: argparse.Namespace) -> bool:
    """A section-only run: the results block would miss sections, so it is printed, never written."""
    return bool(args.webhooks_only or args.labels_only)


#: buyLabel -> write-back samples, one label at a time.
WRITEBACKS = 50


def main(args: argparse.Namespace) -> list[report.BackendResult]:
    results = []
    for kind in [k.strip() for k in args.backends.split(",") if k.strip()]:
        if _only(args):
            results.append(report.BackendResult(kind, []))
        else:
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                results.append(pool.submit(run.backend_process, kind, args).result())
        if args.webhooks_only or not _only(args):
            run.log(f"{kind}: webhook benchmark, {args.webhooks} deliveries")
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                results[-1].webhooks = pool.submit(webhooks.webhook_process, kind, args).result()
        if args.subscribers > 0 and kind == "sqlite" and not _only(args):
            run.log(f"{kind}: fan-out to {args.subscribers} subscribers")
            try:
                with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                    results[-1].fanout = pool.submit(fanout.fanout_process, kind, args.subscribers).result()
            except Exception as exc:  # a section that fails is reported missing, the others are still written
                run.log(f"{kind}: fan-out failed: {exc!r}")
        if kind == "sqlite" and not _only(args):
            run.log(f"{kind}: buyLabel -> write-back, {WRITEBACKS} labels")
            try:
                with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                    results[-1].writeback = pool.submit(writeback.writeback_process, kind, WRITEBACKS).result()
            except Exception as exc:  # a section that fails is reported missing, the others are still written
                run.log(f"{kind}: write-back failed: {exc!r}")
        if args.labels_only or not _only(args):
            run.log(f"{kind}: label batch benchmark, {args.labels} labels")
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                results[-1].labels = pool.submit(labels.label_process, kind, args).result()
    return results


def cli(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.simplefilter("default")
    # One key for every throwaway database of this run (PostgreSQL warns without a shared one).
    os.environ.setdefault(SECRET_KEY_ENV, SecretBox.generate_key())
    about = machine.describe()
    started = time.perf_counter()
    results = main(args)
    command = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = report.section(about, command.strip(), args.repeat, results)
    print("\n".join(lines))
    run.log(f"done in {time.perf_counter() - started:.0f} s")
    if not args.no_write and not _only(args):
        report.write(args.output, lines)
        run.log(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    if "--keys-only" in sys.argv[1:]:  # API-key verification cost only (bench/keys.py)
        from bench import keys

        sys.exit(keys.main())
    sys.exit(cli())
