"""API-key verification cost per request: `python -m bench.keys` (or `python -m bench --keys-only`).

Each case (valid key, invalid checksum/secret, unknown prefix, revoked) is timed against a baseline
in the same run: a bare SHA-256 plus a dict lookup. Results go under "API-key verification" in
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from adapters.persistence import models
from adapters.persistence.accounts import authenticate_api_key, create_account, create_api_key, revoke_api_key
from adapters.persistence.db import close_db, init_db

DOC = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
HEADING = "## API-key verification"
ROUNDS = 2000


async def _per_call(action: Callable[[], Awaitable[object]], rounds: int = ROUNDS) -> float:
    """Median of 5 batches, microseconds per call."""
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds // 5):
            await action()
        samples.append((time.perf_counter() - start) / (rounds // 5) * 1e6)
    return statistics.median(samples)


async def measure() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data_dir:
        await init_db(None, Path(data_dir))
        try:
            account = await create_account("bench")
            key = await create_api_key(account, "bench", ["admin"])
            revoked = await create_api_key(account, "revoked", ["admin"])
            row = await models.ApiKey.get(prefix=revoked.split("_")[2])
            await revoke_api_key(account, row.id)
            wrong_secret = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
            unknown_prefix = key[:8] + "ZZZZZZZZ" + key[16:]
            table = {hashlib.sha256(key.encode()).hexdigest(): account}

            async def baseline() -> object:
                return table.get(hashlib.sha256(key.encode()).hexdigest())

            results = {"baseline (sha256 + dict)": await _per_call(baseline)}
            for name, candidate in (
                ("valid key", key),
                ("changed secret (checksum fails)", wrong_secret),
                ("unknown prefix", unknown_prefix),
                ("revoked key", revoked),
                ("malformed", "not-a-key"),
            ):
                results[name] = await _per_call(lambda c=candidate: authenticate_api_key(c))
            return results
        finally:
            await close_db()


def render(results: dict[str, float]) -> str:
    base = results["baseline (sha256 + dict)"]
    lines = [
        HEADING,
        "",
        "`authenticate_api_key` per request on SQLite (one indexed lookup by prefix), median of 5 batches,",
        "against a bare SHA-256 + dict lookup measured in the same run (`python -m bench --keys-only`).",
        "",
        "| case | µs per request | x baseline |",
        "|---|---:|---:|",
        *[f"| {name} | {value:.1f} | {value / base:.1f} |" for name, value in results.items()],
        "",
    ]
    return "\n".join(lines)


def write(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else ""
    if HEADING in text:
        head, rest = text.split(HEADING, 1)
        tail = rest.split("\n## ", 1)
        text = head + section + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    DOC.write_text(text)


def main() -> int:
    results = asyncio.run(measure())
    section = render(results)
    print(section)
    write(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
