"""The domain stays pure (DESIGN.md "Layout"): no framework, I/O library or outer layer is imported there."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "domain"

FORBIDDEN = frozenset({"tortoise", "httpx", "strawberry", "arq", "starlette", "redis", "api", "adapters", "jobs"})


def forbidden_imports(source: str, package: str = "domain") -> list[str]:
    """Every import in `source` whose top-level module is forbidden, as written in the file."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names if alias.name.split(".")[0] in FORBIDDEN)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                # `from ..api import x` inside domain/ resolves outside the package.
                parents = package.split(".")
                base = parents[: max(0, len(parents) - node.level + 1)]
                module = ".".join([*base, module] if module else base)
            top = module.split(".")[0]
            if top in FORBIDDEN:
                found.append(module)
            elif not module and node.level:
                found.extend(alias.name for alias in node.names if alias.name in FORBIDDEN)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) in ("__import__", "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value.split(".")[0] in FORBIDDEN
        ):
            found.append(node.args[0].value)
    return found


def domain_files() -> list[Path]:
    return sorted(DOMAIN.rglob("*.py"))


def test_domain_imports_nothing_from_outer_layers_or_frameworks() -> None:
    offenders = []
    for path in domain_files():
        package = ".".join(path.relative_to(ROOT).parent.parts)
        for module in forbidden_imports(path.read_text(encoding="utf-8"), package):
            offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not offenders, "the domain must stay pure:\n" + "\n".join(offenders)


def test_the_walk_sees_the_domain_modules() -> None:
    names = {path.name for path in domain_files()}
    assert {"model.py", "lifecycle.py", "validation.py", "errors.py"} <= names


def test_the_check_catches_every_form_of_forbidden_import() -> None:
    source = "\n".join(
        [
            "import httpx",
            "import tortoise.models",
            "from strawberry import type",
            "from starlette.requests import Request",
            "from arq.connections import ArqRedis",
            "import redis.asyncio as redis",
            "from api.app import app",
            "from adapters.channels import shopify",
            "from jobs import worker",
            "from .. import adapters",
            "import importlib",
            "importlib.import_module('jobs.tasks')",
            "def late():",
            "    import httpx as late_client",
            "",
            "import json",
            "from domain.model import Order",
            "from .errors import DomainError",
            "import apispec",
        ]
    )
    assert sorted(forbidden_imports(source)) == sorted(
        [
            "httpx",
            "tortoise.models",
            "strawberry",
            "starlette.requests",
            "arq.connections",
            "redis.asyncio",
            "api.app",
            "adapters.channels",
            "jobs",
            "adapters",
            "jobs.tasks",
            "httpx",
        ]
    )


def test_mypy_strict_is_configured_on_the_domain() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["strict"] is True
    assert "domain" in config["files"]


def test_mypy_strict_passes_on_the_domain() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
