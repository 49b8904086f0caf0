"""Installed distributions for the provider plugin tests: a package and its ``.dist-info``."""

from __future__ import annotations

import textwrap
from importlib.metadata import EntryPoint, PathDistribution
from pathlib import Path


def distribution(
    site: Path, name: str, module: str, source: str, entries: dict[str, str]
) -> list[EntryPoint]:
    """A distribution in ``site`` as pip leaves one; its ``pytest_connectors.providers`` entry
    points, as ``importlib.metadata`` reads them."""
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", encoding="utf-8"
    )
    lines = "".join(f"{key} = {value}\n" for key, value in entries.items())
    (info / "entry_points.txt").write_text(
        f"[pytest_connectors.providers]\n{lines}", encoding="utf-8"
    )
    return list(PathDistribution(info).entry_points.select(group="pytest_connectors.providers"))
