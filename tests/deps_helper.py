"""Which project modules a stage imports (transitively), from grimp's import graph.

grimp (the graph behind import-linter) reads every import of the package, function-level
ones included.  A module's parent packages run too when it is imported, so their
``__init__`` files count as well, unless they hold only a docstring (or, for
``nnsim/__init__.py``, only the lazy table of the public API: it imports nothing of the
project at module level, so editing it reruns nothing).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


@functools.cache
def _graph():
    import grimp

    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    return grimp.build_graph("nnsim", cache_dir=None)


def module_file(mod: str) -> Path | None:
    base = SRC / Path(*mod.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def imported_modules(mod: str) -> set[str]:
    """``mod``, every ``nnsim`` module it imports at any depth, and their parent packages."""
    mods = {mod} | set(_graph().find_upstream_modules(mod))
    for m in list(mods):
        parts = m.split(".")
        mods |= {".".join(parts[:i]) for i in range(1, len(parts))}
    return mods


def _docstring_only(path: Path) -> bool:
    """A package ``__init__`` that cannot change a stage's results: a docstring, or (the
    top-level one) no project import at module level, only a table of lazily imported
    names and thread-pool environment defaults."""
    import ast

    body = ast.parse(path.read_text()).body
    if all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body):
        return True
    if path == SRC / "nnsim" / "__init__.py":
        return not any(
            (isinstance(n, ast.ImportFrom) and (n.module or "").startswith("nnsim"))
            or (isinstance(n, ast.Import) and any(a.name.startswith("nnsim") for a in n.names))
            for n in body
        )
    return False


def module_paths(mod: str) -> set[str]:
    """Repository-relative files of :func:`imported_modules` (docstring-only packages left out),
    and the files of a package's ``assets/`` folder when one of its modules reads them (names
    ``"assets"``: package data such as the explorer's page, script and style)."""
    root = SRC.parent
    out = set()
    for m in imported_modules(mod):
        f = module_file(m)
        if f is not None and not (f.name == "__init__.py" and _docstring_only(f)):
            out.add(os.path.relpath(f, root))
            assets = f.parent / "assets"
            if assets.is_dir() and '"assets' in f.read_text():
                out |= {os.path.relpath(a, root) for a in assets.rglob("*") if a.is_file()}
    return out


def rewrite_dvc_yaml(text: str) -> str:
    """``dvc.yaml`` with each stage's ``src/nnsim/...`` deps made to cover the modules it imports.

    The ``src/nnsim/`` deps become exactly the modules the stage imports; other deps, and a
    script a stage runs rather than imports (marked ``# run as a script``), are kept.
    Text-based, so comments stay.
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
            # a src/ file a stage runs as a script is kept when marked so; the rest is exactly
            # what the stage imports, so an unrelated edit never reruns it
            keep = [
                b
                for b in block
                if not b.strip().startswith("- src/nnsim/") or "# run as a script" in b
            ]
            out += keep + [f"{pad}- {p}\n" for p in sorted(module_paths(module))]
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
