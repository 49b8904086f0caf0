"""How tests start Python children: this checkout first on the path, the rest kept."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python_path(first: Path = ROOT) -> str:
    """`first`, then the caller's own PYTHONPATH (which may move the clock, see tests/clock)."""
    return os.pathsep.join(filter(None, [str(first), os.environ.get("PYTHONPATH")]))
