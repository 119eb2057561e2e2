"""Layering rules that review alone would let slip as 60 more operations arrive."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["handlers", "halolight/services", "halolight/repositories"]


def _modules() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_second_connection_and_no_web_framework(path: Path) -> None:
    """A request has one session (`ctx.db`): opening another (`runtime.sessionmaker()`, the engine) would
    hold two pooled connections at once, which is how the refresh deadlock of issue 12 came about. And the
    layers below the generated routes know nothing of FastAPI or Starlette."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr not in {"sessionmaker", "engine"}, (
                f"{path}:{node.lineno} opens a second connection"
            )
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            for name in names:
                assert name.split(".")[0] not in {"fastapi", "starlette"}, (
                    f"{path}:{node.lineno} imports {name}"
                )


def test_the_rule_sees_the_layers() -> None:
    assert len(_modules()) > 10
