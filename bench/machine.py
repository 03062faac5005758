"""What the numbers were measured on: they mean little without it."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Machine:
    nproc: int
    cpu_model: str
    python: str
    sqlite: str
    system: str
    date: str
    commit: str

    def line(self) -> str:
        return (
            f"{self.nproc} CPU(s), {self.cpu_model}; Python {self.python}; SQLite {self.sqlite}; "
            f"{self.system}; {self.date}; commit {self.commit}"
        )


def describe() -> Machine:
    return Machine(
        nproc=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0),
        cpu_model=_cpu_model(),
        python=platform.python_version(),
        sqlite=sqlite3.sqlite_version,
        system=f"{platform.system()} {platform.release()}",
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        commit=_commit(),
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = out.stdout.strip() or "unknown"
    return f"{sha}+dirty" if dirty.stdout.strip() else sha
