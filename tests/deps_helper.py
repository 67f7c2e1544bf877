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


def rewrite_dvc_yaml(text: str) -> str:
    """``dvc.yaml`` with each stage's ``src/nnsim/...`` deps made to cover the modules it imports.

    Adds missing modules and drops files that no longer exist; keeps deps listed by hand (a
    script a stage runs rather than imports).  Text-based, so comments stay.
    """
    import re

    lines = text.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    module = None
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s+cmd: python -m (nnsim\.stages\.\w+)", line)
        if m:
            module = m.group(1)
        if re.match(r"^  \S", line):  # a new stage
            module = None
        d = re.match(r"^(\s+)deps:\s*$", line)
        if d and module:
            out.append(line)
            i += 1
            pad = d.group(1) + "  "
            block = []
            while i < len(lines) and lines[i].startswith(pad + "- "):
                block.append(lines[i])
                i += 1
            keep = [b for b in block if not b.strip().startswith("- src/nnsim/")]
            listed = {b.strip()[2:] for b in block if b.strip().startswith("- src/nnsim/")}
            listed = {p for p in listed if (SRC.parent / p).is_file()}
            out += keep + [f"{pad}- {p}\n" for p in sorted(listed | module_paths(module))]
            continue
        out.append(line)
        i += 1
    return "".join(out)


if __name__ == "__main__":  # make deps
    path = SRC.parent / "dvc.yaml"
    new = rewrite_dvc_yaml(path.read_text())
    if new != path.read_text():
        path.write_text(new)
        print(f"{path}: module deps updated")
    else:
        print(f"{path}: module deps up to date")
