"""Shared test set-up: the helpers' folder on the path, and the order in which pytest-xdist
hands out the test files (``make test`` runs two workers, one file per worker at a time).

``test_pipeline.py`` goes first: its tests share one `dvc repro` of the demo and take about
half of the suite's time, so a worker that started it last would set the suite's wall time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

#: Test files handed out before the others, longest first.
FIRST = ("test_pipeline.py",)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = Path(str(item.fspath)).name
        return FIRST.index(name) if name in FIRST else len(FIRST)

    items.sort(key=rank)  # stable: the order inside a file is kept
