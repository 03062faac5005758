"""Where the time goes: pyinstrument when it is installed (not a project dependency), else cProfile.

Reports are written under bench/out/ (git-ignored); a short summary goes into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import contextlib
import cProfile
import importlib.util
import pstats
import sys
import sysconfig
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
IDLE = "idle: event loop waiting (database, the store's answers)"


@dataclass
class Profile:
    name: str
    tool: str = ""
    path: Path | None = None
    areas: list[tuple[str, float]] = field(default_factory=list)  # (area, share of sampled time)
    functions: list[tuple[str, float]] = field(default_factory=list)  # (function, share of self time)
    notes: list[str] = field(default_factory=list)


def _area(filename: str, function: str) -> str:
    if filename == "~":
        return IDLE if "poll" in function or "select" in function else "C builtins"
    path = Path(filename)
    if not path.is_absolute():  # "<frozen importlib._bootstrap>", "<string>", "<built-in>"
        return "stdlib importlib (imports)" if "importlib" in filename else "C builtins"
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    with contextlib.suppress(ValueError):
        relative = path.resolve().relative_to(REPO)
        return f"waybill {relative.parts[0]}/" if len(relative.parts) > 1 else "waybill"
    with contextlib.suppress(ValueError):
        relative = path.resolve().relative_to(STDLIB)
        return f"stdlib {relative.parts[0].removesuffix('.py')}"
    return path.name


def _label(filename: str, line: int, function: str) -> str:
    if filename == "~":
        return function
    path = Path(filename)
    with contextlib.suppress(ValueError):
        path = path.resolve().relative_to(REPO)
    if "site-packages" in path.parts:
        path = Path(*path.parts[path.parts.index("site-packages") + 1 :])
    return f"{function} ({path}:{line})"


def summarize_cprofile(profiler: cProfile.Profile, result: Profile, top: int = 8) -> None:
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values()) or 1.0
    areas: dict[str, float] = {}
    functions: list[tuple[str, float]] = []
    for (filename, line, function), (_, _, self_time, _, callers) in stats.items():
        functions.append((_label(filename, line, function), self_time / total))
        area = _area(filename, function)
        if area == "C builtins" and callers:
            # A C function's time belongs to whoever called it (socket.send to h11, isinstance to tortoise...).
            for caller, (*_, caller_self, _) in callers.items():
                owner = _area(caller[0], caller[2])
                areas[owner] = areas.get(owner, 0.0) + caller_self
            continue
        areas[area] = areas.get(area, 0.0) + self_time
    result.areas = sorted(((a, t / total) for a, t in areas.items()), key=lambda item: -item[1])[:top]
    result.functions = sorted(functions, key=lambda item: -item[1])[:top]


@contextlib.asynccontextmanager
async def profiling(name: str, out_dir: Path) -> AsyncIterator[Profile]:
    """Profile the awaited code inside the block (this thread only: aiosqlite's thread shows as idle)."""
    result = Profile(name)
    if importlib.util.find_spec("pyinstrument") is not None:
        from pyinstrument import Profiler  # type: ignore[import-not-found,unused-ignore]

        profiler = Profiler(async_mode="disabled", interval=0.0005)
        profiler.start()
        try:
            yield result
        finally:
            profiler.stop()
        _finish_pyinstrument(profiler, result, out_dir)
        return
    cprofiler = cProfile.Profile()
    cprofiler.enable()
    try:
        yield result
    finally:
        cprofiler.disable()
    _finish_cprofile(cprofiler, result, out_dir)


def _finish_cprofile(profiler: cProfile.Profile, result: Profile, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    result.tool = "cProfile"
    result.path = out_dir / f"{result.name}.pstats"
    profiler.dump_stats(result.path)
    summarize_cprofile(profiler, result)


def _finish_pyinstrument(profiler: Any, result: Profile, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    result.tool = "pyinstrument"
    result.path = out_dir / f"{result.name}.pyinstrument.txt"
    result.path.write_text(profiler.output_text(unicode=False, color=False), encoding="utf-8")
    _summarize_pyinstrument(profiler, result)  # the summary tables group its samples like the cProfile ones


def _summarize_pyinstrument(profiler: Any, result: Profile, top: int = 8) -> None:
    """Self time sits in the leaves ("[self]"/"[await]" synthetic leaves belong to their parent)."""
    session = profiler.last_session
    root = session.root_frame() if session is not None else None
    if root is None:
        return
    areas: dict[str, float] = {}
    functions: dict[str, float] = {}
    stack = [root]
    while stack:
        frame = stack.pop()
        if frame.children:
            stack.extend(frame.children)
            continue
        idle = frame.identifier in ("[await]", "[idle]")
        owner = frame.parent if frame.is_synthetic and frame.parent is not None else frame
        filename = owner.file_path or "~"
        function = owner.function or "?"
        if function.endswith("poll") or function == "select":
            idle, filename = True, "~"
        area = IDLE if idle else _area(filename, function)
        label = _label(filename, owner.line_no or 0, function)
        areas[area] = areas.get(area, 0.0) + frame.time
        functions[label] = functions.get(label, 0.0) + frame.time
    total = sum(areas.values()) or 1.0
    result.areas = sorted(((a, t / total) for a, t in areas.items()), key=lambda item: -item[1])[:top]
    result.functions = sorted(((f, t / total) for f, t in functions.items()), key=lambda item: -item[1])[:top]


def describe(profile: Profile) -> list[str]:
    lines = [f"{profile.name} ({profile.tool}; report: {profile.path and profile.path.relative_to(REPO)}):"]
    lines += [f"  {share:6.1%}  {area}" for area, share in profile.areas]
    lines.append("  top functions by self time:")
    lines += [f"  {share:6.1%}  {function}" for function, share in profile.functions]
    lines += profile.notes
    return lines


if __name__ == "__main__":  # pragma: no cover - `python -m bench.profiling FILE.pstats` re-reads a report
    pstats.Stats(sys.argv[1]).sort_stats("tottime").print_stats(25)
