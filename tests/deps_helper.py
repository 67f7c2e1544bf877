"""Which project modules a stage imports (transitively), read from the source with ast."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def module_file(mod: str) -> Path | None:
    base = SRC / Path(*mod.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def imported_modules(mod: str) -> set[str]:
    """``mod`` and every ``nnsim`` module it imports, at any depth (function-level too)."""
    seen: set[str] = set()
    todo = [mod]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        f = module_file(m)
        if f is None:
            continue
        seen.add(m)
        for node in ast.walk(ast.parse(f.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for n in names:
                if n.startswith("nnsim"):
                    todo.append(n)
    return seen


def module_paths(mod: str) -> set[str]:
    """Repository-relative files of :func:`imported_modules`, package ``__init__`` excluded."""
    root = SRC.parent
    out = set()
    for m in imported_modules(mod):
        f = module_file(m)
        if f is not None and not (f.name == "__init__.py" and f.stat().st_size < 200):
            out.add(str(f.relative_to(root)))
    return out
